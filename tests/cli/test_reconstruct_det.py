"""pixtab reconstruct-det: images against an independent reference (both layouts, single and
combined tables), bases, windows, the full CCD, fills, columns, --all-ifus, last-row-wins,
the IFU/exposure rules and errors with their exit codes; the streamed output (byte-identical
to the whole-image implementation it replaced, images freed after their IFU's last row)."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from pixtab.core.io.table import PixTable as CoreTable
from helpers.cli import invoke
from helpers.decode import PFX, read_columns, reference_decode, subset, units_of, write_table


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
    result = invoke("reconstruct-det", src, "-o", out, *args, code=code)
    assert result.stdout == ""
    if code:
        assert not out.exists()
        assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []
        return None
    return fits.open(out)


def _stderr(src: Path, out: Path, *args: object) -> str:
    return invoke("reconstruct-det", src, "-o", out, *args, code=None).stderr


@pytest.fixture(scope="module")
def single(simulated) -> Path:
    return simulated(rows=20_000, ifus=[5, 6], wcs="positioned", seed=7)


@pytest.fixture(scope="module")
def single_table(simulated) -> Path:
    return simulated(rows=20_000, ifus=[5, 6], wcs="positioned", seed=7, layout="table")


@pytest.fixture(scope="module")
def combined(simulated) -> Path:
    return simulated(rows=30_000, ifus=[10, 11], exposures=3, wcs="positioned", seed=8)


@pytest.fixture(scope="module")
def one_row_band(single: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """IFU 5 only, one CCD row per slice (the one nearest y = 2056): a small bounding box (~40 x ~4000)."""
    dec = reference_decode(single)
    keep = np.zeros(len(dec["row"]), bool)
    for s in range(1, 49):
        here = (dec["ifu"] == 5) & (dec["slice"] == s)
        ys = np.unique(dec["ypix"][here])
        keep |= here & (dec["ypix"] == ys[np.argmin(np.abs(ys - 2056))])
    return subset(single, tmp_path_factory.mktemp("band") / "band.fits", keep)


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
    y = reference_decode(one_row_band)["ypix"]
    with reconstruct(one_row_band, tmp_path / "d.fits") as hdul:
        assert hdul[1].header["CRVAL2"] == ys == y.min() and hdul[1].data.shape == (y.max() - y.min() + 1, want.shape[1])
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


@pytest.mark.parametrize("spec", ["5,6", "5-6", ["5", "6"]], ids=["list", "range", "repeated"])
def test_ifu_list_gives_one_image_each_as_all_ifus(single: Path, tmp_path: Path, spec: str | list[str]) -> None:
    """--ifu takes the LIST every selecting command takes (5,6 or 5-7, repeatable)."""
    args = [a for s in ([spec] if isinstance(spec, str) else spec) for a in ("--ifu", s)]
    with reconstruct(single, tmp_path / "some.fits", *args) as some, \
            reconstruct(single, tmp_path / "all.fits", "--all-ifus") as every:
        assert [h.name for h in some[1:]] == ["CHAN05", "CHAN06"]
        for a, b in zip(some[1:], every[1:]):
            assert np.array_equal(a.data, b.data, equal_nan=True) and a.header == b.header


def test_ifu_list_with_an_absent_ifu_names_it(single: Path, tmp_path: Path) -> None:
    reconstruct(single, tmp_path / "d.fits", "--ifu", "5,7-8", code=1)
    err = _stderr(single, tmp_path / "d.fits", "--ifu", "5,7-8")
    assert "no rows of IFUs 7, 8 (rows found for IFU 5)" in err, err


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
        # CCD row y in the 1-based (DRS) count is array row y - 1 in both bases.
        y = reference_decode(one_row_band)["ypix"]  # 1-based
        assert not np.isnan(hdul[1].data[y.min() - 1]).all() and np.isnan(hdul[1].data[y.min() - 2]).all()


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
    reconstruct(single, tmp_path / "x.fits", "--ifu", 5, "--column", "weight", code=1)  # needs the table: 1
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
    """An exposure the table lacks is exit 1, with extract's words; --exp 0 of a single exposure is every row."""
    reconstruct(combined, tmp_path / "d.fits", "--ifu", 10, "--exp", 4, code=1)
    assert "--exp: " in _stderr(combined, tmp_path / "d.fits", "--ifu", 10, "--exp", 4)
    assert "exposure 4 is not in this table (exposures 1-3)" in _stderr(combined, tmp_path / "d.fits", "--ifu", 10, "--exp", 4)
    reconstruct(single, tmp_path / "d.fits", "--ifu", 5, "--exp", 1, code=1)
    assert "single-exposure table has only exposure 0" in _stderr(single, tmp_path / "d.fits", "--ifu", 5, "--exp", 1)
    with reconstruct(single, tmp_path / "z.fits", "--ifu", 5, "--exp", 0) as zero, reconstruct(
        single, tmp_path / "a.fits", "--ifu", 5
    ) as every:
        assert np.array_equal(zero[1].data, every[1].data, equal_nan=True)


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
    result = invoke("reconstruct-det", single, "-o", out, "--ifu", 5, code=1)
    assert "--overwrite" in result.stderr
    invoke("reconstruct-det", single, "-o", out, "--ifu", 6, "--overwrite")
    with fits.open(out) as hdul:
        assert hdul[1].name == "CHAN06"
    same = invoke("reconstruct-det", single, "-o", single, "--ifu", 5, "--overwrite", code=1)
    assert "same file" in same.stderr
    invoke("reconstruct-det", single, "--ifu", 5, code=2)  # -o is required


