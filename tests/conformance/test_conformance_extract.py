"""Conformance: every extract case of the shared set, through ``pixtab extract --zero-based``,
on every read path of the planner (default, --full-scan, with an index).

Each case runs once per output layout. Checked: the output holds exactly
``input[rows]`` (every column, bit for bit, in input order); every expected
keyword (floats within 1e-6 relative, integers exactly, ``null`` = absent);
``absent_keywords`` absent; the ``xoffset_exp_map`` (output XOFFSET keywords of
each row's exposure equal the input's, and the output's EXPn FIRST/LAST give
every row the exposure it had). Empty cases: exit 1 and no file.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from pixtab.core.format import origin as org
from pixtab.core.format.exposures import ExposureMap
from pixtab.core.format.keywords import PREFIX, xoffset_key
from pixtab.core.io.table import PixTable

from conftest import CONFORMANCE, conformance_cases, conformance_file
from helpers.cli import invoke

pytestmark = pytest.mark.conformance

CASES = conformance_cases()
EXTRACT = CASES["extract"]


def criteria_args(criteria: dict) -> list[str]:
    """pixtab options for a case's MPDAF-style criteria (sky entries are [dec, ra, size, shape])."""
    args: list[str] = []
    for dec, ra, size, shape in criteria.get("sky", []):
        args += ["--circle" if shape == "C" else "--square", repr(ra), repr(dec), repr(size)]
    for lo, hi in criteria.get("lbda", []):
        args += ["--lambda", f"{lo!r}:{hi!r}"]
    for name, opt in (("ifu", "--ifu"), ("sl", "--slice"), ("stack", "--stack"), ("exp", "--exp")):
        if name in criteria:
            args += [opt, ",".join(str(v) for v in criteria[name])]
    for name in ("xpix", "ypix"):
        for lo, hi in criteria.get(name, []):
            args += [f"--{name}", f"{lo}:{hi}"]
    if criteria.get("method", "and") == "or":
        args.append("--or")
    return args


@lru_cache(maxsize=None)
def _input(key: str) -> tuple[dict[str, np.ndarray], object, np.ndarray]:
    """All columns, the header and the per-row exposure of conformance file ``key``."""
    with PixTable(conformance_file(key)) as pt:
        cols = pt.read(None)
        exp = ExposureMap(pt.keywords.exposures, pt.nrows).of_rows(0, pt.nrows)
        return cols, pt.primary_header, exp


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint32) if a.dtype.itemsize == 4 else a


@pytest.fixture(scope="module")
def index_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private index cache holding an index of every conformance table."""
    cache = tmp_path_factory.mktemp("index-cache")
    files = sorted({str(conformance_file(c["file"])) for c in EXTRACT})
    invoke("-q", "index", *files, env={"PIXTAB_CACHE_DIR": str(cache)})
    return cache


#: read paths of the planner (core.io.plan): the default (index if any, else the row order),
#: the full scan, and an index
PATHS = {"planned": [], "full-scan": ["--full-scan"], "index": []}


#: (output layout, read path): both layouts on the default path; the read path does not
#: depend on the output layout, so the other paths write the image layout only
LAYOUT_PATHS = [("image", "planned"), ("table", "planned"), ("image", "full-scan"), ("image", "index")]


@pytest.mark.parametrize("layout, path", LAYOUT_PATHS)
@pytest.mark.parametrize("case", EXTRACT, ids=[c["id"] for c in EXTRACT])
def test_extract_conformance(case: dict, layout: str, path: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    cache = request.getfixturevalue("index_cache") if path == "index" else tmp_path / "no-cache"
    src = conformance_file(case["file"])
    out = tmp_path / "out.fits"
    args = ["extract", str(src), "-o", str(out), "--zero-based", "--layout", layout, *PATHS[path]]
    args += criteria_args(case["criteria"])
    result = invoke("-v", *args, env={"PIXTAB_CACHE_DIR": str(cache)}, code=None)
    if path == "index":
        assert "index path" in result.stderr, result.stderr
    expected = case["expected"]
    if expected["nrows"] == 0:
        assert result.exit_code == 1, result.output
        assert "no row matches" in result.stderr
        assert not out.exists()
        assert list(tmp_path.iterdir()) == []
        return
    assert result.exit_code == 0, result.stderr
    rows = np.load(CONFORMANCE / expected["rows"]["npz"])[expected["rows"]["key"]]
    assert rows.size == expected["nrows"]
    cols, in_header, in_exp = _input(case["file"])
    with PixTable(out) as pt:
        assert pt.layout == layout
        assert pt.nrows == expected["nrows"]
        assert list(pt.columns) == list(cols)
        got = pt.read(None)
        header = pt.primary_header
        out_exp = ExposureMap(pt.keywords.exposures, pt.nrows).of_rows(0, pt.nrows)
    for name, values in cols.items():
        assert np.array_equal(_bits(got[name]), _bits(values[rows])), f"column {name} differs"

    for name, want in expected["keywords"].items():
        full = "HIERARCH " + PREFIX + name
        value = header.get(full)
        if want is None:
            assert full not in header, name
        elif isinstance(want, float):
            assert isinstance(value, float), (name, value)
            assert value == pytest.approx(want, rel=1e-6), name
        else:
            assert value == want and type(value) is type(want), (name, value, want)
    for name in expected.get("absent_keywords", []):
        assert "HIERARCH " + PREFIX + name not in header, name

    # Exposure numbers are kept: each row decodes to the exposure it had in the input, and
    # the XOFFSET keyword of its (exposure, IFU, slice) is the input's.
    exp_map = {int(k): int(v) for k, v in expected["xoffset_exp_map"].items()}
    assert np.array_equal(out_exp, np.vectorize(exp_map.get)(in_exp[rows]))
    origin = got["origin"]
    triples = set(zip(in_exp[rows].tolist(), org.get_ifu(origin).tolist(), org.get_slice(origin).tolist()))
    for n, ifu, slc in triples:
        assert header[xoffset_key(exp_map[n], ifu, slc)] == in_header[xoffset_key(n, ifu, slc)]
