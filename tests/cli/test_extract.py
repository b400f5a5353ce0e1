"""``pixtab extract`` and its core (``core.select``, ``core.extract``) on simulated tables.

Selections are checked against an independent numpy reference computed from
the whole input (sky positions from the format doc's formulas, detector x from
the XOFFSET keywords); outputs must hold exactly ``input[reference]``.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixtab.core.format.exposures import ExposureMap
from pixtab.core.format.keywords import LIMIT_KEYS
from pixtab.core.ops import extract as ex
from pixtab.core.errors import CriteriaError
from pixtab.core.format.keywords import key, xoffset_key
from pixtab.core.format.limits import LimitsAccumulator
from pixtab.core.io.criteria import Aperture, Criteria, ccd_slices
from pixtab.core.io.selection import RowSource, Selector
from pixtab.core.io.table import PixTable
from pixtab.core.io.scan import ChunkSelection

from helpers import drs
from helpers.cli import invoke

RA0, DEC0 = 150.1163, 2.2058


# -- reference ------------------------------------------------------------------


@dataclass
class Ref:
    """Everything a criterion looks at, for every row of a table, computed independently."""

    path: Path
    cols: dict[str, np.ndarray]
    header: fits.Header
    wcs: str
    lam: np.ndarray
    ifu: np.ndarray
    slc: np.ndarray
    x1: np.ndarray  # 1-based detector x
    y1: np.ndarray
    exp: np.ndarray
    ra: np.ndarray
    dec: np.ndarray

    def aperture(self, shape: str, ra_c: float, dec_c: float, size: float) -> np.ndarray:
        if self.wcs == "pixel":
            dx, dy = self.ra - ra_c, self.dec - dec_c
        else:
            dra = (self.ra - ra_c + 180.0) % 360.0 - 180.0
            dx = dra * 3600.0 * math.cos(math.radians(dec_c))
            dy = (self.dec - dec_c) * 3600.0
        if shape == "circle":
            return dx**2 + dy**2 < size**2
        return (np.abs(dx) < size) & (np.abs(dy) < size)


def reference(path: Path) -> Ref:
    with PixTable(path) as pt:
        cols = pt.read(None)
        header = pt.primary_header
        wcs = pt.wcs
    o = cols["origin"].astype(np.int64)
    ifu, slc = (o >> 6) & 0x1F, o & 0x3F
    y1 = (o >> 11) & 0x1FFF
    exp = np.zeros(len(o), dtype=np.int64)
    k = 1
    while f"HIERARCH ESO DRS MUSE PIXTABLE EXP{k} FIRST" in header:
        first = header[f"HIERARCH ESO DRS MUSE PIXTABLE EXP{k} FIRST"]
        last = header[f"HIERARCH ESO DRS MUSE PIXTABLE EXP{k} LAST"]
        exp[first : last + 1] = k
        k += 1
    offsets = np.array([header[xoffset_key(int(e), int(i), int(s))] for e, i, s in zip(exp, ifu, slc)])
    x1 = ((o >> 24) & 0x7F) + offsets
    x, y = cols["xpos"].astype(np.float64), cols["ypos"].astype(np.float64)
    if wcs == "positioned":
        ra, dec = header["CRVAL1"] + x, header["CRVAL2"] + y
    elif wcs == "projected":
        t, d0 = y + np.pi / 2, math.radians(header["DEC"])
        ra = header["RA"] + np.degrees(np.arctan2(np.cos(t) * np.sin(x), np.sin(t) * math.cos(d0) + np.cos(t) * math.sin(d0) * np.cos(x)))
        dec = np.degrees(np.arcsin(np.sin(t) * math.sin(d0) - np.cos(t) * math.cos(d0) * np.cos(x)))
    else:
        ra, dec = x, y
    return Ref(path, cols, header, wcs, cols["lambda"].astype(np.float64), ifu, slc, x1, y1, exp, ra, dec)


def bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint32) if a.dtype.itemsize == 4 else a


def assert_rows(out: Path, ref: Ref, mask: np.ndarray) -> dict[str, np.ndarray]:
    """The output holds exactly the reference's selected rows, every column bit for bit."""
    with PixTable(out) as pt:
        got = pt.read(None)
        assert list(pt.columns) == list(ref.cols)
    for name, values in ref.cols.items():
        assert np.array_equal(bits(got[name]), bits(values[mask])), name
    return got


