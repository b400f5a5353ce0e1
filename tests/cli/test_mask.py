"""--mask, --region and --rows on the row-selecting commands, pixtab mask and MPDAF's PixTableMask:
rows against references computed independently (astropy WCS and modeling, astropy-regions'
own contains, numpy), and MPDAF 3.6's mask_column on the same table and mask."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from helpers.cli import invoke
from helpers.skyimages import mask_image
from helpers.sources import DEC0, RA0, one_line_error, read_columns

pytest.importorskip("regions")


def sky_positions(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """RA/Dec of every row with astropy alone: a native-to-celestial rotation of the projected
    (phi, theta) positions, or CRVAL + offset for positioned tables."""
    header, cols = read_columns(path)
    x, y = cols["xpos"].astype(np.float64), cols["ypos"].astype(np.float64)
    if "CRVAL1" in header and header.get("HIERARCH ESO DRS MUSE PIXTABLE WCS", "").startswith("positioned"):
        return np.mod(header["CRVAL1"] + x, 360), header["CRVAL2"] + y
    from astropy.modeling.models import RotateNative2Celestial

    rot = RotateNative2Celestial(header["RA"], header["DEC"], 180.0)
    ra, dec = rot(np.degrees(x), np.degrees(y) + 90.0)
    return np.mod(ra, 360), dec


def mask_reference(src: Path, mask: Path, invert: bool = False) -> np.ndarray:
    """Rows on an object pixel (background with ``invert``): nearest pixel via astropy's WCS."""
    ra, dec = sky_positions(src)
    with fits.open(mask) as h:
        data, w = h[0].data, WCS(h[0].header)
    x, y = w.world_to_pixel_values(ra, dec)
    i, j = np.floor(x + 0.5).astype(int), np.floor(y + 0.5).astype(int)
    inside = (i >= 0) & (i < data.shape[1]) & (j >= 0) & (j < data.shape[0])
    on = np.zeros(ra.size, dtype=bool)
    on[inside] = data[j[inside], i[inside]] > 0
    return np.flatnonzero(inside & (~on if invert else on))


def selected_rows(src: Path, tmp_path: Path, *args: object) -> np.ndarray:
    out = tmp_path / "rows.csv"
    invoke("export", src, "-o", out, "--columns", "row", "--overwrite", *args)
    return np.loadtxt(out, delimiter=",", skiprows=1, dtype=np.int64, ndmin=1)


@pytest.mark.parametrize("wcs", ["positioned", "projected"])
@pytest.mark.parametrize("invert", [False, True])
def test_mask_selects_rows_on_object_pixels(simulated, tmp_path, wcs, invert) -> None:
    src = simulated(rows=200_000, ifus=[10, 11, 12, 13], wcs=wcs)
    mask = mask_image(tmp_path / "m.fits")
    expected = mask_reference(src, mask, invert)
    got = selected_rows(src, tmp_path, "--mask", mask, *(["--mask-invert"] if invert else []))
    assert expected.size > 1000 and np.array_equal(got, expected)


def test_mask_extension_and_count(simulated, tmp_path) -> None:
    src = simulated(rows=200_000, ifus=[10, 11, 12, 13])
    mask = mask_image(tmp_path / "m.fits")
    with fits.open(mask) as h:
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(h[0].data, h[0].header, name="OBJECTS")]).writeto(tmp_path / "x.fits")
    a = invoke("extract", src, "--mask", f"{tmp_path / 'x.fits'}[OBJECTS]", "--count", code=None)
    b = invoke("extract", src, "--mask", mask, "--count")
    assert a.exit_code == 0 and a.output == b.output and int(a.output) == mask_reference(src, mask).size


def test_mask_errors(simulated, tmp_path) -> None:
    src = simulated(rows=20_000)
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(tmp_path / "nowcs.fits")
    assert "no celestial WCS" in one_line_error(invoke("extract", src, "--mask", tmp_path / "nowcs.fits", "--count", code=1), 1)
    mask = mask_image(tmp_path / "m.fits")
    assert "no extension 'NOPE'" in one_line_error(invoke("extract", src, "--mask", f"{mask}[NOPE]", "--count", code=1), 1)
    pix = simulated(rows=20_000, wcs="pixel")
    assert "pixel-unit table" in one_line_error(invoke("extract", pix, "--mask", mask, "--count", code=1), 1)
    invoke("extract", src, "--mask-invert", "--count", code=2)