def test_core_reconstruct_progress_counts_both_passes(single: Path, order_always: None) -> None:
    import pixtab
    from pixtab.core.ops.reconstruct import Request
    from pixtab.core.progress import Recorder
    from helpers.reconstruct_oracle import reconstruct as core_reconstruct

    with CoreTable(single) as pt:  # the core's table: core functions take it
        n5 = int(((pt.read(["origin"])["origin"] >> 6 & 0x1F) == 5).sum())  # the rows read: IFU 5's (read planner)
        assert n5 < pt.nrows
        done = Recorder()
        images = core_reconstruct(pt, Request(ifus=(5,)), done, chunk_rows=3000)
        assert done.phases == [["survey", n5, n5], ["fill", n5, n5]]
        done = Recorder()
        core_reconstruct(pt, Request(ifus=(5,), full_ccd=True), done, chunk_rows=3000)  # nothing to survey
        assert done.phases == [["fill", n5, n5]]
    assert len(images) == 1 and images[0].ifu == 5 and images[0].xstart > 1


# -- streamed output ------------------------------------------------------------------


def tiny_table(path: Path, layout: str = "image", exposures: int = 1, interleave: bool = False) -> Path:
    """A small table built by plain arithmetic (no RNG, no simulate): IFUs 17, 4, 9, 2 in that
    row order, slices 1-3, 4 CCD rows each, a repeated pixel (last row wins), a NaN and dq bit 31.
    Exposures sit apart on the CCD (no overlap); ``interleave`` mixes the IFUs' rows."""
    from pixtab.core.io.writer import ColumnSpec, PixtableWriter

    h = fits.Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True)])
    for k, v in (("OBJECT", "TINY"), ("TELESCOP", "ESO-VLT-U4"), ("INSTRUME", "MUSE"), ("RA", 150.5), ("DEC", -2.25),
                 ("EXPTIME", 600.0), ("MJD-OBS", 60000.125), ("DATE-OBS", "2023-01-01T03:00:00.000")):
        h[k] = v
    h[f"HIERARCH {PFX}TYPE"] = "GEOFULL"
    cols: dict[str, list[np.ndarray]] = {n: [] for n in ("xpos", "ypos", "lambda", "data", "dq", "stat", "origin")}
    for e in range(1, exposures + 1) if exposures > 1 else [0]:
        n0 = sum(len(c) for c in cols["origin"])
        for ifu in (17, 4, 9, 2):
            for slc in (1, 2, 3):
                xoff = 100 * slc + 3 * ifu + e
                h[f"HIERARCH {PFX}EXP{e} IFU{ifu:02d} SLICE{slc:02d} XOFFSET"] = xoff
                y0 = 40 * ifu + 2 * e
                y, xs = np.meshgrid(np.arange(y0, y0 + 4), np.arange(1, 9 + slc), indexing="ij")
                y, xs = y.ravel(), xs.ravel()
                if e:
                    y = y + 7 * (e - 1)
                k = np.arange(len(y))
                y, xs, k = np.r_[y, y[:2]], np.r_[xs, xs[:2]], np.r_[k, k[:2] + 1000]
                cols["origin"].append(((xs.astype(np.int64) << 24) | (y.astype(np.int64) << 11) | (ifu << 6) | slc).astype(np.int32))
                cols["xpos"].append((xs + xoff).astype(np.float32) * 0.5)
                cols["ypos"].append(y.astype(np.float32) * 0.25)
                cols["lambda"].append((4650 + 1.25 * y).astype(np.float32))
                d = (ifu * 1000 + slc * 100 + k + e * 0.5).astype(np.float32) / 7
                d[3] = np.nan
                cols["data"].append(d)
                cols["dq"].append(np.where(k % 5 == 0, -(2**31), k * slc).astype(np.int32))
                cols["stat"].append((d * d + 1).astype(np.float32))
        if e:
            h[f"HIERARCH {PFX}EXP{e} FIRST"] = n0
            h[f"HIERARCH {PFX}EXP{e} LAST"] = sum(len(c) for c in cols["origin"]) - 1
    if exposures > 1:
        h[f"HIERARCH {PFX}COMBINED"] = exposures
    arrays = {n: np.concatenate(c) for n, c in cols.items()}
    if interleave:
        order = np.argsort(np.arange(len(arrays["origin"])) % 7, kind="stable")
        arrays = {n: a[order] for n, a in arrays.items()}
    units = {"xpos": "pix", "ypos": "pix", "lambda": "Angstrom", "data": "count", "stat": "count**2"}
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        w = PixtableWriter(fd, h, [ColumnSpec(n, a.dtype, units.get(n)) for n, a in arrays.items()], len(arrays["origin"]), layout)
        w.write(arrays)
        w.finish(h)
    finally:
        os.close(fd)
    return path