@pytest.fixture(scope="module")
def combined(simulated) -> Ref:
    """Two dithered exposures of IFUs 12 and 13 (the field centre), positioned, with weights."""
    return reference(simulated(rows=120_000, ifus=[12, 13], exposures=2, wcs="positioned"))


@pytest.fixture(scope="module")
def projected(simulated) -> Ref:
    return reference(simulated(rows=60_000, ifus=[12, 13], wcs="projected", dec=-27.5, ra=53.16))


# -- each criterion, alone and combined ----------------------------------------------

CRITERIA = {
    "lambda": (["--lambda", "6000:6500"], lambda r: (r.lam >= 6000) & (r.lam < 6500)),
    "lambda-multi-open": (
        ["--lambda", "5000:5300", "--lambda", "9000:"],
        lambda r: ((r.lam >= 5000) & (r.lam < 5300)) | (r.lam >= 9000),
    ),
    "ifu": (["--ifu", "13"], lambda r: r.ifu == 13),
    "slice": (["--slice", "3,10-12"], lambda r: np.isin(r.slc, [3, 10, 11, 12])),
    "slice-sky": (["--slice", "1,48", "--slice-numbering", "sky"], lambda r: np.isin(r.slc, [3, 46])),
    "stack": (["--stack", "2"], lambda r: (r.slc >= 13) & (r.slc <= 24)),
    "stack-multi": (["--stack", "1,4"], lambda r: (r.slc <= 12) | (r.slc >= 37)),
    "xpix": (["--xpix", "1000:1500"], lambda r: (r.x1 >= 1000) & (r.x1 < 1500)),
    "xpix-zero-based": (["--xpix", "1000:1500", "--zero-based"], lambda r: (r.x1 - 1 >= 1000) & (r.x1 - 1 < 1500)),
    "ypix": (["--ypix", "1000:2000", "--ypix", "3000:3100"], lambda r: ((r.y1 >= 1000) & (r.y1 < 2000)) | ((r.y1 >= 3000) & (r.y1 < 3100))),
    "ypix-zero-based": (["--ypix", ":2000", "--zero-based"], lambda r: r.y1 - 1 < 2000),
    "exp": (["--exp", "2"], lambda r: r.exp == 2),
    "circle": (["--circle", RA0, DEC0, "2"], lambda r: r.aperture("circle", RA0, DEC0, 2.0)),
    "circle-arcmin": (["--circle", RA0 + 0.001, DEC0, "0.05arcmin"], lambda r: r.aperture("circle", RA0 + 0.001, DEC0, 3.0)),
    "square": (["--square", RA0 - 0.002, DEC0 + 0.0002, "1.5"], lambda r: r.aperture("square", RA0 - 0.002, DEC0 + 0.0002, 1.5)),
    "two-apertures": (
        ["--circle", RA0, DEC0, "1", "--square", RA0 + 0.003, DEC0, "1"],
        lambda r: r.aperture("circle", RA0, DEC0, 1.0) | r.aperture("square", RA0 + 0.003, DEC0, 1.0),
    ),
    "and": (
        ["--circle", RA0, DEC0, "3", "--lambda", "6000:7000", "--ifu", "12", "--exp", "1"],
        lambda r: r.aperture("circle", RA0, DEC0, 3.0) & (r.lam >= 6000) & (r.lam < 7000) & (r.ifu == 12) & (r.exp == 1),
    ),
    "and-xpix-ypix-slice": (
        ["--xpix", "500:2500", "--ypix", "100:3000", "--slice", "5-30"],
        lambda r: (r.x1 >= 500) & (r.x1 < 2500) & (r.y1 >= 100) & (r.y1 < 3000) & (r.slc >= 5) & (r.slc <= 30),
    ),
    "or": (
        ["--or", "--circle", RA0, DEC0, "2", "--lambda", "6000:6500", "--exp", "2", "--slice", "7"],
        lambda r: r.aperture("circle", RA0, DEC0, 2.0) | ((r.lam >= 6000) & (r.lam < 6500)) | (r.exp == 2) | (r.slc == 7),
    ),
}