REGIONS = {
    "circle": "circle({ra},{dec},2.5\")",
    "ellipse": "ellipse({ra},{dec},4\",1.5\",30)",
    "box": "box({ra},{dec},5\",2\",25)",
    "polygon": "polygon({ra},{dec},{ra2},{dec},{ra},{dec2})",
    "annulus": "annulus({ra},{dec},1.5\",3\")",
}


def region_file(path: Path, *shapes: str, exclude: str | None = None) -> Path:
    ra, dec = RA0 + 1.0 / 3600, DEC0 - 0.5 / 3600
    fmt = dict(ra=ra, dec=dec, ra2=ra + 4.0 / 3600, dec2=dec + 3.0 / 3600)
    lines = ["# Region file format: DS9 version 4.1", "fk5"] + [REGIONS[s].format(**fmt) for s in shapes]
    if exclude:
        lines.append("-" + REGIONS[exclude].format(**fmt))
    path.write_text("\n".join(lines) + "\n")
    return path


def regions_reference(src: Path, reg: Path) -> np.ndarray:
    """astropy-regions' own contains (on a TAN image of its own about the pointing)."""
    from astropy.coordinates import SkyCoord
    from regions import Regions

    ra, dec = sky_positions(src)
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [RA0, DEC0]
    w.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    coords = SkyCoord(ra, dec, unit="deg")
    inc = np.zeros(ra.size, dtype=bool)
    exc = np.zeros(ra.size, dtype=bool)
    shapes = list(Regions.read(str(reg), format="ds9"))
    for r in shapes:
        m = np.asarray(r.contains(coords, w))
        if r.meta.get("include", True):
            inc |= m
        else:
            exc |= m
    if not any(r.meta.get("include", True) for r in shapes):
        inc[:] = True
    return np.flatnonzero(inc & ~exc)


@pytest.mark.parametrize("shape", sorted(REGIONS))
def test_region_shape_selects_what_regions_contains_selects(simulated, tmp_path, shape) -> None:
    src = simulated(rows=300_000, ifus=[11, 12, 13, 14], wcs="projected")
    reg = region_file(tmp_path / f"{shape}.reg", shape)
    expected = regions_reference(src, reg)
    got = selected_rows(src, tmp_path, "--region", reg)
    assert expected.size > 100 and np.array_equal(got, expected)


def test_regions_are_ored_and_excluded_shapes_subtracted(simulated, tmp_path) -> None:
    src = simulated(rows=300_000, ifus=[11, 12, 13, 14])
    reg = region_file(tmp_path / "many.reg", "ellipse", "box", "polygon", exclude="circle")
    expected = regions_reference(src, reg)
    got = selected_rows(src, tmp_path, "--region", reg)
    union = selected_rows(src, tmp_path, "--region", region_file(tmp_path / "u.reg", "ellipse", "box", "polygon"))
    hole = selected_rows(src, tmp_path, "--region", region_file(tmp_path / "c.reg", "circle"))
    assert np.array_equal(got, expected) and np.array_equal(got, np.setdiff1d(union, hole)) and got.size < union.size
    crtf = tmp_path / "c.crtf"
    crtf.write_text(f"#CRTFv0\ncircle [[{RA0}deg, {DEC0}deg], 2.5arcsec] coord=ICRS\n")
    a = invoke("extract", src, "--region", crtf, "--count", code=None)
    b = invoke("extract", src, "--circle", RA0, DEC0, "2.5", "--count")
    assert a.exit_code == 0 and abs(int(a.output) - int(b.output)) <= 2  # TAN circle vs the flat-sky metric


def test_pixel_region_is_refused(simulated, tmp_path) -> None:
    src = simulated(rows=20_000)
    reg = tmp_path / "p.reg"
    reg.write_text("image\ncircle(10,10,3)\n")
    line = one_line_error(invoke("extract", src, "--region", reg, "--count", code=1), 1)
    assert "image (pixel) coordinates" in line and "sky coordinates" in line


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "arrow"])
def test_rows_file_gives_the_same_bytes_as_the_extract(simulated, tmp_path, fmt) -> None:
    src = simulated(rows=100_000, ifus=[10, 11])
    crit = ["--circle", RA0, DEC0, "3", "--lambda", "5000:8000", "--good"]
    invoke("extract", src, "-o", tmp_path / "a.fits", *crit)
    rows = tmp_path / f"rows.{fmt}"
    invoke("export", src, "-o", rows, "--columns", "row", *crit)
    invoke("extract", src, "-o", tmp_path / "b.fits", "--rows", rows)
    assert (tmp_path / "a.fits").read_bytes() == (tmp_path / "b.fits").read_bytes()


