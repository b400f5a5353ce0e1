"""Helpers for the source workflow tests (image, peaks, spectrum, fit, plot): simulated
tables with injected sources and independent numpy references."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from conftest import CONFORMANCE, conformance_path
from helpers.decode import read_columns  # noqa: F401  (re-exported for the tests)
from pixtab.core.ops.simulate.tables import SimSource

RA0, DEC0 = 150.1163, 2.2058  # the simulator's pointing
#: a bright star at the field centre and two fainter ones (IFUs 12 and 13 cover +-2.4" in Dec)
STARS = [SimSource(RA0, DEC0, 0.8, 5000.0), SimSource(RA0 + 3.0 / 3600 / math.cos(math.radians(DEC0)), DEC0 - 1.2 / 3600, 0.9, 1500.0),
         SimSource(RA0 - 6.0 / 3600 / math.cos(math.radians(DEC0)), DEC0 + 1.0 / 3600, 0.7, 800.0)]
STAR_KW = dict(rows=600_000, ifus=[12, 13], sources=STARS)

CONFORMANCE_FILES = [
    "pt_projected_image.fits", "pt_projected_bintable.fits", "pt_positioned.fits", "pt_single_ifu.fits",
    "pt_combined_weighted.fits", "pt_pixel_units.fits", "pt_drs_combined_image.fits", "pt_drs_combined_bintable.fits",
]


def conformance(name: str) -> Path:
    """A table of the conformance set (skipped with the set's reason when it is missing; fails in CI)."""
    return conformance_path(name)


def radec(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """RA/Dec (deg) of every row from the format doc (section 6.2), independently of pixtab."""
    header, cols = read_columns(path)
    x, y = cols["xpos"].astype(np.float64), cols["ypos"].astype(np.float64)
    with fits.open(path) as hdul:
        unit = (hdul[1].header.get("BUNIT") or hdul[1].header.get("TUNIT1") or "").strip()[:3]
    if unit == "deg":
        return np.mod(header["CRVAL1"] + x, 360), header["CRVAL2"] + y
    a0, d0 = header["RA"], math.radians(header["DEC"])
    th = y + math.pi / 2
    ra = a0 + np.degrees(np.arctan2(np.cos(th) * np.sin(x), np.sin(th) * math.cos(d0) + np.cos(th) * math.sin(d0) * np.cos(x)))
    dec = np.degrees(np.arcsin(np.sin(th) * math.sin(d0) - np.cos(th) * math.cos(d0) * np.cos(x)))
    return np.mod(ra, 360), dec


def sep_arcsec(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    dra = ((ra1 - ra2 + 180) % 360 - 180) * math.cos(math.radians(dec2))
    return math.hypot(dra, dec1 - dec2) * 3600


def in_circle(ra: np.ndarray, dec: np.ndarray, ra_c: float, dec_c: float, r: float) -> np.ndarray:
    dx = ((ra - ra_c + 180) % 360 - 180) * 3600 * math.cos(math.radians(dec_c))
    dy = (dec - dec_c) * 3600
    return dx**2 + dy**2 < r**2


def csv_records(text: str) -> list[dict[str, str]]:
    lines = [ln for ln in text.splitlines() if ln]
    keys = lines[0].split(",")
    return [dict(zip(keys, ln.split(","))) for ln in lines[1:]]


def one_line_error(result: object, code: int) -> str:
    """Assert the exit code and a single 'Error:' line (no traceback); return the line."""
    assert result.exit_code == code, result.output  # type: ignore[attr-defined]
    lines = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]  # type: ignore[attr-defined]
    assert len(lines) == 1, result.output  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    return lines[0]