@pytest.mark.parametrize("name", list(CRITERIA))
def test_criterion_selects_the_reference_rows(name: str, combined: Ref, tmp_path: Path) -> None:
    args, want = CRITERIA[name]
    mask = want(combined)
    assert 0 < mask.sum() < len(mask), "test criterion must select some but not all rows"
    out = tmp_path / "out.fits"
    result = invoke("extract", combined.path, "-o", out, *args)
    assert result.stdout == ""
    assert result.stderr == f"wrote {out} ({mask.sum():,} of {len(mask):,} rows, image layout)\n"
    got = assert_rows(out, combined, mask)
    assert "weight" in got


@pytest.mark.parametrize("in_layout", ["image", "table"])
@pytest.mark.parametrize("out_layout", ["image", "table"])
def test_layouts_in_and_out(simulated, in_layout: str, out_layout: str, tmp_path: Path) -> None:
    src = simulated(rows=40_000, ifus=[12, 13], wcs="projected", layout=in_layout)
    ref = reference(src)
    mask = ref.aperture("circle", RA0, DEC0, 4.0) & (ref.lam >= 5000) & (ref.lam < 8000)
    out = tmp_path / "out.fits"
    invoke("extract", src, "-o", out, "--layout", out_layout, "--circle", RA0, DEC0, 4, "--lambda", "5000:8000")
    assert_rows(out, ref, mask)
    with PixTable(src) as a, PixTable(out) as b:
        assert b.layout == out_layout
        assert [(c.name, c.dtype, c.unit) for c in b.columns.values()] == [(c.name, c.dtype, c.unit) for c in a.columns.values()]


def test_projected_table_with_negative_declination(projected: Ref, tmp_path: Path) -> None:
    """A negative Dec works as a plain argument, in decimal and sexagesimal, RA in hours too."""
    mask = projected.aperture("circle", 53.16, -27.5, 2.5)
    assert mask.sum() > 50
    forms = [["53.16", "-27.5"], ["3:32:38.4", "-27:30:00"], ["3h32m38.4s", "-27d30m00s"], ["53.16deg", "-27.5"]]
    counts = set()
    for ra, dec in forms:
        counts.add(invoke("extract", projected.path, "--count", "--circle", ra, dec, "2.5").stdout)
    assert counts == {f"{mask.sum()}\n"}
    out = tmp_path / "out.fits"
    invoke("extract", projected.path, "-o", out, "--circle", "53.16", "-27.5", "2.5arcsec")
    assert_rows(out, projected, mask)


@pytest.mark.parametrize("wcs", ["positioned", "projected"])
def test_apertures_across_ra_zero(simulated, wcs: str, tmp_path: Path) -> None:
    src = simulated(rows=40_000, ifus=[12, 13], wcs=wcs, ra=0.001, dec=10.0)
    ref = reference(src)
    ra_c, size = 359.9995, 4.0  # 1.8" west of RA 0, the field centre 3.6" east of it
    mask = ref.aperture("circle", ra_c, 10.0, size)
    ra_rows = np.mod(ref.ra[mask], 360.0)
    assert (ra_rows > 359.0).any() and (ra_rows < 1.0).any(), "the aperture must straddle RA 0"
    for centre in ("359.9995", "-0.0005"):
        out = tmp_path / f"out{centre}.fits"
        invoke("extract", src, "-o", out, "--circle", centre, "10", size)
        assert_rows(out, ref, mask)


@pytest.mark.parametrize("wcs", ["positioned", "projected"])
@pytest.mark.parametrize("shape", ["circle", "square"])
def test_apertures_near_the_pole(simulated, wcs: str, shape: str, tmp_path: Path) -> None:
    src = simulated(rows=40_000, ifus=[12, 13], wcs=wcs, ra=200.0, dec=80.0)
    ref = reference(src)
    ra_c, dec_c = 200.0 + 6.0 / 3600 / math.cos(math.radians(80.0)), 80.0 + 0.5 / 3600
    mask = ref.aperture(shape, ra_c, dec_c, 2.0)
    assert mask.sum() > 20
    out = tmp_path / "out.fits"
    invoke("extract", src, "-o", out, f"--{shape}", repr(ra_c), repr(dec_c), "2")
    assert_rows(out, ref, mask)