def test_rows_npy_text_range_and_where_row(simulated, tmp_path) -> None:
    src = simulated(rows=50_000)
    idx = np.array([5, 17, 17, 40_000, 49_999, 3])
    np.save(tmp_path / "i.npy", idx)
    flags = np.zeros(50_000, dtype=bool)
    flags[idx] = True
    np.save(tmp_path / "b.npy", flags)
    (tmp_path / "i.txt").write_text("# rows\n5 17\n17\n40000, 49999\n3\n")
    want = np.unique(idx)
    for spec in ("i.npy", "b.npy", "i.txt"):
        assert np.array_equal(selected_rows(src, tmp_path, "--rows", tmp_path / spec), want), spec
    assert np.array_equal(selected_rows(src, tmp_path, "--rows", "100:110"), np.arange(100, 110))
    assert np.array_equal(selected_rows(src, tmp_path, "--rows", "49995:"), np.arange(49995, 50000))
    assert np.array_equal(selected_rows(src, tmp_path, "--where", "row % 10000 == 7"), np.arange(7, 50_000, 10_000))
    np.save(tmp_path / "short.npy", flags[:10])
    assert "a row mask of 10 rows" in one_line_error(invoke("extract", src, "--rows", tmp_path / "short.npy", "--count", code=1), 1)
    np.save(tmp_path / "far.npy", np.array([1, 50_000]))
    assert "row 50000 is outside" in one_line_error(invoke("extract", src, "--rows", tmp_path / "far.npy", "--count", code=1), 1)
    assert "neither a row range" in one_line_error(invoke("extract", src, "--rows", "nope.txt", "--count", code=2), 2)


def test_decode_origin_rows_range_unchanged(simulated, tmp_path) -> None:
    src = simulated(rows=20_000)
    a = invoke("decode-origin", src, "--rows", "10:20")
    assert [ln.split(",")[0] for ln in a.output.splitlines()[1:]] == [str(i) for i in range(10, 20)]
    np.save(tmp_path / "r.npy", np.array([3, 12]))
    b = invoke("decode-origin", src, "--rows", tmp_path / "r.npy")
    assert [ln.split(",")[0] for ln in b.output.splitlines()[1:]] == ["3", "12"]


def test_mask_command_writes_mpdaf_pixtablemask(simulated, tmp_path) -> None:
    src = simulated(rows=200_000, ifus=[10, 11, 12, 13])
    mask = mask_image(tmp_path / "m.fits")
    out = tmp_path / "t.mask.fits"
    invoke("mask", src, "--mask", mask, "-o", out)
    with fits.open(out) as h:
        col = h["MASKCOL"].data
        assert col.shape == (200_000, 1) and col.dtype == np.dtype(">i4") and h["MASKCOL"].header["BUNIT"] == "boolean"
        assert h[0].header["MASK"] == "m.fits" and h[0].header["PIXTABLE"] == src.name
    assert np.array_equal(np.flatnonzero(col[:, 0]), mask_reference(src, mask))
    assert np.array_equal(selected_rows(src, tmp_path, "--rows", out), mask_reference(src, mask))


def test_mask_command_agrees_with_mpdaf_mask_column(simulated, tmp_path) -> None:
    """MPDAF 3.6 reads our file, and its mask_column gives the same rows (a mask whose edges are
    background: MPDAF takes the nearest edge pixel for rows off the image, we select none)."""
    np.NaN = np.nan  # MPDAF 3.6 under numpy 2
    drs = pytest.importorskip("mpdaf.drs")
    src = simulated(rows=200_000, ifus=[10, 11, 12, 13])
    mask = mask_image(tmp_path / "m.fits")
    out = tmp_path / "t.mask.fits"
    invoke("mask", src, "--mask", mask, "-o", out)
    ours = drs.PixTableMask(filename=str(out))
    theirs = drs.PixTable(str(src)).mask_column(str(mask))
    assert ours.maskfile == "m.fits" and ours.pixtable == src.name
    assert ours.maskcol.dtype == bool and np.array_equal(ours.maskcol, theirs.maskcol) and ours.maskcol.sum() > 1000
    theirs.write(str(tmp_path / "mpdaf.mask.fits"))  # and a file MPDAF wrote reads back as --rows
    assert np.array_equal(selected_rows(src, tmp_path, "--rows", tmp_path / "mpdaf.mask.fits"), np.flatnonzero(theirs.maskcol))


