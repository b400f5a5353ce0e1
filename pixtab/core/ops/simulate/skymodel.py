"""The sky of a synthetic pixel table: where rows fall on the sky and what light they see.

Positions are tangent-plane offsets (arcsec, x to the east) about the pointing, turned into
the table's coordinates (pixels, projected radians or positioned degrees); the light is a
few default compact sources, or the injected ones (Gaussian or Moffat, FWHM scaled with
wavelength as seeing does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

SPAXEL = 0.2  # arcsec per field pixel (WFM)
LAMBDA_REF = 7000.0  # Angstrom where an injected source has its nominal FWHM


def sky_parts(lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic sky at wavelengths ``lam``: (continuum, emission lines), data units."""
    continuum = 20.0 + 5.0 * np.sin(lam / 700.0)
    skyline = 400.0 * np.exp(-(((lam % 293.0) - 146.0) ** 2) / 2.0)
    return continuum, skyline


def sky_spectrum(lam: np.ndarray) -> np.ndarray:
    """The synthetic sky (continuum + lines) a table simulated with ``keep_sky`` has in data."""
    continuum, skyline = sky_parts(np.asarray(lam, dtype=np.float32))
    return continuum + skyline


def slice_factors(seed: int, spread: float) -> np.ndarray:
    """Level factors [ifu - 1, slice - 1] (CCD slices) that ``slice_offsets`` multiplies data by:
    1 + N(0, spread), from a generator of their own (the rest of the table stays the same)."""
    rng = np.random.default_rng(seed + 2000)
    return 1.0 + spread * rng.standard_normal((24, 48))


@dataclass(frozen=True)
class SimSource:
    """An injected point source: position (deg), FWHM (arcsec) at LAMBDA_REF, peak (data units)."""

    ra: float
    dec: float
    fwhm: float
    peak: float


class SkySpec(Protocol):
    """What the sky model reads of a simulation's spec (``simulate.SimulationSpec`` has it)."""

    ra: float
    dec: float
    seed: int
    wcs: str
    sources: Sequence[SimSource]
    profile: str
    beta: float
    seeing_slope: float


#: FWHM (arcsec) of the default sources, at every wavelength
DEFAULT_FWHM = 0.8


def _default_offsets(seed: int) -> np.ndarray:
    """(x, y, peak) of the default sources: offsets in arcsec (x to the east), peak in data units."""
    rng = np.random.default_rng(seed + 1000)
    # A few compact sources (FWHM ~0.8") scattered over the field, one at the centre.
    sources = np.column_stack([rng.uniform(-25, 25, 6), rng.uniform(-25, 25, 6), rng.uniform(200, 2000, 6)])
    sources[0] = (0.0, 0.0, 3000.0)
    return sources


def default_sources(spec: "SkySpec") -> list[SimSource]:
    """The default sources as Sources (RA/Dec of their offsets about the pointing), for the header."""
    out = []
    for x, y, peak in _default_offsets(spec.seed):
        ra, dec = _offsets_to_sky(spec.ra, spec.dec, x, y)
        out.append(SimSource(round(ra, 7), round(dec, 7), DEFAULT_FWHM, round(float(peak), 3)))
    return out


def source_cards(spec: "SkySpec") -> list[tuple[str, object, str]]:
    """Header cards recording every source of a simulation, the default ones too."""
    cards: list[tuple[str, object, str]] = []
    for i, src in enumerate(spec.sources or default_sources(spec), 1):
        cards += [(f"HIERARCH PIXTAB SIM SRC{i} RA", src.ra, "[deg] injected source"),
                  (f"HIERARCH PIXTAB SIM SRC{i} DEC", src.dec, "[deg]"),
                  (f"HIERARCH PIXTAB SIM SRC{i} FWHM", src.fwhm, "[arcsec] at the reference wavelength"),
                  (f"HIERARCH PIXTAB SIM SRC{i} PEAK", src.peak, "peak value in data units")]
    if not spec.sources:
        return cards + [("HIERARCH PIXTAB SIM SOURCES", "default", "peak*(1+0.3cos(lam/900A))")]
    cards.append(("HIERARCH PIXTAB SIM PROFILE", spec.profile, "profile of the injected sources"))
    if spec.profile == "moffat":
        cards.append(("HIERARCH PIXTAB SIM BETA", spec.beta, "Moffat power index"))
    return cards + [("HIERARCH PIXTAB SIM SEEING SLOPE", spec.seeing_slope, "FWHM ~ (lambda/LREF)**slope"),
                    ("HIERARCH PIXTAB SIM LREF", LAMBDA_REF, "[Angstrom] wavelength of the nominal FWHM")]