def test_pixel_table_apertures_are_in_pixels(simulated, tmp_path: Path) -> None:
    ref = reference(simulated(rows=30_000, ifus=[1, 24], wcs="pixel"))
    x0, y0 = float(np.median(ref.ra)), float(np.median(ref.dec))
    mask = ref.aperture("circle", x0, y0, 15.0) | ref.aperture("square", x0 + 40, y0, 5.0)
    assert mask.sum() > 20
    out = tmp_path / "out.fits"
    invoke("extract", ref.path, "-o", out, "--circle", x0, y0, 15, "--square", x0 + 40, y0, 5)
    assert_rows(out, ref, mask)
    result = invoke("extract", ref.path, "--count", "--circle", x0, y0, "15arcsec", code=2)
    assert "--circle" in result.stderr and "pixel-unit table" in result.stderr


# -- header ---------------------------------------------------------------------------


def _cards(h: fits.Header) -> dict[str, object]:
    return {c.keyword: (c.value, c.comment) for c in h.cards}


def test_header_follows_the_drs_rule(combined: Ref, tmp_path: Path) -> None:
    out = tmp_path / "out.fits"
    mask = (combined.exp == 2) & (combined.ifu == 13)
    invoke("extract", combined.path, "-o", out, "--exp", "2", "--ifu", "13")
    got = assert_rows(out, combined, mask)
    h_in, h_out = combined.header, fits.getheader(out)
    n1 = int((combined.exp == 1).sum())
    n_kept = int(mask.sum())
    assert h_out[key("EXP1 FIRST")] == 0 and h_out[key("EXP1 LAST")] == -1
    assert h_out[key("EXP2 FIRST")] == 0 and h_out[key("EXP2 LAST")] == n_kept - 1
    assert h_out[key("COMBINED")] == 2 and h_out[key("MERGED")] == 1
    acc = LimitsAccumulator()
    acc.add(got["xpos"], got["ypos"], got["lambda"], got["origin"])
    want = acc.result("positioned", (h_in["CRVAL1"], h_in["CRVAL2"]))
    assert want["ifu_low"] == want["ifu_high"] == 13
    for short, suffix in LIMIT_KEYS.items():
        assert h_out[key(suffix)] == pytest.approx(want[short], rel=1e-12, abs=0), suffix
    assert h_out[key("LIMITS X LOW")] > 150  # absolute RA in the positioned state
    changed = {key(f"EXP{k} {w}")[9:] for k in (1, 2) for w in ("FIRST", "LAST")} | {key("MERGED")[9:]}
    changed |= {key(s)[9:] for s in LIMIT_KEYS.values()}
    before, after = _cards(h_in), _cards(h_out)
    assert list(before) == list(after)  # same cards, same order
    assert {k: v for k, v in before.items() if k not in changed} == {k: v for k, v in after.items() if k not in changed}
    assert n1 > 0


def test_merged_absent_stays_absent(simulated, tmp_path: Path) -> None:
    src = simulated(rows=20_000, ifus=[7], wcs="projected")
    assert key("MERGED") not in fits.getheader(src)
    out = tmp_path / "out.fits"
    invoke("extract", src, "-o", out, "--lambda", "6000:7000")
    assert key("MERGED") not in fits.getheader(out)


def test_single_exposure_exp_numbering(projected: Ref) -> None:
    assert invoke("extract", projected.path, "--count", "--exp", "0").stdout == f"{len(projected.lam)}\n"
    result = invoke("extract", projected.path, "--count", "--exp", "1", code=1)
    assert result.stderr.startswith("Error: --exp: ")
    assert "exposure 1 is not in this table: a single-exposure table has only exposure 0" in result.stderr


def test_unknown_exposure_of_a_combined_table(combined: Ref) -> None:
    result = invoke("extract", combined.path, "--count", "--exp", "0,3", code=1)
    assert f"Error: --exp: {combined.path}: exposures 0, 3 are not in this table (exposures 1-2)" in result.stderr


def test_missing_xoffset_keyword_is_named(simulated, tmp_path: Path) -> None:
    src = tmp_path / "nokey.fits"
    shutil.copy(simulated(rows=20_000, ifus=[3]), src)
    src.chmod(0o644)
    name = xoffset_key(0, 3, 17)
    with fits.open(src, mode="update") as h:
        del h[0].header[name]
    result = invoke("extract", src, "--count", "--xpix", "1:4000", code=1)
    assert f"keyword '{name[9:]}' is missing" in result.stderr
    # Rows of other slices, and criteria that need no XOFFSET, still work.
    assert int(invoke("extract", src, "--count", "--slice", "1-16", "--xpix", "1:4000").stdout) > 0
    assert int(invoke("extract", src, "--count", "--ypix", "1:4000").stdout) > 0


