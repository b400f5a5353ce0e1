"""``pixtab extract`` on simulated tables.

Selections are checked against an independent numpy reference computed from
the whole input (tests/helpers/extract.py: sky positions from the format doc's formulas,
detector x from the XOFFSET keywords); outputs must hold exactly ``input[reference]``.
The core's selection is tested in tests/core/io/test_selection.py and
tests/core/ops/test_extract_core.py.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from pixtab.core.format.keywords import LIMIT_KEYS
from pixtab.core.format.keywords import key, xoffset_key
from pixtab.core.format.limits import LimitsAccumulator
from pixtab.core.io.table import PixTable

from helpers import drs
from helpers.cli import invoke
from helpers.extract import DEC0, RA0, Ref, assert_rows, reference


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
    assert invoke("simulate", src, "--nrows", "5000", "--ifus", "3", "--flat-field").exit_code == 0
    with PixTable(src) as pt:
        last = pt.extra_hdus[-1]
    cut = tmp_path / "cut.fits"
    cut.write_bytes(src.read_bytes()[: last.data_offset + last.data_size + 5])
    out = tmp_path / "out.fits"
    result = invoke("extract", cut, "-o", out, "--ifu", "3")
    assert result.exit_code == 0
    assert out.stat().st_size % 2880 == 0
    with fits.open(out) as hdul:
        hdul.verify("exception")
        assert hdul[-1].name == "PIXTABLE_FLAT_FIELD"
