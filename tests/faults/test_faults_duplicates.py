"""Issue 13 item 11: duplicate header cards, resolved as the pipeline does (the first card wins).

The DRS loads headers into CPL property lists and looks names up with cpl_propertylist_get_*,
which return the first property of a name (astropy's ``header[name]`` too). pixtab uses the
first card everywhere, warns when a later card disagrees, and writes one card per keyword.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import pixtab
from pixtab.core.format import origin as org
from pixtab.core.format.exposures import ExposureMap

from helpers.cli import run_pixtab
from helpers.faults import make_table, variant

K = "HIERARCH ESO DRS MUSE PIXTABLE "


@pytest.fixture(scope="module")
def combined(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_table(tmp_path_factory.mktemp("dups") / "comb.fits", rows=30_000, ifus=[3, 4], exposures=3)


def _append(name: str, value: object):
    def change(h: fits.HDUList) -> None:
        h[0].header.append((name, value), bottom=True)

    return change


def _keyword_count(path: Path, name: str) -> int:
    with fits.open(path) as hdul:
        return sum(1 for c in hdul[0].header.cards if c.keyword == name.replace("HIERARCH ", ""))


def test_astropy_keeps_the_duplicate(combined: Path, tmp_path: Path) -> None:
    src = variant(combined, tmp_path / "d.fits", _append(K + "LIMITS LAMBDA LOW", 1.0))
    assert _keyword_count(src, K + "LIMITS LAMBDA LOW") == 2


@pytest.mark.parametrize("layout", ["image", "table"])
def test_duplicate_limits_updated_once_and_read_back(combined: Path, tmp_path: Path, layout: str) -> None:
    src = variant(combined, tmp_path / "d.fits", _append(K + "LIMITS LAMBDA LOW", 1.0))
    out = tmp_path / "o.fits"
    run = run_pixtab("extract", src, "-o", out, "--lambda", "6000:6100", "--layout", layout)
    assert run.returncode == 0, run.stderr
    assert "LIMITS LAMBDA LOW" in run.stderr and "using the first" in run.stderr
    assert _keyword_count(out, K + "LIMITS LAMBDA LOW") == 1
    info = json.loads(run_pixtab("info", "--json", out).stdout)
    assert 6000 <= info["limits"]["lambda_low"] < 6100
    with fits.open(out) as hdul:
        assert hdul[0].header[K + "LIMITS LAMBDA LOW"] == info["limits"]["lambda_low"]


def test_duplicate_exposure_ranges_give_a_readable_output(combined: Path, tmp_path: Path) -> None:
    with pixtab.open(combined) as pt:
        exps = pt.keywords.exposures
    change = lambda h: (_append(K + "EXP2 FIRST", 5)(h), _append(K + "EXP2 LAST", 7)(h))  # noqa: E731
    src = variant(combined, tmp_path / "d.fits", change)
    with pixtab.open(src) as pt:
        assert pt.keywords.exposures == exps  # the first cards, as the pipeline reads them
    out = tmp_path / "o.fits"
    run = run_pixtab("extract", src, "-o", out, "--ifu", "3")
    assert run.returncode == 0, run.stderr
    assert _keyword_count(out, K + "EXP2 FIRST") == 1 == _keyword_count(out, K + "EXP2 LAST")
    with pixtab.open(out) as pt:
        got = pt.keywords.exposures
        assert [e.exp for e in got] == [1, 2, 3] and got[-1].last == pt.nrows - 1
    assert run_pixtab("info", "--json", out).returncode == 0


def test_conflicting_xoffset_uses_the_first_card_with_a_warning(combined: Path, tmp_path: Path) -> None:
    name = K + "EXP2 IFU03 SLICE05 XOFFSET"
    with fits.open(combined) as hdul:
        first = hdul[0].header[name]
    src = variant(combined, tmp_path / "d.fits", _append(name, first + 500))
    with fits.open(src) as hdul:
        assert hdul[0].header[name] == first  # astropy: the first card
    run = run_pixtab("decode-origin", src)
    assert run.returncode == 0
    assert "SLICE05 XOFFSET" in run.stderr and "using the first" in run.stderr
    got = np.loadtxt(io.StringIO(run.stdout), delimiter=",", skiprows=1, dtype=np.int64)
    with pixtab.open(src) as pt:
        o = pt.read(["origin"])["origin"]
        exp = ExposureMap(pt.keywords.exposures, pt.nrows).of_rows(0, pt.nrows)
    rows = (exp == 2) & (org.get_ifu(o) == 3) & (org.get_slice(o) == 5)
    assert rows.any()
    assert np.array_equal(got[rows, 3], org.get_xslice(o[rows]).astype(np.int64) + first)


def test_identical_duplicates_are_quiet(combined: Path, tmp_path: Path) -> None:
    with fits.open(combined) as hdul:
        value = hdul[0].header["OBJECT"]
    src = variant(combined, tmp_path / "d.fits", _append("OBJECT", value))
    run = run_pixtab("info", src)
    assert run.returncode == 0 and "warning" not in run.stderr


@pytest.mark.parametrize("command", [["convert"], ["convert", "--to", "image"], ["extract", "--ifu", "3"]])
def test_outputs_have_one_card_per_keyword(combined: Path, tmp_path: Path, command: list[str]) -> None:
    change = lambda h: (_append("OBJECT", "other")(h), _append(K + "MERGED", 9)(h), _append("COMMENT", "kept")(h))  # noqa: E731
    src = variant(combined, tmp_path / "d.fits", change)
    out = tmp_path / "o.fits"
    run = run_pixtab(command[0], src, "-o", out, *command[1:])
    assert run.returncode == 0, run.stderr
    with fits.open(out) as hdul:
        hdul.verify("exception")
        names = [c.keyword for c in hdul[0].header.cards if c.keyword not in ("", "COMMENT", "HISTORY")]
        assert len(names) == len(set(names))
        assert hdul[0].header["OBJECT"] == fits.getheader(combined)["OBJECT"]
        assert "kept" in str(hdul[0].header["COMMENT"])