#: sha256 of the tiny tables; the hashes below hold only for these inputs
TINY_INPUTS = {
    "tiny.fits": ({}, "3d2cd9c983c8f6577ccadd71d564719b5ad860b4cabd268e7be3220cb7168102"),
    "tiny_t.fits": ({"layout": "table"}, "098f467763ce6f7b956ba7f3799b42bc5a7b85ef79de4303ddf7d4bdd32f7da1"),
    "tiny_c.fits": ({"exposures": 3}, "d58f0819560ba3d21d346efe114423da8b97d2fb1365a96f2f11bc68958594a9"),
    "tiny_i.fits": ({"interleave": True}, "126a3a5c2a80d74c18cf58df662bed8fc8150dccdb1a5adb4e5bf0f63f54f45a"),
}

#: (input, options, size, sha256) of files written by the implementation that kept every image
#: in memory and wrote them after the pass (commit d11a10a), before streaming replaced it
PREVIOUS_OUTPUTS = [
    ("tiny.fits", "--all-ifus", 37440, "975d4c95590524a11e9ae389b9588d84655d460b81e4f2596b4efc9a5edd4d3f"),
    ("tiny.fits", "--all-ifus --column dq", 48960, "6e48c34204a3b42c026846f77b090a78f306d567c695b7343b262460d21a9d5e"),
    ("tiny.fits", "--all-ifus --column dq --fill 0 --zero-based", 37440,
     "0541c3928eb0b34edd166129661b2656f5e467728f2b8015db0e4b1871e5aafa"),
    ("tiny.fits", "--all-ifus --column lambda --fill 0 --ypix 165:400", 204480,
     "850199fe7ada5cdeb60b9cb32e2003b787f1d071a7e8947069cdcb02e8ad8e55"),
    ("tiny.fits", "--ifu 9 --column stat", 11520, "c86ae1db64581837b941bcfc00b10d70ccf0252fecaa518b8589bfe20e90777c"),
    ("tiny_t.fits", "--all-ifus --column stat --zero-based", 37440,
     "2322d9a468287140587399576115f110c7b743d98eab6a62274246c5f9b350de"),
    ("tiny_c.fits", "--all-ifus", 95040, "291204a69bcd6418a47912b01e029d2d575f4dd0a64eacc19ad98d65d5da2077"),
    ("tiny_c.fits", "--all-ifus --exp 2 --fill 0", 37440, "6dc5add215c644e0ff260d00b9abf9198fb1393fb0109b34f2046d8eaf64c202"),
    ("tiny_c.fits", "--all-ifus --exp 3 --xpix 110:125", 14400,
     "84890b6b05073da18565e0bd8b795d2578ce1908f5d4abdb02ea9c384e29b430"),
    ("tiny_i.fits", "--all-ifus --column stat", 37440, "14813aa908995ad9a6bcc1a07c8ad7e144ac496d894c08c07b62aa9bd3706d5d"),
    ("tiny_i.fits", "--all-ifus --column dq", 48960, "37880fc7aadedb4a7acb27d55cf2d7e99797a22feb29addbd1f284b08280de28"),
]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tiny")
    paths = {name: tiny_table(d / name, **kw) for name, (kw, _) in TINY_INPUTS.items()}
    for name, (_, sha) in TINY_INPUTS.items():
        assert _sha(paths[name]) == sha, f"{name} changed (writer?): the reference hashes no longer apply"
    return paths


