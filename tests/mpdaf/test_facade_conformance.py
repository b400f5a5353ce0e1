"""pixtab.mpdaf.PixTable on the conformance set: MPDAF's calls give the expected answers.

extract (both paths: planned on the file, and MPDAF's masks once a column is
changed in memory), origin decoding (combined tables included), get_pos_sky
and reconstruct_det_image/waveimage, all in MPDAF's 0-based conventions.
"""

from __future__ import annotations

import numpy as np
import pytest

from pixtab.mpdaf import PixTable

from conftest import CONFORMANCE, conformance_cases, conformance_file

pytestmark = pytest.mark.conformance

CASES = conformance_cases()


def _npz(ref: dict) -> np.ndarray:
    return np.load(CONFORMANCE / ref["npz"])[ref["key"]]


def _kwargs(criteria: dict) -> dict:
    out = {k: [tuple(v) for v in criteria[k]] if k in ("sky", "lbda", "xpix", "ypix") else criteria[k]
           for k in criteria if k != "method"}
    out["method"] = criteria.get("method", "and")
    return out


@pytest.fixture(scope="module")
def tables() -> dict[str, PixTable]:
    return {}


def _open(tables: dict[str, PixTable], key: str) -> PixTable:
    if key not in tables:
        tables[key] = PixTable(str(conformance_file(key)))
    return tables[key]


@pytest.mark.parametrize("case", CASES["extract"], ids=[c["id"] for c in CASES["extract"]])
@pytest.mark.parametrize("path", ["planned", "masks"])
def test_extract(case: dict, path: str, tables: dict) -> None:
    pix = _open(tables, case["file"])
    if path == "masks":  # a column changed in memory (same values): MPDAF's mask path
        pix = pix.copy()
        pix.set_data(pix.get_data())
        assert pix.data is not None
    expected = case["expected"]
    rows = _npz(expected["rows"]) if expected["nrows"] else np.empty(0, dtype=np.int64)
    sub = pix.extract(**_kwargs(case["criteria"]))
    if expected["nrows"] == 0:
        assert sub is None
        return
    assert sub.nrows == expected["nrows"]
    np.testing.assert_array_equal(sub.get_origin(), pix.get_origin(rows))
    np.testing.assert_array_equal(sub.get_lambda(), pix.get_lambda(rows))
    for name, want in expected["keywords"].items():
        got = sub.get_keyword(name, None)
        if want is None:
            assert got is None, name
        elif isinstance(want, float):
            assert got == pytest.approx(want, rel=1e-6), name
        else:
            assert got == want, name


@pytest.mark.parametrize("case", CASES["decode_origin"], ids=[c["id"] for c in CASES["decode_origin"]])
def test_origin_decoding(case: dict, tables: dict) -> None:
    pix = _open(tables, case["file"])
    ifu, sli, ypix, xpix = pix.origin2coords(pix.get_origin())
    exp = case["expected"]
    for name, got in (("ifu", ifu), ("slice", sli), ("ypix", ypix), ("xpix", xpix)):
        np.testing.assert_array_equal(got, _npz(exp[name]), err_msg=name)
    if isinstance(exp["exp"], dict):
        np.testing.assert_array_equal(pix.get_exp(), _npz(exp["exp"]))
    else:
        assert pix.get_exp() is None


@pytest.mark.parametrize("case", CASES["sky_positions"], ids=[c["id"] for c in CASES["sky_positions"]])
def test_get_pos_sky(case: dict, tables: dict) -> None:
    pix = _open(tables, case["file"])
    exp = case["expected"]
    rows = _npz(exp["rows"])
    ra, dec = pix.get_pos_sky(pix.get_xpos(rows), pix.get_ypos(rows))
    tol = exp["tolerance_deg"]
    assert np.all(np.abs((ra - _npz(exp["ra"]) + 180) % 360 - 180) <= tol)
    assert np.all(np.abs(dec - _npz(exp["dec"])) <= tol)


@pytest.mark.parametrize("case", CASES["reconstruct_det"], ids=[c["id"] for c in CASES["reconstruct_det"]])
def test_reconstruct(case: dict, tables: dict) -> None:
    pix = _open(tables, case["file"])
    if case["pre_extract"]:
        pix = pix.extract(**_kwargs(case["pre_extract"]))
    exp = case["expected"]
    if exp.get("error"):
        with pytest.raises(ValueError, match=exp["error"]):
            pix.reconstruct_det_image()
        return
    if case["kind"] == "wave":
        im = pix.reconstruct_det_waveimage()
    else:
        im = pix.reconstruct_det_image(**(case["window"] or {}))
    assert tuple(im.shape) == tuple(exp["shape"])
    got = np.ma.filled(im.data.astype(float), np.nan)
    np.testing.assert_array_equal(got, _npz(exp["image"]).astype(float))