@pytest.mark.parametrize("wcs", ["positioned", "projected"])
def test_index_plans_mask_and_region_by_their_sky_box(simulated, tmp_path, wcs) -> None:
    """With an index, a mask's or a region's sky box rules blocks out: fewer rows scanned, the
    same output bytes as the full scan; --rows ranges scan only their rows."""
    import re

    src = simulated(rows=400_000, wcs=wcs)  # all 24 IFUs: the shapes touch a few of them
    mask = mask_image(tmp_path / "m.fits")
    reg = region_file(tmp_path / "r.reg", "ellipse", "box")
    env = {"PIXTAB_CACHE_DIR": str(tmp_path / "cache")}
    invoke("-q", "index", src, env=env)
    for crit in (["--mask", str(mask)], ["--region", str(reg)], ["--rows", "1000:3000"]):
        a = invoke("-v", "extract", src, "-o", tmp_path / "a.fits", "--overwrite", *crit, env=env)
        invoke("extract", src, "-o", tmp_path / "b.fits", "--overwrite", "--full-scan", *crit, env=env)
        assert (tmp_path / "a.fits").read_bytes() == (tmp_path / "b.fits").read_bytes()
        scanned = int(re.search(r"index path: \d+ range\(s\), (\d+) of 400000 rows to scan", a.stderr)[1])  # type: ignore[index]
        print(wcs, crit[0], scanned)
        assert scanned < 0.35 * 400_000, (crit, scanned)  # the cost model joins close ranges
        if crit[0] == "--rows":
            assert scanned == 2000
    # with codes the index selects whole runs: a row list must still be tested, and OR-ed rows kept
    np.save(tmp_path / "r.npy", np.arange(0, 400_000, 7))
    for crit in (["--ifu", "11", "--rows", str(tmp_path / "r.npy")], ["--or", "--ifu", "11", "--rows", "0:100"],
                 ["--ifu", "11", "--rows", "100000:"], ["--or", "--ifu", "11", "--mask", str(mask)]):
        invoke("extract", src, "-o", tmp_path / "a.fits", "--overwrite", *crit, env=env)
        invoke("extract", src, "-o", tmp_path / "b.fits", "--overwrite", "--full-scan", *crit, env=env)
        assert (tmp_path / "a.fits").read_bytes() == (tmp_path / "b.fits").read_bytes(), crit


def test_region_parser_warnings_are_one_pixtab_line(simulated, tmp_path) -> None:
    src = simulated(rows=20_000)
    reg = tmp_path / "g.reg"
    reg.write_text(f"fk5\ncircle({RA0},{DEC0},2\")\nbogus(1\n")
    r = invoke("extract", src, "--region", reg, "--count")
    assert int(r.stdout) > 0
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"pixtab: warning: {reg}: ") and "bogus" in r.stderr
    reg.write_text("bogus(1\n")
    assert "no region in the file" in one_line_error(invoke("extract", src, "--region", reg, "--count", code=1), 1)


def test_mask_column_in_mpdaf_conventions(simulated, tmp_path) -> None:
    """core.ops.sky.maskcol.mask_column (for the MPDAF facade) is MPDAF 3.6's mask_column, also for
    rows off the image (they take the edge pixel) and a non-zero negative pixel."""
    np.NaN = np.nan
    drs = pytest.importorskip("mpdaf.drs")
    from pixtab.core.io.table import PixTable
    from pixtab.core.ops.sky.maskcol import mask_column

    src = simulated(rows=200_000, ifus=[10, 11, 12, 13])
    mask = mask_image(tmp_path / "m.fits", centre=(2.0, 30.0), radius=10.0)  # an object on the edge
    with fits.open(mask, mode="update") as h:
        h[0].data[50:55, 70:80] = -3  # MPDAF reads the image as booleans: non-zero is an object
    with PixTable(src) as pt:
        ours = mask_column(pt, str(mask))
    theirs = drs.PixTable(str(src)).mask_column(str(mask)).maskcol
    assert np.array_equal(ours, theirs) and ours.sum() > mask_reference(src, mask).size