def _offsets_to_sky(ra0: float, dec0: float, x: float, y: float) -> tuple[float, float]:
    """Inverse gnomonic projection: (RA, Dec) in degrees of offsets (arcsec) about (ra0, dec0)."""
    xi, eta = math.radians(x / 3600.0), math.radians(y / 3600.0)
    d0 = math.radians(dec0)
    den = math.cos(d0) - eta * math.sin(d0)
    ra = ra0 + math.degrees(math.atan2(xi, den))
    dec = math.degrees(math.atan2(math.sin(d0) + eta * math.cos(d0), math.hypot(xi, den)))
    return ra % 360.0, dec


class SkyModel:
    """Tangent-plane positions (arcsec, x to the east) to table coordinates."""

    def __init__(self, spec: "SkySpec") -> None:
        self.spec = spec
        self.d0 = math.radians(spec.dec)
        self.sources = _default_offsets(spec.seed)
        self.injected = [(*self.plane_offsets(src.ra, src.dec), src.fwhm, src.peak) for src in spec.sources]

    def plane_offsets(self, ra: float, dec: float) -> tuple[float, float]:
        """Gnomonic offsets (arcsec, x to the east) of (ra, dec) about the pointing."""
        d, da = math.radians(dec), math.radians(ra - self.spec.ra)
        den = math.sin(d) * math.sin(self.d0) + math.cos(d) * math.cos(self.d0) * math.cos(da)
        x = math.cos(d) * math.sin(da) / den
        y = (math.sin(d) * math.cos(self.d0) - math.cos(d) * math.sin(self.d0) * math.cos(da)) / den
        return math.degrees(x) * 3600.0, math.degrees(y) * 3600.0

    def injected_flux(self, ox: np.ndarray, oy: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """The injected sources (flat spectra, FWHM scaled with wavelength) at the rows."""
        flux = np.zeros(ox.shape, dtype=np.float64)
        scale = (lam.astype(np.float64) / LAMBDA_REF) ** self.spec.seeing_slope
        for sx, sy, fwhm, peak in self.injected:
            reach = 12.0 * fwhm * float(scale.max())
            near = (np.abs(ox - sx) < reach) & (np.abs(oy - sy) < reach)
            if not near.any():
                continue
            r2 = (ox[near] - sx) ** 2 + (oy[near] - sy) ** 2
            f = fwhm * scale[near]
            if self.spec.profile == "moffat":
                beta = self.spec.beta
                gamma = f / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
                flux[near] += peak * (1.0 + r2 / gamma**2) ** -beta
            else:
                flux[near] += peak * np.exp(-r2 / (2.0 * (f / (2.0 * math.sqrt(2.0 * math.log(2.0)))) ** 2))
        return flux

    def to_table(self, ox: np.ndarray, oy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.spec.wcs == "pixel":
            return (ox / SPAXEL).astype(np.float32), (oy / SPAXEL).astype(np.float32)
        x = np.radians(ox / 3600.0)
        y = np.radians(oy / 3600.0)
        r = np.hypot(x, y)
        phi = np.mod(np.arctan2(x, -y), 2 * np.pi)
        theta = np.arctan2(1.0, r)
        if self.spec.wcs == "projected":
            return phi.astype(np.float32), (theta - np.pi / 2).astype(np.float32)
        st, ct = np.sin(theta), np.cos(theta)
        sp, cp = np.sin(phi), np.cos(phi)
        ra = np.degrees(np.arctan2(ct * sp, st * math.cos(self.d0) + ct * math.sin(self.d0) * cp))
        dec = np.degrees(np.arcsin(st * math.sin(self.d0) - ct * math.cos(self.d0) * cp))
        return ra.astype(np.float32), (dec - self.spec.dec).astype(np.float32)

    def source_flux(self, ox: np.ndarray, oy: np.ndarray) -> np.ndarray:
        flux = np.zeros(ox.shape, dtype=np.float32)
        sigma2 = 2 * (DEFAULT_FWHM / 2.355) ** 2
        for sx, sy, amp in self.sources:
            near = (np.abs(ox - sx) < 3) & (np.abs(oy - sy) < 3)
            if near.any():
                r2 = (ox[near] - sx) ** 2 + (oy[near] - sy) ** 2
                flux[near] += (amp * np.exp(-r2 / sigma2)).astype(np.float32)
        return flux
