"""Issue 13 item 25: minor faults.

No raw numpy RuntimeWarnings with module paths on stderr for +-inf positions; decode-origin
--sky keeps RA in [0, 360) as --help promises; origin values with an IFU outside 1..24 or a
slice outside 1..48 are reported (FIFO inputs: see test_faults_special_files.py).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from pixtab.core.format.sky import SkyFrame

from helpers.cli import run_pixtab
from helpers.faults import make_table, variant


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_table(tmp_path_factory.mktemp("minor") / "base.fits", rows=3000, ifus=[3, 4])


def _inf_positions(h: fits.HDUList) -> None:
    h["xpos"].data[::7] = np.inf
    h["ypos"].data[::5] = -np.inf
    h["lambda"].data[::11] = np.inf


@pytest.mark.parametrize(
    "args",
    [
        ["decode-origin", "--sky"], ["extract", "--count", "--circle", "150.1163", "2.2058", "3"],
        ["extract", "--count", "--square", "150.1163", "2.2058", "3"], ["info", "--stats"],
        ["extract", "--count", "--lambda", "6000:6100"],
    ],
    ids=" ".join,
)
def test_inf_positions_give_no_raw_runtime_warnings(args: list[str], base: Path, tmp_path: Path) -> None:
    src = variant(base, tmp_path / "inf.fits", _inf_positions)
    run = run_pixtab(args[0], src, *args[1:])
    assert run.returncode == 0, run.stderr
    assert "RuntimeWarning" not in run.stderr and ".py:" not in run.stderr, run.stderr


def test_ra_is_below_360() -> None:
    frame = SkyFrame("positioned", 0.0, 10.0)
    ra, _ = frame.radec(np.array([-1e-17, -1e-300, 0.0, 359.99999], np.float64), np.zeros(4))
    assert ((ra >= 0) & (ra < 360)).all()
    ra, _ = SkyFrame("projected", 0.0, 10.0).radec(np.array([-1e-17, 0.0]), np.array([-1e-9, 0.0]))
    assert ((ra >= 0) & (ra < 360)).all()


def test_decode_sky_on_a_table_at_ra_zero_never_prints_360(tmp_path: Path) -> None:
    src = make_table(tmp_path / "ra0.fits", rows=20_000, ifus=[11, 12, 13, 14], ra=0.0)
    run = run_pixtab("decode-origin", src, "--sky")
    assert run.returncode == 0, run.stderr
    ra = np.loadtxt(io.StringIO(run.stdout), delimiter=",", skiprows=1, usecols=6)
    assert (ra >= 0).all() and (ra < 360).all()
    assert (ra > 359).any() and (ra < 1).any()  # the field straddles RA = 0


def test_literal_origin_values_outside_the_instrument_are_reported() -> None:
    run = run_pixtab("decode-origin", "--value", "0", "--value", "0x14064041", "--value", 25 << 6 | 49)
    assert run.returncode == 0
    warnings = [line for line in run.stderr.splitlines() if "not a MUSE pixel" in line]
    assert len(warnings) == 2 and "0x0" in warnings[0], run.stderr


def test_table_rows_outside_the_instrument_are_reported(base: Path, tmp_path: Path) -> None:
    """A row with IFU 0 decodes (its XOFFSET card exists) but is reported, not passed silently."""

    def bad_origin(h: fits.HDUList) -> None:
        o = h["origin"].data.reshape(-1)  # a view of the (n, 1) image
        h[0].header["HIERARCH ESO DRS MUSE PIXTABLE EXP0 IFU00 SLICE%02d XOFFSET" % (int(o[10]) & 0x3F)] = 0
        o[10] = o[10] & ~(0x1F << 6)  # IFU 0, same slice

    src = variant(base, tmp_path / "bad.fits", bad_origin)
    run = run_pixtab("decode-origin", src)
    assert run.returncode == 0, run.stderr
    assert "1 row(s) have an origin with an IFU outside 1..24 or a slice outside 1..48 (first: row 10)" in run.stderr
