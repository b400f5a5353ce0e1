"""pixtab reconstruct-det: images against an independent reference (both layouts, single and
combined tables), bases, windows, the full CCD, fills, columns, --all-ifus, last-row-wins,
the IFU/exposure rules and errors with their exit codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from conftest_decode import PFX, read_columns, reference_decode, run, subset, units_of, write_table


def reference_image(path: Path, ifu: int, column: str = "data", exp: int | None = None, zero_based: bool = False,
                    fill: float = np.nan, window: tuple[int, int, int, int] | None = None) -> tuple[np.ndarray, int, int]:
    """(image, xstart, ystart) built row by row in table order; window = half-open x0, x1, y0, y1."""
    dec = reference_decode(path, zero_based)
    _, cols = read_columns(path)
    m = dec["ifu"] == ifu
    if exp is not None:
        m &= dec["exp"] == exp
    x, y, v = dec["xpix"][m], dec["ypix"][m], cols[column][m]
    if window is None:
        x0, x1, y0, y1 = int(x.min()), int(x.max()) + 1, int(y.min()), int(y.max()) + 1
    else:
        x0, x1, y0, y1 = window
    image = np.full((y1 - y0, x1 - x0), fill, dtype=np.float64)
    for xi, yi, vi in zip(x.tolist(), y.tolist(), v.tolist()):
        if x0 <= xi < x1 and y0 <= yi < y1:
            image[yi - y0, xi - x0] = vi
    return image, x0, y0


def reconstruct(src: Path, out: Path, *args: object, code: int = 0) -> fits.HDUList | None:
    result = run("reconstruct-det", src, "-o", out, *args)
    assert result.exit_code == code, result.stderr
    assert result.stdout == ""
    if code:
        assert not out.exists()
        assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []
        return None
    return fits.open(out)


def _stderr(src: Path, out: Path, *args: object) -> str:
    return run("reconstruct-det", src, "-o", out, *args).stderr


@pytest.fixture(scope="module")
def single(simulated) -> Path:
    return simulated(rows=20_000, ifus=[5, 6], wcs="positioned", seed=7)  # CCD rows 1, 2056, 4112


@pytest.fixture(scope="module")
def single_table(simulated) -> Path:
    return simulated(rows=20_000, ifus=[5, 6], wcs="positioned", seed=7, layout="table")


@pytest.fixture(scope="module")
def combined(simulated) -> Path:
    return simulated(rows=30_000, ifus=[10, 11], exposures=3, wcs="positioned", seed=8)  # CCD rows 1, 4112


@pytest.fixture(scope="module")
def one_row_band(single: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """IFU 5 only, CCD row y = 2056 only: a small bounding box (1 x ~4000)."""
    dec = reference_decode(single)
    return subset(single, tmp_path_factory.mktemp("band") / "band.fits", (dec["ifu"] == 5) & (dec["ypix"] == 2056))


@pytest.mark.parametrize("zero_based", [False, True], ids=["1-based", "0-based"])
@pytest.mark.parametrize("which", ["single", "single_table"])
def test_one_ifu_equals_the_reference(request, which: str, zero_based: bool, tmp_path: Path) -> None:
    src = request.getfixturevalue(which)
    want, xs, ys = reference_image(src, 6, zero_based=zero_based)
    hdul = reconstruct(src, tmp_path / "d.fits", "--ifu", 6, *(["--zero-based"] if zero_based else []))
    with hdul:
        assert len(hdul) == 2 and hdul[0].data is None
        h = hdul[1].header
        assert h["EXTNAME"] == "CHAN06"
        assert (h["CRPIX1"], h["CRPIX2"], h["CDELT1"], h["CDELT2"]) == (1, 1, 1, 1)
        assert (h["CRVAL1"], h["CRVAL2"]) == (xs, ys)
        assert (h["CTYPE1"], h["CUNIT1"], h["CTYPE2"], h["CUNIT2"]) == ("LINEAR", "pix", "LINEAR", "pix")
        assert h["PIXBASE"] == (0 if zero_based else 1) and hdul[0].header["PIXBASE"] == h["PIXBASE"]
        assert h["BUNIT"] == "10**(-20)*erg/s/cm**2/Angstrom"
        assert h["IFU"] == 6 and h["EXPOSURE"] == "0" and h["COLUMN"] == "data"
        assert hdul[1].data.dtype == np.dtype(">f4")
        assert np.array_equal(hdul[1].data, want.astype(np.float32), equal_nan=True)
    # Simulated rows reach CCD row 1: the bounding box starts there, in the chosen base.
    assert ys == (0 if zero_based else 1)


def test_layouts_give_identical_files(single: Path, single_table: Path, tmp_path: Path) -> None:
    for src, name in ((single, "a.fits"), (single_table, "b.fits")):
        reconstruct(src, tmp_path / name, "--ifu", 5, "--column", "stat").close()
    with fits.open(tmp_path / "a.fits") as a, fits.open(tmp_path / "b.fits") as b:
        assert np.array_equal(a[1].data, b[1].data, equal_nan=True)
        assert a[1].header == b[1].header


def test_nrows_and_nfilled(single: Path, tmp_path: Path) -> None:
    dec = reference_decode(single)
    n = int(np.count_nonzero(dec["ifu"] == 5))
    with reconstruct(single, tmp_path / "d.fits", "--ifu", 5) as hdul:
        h = hdul[1].header
        assert h["NROWS"] == n == h["NFILLED"] == int(np.count_nonzero(~np.isnan(hdul[1].data)))


def test_single_ifu_table_needs_no_option(one_row_band: Path, tmp_path: Path) -> None:
    want, xs, ys = reference_image(one_row_band, 5)
    with reconstruct(one_row_band, tmp_path / "d.fits") as hdul:
        assert hdul[1].header["CRVAL2"] == ys == 2056 and hdul[1].data.shape == (1, want.shape[1])
        assert np.array_equal(hdul[1].data, want.astype(np.float32), equal_nan=True)


def test_merged_keyword_is_not_what_decides(one_row_band: Path, tmp_path: Path) -> None:
    """A one-IFU subset whose header still says MERGED = 24 reconstructs (MPDAF refuses it)."""
    src = subset(one_row_band, tmp_path / "m.fits", np.ones(len(reference_decode(one_row_band)["row"]), bool),
                 {f"HIERARCH {PFX}MERGED": 24})
    reconstruct(src, tmp_path / "d.fits").close()


def test_several_ifus_need_ifu(single: Path, tmp_path: Path) -> None:
    reconstruct(single, tmp_path / "d.fits", code=2)
    err = _stderr(single, tmp_path / "d.fits")
    assert "IFUs 5, 6" in err and "--ifu" in err and "--all-ifus" in err


def test_all_ifus_one_extension_per_ifu(single: Path, tmp_path: Path) -> None:
    with reconstruct(single, tmp_path / "all.fits", "--all-ifus", "--column", "lambda", "--fill", "0") as hdul:
        assert [h.name for h in hdul[1:]] == ["CHAN05", "CHAN06"]
        for hdu, ifu in zip(hdul[1:], (5, 6)):
            want, xs, ys = reference_image(single, ifu, "lambda", fill=0.0)
            assert (hdu.header["CRVAL1"], hdu.header["CRVAL2"]) == (xs, ys)
            assert np.array_equal(hdu.data, want.astype(np.float32))
            assert hdu.header["BUNIT"] == "Angstrom"


def test_all_ifus_and_ifu_exclude_each_other(single: Path, tmp_path: Path) -> None:
    reconstruct(single, tmp_path / "d.fits", "--all-ifus", "--ifu", 5, code=2)


def test_absent_ifu_is_an_empty_selection(single: Path, tmp_path: Path) -> None:
    reconstruct(single, tmp_path / "d.fits", "--ifu", 7, code=1)
    assert "no rows of IFU 7" in _stderr(single, tmp_path / "d.fits", "--ifu", 7)
    reconstruct(single, tmp_path / "d.fits", "--ifu", 7, "--full-ccd", code=1)


@pytest.mark.parametrize("zero_based", [False, True], ids=["1-based", "0-based"])
def test_window(single: Path, tmp_path: Path, zero_based: bool) -> None:
    base = 0 if zero_based else 1
    x0, x1, y0, y1 = 500 + base, 900 + base, 2050 + base, 2060 + base  # the same CCD area in both bases
    flag = ["--zero-based"] if zero_based else []
    want, _, _ = reference_image(single, 5, zero_based=zero_based, window=(x0, x1, y0, y1))
    with reconstruct(single, tmp_path / "w.fits", "--ifu", 5, "--xpix", f"{x0}:{x1}", "--ypix", f"{y0}:{y1}", *flag) as hdul:
        h = hdul[1].header
        assert hdul[1].data.shape == (10, 400)
        assert (h["CRVAL1"], h["CRVAL2"]) == (x0, y0)
        assert np.array_equal(hdul[1].data, want.astype(np.float32), equal_nan=True)
        assert 0 < h["NROWS"] < 5000  # rows outside the window are left out
        img1 = hdul[1].data.copy()
    if zero_based:
        return
    # The same area asked for in the other base gives the same pixels.
    with reconstruct(single, tmp_path / "w0.fits", "--ifu", 5, "--zero-based",
                     "--xpix", f"{x0 - 1}:{x1 - 1}", "--ypix", f"{y0 - 1}:{y1 - 1}") as hdul:
        assert np.array_equal(hdul[1].data, img1, equal_nan=True)
        assert (hdul[1].header["CRVAL1"], hdul[1].header["CRVAL2"]) == (x0 - 1, y0 - 1)


def test_open_window_side_uses_the_bounding_box(single: Path, tmp_path: Path) -> None:
    dec = reference_decode(single)
    xs = dec["xpix"][(dec["ifu"] == 5) & (dec["xpix"] >= 1000)]
    with reconstruct(single, tmp_path / "w.fits", "--ifu", 5, "--xpix", "1000:") as hdul:
        h = hdul[1].header
        assert h["CRVAL1"] == xs.min() and hdul[1].data.shape[1] == xs.max() - xs.min() + 1
        assert hdul[1].data.shape[0] == 4112  # rows 1..4112 of the CCD


@pytest.mark.parametrize("bad", [("--xpix", "0:10"), ("--xpix", "4000:4098"), ("--ypix", "1:4114"), ("--xpix", "9:3")])
def test_window_outside_the_ccd_is_a_usage_error(single: Path, tmp_path: Path, bad: tuple[str, str]) -> None:
    reconstruct(single, tmp_path / "d.fits", "--ifu", 5, *bad, code=2)
    assert bad[0] in _stderr(single, tmp_path / "d.fits", "--ifu", 5, *bad)


@pytest.mark.parametrize("zero_based", [False, True], ids=["1-based", "0-based"])
def test_full_ccd(one_row_band: Path, tmp_path: Path, zero_based: bool) -> None:
    flag = ["--zero-based"] if zero_based else []
    base = 0 if zero_based else 1
    want, _, _ = reference_image(one_row_band, 5, zero_based=zero_based, window=(base, base + 4096, base, base + 4112))
    with reconstruct(one_row_band, tmp_path / "f.fits", "--full-ccd", *flag) as hdul:
        assert hdul[1].data.shape == (4112, 4096)
        assert (hdul[1].header["CRVAL1"], hdul[1].header["CRVAL2"]) == (base, base)
        assert np.array_equal(hdul[1].data, want.astype(np.float32), equal_nan=True)
        # y = 2056 in the 1-based (DRS) count is array row 2055 in both bases.
        assert not np.isnan(hdul[1].data[2055]).all() and np.isnan(hdul[1].data[2054]).all()


def test_full_ccd_and_window_exclude_each_other(single: Path, tmp_path: Path) -> None:
    reconstruct(single, tmp_path / "d.fits", "--ifu", 5, "--full-ccd", "--xpix", "1:10", code=2)


def test_fill_zero_and_nan_differ_only_in_empty_pixels(one_row_band: Path, tmp_path: Path) -> None:
    with reconstruct(one_row_band, tmp_path / "n.fits") as a, reconstruct(one_row_band, tmp_path / "z.fits", "--fill", "0") as b:
        empty = np.isnan(a[1].data)
        assert empty.any()
        assert np.all(b[1].data[empty] == 0)
        assert np.array_equal(a[1].data[~empty], b[1].data[~empty])
        assert a[1].header["FILL"] == "nan" and b[1].header["FILL"] == "0"


def test_dq_column_types(single: Path, tmp_path: Path) -> None:
    _, cols = read_columns(single)
    assert (cols["dq"] < 0).any(), "fixture should have dq bit 31 set somewhere"
    want, _, _ = reference_image(single, 5, "dq")
    with reconstruct(single, tmp_path / "n.fits", "--ifu", 5, "--column", "dq") as hdul:
        assert hdul[1].data.dtype.kind == "f" and hdul[1].data.dtype.itemsize == 8  # exact for int32
        assert np.array_equal(hdul[1].data, want, equal_nan=True)
        assert "BUNIT" not in hdul[1].header
    with reconstruct(single, tmp_path / "z.fits", "--ifu", 5, "--column", "dq", "--fill", "0") as hdul:
        assert hdul[1].data.dtype == np.dtype(">i4")
        assert np.array_equal(hdul[1].data, np.nan_to_num(want, nan=0).astype(np.int32))


def test_weight_column(combined: Path, single: Path, tmp_path: Path) -> None:
    want, _, _ = reference_image(combined, 10, "weight", exp=3)
    with reconstruct(combined, tmp_path / "w.fits", "--ifu", 10, "--exp", 3, "--column", "weight") as hdul:
        assert np.array_equal(hdul[1].data, want.astype(np.float32), equal_nan=True)
    reconstruct(single, tmp_path / "x.fits", "--ifu", 5, "--column", "weight", code=2)
    assert "no 'weight' column" in _stderr(single, tmp_path / "x.fits", "--ifu", 5, "--column", "weight")


# -- exposures ----------------------------------------------------------------------


def test_overlapping_exposures_need_exp(combined: Path, tmp_path: Path) -> None:
    reconstruct(combined, tmp_path / "d.fits", "--ifu", 11, code=2)
    err = _stderr(combined, tmp_path / "d.fits", "--ifu", 11)
    assert "--exp" in err and "exposures 1 and 2" in err


@pytest.mark.parametrize("exp", [1, 2, 3])
def test_one_exposure_of_a_combined_table(combined: Path, tmp_path: Path, exp: int) -> None:
    want, xs, ys = reference_image(combined, 11, exp=exp, zero_based=True)
    with reconstruct(combined, tmp_path / "d.fits", "--ifu", 11, "--exp", exp, "--zero-based") as hdul:
        h = hdul[1].header
        assert (h["CRVAL1"], h["CRVAL2"], h["EXPOSURE"]) == (xs, ys, str(exp))
        assert np.array_equal(hdul[1].data, want.astype(np.float32), equal_nan=True)


def test_exposure_subset_decides_from_rows_not_keywords(combined: Path, tmp_path: Path) -> None:
    """Only exposure 2 left (COMBINED still 3, EXP1/EXP3 empty ranges): no --exp needed."""
    dec = reference_decode(combined)
    src = subset(combined, tmp_path / "e2.fits", (dec["exp"] == 2) & (dec["ifu"] == 10))
    with fits.open(src) as h:
        assert h[0].header[f"{PFX}EXP1 LAST"] == -1 and h[0].header[f"{PFX}COMBINED"] == 3
    want, _, _ = reference_image(src, 10)
    with reconstruct(src, tmp_path / "d.fits") as hdul:
        assert hdul[1].header["EXPOSURE"] == "2"
        assert np.array_equal(hdul[1].data, want.astype(np.float32), equal_nan=True)


def test_exposures_that_do_not_overlap_share_an_image(combined: Path, tmp_path: Path) -> None:
    dec = reference_decode(combined)
    keep = (dec["ifu"] == 10) & (((dec["exp"] == 1) & (dec["ypix"] < 2000)) | ((dec["exp"] == 3) & (dec["ypix"] > 2000)))
    src = subset(combined, tmp_path / "apart.fits", keep)
    want, _, _ = reference_image(src, 10)
    with reconstruct(src, tmp_path / "d.fits") as hdul:
        assert hdul[1].header["EXPOSURE"] == "1,3"
        assert np.array_equal(hdul[1].data, want.astype(np.float32), equal_nan=True)


def test_exp_errors(combined: Path, single: Path, tmp_path: Path) -> None:
    reconstruct(combined, tmp_path / "d.fits", "--ifu", 10, "--exp", 4, code=2)
    assert "has exposures 1, 2, 3" in _stderr(combined, tmp_path / "d.fits", "--ifu", 10, "--exp", 4)
    reconstruct(single, tmp_path / "d.fits", "--ifu", 5, "--exp", 1, code=2)
    assert "single-exposure" in _stderr(single, tmp_path / "d.fits", "--ifu", 5, "--exp", 1)


def test_all_ifus_on_a_combined_table_with_exp(combined: Path, tmp_path: Path) -> None:
    with reconstruct(combined, tmp_path / "a.fits", "--all-ifus", "--exp", 2) as hdul:
        assert [h.name for h in hdul[1:]] == ["CHAN10", "CHAN11"]
        for hdu, ifu in zip(hdul[1:], (10, 11)):
            want, _, _ = reference_image(combined, ifu, exp=2)
            assert np.array_equal(hdu.data, want.astype(np.float32), equal_nan=True)


# -- row order and keyword errors ---------------------------------------------------------


def test_last_row_written_wins(one_row_band: Path, tmp_path: Path) -> None:
    n = len(reference_decode(one_row_band)["row"])
    order = np.r_[np.arange(n), np.arange(10)]  # rows 0..9 again at the end, with other data below
    src = subset(one_row_band, tmp_path / "dup.fits", order)
    header, cols = read_columns(src)
    cols["data"][n:] = np.arange(10, dtype=np.float32) + 1000
    src = write_table(tmp_path / "dup2.fits", header, cols, units_of(one_row_band))
    dec = reference_decode(src)
    with reconstruct(src, tmp_path / "d.fits") as hdul:
        h = hdul[1].header
        img = hdul[1].data
        x, y = dec["xpix"][:10] - int(h["CRVAL1"]), dec["ypix"][:10] - int(h["CRVAL2"])
        assert img[y, x].tolist() == list(range(1000, 1010))
        assert h["NROWS"] == n + 10 and h["NFILLED"] == n


def test_missing_xoffset_of_the_chosen_ifu_is_named(single: Path, tmp_path: Path) -> None:
    name = f"{PFX}EXP0 IFU06 SLICE10 XOFFSET"
    src = subset(single, tmp_path / "nokey.fits", np.ones(20_000, bool), {name: None})
    reconstruct(src, tmp_path / "d.fits", "--ifu", 6, code=1)
    assert name in _stderr(src, tmp_path / "d.fits", "--ifu", 6)
    reconstruct(src, tmp_path / "d.fits", "--ifu", 5).close()  # IFU 5 does not need it


def test_output_rules(single: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.fits"
    reconstruct(single, out, "--ifu", 5).close()
    result = run("reconstruct-det", single, "-o", out, "--ifu", 5)
    assert result.exit_code == 1 and "--overwrite" in result.stderr
    assert run("reconstruct-det", single, "-o", out, "--ifu", 6, "--overwrite").exit_code == 0
    with fits.open(out) as hdul:
        assert hdul[1].name == "CHAN06"
    same = run("reconstruct-det", single, "-o", single, "--ifu", 5, "--overwrite")
    assert same.exit_code == 1 and "same file" in same.stderr
    assert run("reconstruct-det", single, "--ifu", 5).exit_code == 2  # -o is required


def test_core_reconstruct_progress_counts_both_passes(single: Path) -> None:
    import pixtab
    from pixtab.core.reconstruct import Request, reconstruct as core_reconstruct, rows_to_read

    done: list[int] = []
    with pixtab.open(single) as pt:
        req = Request(ifu=5)
        images = core_reconstruct(pt, req, done.append, chunk_rows=3000)
        assert sum(done) == rows_to_read(pt, req) == 40_000
        done.clear()
        req = Request(ifu=5, full_ccd=True)  # nothing to survey
        core_reconstruct(pt, req, done.append, chunk_rows=3000)
        assert sum(done) == rows_to_read(pt, req) == 20_000
    assert len(images) == 1 and images[0].ifu == 5 and images[0].xstart > 1
