"""Fuzzing: mutated header cards and truncated files never crash ``pixtab info``.

Every run of ``info --json`` and ``info --stats --json`` on a broken file ends
with exit 0 (the damage is harmless for a description) or exit 1 with one
``Error:`` line naming the file, and never with an unexpected exception.

CI runs ``PIXTAB_FUZZ_EXAMPLES`` (default 200) examples per test; run more by
hand with e.g. ``PIXTAB_FUZZ_EXAMPLES=5000 pytest tests/faults/test_fuzz_headers.py``.
"""

from __future__ import annotations

import json
import os
import re
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixtab.core.io.table import PixTable

from helpers.cli import invoke
from helpers.faults import card_positions, make_table

EXAMPLES = int(os.environ.get("PIXTAB_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

#: cards the fuzzer targets (the brief's list plus the structural ones around them)
TARGET = re.compile(
    r"^(HIERARCH ESO DRS MUSE PIXTABLE (TYPE|WCS|MERGED|COMBINED|WEIGHTED|EXP\d+ (FIRST|LAST)|LIMITS .*|EXP\d+ IFU\d+ SLICE\d+ XOFFSET)"
    r"|NAXIS\d*|BITPIX|EXTNAME|BUNIT|TFORM\d+|TTYPE\d+|TUNIT\d+|TFIELDS|PCOUNT|GCOUNT|XTENSION|SIMPLE|EXTEND|CRVAL[12]|RA|DEC)$"
)

BASES = {
    "image": {"layout": "image", "rows": 400, "ifus": [1, 2]},
    "table": {"layout": "table", "rows": 400, "ifus": [3]},
    "image-combined": {"layout": "image", "rows": 500, "ifus": [4], "exposures": 2, "flat_field": True},
    "table-combined": {"layout": "table", "rows": 500, "ifus": [5, 6], "exposures": 3, "wcs": "projected"},
}


class Bases(dict):
    """Base files by name: (bytes, [(card offset, keyword)]); short repr for hypothesis reports.

    ``trailing[name]`` maps the offset of each extension after the columns to its EXTNAME.
    """

    trailing: dict[str, dict[int, str | None]]

    def __repr__(self) -> str:
        return f"<{len(self)} base files>"


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> Bases:
    """Each base file's bytes and the (offset, keyword) of its target cards."""
    out = Bases()
    out.trailing = {}
    d = tmp_path_factory.mktemp("fuzzbase")
    for name, kw in BASES.items():
        path = make_table(d / f"{name}.fits", **kw)
        data = path.read_bytes()
        with PixTable(path) as pt:
            out.trailing[name] = {h.header_offset: h.extname for h in pt.extra_hdus}
        cards = []
        hdu = 0
        while True:
            try:
                cards += [(pos, k) for pos, k in card_positions(data, hdu) if TARGET.match(k)]
            except IndexError:
                break
            hdu += 1
        out[name] = (data, cards)
    return out


_printable = st.text(alphabet=string.printable[:95], max_size=70)
VALUES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(lambda i: f"{i:>20}"),
    st.sampled_from([0, 1, -1, 2, 7, 8, 16, 32, 64, -32, -64, 400, 401, 399, 500, 2**31, 2**63]).map(lambda i: f"{i:>20}"),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: f"{f!r:>20}"),
    st.sampled_from(["NAN", "INF", "-INF", "1.5", "1E", "1J", "1D", "1K", "2E", "0E", "T", "F", ""]).map(lambda s: f"{s:>20}"),
    _printable.map(lambda s: "'" + s.replace("'", "''") + "'"),
    st.sampled_from(["GEOFULL", "SIMPLE", "IMAGE", "BINTABLE", "TABLE", "xpos", "XPOS", "dq", "origin", "weight", "1E", "1J", "1D", "1K", "deg", "rad", "pix"]).map(
        lambda s: f"'{s:<8}'"
    ),
    _printable,  # unparsable value text
    st.binary(max_size=70).map(lambda b: b.decode("latin-1")),  # non-ASCII bytes
)


def _card(keyword: str, value: str) -> bytes:
    head = f"{keyword} = " if keyword.startswith("HIERARCH") or len(keyword) > 8 else f"{keyword:<8}= "
    return (head + value).encode("latin-1")[:80].ljust(80, b" ")


def _check(path: Path) -> None:
    for args in (["info", "--json", str(path)], ["info", "--stats", "--json", str(path)]):
        result = invoke(*args, code=None, catch_exceptions=True)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            args,
            repr(result.exception),
            result.stderr,
        )
        assert result.exit_code in (0, 1), (args, result.exit_code, result.stderr)
        assert "Traceback" not in result.stderr
        if result.exit_code == 1:
            assert result.stdout == ""
            assert result.stderr.splitlines()[-1].startswith(f"Error: {path}: "), result.stderr
        else:
            assert result.stdout.startswith("{") and result.stdout.endswith("}\n")


@st.composite
def mutations(draw: st.DrawFn, cards: list[tuple[int, str]]) -> list[tuple[int, bytes | None]]:
    n = draw(st.integers(1, 4))
    out = []
    for _ in range(n):
        pos, keyword = draw(st.sampled_from(cards))
        if draw(st.integers(0, 5)) == 0:
            out.append((pos, None))  # delete (blank the card)
        else:
            out.append((pos, _card(keyword, draw(VALUES))))
    return out


@FUZZ
@given(data=st.data())
def test_mutated_headers_never_crash(bases: dict, tmp_path: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(bases)), label="base")
    blob, cards = bases[name]
    buf = bytearray(blob)
    for pos, card in data.draw(mutations(cards), label="mutations"):
        buf[pos : pos + 80] = b" " * 80 if card is None else card
    path = tmp_path / "fuzz.fits"
    path.write_bytes(bytes(buf))
    _check(path)


@FUZZ
@given(data=st.data())
def test_truncated_files_never_crash(bases: dict, tmp_path: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(bases)), label="base")
    blob, cards = bases[name]
    cut = data.draw(st.one_of(st.integers(0, len(blob) - 1), st.sampled_from([p for p, _ in cards])), label="cut")
    path = tmp_path / "fuzz.fits"
    path.write_bytes(blob[:cut])
    _check(path)
    # Truncation never passes silently. A cut in padding after complete data, or one that
    # drops the weight column of a WEIGHTED table, is read with a warning; a cut exactly
    # before a trailing extension (PIXTABLE_FLAT_FIELD) leaves a smaller valid file,
    # undetectable, and info no longer lists that extension.
    with_info = invoke("info", "--json", path, code=None)
    if with_info.exit_code == 0:
        starts = bases.trailing[name]
        assert cut in starts or "pixtab: warning: " in with_info.stderr, cut
        if cut in starts:
            assert starts[cut] not in json.loads(with_info.stdout)["extra_extensions"]


@FUZZ
@given(data=st.data())
def test_mutated_and_truncated(bases: dict, tmp_path: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(bases)), label="base")
    blob, cards = bases[name]
    buf = bytearray(blob)
    for pos, card in data.draw(mutations(cards), label="mutations"):
        buf[pos : pos + 80] = b" " * 80 if card is None else card
    cut = data.draw(st.integers(len(blob) // 2, len(blob)), label="cut")
    path = tmp_path / "fuzz.fits"
    path.write_bytes(bytes(buf[:cut]))
    _check(path)