@pytest.mark.parametrize("name,options,size,sha", PREVIOUS_OUTPUTS, ids=[f"{n} {o}" for n, o, _, _ in PREVIOUS_OUTPUTS])
def test_streamed_output_is_byte_identical_to_the_previous_one(tiny, tmp_path: Path, name: str, options: str,
                                                               size: int, sha: str) -> None:
    out = tmp_path / "o.fits"
    reconstruct(tiny[name], out, *options.split()).close()
    assert out.stat().st_size == size
    assert _sha(out) == sha


def _streamed(src: Path, out: Path, req, chunk_rows: int = 1 << 21):
    import pixtab
    from pixtab.core.ops.reconstruct import survey, write_streamed

    with CoreTable(src) as pt:
        plan = survey(pt, req, chunk_rows=chunk_rows)
        fd = os.open(out, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            return write_streamed(fd, pt, plan, pt.columns[req.column].unit, chunk_rows=chunk_rows)
        finally:
            os.close(fd)


@pytest.mark.parametrize("chunk_rows,block_rows", [(1 << 21, 1 << 16), (100, 1 << 16), (7, 1 << 16), (1 << 21, 5)])
def test_pipeline_order_keeps_one_image_alive(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              chunk_rows: int, block_rows: int) -> None:
    """Each IFU is one run of rows: its image is written and freed before the next one is made,
    whatever the chunk and decoding-block sizes (runs cut across chunks and blocks)."""
    from pixtab.core.ops import reconstruct as core
    from pixtab.core.ops.reconstruct import rows

    monkeypatch.setattr(rows, "_BLOCK_ROWS", block_rows)
    result = _streamed(tiny["tiny.fits"], tmp_path / "o.fits", core.Request(all_ifus=True), chunk_rows)
    assert result.max_alive == 1
    assert [im.ifu for im in result.images] == [2, 4, 9, 17]
    assert [im.shape for im in result.images] == [(4, 211)] * 4  # x from 101 + 3 * IFU to 311 + 3 * IFU
    assert [(im.nrows, im.npix) for im in result.images] == [(126, 117)] * 4  # 6 rows repeat a pixel, 3 NaN
    assert _sha(tmp_path / "o.fits") == PREVIOUS_OUTPUTS[0][3]
    # The same per exposure of a combined table.
    result = _streamed(tiny["tiny_c.fits"], tmp_path / "e.fits", core.Request(all_ifus=True, exp=2, fill="0"), chunk_rows)
    assert result.max_alive == 1
    assert _sha(tmp_path / "e.fits") == PREVIOUS_OUTPUTS[7][3]


def test_interleaved_ifus_keep_every_image_alive(tiny, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Unsorted rows, or every exposure of a combined table: all row spans overlap, so every image
    stays in memory until the end (as before streaming), and a debug message says so."""
    from pixtab.core.ops.reconstruct import Request

    logger = logging.getLogger("pixtab.core.ops.reconstruct.stream")  # the CLI's "pixtab" logger may not propagate
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.DEBUG, logger=logger.name):
            assert _streamed(tiny["tiny_i.fits"], tmp_path / "i.fits", Request(all_ifus=True, column="stat"), 50).max_alive == 4
            assert "IFUs interleave in row order: up to 4 images in memory at once" in caplog.text
            caplog.clear()
            assert _streamed(tiny["tiny.fits"], tmp_path / "p.fits", Request(all_ifus=True)).max_alive == 1
            assert "interleave" not in caplog.text
    finally:
        logger.removeHandler(caplog.handler)
    assert _sha(tmp_path / "i.fits") == PREVIOUS_OUTPUTS[9][3]
    assert _streamed(tiny["tiny_c.fits"], tmp_path / "c.fits", Request(all_ifus=True)).max_alive == 4
    assert _sha(tmp_path / "c.fits") == PREVIOUS_OUTPUTS[6][3]


@pytest.mark.parametrize("name", ["tiny.fits", "tiny_c.fits", "tiny_i.fits"])
def test_in_memory_api_writes_the_same_file(tiny, tmp_path: Path, name: str) -> None:
    """reconstruct() + write_images() (every image kept) and the streamed writer agree byte for byte."""
    import pixtab
    from pixtab.core.ops.reconstruct import Request
    from helpers.reconstruct_oracle import reconstruct as core_reconstruct, write_images

    req = Request(all_ifus=True, column="dq", zero_based=True)
    _streamed(tiny[name], tmp_path / "s.fits", req)
    with CoreTable(tiny[name]) as pt:
        images = core_reconstruct(pt, req, chunk_rows=31)
        assert all(im.image is not None and im.image.shape == im.shape for im in images)
        before = [im.image.copy() for im in images]
        fd = os.open(tmp_path / "m.fits", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_images(fd, images, req, None, pt)
        finally:
            os.close(fd)
    assert all(np.array_equal(a, im.image, equal_nan=True) for a, im in zip(before, images))  # not consumed
    assert (tmp_path / "m.fits").read_bytes() == (tmp_path / "s.fits").read_bytes()


def test_clash_reported_for_the_lowest_ifu_of_the_chunk(combined: Path, tmp_path: Path) -> None:
    """IFU 11's exposures 1 and 2 meet in an earlier row than IFU 10's exposures 1 and 3: the error
    still names IFU 10, as when each IFU of a chunk was filled in turn."""
    dec = reference_decode(combined)
    src = subset(combined, tmp_path / "clash.fits",
                 ((dec["ifu"] == 10) & (dec["exp"] != 2)) | ((dec["ifu"] == 11) & (dec["exp"] != 3)))
    reconstruct(src, tmp_path / "d.fits", "--all-ifus", code=2)
    err = _stderr(src, tmp_path / "d.fits", "--all-ifus")
    # IFU 10 filled on its own: the first exposure-3 row (table order) on a pixel exposure 1 has.
    d = reference_decode(src)
    ten = d["ifu"] == 10
    seen = set(zip(d["xpix"][ten & (d["exp"] == 1)].tolist(), d["ypix"][ten & (d["exp"] == 1)].tolist()))
    x, y = next(p for p in zip(d["xpix"][ten & (d["exp"] == 3)].tolist(), d["ypix"][ten & (d["exp"] == 3)].tolist()) if p in seen)
    first11 = np.flatnonzero((d["ifu"] == 11) & (d["exp"] == 2))[0]
    assert first11 < np.flatnonzero(ten & (d["exp"] == 3))[0]  # IFU 11's clash comes first in the rows
    assert f"IFU 10: exposures 1 and 3 both have rows on detector pixel x={x}, y={y}" in err


def test_full_ccd_leaves_out_rows_beyond_the_ccd(tiny, tmp_path: Path) -> None:
    """A huge XOFFSET puts rows of slice 3 past x = 4096: --full-ccd images the CCD without them."""
    src = tiny["tiny.fits"]
    key = f"HIERARCH {PFX}EXP0 IFU09 SLICE03 XOFFSET"
    n = len(reference_decode(src)["row"])
    moved = subset(src, tmp_path / "far.fits", np.ones(n, bool), {key: 4090})
    dec = reference_decode(moved)
    m = dec["ifu"] == 9
    on_ccd = int(np.count_nonzero(m & (dec["xpix"] <= 4096)))
    assert 0 < on_ccd < int(np.count_nonzero(m))
    want, _, _ = reference_image(moved, 9, window=(1, 4097, 1, 4113))
    with reconstruct(moved, tmp_path / "f.fits", "--ifu", 9, "--full-ccd") as hdul:
        assert hdul[1].header["NROWS"] == on_ccd
        assert np.array_equal(hdul[1].data, want.astype(np.float32), equal_nan=True)
    with reconstruct(moved, tmp_path / "b.fits", "--ifu", 9) as hdul:  # the bounding box reaches past the CCD
        assert hdul[1].header["NROWS"] == int(np.count_nonzero(m))
        assert hdul[1].header["CRVAL1"] + hdul[1].data.shape[1] - 1 == int(dec["xpix"][m].max()) > 4096