# -- flat field and other extensions -----------------------------------------------


def _flat(path: Path) -> fits.FITS_rec:
    with fits.open(path) as h:
        return h["PIXTABLE_FLAT_FIELD"].data.copy()


def test_flat_field_trimmed_to_the_lambda_cut(simulated, tmp_path: Path) -> None:
    src = simulated(rows=60_000, ifus=[3], flat_field=True)
    full = _flat(src)
    out = tmp_path / "cut.fits"
    invoke("extract", src, "-o", out, "--lambda", "6000:6500", "--lambda", "7000:7050", "--ifu", "3")
    lam = full["lambda"]
    keep = (lam >= 5997.5) & (lam <= 7052.5)
    assert np.array_equal(_flat(out), full[keep])
    assert _flat(out)["lambda"][[0, -1]].tolist() == [5997.5, 7052.5]
    # No wavelength cut, or one OR-ed with another criterion: the flat field is copied whole.
    for args in (["--slice", "1-20"], ["--or", "--lambda", "6000:6100", "--slice", "5"]):
        other = tmp_path / f"o{len(args)}.fits"
        invoke("extract", src, "-o", other, *args)
        assert np.array_equal(_flat(other), full)


def test_unknown_column_and_extension_are_carried(simulated, tmp_path: Path) -> None:
    src = tmp_path / "extra.fits"
    with fits.open(simulated(rows=60_000, ifus=[3])) as h:
        n = h[1].header["NAXIS2"]
        extra = fits.ImageHDU(np.arange(n, dtype=np.float32).reshape(n, 1) * 0.5, name="skymodel")
        extra.header["BUNIT"] = "count"
        notes = fits.BinTableHDU.from_columns([fits.Column("note", "10A", array=["a", "b"])], name="NOTES")
        fits.HDUList([*h, extra, notes]).writeto(src)
    ref = reference(src)
    assert "skymodel" in ref.cols
    out = tmp_path / "out.fits"
    result = invoke("extract", src, "-o", out, "--lambda", "6000:6500")
    assert "extension NOTES is not part of the pixel table format; copied unchanged" in result.stderr
    assert_rows(out, ref, (ref.lam >= 6000) & (ref.lam < 6500))
    with fits.open(out) as h:
        assert list(h["NOTES"].data["note"]) == ["a", "b"]
        assert h["skymodel"].header["BUNIT"] == "count"


# -- empty selections, --count, --json ------------------------------------------------


def test_empty_selection_writes_nothing(combined: Ref, tmp_path: Path) -> None:
    out = tmp_path / "out.fits"
    result = invoke("extract", combined.path, "-o", out, "--lambda", "3000:4000", code=1)
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {combined.path}: no row matches the criteria (no wavelength in 3000-4000 Angstrom); the table holds ")
    assert result.stderr.endswith("; nothing written (--allow-empty writes a 0-row table)\n") and result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_allow_empty_writes_a_zero_row_table(combined: Ref, tmp_path: Path) -> None:
    out = tmp_path / "out.fits"
    result = invoke("extract", combined.path, "-o", out, "--lambda", "3000:4000", "--allow-empty", "--json", "--layout", "table")
    summary = json.loads(result.stdout)
    assert summary["selected"] == 0 and summary["output"] == str(out)
    with PixTable(out) as pt:
        assert pt.nrows == 0 and pt.layout == "table" and list(pt.columns) == list(combined.cols)
        h = pt.primary_header
    for k in (1, 2):
        assert h[key(f"EXP{k} FIRST")] == 0 and h[key(f"EXP{k} LAST")] == -1
    assert h[key("MERGED")] == 0 and key("LIMITS X LOW") not in h


