"""The pixtab API against the CLI on the conformance tables.

For every extract case: ``sel.rows`` are the rows ``pixtab extract`` keeps (the
expected ones), ``sel.write`` writes the very bytes ``pixtab extract`` writes, and
where the command fails (exit 1 or 2) the API raises the matching typed error
and writes nothing. Also: ``decode`` and ``sky`` against the expected decode and
sky positions, and ``read`` hands dq out unsigned.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import pixtab

from conformance.test_conformance_extract import criteria_args
from conftest import CONFORMANCE, conformance_cases, conformance_file
from helpers.cli import invoke

pytestmark = pytest.mark.conformance

CASES = conformance_cases()


def _npz(ref: dict) -> np.ndarray:
    return np.load(CONFORMANCE / ref["npz"])[ref["key"]]


def api_criteria(criteria: dict) -> dict:
    """select(...) arguments for a case's MPDAF-style criteria (sky entries are [dec, ra, size, shape])."""
    out: dict = {"zero_based": True, "any": criteria.get("method", "and") == "or"}
    for dec, ra, size, shape in criteria.get("sky", []):
        out.setdefault("circle" if shape == "C" else "square", []).append((ra, dec, size))
    if "lbda" in criteria:
        out["lam"] = [tuple(r) for r in criteria["lbda"]]
    for name, key in (("ifu", "ifu"), ("sl", "slice"), ("stack", "stack"), ("exp", "exp")):
        if name in criteria:
            out[key] = criteria[name]
    for name in ("xpix", "ypix"):
        if name in criteria:
            out[name] = [tuple(r) for r in criteria[name]]
    return out


@pytest.mark.parametrize("layout", ["image", "table"])
@pytest.mark.parametrize("case", CASES["extract"], ids=[c["id"] for c in CASES["extract"]])
def test_selection_is_extract(case: dict, layout: str, tmp_path: Path) -> None:
    src = conformance_file(case["file"])
    cli_out, api_out = tmp_path / "cli.fits", tmp_path / "api.fits"
    r = invoke("extract", src, "-o", cli_out, "--zero-based", "--layout", layout, *criteria_args(case["criteria"]), code=None)
    with pixtab.open(src) as pt:
        if r.exit_code == 2:
            with pytest.raises(pixtab.CriteriaError):
                pt.select(**api_criteria(case["criteria"])).count()
            return
        sel = pt.select(**api_criteria(case["criteria"]))
        if r.exit_code == 1:
            with pytest.raises(pixtab.PixtabError) as err:
                sel.write(api_out, layout=layout)
            assert not isinstance(err.value, pixtab.CriteriaError)
            assert not api_out.exists()
            return
        assert r.exit_code == 0, r.output
        expected = case["expected"]
        assert sel.count() == expected["nrows"]
        np.testing.assert_array_equal(sel.rows, _npz(expected["rows"]))
        assert sel.rows.dtype == np.int64
        if layout == "image":  # every read path of the planner keeps the same rows
            np.testing.assert_array_equal(pt.select(full_scan=True, **api_criteria(case["criteria"])).rows, sel.rows)
        sel.write(api_out, layout=layout)
    assert api_out.read_bytes() == cli_out.read_bytes()


def test_empty_selection_raises_and_writes_nothing(tmp_path: Path) -> None:
    with pixtab.open(conformance_file("F1")) as pt:
        sel = pt.select(lam=(3000, 4000))
        assert sel.count() == 0 and sel.rows.size == 0
        with pytest.raises(pixtab.EmptySelectionError):
            sel.write(tmp_path / "e.fits")
    assert not (tmp_path / "e.fits").exists()


@pytest.mark.parametrize("case", CASES["decode_origin"], ids=[c["id"] for c in CASES["decode_origin"]])
def test_decode(case: dict) -> None:
    with pixtab.open(conformance_file(case["file"])) as pt:
        zero = pt.select().decode(zero_based=True)
        one = pt.select().decode()
    exp = case["expected"]
    for name in ("ifu", "slice", "ypix", "xpix"):
        np.testing.assert_array_equal(zero[name], _npz(exp[name]), err_msg=name)
    np.testing.assert_array_equal(one["xpix"], zero["xpix"] + 1)  # the pipeline's 1-based pixels
    np.testing.assert_array_equal(one["ypix"], zero["ypix"] + 1)
    want_exp = _npz(exp["exp"]) if isinstance(exp["exp"], dict) else np.zeros(len(zero), dtype=int)
    np.testing.assert_array_equal(zero["exp"], want_exp)
    np.testing.assert_array_equal(zero["row"], np.arange(len(zero)))


@pytest.mark.parametrize("case", CASES["sky_positions"], ids=[c["id"] for c in CASES["sky_positions"]])
def test_sky(case: dict) -> None:
    exp = case["expected"]
    rows = _npz(exp["rows"])
    with pixtab.open(conformance_file(case["file"])) as pt:
        sky = pt.select().sky()
    assert str(sky["ra"].unit) == "deg"
    ra, dec = np.asarray(sky["ra"])[rows], np.asarray(sky["dec"])[rows]
    assert np.all(np.abs((ra - _npz(exp["ra"]) + 180) % 360 - 180) <= exp["tolerance_deg"])
    assert np.all(np.abs(dec - _npz(exp["dec"])) <= exp["tolerance_deg"])


def test_dq_is_unsigned_everywhere(tmp_path: Path) -> None:
    """Rows flagged with bit 31 (OUTSDRANGE): dq > 0 on what the API hands out catches them,
    as --where 'dq > 0' does (a signed int32 would read them as negative)."""
    flagged = tmp_path / "flagged.fits"
    with pixtab.open(conformance_file("F7")) as pt:
        sel = pt.select()
        dq = sel.read(["dq"])["dq"].copy()
        dq[::7] |= np.uint32(1 << 31)
        sel.with_columns(dq=dq).write(flagged)
    with pixtab.open(flagged) as pt:
        dq_all = pt.read(["dq"])["dq"]
        sel = pt.select()
        dq_sel = sel.read(["dq"])["dq"]
        chunk = next(iter(pt.iter_chunks(["dq"])))
        table_dq = sel.table(["dq"])["dq"]
        where = pt.select(where="dq > 0").count()
        assert pt.columns["dq"].dtype == np.int32  # stored as the pipeline stores it
    for got in (dq_all, dq_sel, chunk["dq"], np.asarray(table_dq)):
        assert got.dtype == np.uint32
    np.testing.assert_array_equal(dq_all, dq)
    assert np.count_nonzero(dq_all >= 1 << 31) == len(range(0, len(dq), 7))
    assert np.count_nonzero(dq_all > 0) == where
