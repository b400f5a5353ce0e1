"""Gnomonic (TAN) plane coordinates of rows, about the table's own centre.

The plane is the FITS one (Calabretta & Greisen 2002): standard coordinates
(x, y) in degrees, x towards the east, y towards the north, so that a FITS
image with CD1_1 < 0 and CD2_2 > 0 shows north up and east left.

* projected tables (``rad``) already hold native spherical coordinates of a
  TAN projection about the header RA/DEC: x = R sin(phi), y = -R cos(phi) with
  R = cot(theta), theta = ypos + pi/2. No trip through RA/Dec is needed.
* positioned tables (``deg``): RA/Dec = CRVAL + offsets, projected about
  CRVAL1/2.
* pixel tables: the focal-plane pixels themselves (no sky).
All in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..format.sky import SkyFrame
from .table import PixTable

RAD = 180.0 / math.pi


class Plane:
    """Rows of one table to tangent-plane coordinates and back to the sky."""

    def __init__(self, frame: SkyFrame) -> None:
        self.frame = frame
        self.ra0, self.dec0 = frame.ra0, frame.dec0
        self._sd0, self._cd0 = math.sin(math.radians(self.dec0)), math.cos(math.radians(self.dec0))

    @classmethod
    def of(cls, pt: PixTable) -> "Plane":
        return cls(SkyFrame.of(pt))

    @property
    def is_sky(self) -> bool:
        return not self.frame.is_pixel

    def from_table(self, xpos: np.ndarray, ypos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) in degrees (pixels for pixel tables) of table positions."""
        wcs = self.frame.wcs
        if wcs == "pixel":
            return np.asarray(xpos, dtype=np.float64), np.asarray(ypos, dtype=np.float64)
        if wcs == "projected":
            phi = np.asarray(xpos, dtype=np.float64)
            r = RAD / np.tan(np.asarray(ypos, dtype=np.float64) + math.pi / 2)
            return r * np.sin(phi), -r * np.cos(phi)
        ra = np.radians(np.asarray(xpos, dtype=np.float64))  # RA - CRVAL1
        dec = np.radians(np.asarray(ypos, dtype=np.float64) + self.dec0)
        return self.project_offsets(ra, dec)

    def project_offsets(self, dra_rad: np.ndarray, dec_rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sd, cd = np.sin(dec_rad), np.cos(dec_rad)
        cda = np.cos(dra_rad)
        den = sd * self._sd0 + cd * self._cd0 * cda
        x = cd * np.sin(dra_rad) / den * RAD
        y = (sd * self._cd0 - cd * self._sd0 * cda) / den * RAD
        return x, y

    def from_sky(self, ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) in degrees of absolute RA/Dec in degrees."""
        dra = np.radians(((np.asarray(ra, dtype=np.float64) - self.ra0) + 180.0) % 360.0 - 180.0)
        return self.project_offsets(dra, np.radians(np.asarray(dec, dtype=np.float64)))

    def to_sky(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RA (in [0, 360)) and Dec in degrees of plane coordinates in degrees."""
        xr, yr = np.radians(np.asarray(x, dtype=np.float64)), np.radians(np.asarray(y, dtype=np.float64))
        den = self._cd0 - yr * self._sd0
        ra = self.ra0 + np.degrees(np.arctan2(xr, den))
        dec = np.degrees(np.arctan2(self._sd0 + yr * self._cd0, np.hypot(xr, den)))
        return np.mod(ra, 360.0), dec

    def spaxels32(self, xpos: np.ndarray, ypos: np.ndarray, scale: float, buf: Callable[[str, int], np.ndarray] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Plane (x, y) times ``scale`` per degree (pixel), in float32, for binning.

        Written so that no step subtracts nearly equal numbers (1 - cos t as
        2 sin^2(t/2), the north offset as a sum of small terms): float32 then
        keeps about 1e-7 of the offset, a few micro-arcsec over a MUSE field,
        about the precision of the float32 positions themselves. Used to bin
        rows; coordinates reported to users go through the float64 methods.
        ``buf(name, n)`` supplies reusable float32 work arrays (fresh ones by
        default); the results live in buffers 'x' and 'y'.
        """
        f = np.float32
        n = len(xpos)
        get = buf or (lambda name, size: np.empty(size, dtype=f))
        x, y = get("x", n), get("y", n)
        if self.frame.wcs == "pixel":
            np.multiply(xpos, f(scale), out=x)
            np.multiply(ypos, f(scale), out=y)
            return x, y
        if self.frame.wcs == "projected":
            r = get("r", n)
            np.tan(ypos, out=r, dtype=f)  # cot(theta) = tan(pi/2 - theta) = -ypos
            r *= f(-RAD * scale)
            np.sin(xpos, out=x, dtype=f)
            x *= r
            np.cos(xpos, out=y, dtype=f)
            y *= r
            np.negative(y, out=y)
            return x, y
        s0, c0 = f(self._sd0), f(self._cd0)
        k = f(math.pi / 180.0)
        xi, eta, a, b, t = get("xi", n), get("eta", n), get("a", n), get("b", n), get("t", n)
        np.multiply(xpos, k, out=xi)
        np.multiply(ypos, k, out=eta)
        # a = 1 - cos(xi), b = cos(eta); y <- sin(eta), x <- sin(xi)
        np.multiply(xi, f(0.5), out=a)
        np.sin(a, out=a)
        np.square(a, out=a)
        a *= f(2.0)
        np.multiply(eta, f(0.5), out=b)
        np.sin(b, out=b)
        np.square(b, out=b)
        b *= f(-2.0)
        b += f(1.0)
        np.sin(eta, out=eta)  # sin(eta)
        np.sin(xi, out=xi)  # sin(xi)
        # t = cos(dec) = c0 b - s0 sin(eta); x numerator = t sin(xi)
        np.multiply(b, c0, out=t)
        np.multiply(eta, s0, out=x)
        t -= x
        np.multiply(t, xi, out=x)
        # den = s0 sin(dec) + c0 cos(xi) cos(dec), sin(dec) = s0 b + c0 sin(eta); kept in xi
        np.subtract(f(1.0), a, out=xi)
        xi *= t
        xi *= c0
        np.multiply(b, s0 * s0, out=t)
        xi += t
        np.multiply(eta, s0 * c0, out=t)
        xi += t
        xi *= f(1.0 / (RAD * scale))
        # y numerator = s0 c0 b (1 - cos xi) + sin(eta) (c0^2 + s0^2 cos xi)
        np.multiply(b, a, out=y)
        y *= s0 * c0
        np.subtract(f(1.0), a, out=t)
        t *= s0 * s0
        t += c0 * c0
        t *= eta
        y += t
        x /= xi
        y /= xi
        return x, y