def test_count_prints_the_number_and_writes_nothing(combined: Ref, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    mask = (combined.lam >= 6000) & (combined.lam < 7000)
    result = invoke("extract", combined.path, "--count", "--lambda", "6000:7000")
    assert result.stdout == f"{mask.sum()}\n" and result.stderr == ""
    obj = json.loads(invoke("extract", combined.path, "--count", "--lambda", "6000:7000", "--json").stdout)
    assert obj == {
        "input": str(combined.path),
        "rows": len(mask),
        "selected": int(mask.sum()),
        "exposures": [
            {"exp": k, "selected": int((mask & (combined.exp == k)).sum()), "first": f, "last": la}
            for k, f, la in [
                (1, 0, int((mask & (combined.exp == 1)).sum()) - 1),
                (2, int((mask & (combined.exp == 1)).sum()), int(mask.sum()) - 1),
            ]
        ],
    }
    two = invoke("extract", combined.path, combined.path, "--count", "--exp", "1").stdout
    n1 = int((combined.exp == 1).sum())
    assert two == f"{combined.path}: {n1}\n{combined.path}: {n1}\n"
    assert list(tmp_path.iterdir()) == []


def test_json_summary_and_output_dir(simulated, tmp_path: Path) -> None:
    a = simulated(rows=20_000, ifus=[3], seed=1)
    b = tmp_path / "second.fits"
    shutil.copy(a, b)
    outdir = tmp_path / "cut"
    outdir.mkdir()
    result = invoke("extract", a, b, "--output-dir", outdir, "--name", "{stem}_cut.fits", "--ifu", "3", "--slice", "1", "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["output"] for d in lines] == [str(outdir / f"{Path(a).stem}_cut.fits"), str(outdir / "second_cut.fits")]
    assert lines[0]["selected"] == lines[1]["selected"] > 0
    assert lines[0]["layout"] == "image" and lines[0]["rows"] == 20_000
    assert sorted(p.name for p in outdir.iterdir()) == sorted([f"{Path(a).stem}_cut.fits", "second_cut.fits"])


def test_existing_output_and_output_equal_to_input(combined: Ref, tmp_path: Path) -> None:
    out = tmp_path / "out.fits"
    out.write_bytes(b"keep me")
    result = invoke("extract", combined.path, "-o", out, "--ifu", "12", code=1)
    assert "already exists (use --overwrite to replace it)" in result.stderr
    assert out.read_bytes() == b"keep me"
    invoke("extract", combined.path, "-o", out, "--ifu", "12", "--overwrite")
    assert_rows(out, combined, combined.ifu == 12)
    result = invoke("extract", combined.path, "-o", combined.path, "--ifu", "12", "--overwrite", code=1)
    assert "same file as the input" in result.stderr


# -- bad criteria: usage errors naming the option ---------------------------------------

BAD = [
    (["--lambda", "7000:6000"], "--lambda"),
    (["--lambda", "abc"], "--lambda"),
    (["--xpix", "500:100"], "--xpix"),
    (["--ypix", "1.5:9"], "--ypix"),
    (["--ifu", "25"], "--ifu"),
    (["--ifu", "0"], "--ifu"),
    (["--slice", "0"], "--slice"),
    (["--slice", "49"], "--slice"),
    (["--stack", "5"], "--stack"),
    (["--circle", "150.1", "2.2", "-1"], "--circle"),
    (["--circle", "150.1", "2.2", "0"], "--circle"),
    (["--circle", "150.1x", "2.2", "1"], "--circle"),
    (["--circle", "150.1", "2:xx", "1"], "--circle"),
    (["--square", "150.1", "2.2", "1parsec"], "--square"),
    (["--square", "150.1", "2.2", "big"], "--square"),
    (["--circle", "150.1", "2.2"], "--circle"),
]


@pytest.mark.parametrize("args,option", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_criteria_are_usage_errors(combined: Ref, tmp_path: Path, args: list[str], option: str) -> None:
    result = invoke("extract", combined.path, "-o", tmp_path / "out.fits", *args, code=2)
    assert option in result.stderr
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


def test_declination_outside_range_and_no_criteria(combined: Ref, tmp_path: Path) -> None:
    result = invoke("extract", combined.path, "--count", "--circle", "150", "95", "2", code=2)
    assert "--circle: circle aperture (150, 95, 2): declination 95 is outside -90..90 deg" in result.stderr
    result = invoke("extract", combined.path, "-o", tmp_path / "o.fits", code=2)
    assert "at least one selection criterion" in result.stderr


# -- core ------------------------------------------------------------------------------


def test_chunk_selection_representations() -> None:
    n = 10_000
    for idx, kind in [
        (np.array([], dtype=np.int64), "none"),
        (np.arange(n), "all"),
        (np.array([3, 77, 9_999]), "idx"),
        (np.arange(0, n, 3), "bits"),
    ]:
        cs = ChunkSelection.of(500, 500 + n, idx)
        assert cs.kind == kind and cs.count == idx.size
        assert np.array_equal(cs.indices(), idx)
        if kind == "bits":
            assert cs.data.nbytes == n // 8
        if kind == "idx":
            assert cs.data.dtype == np.uint32


def test_row_source_reads_only_needed_blocks(combined: Ref) -> None:
    with PixTable(combined.path) as pt:
        src = RowSource(pt, 10_000, 60_000)
        idx = np.array([0, 5, 4095, 4096, 30_000, 49_999])
        assert np.array_equal(bits(src.get("ypos", idx)), bits(combined.cols["ypos"][10_000 + idx]))
        buf, loaded = src._partial["ypos"]
        assert loaded.nonzero()[0].tolist() == [0, 1, 7, 12]
        assert np.array_equal(bits(src.get("ypos", None)), bits(combined.cols["ypos"][10_000:60_000]))
        assert "ypos" in src.full and "ypos" not in src._partial


def test_small_chunks_and_blocks_give_the_same_output(combined: Ref, tmp_path: Path, monkeypatch) -> None:
    """Chunk, copy-block, read and write boundaries anywhere: the same rows in the same order."""
    from pixtab.core.io.scan import selection as scan_selection, tuning

    monkeypatch.setattr(scan_selection, "COPY_BLOCK_SHIFT", 7)
    monkeypatch.setattr(tuning, "TUNING", {p: tuning.Tuning(chunk_rows=3_001, copy_rows=1000) for p in (True, False)})
    monkeypatch.setattr(ex, "WRITE_ROWS", 777)
    crit = Criteria(lambdas=[(6000.0, 8000.0)], slices=list(range(1, 30)), method="or", apertures=[Aperture("circle", RA0, DEC0, 3.0)])
    mask = ((combined.lam >= 6000) & (combined.lam < 8000)) | (combined.slc < 30) | combined.aperture("circle", RA0, DEC0, 3.0)
    with PixTable(combined.path) as pt:
        sel = ex.select_rows(pt, crit)
        assert {c.kind for c in sel.chunks} >= {"bits"}
        assert sel.count() == mask.sum()
        out = tmp_path / "o.fits"
        with open(out, "wb") as f:
            ex.write_selection(pt, sel, crit, f.fileno(), "table")
    assert_rows(out, combined, mask)


def test_shifted_exposures_drs_rule(combined: Ref) -> None:
    with PixTable(combined.path) as pt:
        n1, n2 = (e.nrows for e in pt.keywords.exposures)
        emap = ExposureMap(pt.keywords.exposures, pt.nrows)
        assert emap.shifted({1: 10, 2: 0}) == [(1, 0, 9), (2, 10, 9)]
        assert emap.shifted({2: 5}) == [(1, 0, -1), (2, 0, 4)]
        assert emap.shifted({1: n1, 2: n2}) == [(1, 0, n1 - 1), (2, n1, n1 + n2 - 1)]


def test_ccd_slices_and_criteria_validation() -> None:
    assert ccd_slices([1, 12, 48], "sky") == [3, 10, 46]
    assert ccd_slices([5, 5, 2], "ccd") == [2, 5]
    with pytest.raises(CriteriaError, match="empty or inverted"):
        Criteria(lambdas=[(5.0, 5.0)])
    with pytest.raises(CriteriaError, match="method"):
        Criteria(method="xor")
    assert Criteria().empty and not Criteria(exps=[0]).empty
    assert Criteria(lambdas=[(1, 2), (5, 9)]).lambda_span() == (1, 9)
    assert Criteria(lambdas=[(1, 2)], ifus=[3], method="or").lambda_span() is None


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lam=st.lists(st.tuples(st.integers(4600, 9400), st.integers(1, 3000)), max_size=2),
    ifus=st.none() | st.sets(st.sampled_from([12, 13]), min_size=1),
    slices=st.none() | st.sets(st.integers(1, 48), min_size=1, max_size=10),
    ypix=st.lists(st.tuples(st.integers(1, 4112), st.integers(1, 2000)), max_size=2),
    exps=st.none() | st.sets(st.sampled_from([1, 2]), min_size=1),
    radius=st.none() | st.floats(0.5, 8.0),
    method=st.sampled_from(["and", "or"]),
)
def test_select_rows_matches_reference(combined: Ref, lam, ifus, slices, ypix, exps, radius, method) -> None:
    crit = Criteria(
        lambdas=[(float(a), float(a + w)) for a, w in lam],
        ifus=sorted(ifus) if ifus else None,
        slices=sorted(slices) if slices else None,
        ypix=[(a, a + w) for a, w in ypix],
        exps=sorted(exps) if exps else None,
        apertures=[Aperture("circle", RA0, DEC0, radius)] if radius else [],
        method=method,
    )
    r = combined
    parts = []
    if lam:
        parts.append(np.logical_or.reduce([(r.lam >= a) & (r.lam < a + w) for a, w in lam]))
    if ifus:
        parts.append(np.isin(r.ifu, list(ifus)))
    if slices:
        parts.append(np.isin(r.slc, list(slices)))
    if ypix:
        parts.append(np.logical_or.reduce([(r.y1 >= a) & (r.y1 < a + w) for a, w in ypix]))
    if exps:
        parts.append(np.isin(r.exp, list(exps)))
    if radius:
        parts.append(r.aperture("circle", RA0, DEC0, radius))
    if not parts:  # no criterion: the whole table, whichever way criteria would combine
        want = np.ones(len(r.lam), bool)
    else:
        want = (np.logical_and if method == "and" else np.logical_or).reduce(parts)
    with PixTable(r.path) as pt:
        sel = ex.select_rows(pt, crit, chunk_rows=16_384)
        got = np.concatenate([c.start + c.indices() for c in sel.chunks])
        assert sel.per_exposure == {k: int((want & (r.exp == k)).sum()) for k in (1, 2)}
    assert np.array_equal(got, np.flatnonzero(want))


def test_selector_orders_tests_cheapest_first(combined: Ref) -> None:
    crit = Criteria(apertures=[Aperture("circle", RA0, DEC0, 2.0)], lambdas=[(6000, 6100)], ifus=[12], xpix=[(1, 9)])
    with PixTable(combined.path) as pt:
        sel = Selector(pt, crit)
        assert [t.name for t in sel.tests] == ["ifu", "lambda", "xpix", "sky aperture"]
        assert sel.first_columns == ("origin",)


# -- the pipeline loads what extract writes ---------------------------------------------


@pytest.mark.interop
@pytest.mark.skipif(not drs.esorex_available(), reason="MUSE pipeline unavailable")
@pytest.mark.parametrize("layout", ["image", "table"])
def test_pipeline_loads_the_output(combined: Ref, tmp_path: Path, layout: str) -> None:
    out = tmp_path / "out.fits"
    invoke("extract", combined.path, "-o", out, "--layout", layout, "--exp", "2", "--lambda", "6000:8000")
    back = drs.roundtrip(out, tmp_path)
    ours, theirs = drs.read_columns(out), drs.read_columns(back)
    assert set(theirs) >= set(ours) - {"weight"}
    for name in theirs:
        assert ours[name].tobytes() == theirs[name].tobytes(), name


def test_extension_with_cut_padding_is_written_whole(tmp_path) -> None:
    """An input whose last extension lost its final padding still gives a well-formed output."""
    src = tmp_path / "ff.fits"
    assert invoke("simulate", str(src), "--nrows", "5000", "--ifus", "3", "--flat-field").exit_code == 0
    with PixTable(src) as pt:
        last = pt.extra_hdus[-1]
    cut = tmp_path / "cut.fits"
    cut.write_bytes(src.read_bytes()[: last.data_offset + last.data_size + 5])
    out = tmp_path / "out.fits"
    result = invoke("extract", str(cut), "-o", str(out), "--ifu", "3")
    assert result.exit_code == 0
    assert out.stat().st_size % 2880 == 0
    with fits.open(out) as hdul:
        hdul.verify("exception")
        assert hdul[-1].name == "PIXTABLE_FLAT_FIELD"
