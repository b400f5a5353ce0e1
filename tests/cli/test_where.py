"""--where and --good on the commands that select rows (extract, decode-origin, reconstruct-det),
against an independent reference (astropy columns + the format doc's decode), with the exit
codes of bad expressions (2) and of names a table cannot provide (1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from helpers.cli import invoke, run_pixtab
from helpers.decode import read_columns, reference_decode


@pytest.fixture(scope="module")
def combined(simulated) -> Path:
    return simulated(rows=30_000, ifus=[10, 11], exposures=3, wcs="positioned", seed=21)


@pytest.fixture(scope="module")
def single(simulated) -> Path:
    return simulated(rows=20_000, ifus=[5, 6], wcs="projected", seed=22, layout="table")


@pytest.fixture(scope="module")
def pixel(simulated) -> Path:
    return simulated(rows=5_000, ifus=[3], wcs="pixel", seed=23)


def _ref(path: Path, zero_based: bool = False) -> dict[str, np.ndarray]:
    _, cols = read_columns(path)
    dec = reference_decode(path, zero_based)
    out = {k: v for k, v in cols.items()}
    out.update({k: dec[k] for k in ("ifu", "slice", "xpix", "ypix", "exp")})
    out["dq"] = cols["dq"].view(np.uint32).astype(np.int64)
    return out


def _extracted_rows(path: Path, out: Path) -> np.ndarray:
    """Indices of the input rows in an extract output (origin + data + lambda identify rows here)."""
    _, a = read_columns(path)
    _, b = read_columns(out)
    key = lambda c: np.stack([c["origin"].astype(np.int64), c["lambda"].view(np.int32), c["data"].view(np.int32)], 1)  # noqa: E731
    ka, kb = key(a), key(b)
    index = {tuple(r): i for i, r in enumerate(ka.tolist())}
    return np.array([index[tuple(r)] for r in kb.tolist()])


CASES = [
    ("dq == 0 and data > 3 * sqrt(stat)", lambda r: (r["dq"] == 0) & (r["data"].astype(float) > 3 * np.sqrt(r["stat"].astype(float)))),
    ("(dq & 0x4000) != 0 or dq > 0x7fffffff", lambda r: ((r["dq"] & 0x4000) != 0) | (r["dq"] > 0x7FFFFFFF)),
    ("exp == 2 and 1000 <= xpix < 2500", lambda r: (r["exp"] == 2) & (r["xpix"] >= 1000) & (r["xpix"] < 2500)),
    ("ifu == 11 and slice in (1, 2, 40) and ypix > 2000", lambda r: (r["ifu"] == 11) & np.isin(r["slice"], [1, 2, 40]) & (r["ypix"] > 2000)),
    ("weight > 0.7 and lambda < 6000", lambda r: (r["weight"] > 0.7) & (r["lambda"].astype(float) < 6000)),
]  # fmt: skip


@pytest.mark.parametrize("text, ref", CASES, ids=[c[0] for c in CASES])
def test_extract_where_selects_the_reference_rows(combined: Path, tmp_path: Path, text: str, ref) -> None:
    want = np.flatnonzero(ref(_ref(combined)))
    assert want.size > 0
    count = invoke("extract", combined, "--count", "--where", text)
    assert int(count.stdout) == want.size
    out = tmp_path / "w.fits"
    invoke("extract", combined, "-o", out, "--where", text)
    assert np.array_equal(_extracted_rows(combined, out), want)


def test_where_is_and_ed_with_other_criteria_and_or_ed_with_or(combined: Path) -> None:
    r = _ref(combined)
    both = invoke("extract", combined, "--count", "--ifu", "10", "--where", "dq > 0")
    assert int(both.stdout) == int(((r["ifu"] == 10) & (r["dq"] > 0)).sum())
    either = invoke("extract", combined, "--count", "--or", "--ifu", "10", "--where", "dq > 0")
    assert int(either.stdout) == int(((r["ifu"] == 10) | (r["dq"] > 0)).sum())
    good = invoke("extract", combined, "--count", "--good", "--where", "exp == 1")
    assert int(good.stdout) == int(((r["dq"] == 0) & (r["exp"] == 1)).sum())


def test_good_is_dq_zero_and_the_top_bit_counts(combined: Path) -> None:
    r = _ref(combined)
    assert (read_columns(combined)[1]["dq"] < 0).any(), "the simulated table should have bit 31 set somewhere"
    assert int(invoke("extract", combined, "--count", "--good").stdout) == int((r["dq"] == 0).sum())
    assert int(invoke("extract", combined, "--count", "--where", "dq > 0").stdout) == int((r["dq"] != 0).sum())


def test_zero_based_and_sky_slice_numbering(combined: Path) -> None:
    r0 = _ref(combined, zero_based=True)
    got = invoke("extract", combined, "--count", "--zero-based", "--where", "xpix < 1000 and ypix == 99")
    assert int(got.stdout) == int(((r0["xpix"] < 1000) & (r0["ypix"] == 99)).sum())
    from pixtab.core.format.slicer import CCD_TO_SKY

    sky = np.array(CCD_TO_SKY)[_ref(combined)["slice"]]
    got = invoke("extract", combined, "--count", "--slice-numbering", "sky", "--where", "slice == 3")
    assert int(got.stdout) == int((sky == 3).sum())


def test_ra_dec_match_decode_origin_sky(single: Path) -> None:
    text = invoke("decode-origin", single, "--sky").stdout.splitlines()
    table = np.loadtxt(text[1:], delimiter=",")
    ra, dec = table[:, 6], table[:, 7]
    mid = float(np.median(ra))
    want = int(((ra > mid) & (dec < np.median(dec))).sum())
    got = invoke("extract", single, "--count", "--where", f"ra > {mid!r} and dec < {float(np.median(dec))!r}")
    assert int(got.stdout) == want


def test_decode_origin_where_and_unsigned_dq(combined: Path) -> None:
    result = invoke("decode-origin", combined, "--where", "dq > 0x7fffffff", "--with", "dq")
    lines = result.stdout.splitlines()
    assert lines[0] == "row,ifu,slice,xpix,ypix,exp,dq"
    got = np.loadtxt(lines[1:], delimiter=",", dtype=np.int64, ndmin=2)
    r = _ref(combined)
    want = np.flatnonzero(r["dq"] > 0x7FFFFFFF)
    assert np.array_equal(got[:, 0], want)
    assert (got[:, 6] >= 2**31).all()  # printed unsigned, never negative
    # with --rows, --ifu and --format fits too
    part = invoke("decode-origin", combined, "--rows", "5000:20000", "--ifu", "11", "--good")
    rows = np.loadtxt(part.stdout.splitlines()[1:], delimiter=",", dtype=np.int64, ndmin=2)[:, 0]
    sel = np.flatnonzero((r["ifu"] == 11) & (r["dq"] == 0))
    assert np.array_equal(rows, sel[(sel >= 5000) & (sel < 20000)])


def test_decode_origin_where_to_fits(combined: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.fits"
    invoke("decode-origin", combined, "--where", "exp == 3", "--format", "fits", "-o", out)
    rows = fits.getdata(out, 1)["row"]
    assert np.array_equal(rows, np.flatnonzero(_ref(combined)["exp"] == 3))


def test_reconstruct_det_good(combined: Path, tmp_path: Path) -> None:
    out = tmp_path / "det.fits"
    invoke("reconstruct-det", combined, "-o", out, "--ifu", "10", "--exp", "2", "--full-ccd", "--good", "--column", "dq", "--fill", "0")
    img = fits.getdata(out, 1)
    assert (img == 0).all()  # only good rows were imaged
    r = _ref(combined)
    keep = (r["ifu"] == 10) & (r["exp"] == 2) & (r["dq"] == 0)
    assert int(fits.getheader(out, 1)["NROWS"]) == int(keep.sum())


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--where", "dq = 0"], "syntax error"),
        (["--where", "foo > 1"], "unknown name 'foo'"),
        (["--where", "data.real > 0"], "attribute access"),
        (["--where", "dq > 0", "--where", "ifu == 5"], "give it once"),
    ],
)
def test_bad_expressions_are_usage_errors(combined: Path, args: list[str], fragment: str) -> None:
    for cmd in (["extract", combined, "--count"], ["decode-origin", combined], ["reconstruct-det", combined, "-o", "x.fits"]):
        result = invoke(*cmd, *args, code=2)
        assert fragment in result.stderr and "^" in result.stderr or fragment == "give it once"
        assert "Traceback" not in result.stderr


def test_names_the_table_cannot_provide_are_input_errors(single: Path, pixel: Path) -> None:
    result = invoke("extract", single, "--count", "--where", "weight > 0", code=1)
    assert "weight" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = invoke("extract", pixel, "--count", "--where", "ra > 10", code=1)
    assert "ra and dec are undefined" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_floating_point_warning_reaches_stderr(combined: Path) -> None:
    proc = run_pixtab("extract", combined, "--count",
                      "--where", "log10(data) > 0 or data / 0 > 1 or sqrt(stat - 1e9) > 0 or dq // 0 == 1", code=0)  # fmt: skip
    assert proc.stderr == "" and int(proc.stdout) > 0
