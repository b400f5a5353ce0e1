"""pixtab simulate: realistic structure, determinism, options and errors."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import pixtab
from pixtab.core.format import origin as org

from helpers.cli import invoke


def test_structure_is_pipeline_like(simulated) -> None:
    path = simulated(rows=60_000, ifus=[3, 7], exposures=2)
    with pixtab.open(path) as pt:
        d = pt.read(None)
        k = pt.keywords
    o = d["origin"]
    decoder = org.DetectorDecoder.of(pt)
    exp = decoder.exposures.of_rows(0, len(o))
    ifu, slc, y, xs = org.get_ifu(o), org.get_slice(o), org.get_y(o), org.get_xslice(o)
    # Rows ordered by exposure, IFU, slice, then CCD row, then x.
    order_key = ((exp.astype(np.int64) * 32 + ifu) * 64 + slc) * 8192 + y
    assert np.all(np.diff(order_key) >= 0)
    assert set(np.unique(ifu)) == {3, 7} and set(np.unique(slc)) == set(range(1, 49))
    assert 1 <= xs.min() and xs.max() <= 127 and 1 <= y.min() and y.max() <= 4112
    # XOFFSET keywords for every (exposure, IFU, slice) present, per exposure.
    assert set(k.xoffsets) == {(e, i, s) for e in (1, 2) for i in (3, 7) for s in range(1, 49)}
    x = decoder.x(o, exp)
    assert 1 <= x.min() and x.max() <= 4096
    # Lambda rises along y within a slice; stat positive; some dq flags, some negative (bit 31).
    one = (exp == 1) & (ifu == 3) & (slc == 5)
    assert np.corrcoef(y[one], d["lambda"][one])[0, 1] > 0.99
    assert 4600 < d["lambda"].min() and d["lambda"].max() < 9400
    assert (d["stat"] > 0).all()
    assert 0 < np.count_nonzero(d["dq"]) < 0.02 * len(o)
    assert np.allclose(np.unique(d["weight"]), [1.0])  # exposures 1 and 2 both 900 s


def test_same_seed_same_bytes(tmp_path) -> None:
    digests = []
    for name in ("a.fits", "b.fits"):
        out = tmp_path / name
        invoke("simulate", out, "--nrows", "5000", "--seed", "3")
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_refuses_existing_output_and_bad_options(tmp_path) -> None:
    out = tmp_path / "s.fits"
    invoke("simulate", out, "--nrows", "100")
    again = invoke("simulate", out, "--nrows", "100", code=1)
    assert "--overwrite" in again.stderr
    invoke("simulate", out, "--nrows", "100", "--overwrite")
    for bad in (["--nrows", "-5"], ["--nrows", "1.5"], ["--ifus", "25"], ["--ifus", "3-1"], ["--wcs", "sky"]):
        invoke("simulate", tmp_path / "x.fits", *bad, code=2)
    too_many = invoke("simulate", tmp_path / "x.fits", "--nrows", "1e9", "--ifus", "1", code=2)
    assert "exceeds" in too_many.stderr
    assert not (tmp_path / "x.fits").exists()


@pytest.mark.parametrize("wcs", ["pixel", "projected", "positioned"])
def test_sources_are_where_the_sky_frame_says(simulated, wcs: str) -> None:
    """Most of the brightest rows sit on the central source at the header RA/DEC (within 1")."""
    from pixtab.core.format.sky import SkyFrame

    path = simulated(rows=200_000, wcs=wcs, ifus=list(range(1, 25)))
    with pixtab.open(path) as pt:
        d = pt.read(["xpos", "ypos", "data"])
        frame = SkyFrame.of(pt)
    ra, dec = frame.radec(d["xpos"], d["ypos"])
    top = np.argsort(d["data"])[-20:]
    if wcs == "pixel":
        assert np.mean(np.hypot(ra[top], dec[top]) < 5) >= 0.8  # 5 px = 1"
    else:
        dx, dy = frame.offsets(ra[top], dec[top], 150.1163, 2.2058)
        assert np.mean(np.hypot(dx, dy) < 1.0) >= 0.8


def test_injected_sources_are_recorded_and_validated(tmp_path) -> None:
    from astropy.io import fits

    out = tmp_path / "s.fits"
    args = ["simulate", str(out), "--nrows", "20000", "--ifus", "13", "--source", "150.1163", "2.2058", "0.8", "500",
            "--source", "150.1170", "2.2060", "1.0", "100", "--profile", "moffat", "--beta", "3", "--seeing-slope", "-0.2"]
    invoke(*args)
    h = fits.getheader(out)
    assert (h["PIXTAB SIM SRC2 RA"], h["PIXTAB SIM SRC2 FWHM"], h["PIXTAB SIM SRC2 PEAK"]) == (150.117, 1.0, 100.0)
    assert (h["PIXTAB SIM PROFILE"], h["PIXTAB SIM BETA"], h["PIXTAB SIM SEEING SLOPE"]) == ("moffat", 3.0, -0.2)
    for bad in (["--source", "1", "2", "0", "5"], ["--source", "1", "95", "1", "5"], ["--profile", "moffat", "--beta", "1"]):
        r = invoke("simulate", tmp_path / "x.fits", "--nrows", "1000", *bad, code=2)
        assert not (tmp_path / "x.fits").exists(), r.output


def test_no_source_option_keeps_the_default_table(tmp_path) -> None:
    """Without --source the output is what it always was (other tests hash it)."""
    import os

    from pixtab.core.ops.simulate.tables import SimulationSpec, simulate

    paths = []
    for i, spec in enumerate([SimulationSpec(rows=30_000, ifus=[13]), SimulationSpec(rows=30_000, ifus=[13], seeing_slope=-0.2)]):
        p = tmp_path / f"{i}.fits"
        fd = os.open(p, os.O_RDWR | os.O_CREAT)
        simulate(fd, spec)
        os.close(fd)
        paths.append(p.read_bytes())
    assert paths[0] == paths[1]  # the seeing slope applies to injected sources only


def test_default_sources_are_recorded_where_they_are(tmp_path) -> None:
    """Every source is in the header, the default ones too, at the RA/Dec where the rows see it."""
    from astropy.io import fits

    from pixtab.core.ops.simulate.skymodel import SkyModel, default_sources
    from pixtab.core.ops.simulate.tables import SimulationSpec

    out = tmp_path / "d.fits"
    invoke("simulate", out, "--nrows", "2000")
    h = fits.getheader(out)
    spec = SimulationSpec()
    model = SkyModel(spec)
    assert h["PIXTAB SIM SOURCES"] == "default"
    for i, (x, y, peak) in enumerate(model.sources, 1):
        sx, sy = model.plane_offsets(h[f"PIXTAB SIM SRC{i} RA"], h[f"PIXTAB SIM SRC{i} DEC"])
        assert abs(sx - x) < 1e-3 and abs(sy - y) < 1e-3  # arcsec
        assert h[f"PIXTAB SIM SRC{i} PEAK"] == pytest.approx(peak, abs=1e-3)
    assert len(default_sources(spec)) == len(model.sources)


def test_full_density_patch(tmp_path) -> None:
    """--full-density --lambda: every pixel of every slice in the window, as a real exposure."""
    out = tmp_path / "p.fits"
    args = ["simulate", str(out), "--full-density", "--ifus", "12,13", "--lambda", "6000:6100"]
    invoke(*args)
    from pixtab.core.io.table import PixTable

    with PixTable(str(out)) as pt:
        origin = pt.read(["origin"])["origin"]
    y, x = org.get_y(origin), org.get_xslice(origin)
    ifu, slc = org.get_ifu(origin), org.get_slice(origin)
    ys = np.unique(y)
    assert ys.size == 88 and np.ptp(ys) == 87  # every CCD row whose wavelength is in 6000-6100 A (1.1433 A a row)
    per_slice = np.unique(ifu.astype(np.int64) * 100 + slc, return_counts=True)[1]
    assert per_slice.size == 96 and set(per_slice // 88) <= {76, 77, 78} and (per_slice % 88 == 0).all()
    assert np.unique(np.stack([ifu, slc, x, y]), axis=1).shape[1] == origin.size  # one row per pixel
    per_ifu_equivalent = origin.size / 2 * 4112 / 88
    assert 1.2e7 < per_ifu_equivalent < 1.6e7
    r = invoke(*args[:2], "--full-density", "--nrows", "10", code=2)
    assert "not both" in r.output
