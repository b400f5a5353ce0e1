"""Sky masks: which rows fall on the objects of a sky image, or inside region shapes.

:class:`SkyMask` is a 2-D image with a celestial WCS (0 = background, > 0 =
object, as MPDAF's ``mask_column`` reads it); a position is looked up at its
NEAREST pixel (pixel centres at integer 0-based coordinates, round half up) and
is ON the mask when that pixel is inside the image and its value > 0 (NaN is
not > 0). Positions off the image are on neither the mask nor its inverse.

:class:`SkyRegions` is a list of sky regions read by astropy's ``regions``
(DS9, CRTF): a position is selected when it is inside any included shape and
inside no excluded one (only excluded shapes: everywhere except them). The
shapes are tested in a local gnomonic frame about their own centre, in which
astropy-regions turns each into a pixel shape once.

Both test float64 RA/Dec arrays in degrees chunk by chunk (memory: the image,
plus a few arrays of the chunk's length), and give a conservative sky box
(:meth:`box`) outside which nothing is selected.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError

log = logging.getLogger(__name__)
_EXT_RE = re.compile(r"^(?P<path>.+?)\[(?P<ext>[^\[\]]+)\]$")


@dataclass(frozen=True)
class SkyBox:
    """RA/Dec bounds (degrees): Dec in [dec_lo, dec_hi], RA within ``ra_half`` of ``ra_mid``
    (ra_half >= 180: any RA)."""

    ra_mid: float
    ra_half: float
    dec_lo: float
    dec_hi: float

    def enclosing_circle(self) -> tuple[float, float, float] | None:
        """(RA, Dec, radius in arcsec) of a circle that holds the box in the aperture metric
        (dx = dRA cos(dec_c), dy = dDec): a bound for the planner; None: no useful one."""
        if self.ra_half >= 90.0 or self.dec_lo > self.dec_hi or self.dec_hi - self.dec_lo >= 90.0:
            return None
        dec_c = 0.5 * (self.dec_lo + self.dec_hi)
        dx = self.ra_half * math.cos(math.radians(dec_c))
        dy = 0.5 * (self.dec_hi - self.dec_lo)
        return self.ra_mid, dec_c, math.hypot(dx, dy) * 3600.0 * (1 + 1e-6) + 1e-3


def split_ext(spec: str) -> tuple[str, str | int | None]:
    """``FILE.fits[EXT]`` -> (FILE.fits, EXT as an int or a name); no brackets: (spec, None)."""
    m = _EXT_RE.match(spec)
    if not m:
        return spec, None
    ext = m["ext"].strip()
    return m["path"], int(ext) if ext.isdigit() else ext


def box_of(ra: np.ndarray, dec: np.ndarray, pad_deg: float) -> SkyBox:
    """A box around points (RA wrap-aware: about their circular mean)."""
    ok = np.isfinite(ra) & np.isfinite(dec)
    ra, dec = ra[ok], dec[ok]
    if ra.size == 0:
        return SkyBox(0.0, 180.0, -90.0, 90.0)
    mid = math.degrees(math.atan2(np.sin(np.radians(ra)).mean(), np.cos(np.radians(ra)).mean())) % 360.0
    dra = (ra - mid + 180.0) % 360.0 - 180.0
    dlo, dhi = float(dec.min()) - pad_deg, float(dec.max()) + pad_deg
    cosd = min(math.cos(math.radians(max(-90.0, dlo))), math.cos(math.radians(min(90.0, dhi))))
    half = float(np.abs(dra).max()) + (pad_deg / cosd if cosd > 1e-6 else 360.0)
    if dlo <= -90.0 or dhi >= 90.0:
        half = 360.0
    return SkyBox(mid, half, max(dlo, -90.0), min(dhi, 90.0))


class SkyMask:
    """A sky image with a celestial WCS, read once (it is small)."""

    def __init__(self, spec: str, invert: bool = False, mpdaf: bool = False) -> None:
        """``mpdaf``: MPDAF's own conventions (for the facade): a pixel != 0 is an object, and a
        position off the image takes the nearest edge pixel."""
        from astropy.io import fits
        from astropy.wcs import WCS, FITSFixedWarning

        self.spec, self.invert, self.mpdaf = spec, invert, mpdaf
        path, ext = split_ext(spec)
        self.path = path
        try:
            with fits.open(path) as hl, warnings.catch_warnings():
                warnings.simplefilter("ignore", FITSFixedWarning)
                if ext is None:
                    hdu = next((h for h in hl if h.is_image and h.data is not None and h.data.ndim == 2), None)
                    if hdu is None:
                        raise InputError(path, "no 2-D image HDU: not a sky mask (name one as FILE.fits[EXT])")
                else:
                    try:
                        hdu = hl[ext]
                    except (KeyError, IndexError):
                        raise InputError(path, f"no extension {ext!r}") from None
                data = hdu.data
                if not hdu.is_image or data is None or data.ndim != 2:
                    raise InputError(path, f"extension {ext!r} is not a 2-D image")
                wcs = WCS(hdu.header, naxis=2)
        except InputError:
            raise
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(path, f"cannot read as a sky mask: {exc}") from None
        if not wcs.has_celestial or wcs.celestial.naxis != 2:
            raise InputError(path, "the mask image has no celestial WCS (RA/Dec axes): cannot place rows on it")
        self.wcs = wcs.celestial
        with np.errstate(invalid="ignore"):
            self.on = np.asarray((data != 0) if mpdaf else (data > 0), dtype=bool)  # NaN > 0 is False
        self.shape = self.on.shape
        self.objects = int(self.on.sum())

    def pixels(self, ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(column, row, inside) of the nearest pixel of each position."""
        with np.errstate(invalid="ignore"):
            x, y = self.wcs.wcs_world2pix(np.asarray(ra, np.float64), np.asarray(dec, np.float64), 0)
            i, j = np.floor(x + 0.5), np.floor(y + 0.5)
            if self.mpdaf:
                i, j = np.clip(np.nan_to_num(i), 0, self.shape[1] - 1), np.clip(np.nan_to_num(j), 0, self.shape[0] - 1)
            inside = (i >= 0) & (i < self.shape[1]) & (j >= 0) & (j < self.shape[0])
        return np.where(inside, i, 0).astype(np.intp), np.where(inside, j, 0).astype(np.intp), inside

    def contains(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        """Is each position on an object pixel (on a background pixel with ``invert``)?"""
        i, j, inside = self.pixels(ra, dec)
        value = self.on[j, i]
        return inside & (~value if self.invert else value)

    def box(self) -> SkyBox:
        """Sky box of the pixels that can select (objects, or background when inverted), padded by a pixel."""
        want = ~self.on if self.invert else self.on
        j, i = np.nonzero(want)
        if i.size == 0:
            return SkyBox(0.0, 0.0, 91.0, 91.0)  # selects nothing
        t = np.linspace(0.0, 1.0, 33)
        x0, x1, y0, y1 = i.min() - 0.5, i.max() + 0.5, j.min() - 0.5, j.max() + 0.5
        xs = np.concatenate([x0 + (x1 - x0) * t, x0 + (x1 - x0) * t, np.full(t.size, x0), np.full(t.size, x1)])
        ys = np.concatenate([np.full(t.size, y0), np.full(t.size, y1), y0 + (y1 - y0) * t, y0 + (y1 - y0) * t])
        ra, dec = self.wcs.wcs_pix2world(xs, ys, 0)
        scale = float(np.max(np.abs(self.wcs.pixel_scale_matrix))) * 2  # degrees: two pixels of slack
        return box_of(np.asarray(ra), np.asarray(dec), scale)

    def describe(self) -> str:
        return f"{self.spec}: {self.shape[1]}x{self.shape[0]} mask, {self.objects} object pixel(s)" + (" (inverted)" if self.invert else "")


class SkyRegions:
    """Sky regions from a DS9/CRTF file (``regions`` package)."""

    #: pixel scale of the local frame the shapes are tested in (arcsec): fine, so that the
    #: tangent-plane shapes are those astropy-regions would draw on any MUSE-like image
    SCALE = 0.01

    def __init__(self, path: str) -> None:
        try:
            from regions import PixelRegion, Regions, SkyRegion
        except ImportError:
            raise InputError(path, "reading region files needs astropy's regions package: pip install 'pixtab[masks]'") from None
        self.path = path
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                regs = Regions.read(path, format=_format(path))
        except Exception as exc:  # the parsers raise many kinds
            raise InputError(path, f"cannot read the region file: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        for w in caught:  # e.g. a line the parser skips: ours to report, on one line
            log.warning("%s: %s", path, str(w.message).splitlines()[0])
        shapes = list(regs)
        if not shapes:
            raise InputError(path, "no region in the file")
        for r in shapes:
            if isinstance(r, PixelRegion):
                raise InputError(path, f"{type(r).__name__} is in image (pixel) coordinates: a pixel table has no "
                                       "image to place it on; give sky coordinates (fk5/icrs/galactic)")
            if not isinstance(r, SkyRegion):
                raise InputError(path, f"unsupported region {type(r).__name__}")
        self.shapes = shapes
        centres = [_centre(r) for r in shapes]
        ra = np.array([c[0] for c in centres])
        dec = np.array([c[1] for c in centres])
        box = box_of(ra, dec, 0.0)
        self.wcs = _tan_wcs(box.ra_mid, float(np.mean(dec)), self.SCALE)
        self.include = [r.to_pixel(self.wcs) for r in shapes if r.meta.get("include", True)]
        self.exclude = [r.to_pixel(self.wcs) for r in shapes if not r.meta.get("include", True)]
        self._box = self._make_box()

    def contains(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        from regions import PixCoord

        ra, dec = np.asarray(ra, np.float64), np.asarray(dec, np.float64)
        with np.errstate(invalid="ignore"):
            x, y = self.wcs.wcs_world2pix(ra, dec, 0)
        finite = np.isfinite(x) & np.isfinite(y) & _front(ra, dec, self.wcs)
        pix = PixCoord(np.where(finite, x, 0.0), np.where(finite, y, 0.0))
        keep = np.zeros(ra.shape, dtype=bool) if self.include else finite.copy()
        for r in self.include:
            keep |= np.asarray(r.contains(pix), dtype=bool)
        for r in self.exclude:
            keep &= ~np.asarray(r.contains(pix), dtype=bool)
        return keep & finite

    def _make_box(self) -> SkyBox:
        if not self.include:
            return SkyBox(0.0, 360.0, -90.0, 90.0)
        xs, ys = [], []
        for r in self.include:
            bb = r.bounding_box
            xs += [bb.ixmin - 1, bb.ixmax + 1, bb.ixmin - 1, bb.ixmax + 1]
            ys += [bb.iymin - 1, bb.iymin - 1, bb.iymax + 1, bb.iymax + 1]
        ra, dec = self.wcs.wcs_pix2world(np.array(xs, float), np.array(ys, float), 0)
        return box_of(np.asarray(ra), np.asarray(dec), 1e-6)

    def box(self) -> SkyBox:
        return self._box

    def describe(self) -> str:
        kinds = ", ".join(sorted({type(r).__name__.replace("SkyRegion", "").lower() for r in self.shapes}))
        return f"{self.path}: {len(self.include)} shape(s) included, {len(self.exclude)} excluded ({kinds})"


def _format(path: str) -> str | None:
    low = path.lower()
    if low.endswith(".crtf"):
        return "crtf"
    if low.endswith((".reg", ".ds9")):
        return "ds9"
    with open(path, "rb") as f:
        head = f.read(4096).decode("ascii", "replace").lower()
    return "crtf" if "#crtf" in head else "ds9"


def _centre(region: Any) -> tuple[float, float]:
    c = getattr(region, "center", None)
    if c is None:
        c = region.vertices
    icrs = c.icrs
    return float(np.mean(icrs.ra.deg)), float(np.mean(icrs.dec.deg))


def _tan_wcs(ra: float, dec: float, scale_arcsec: float) -> Any:
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [0.0, 0.0]
    w.wcs.cdelt = [-scale_arcsec / 3600.0, scale_arcsec / 3600.0]
    return w


def _front(ra: np.ndarray, dec: np.ndarray, wcs: Any) -> np.ndarray:
    """Positions less than 90 degrees from the tangent point (a gnomonic projection maps the far
    hemisphere onto the same plane)."""
    ra0, dec0 = (math.radians(v) for v in wcs.wcs.crval)
    r, d = np.radians(ra), np.radians(dec)
    return np.sin(d) * math.sin(dec0) + np.cos(d) * math.cos(dec0) * np.cos(r - ra0) > 0

