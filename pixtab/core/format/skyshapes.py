"""Sky shapes made on the fly: discs around found sources, and the outside of shapes (the sky
rows of pixtab sky and slices). Same interface as :mod:`.skymask`: ``contains``, ``box``,
``describe``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .skymask import SkyBox, box_of


class Discs:
    """Circles of one radius (arcsec) about sky positions (deg), in the aperture metric:
    offsets dx = wrap(RA - ra_c) cos(dec_c), dy = Dec - dec_c."""

    def __init__(self, centres: list[tuple[float, float]], radius: float, label: str = "discs") -> None:
        self.centres, self.radius, self.label = centres, radius, label

    def contains(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        keep = np.zeros(np.shape(ra), dtype=bool)
        for rc, dc in self.centres:
            dx = ((np.asarray(ra) - rc + 180.0) % 360.0 - 180.0) * (3600.0 * math.cos(math.radians(dc)))
            dy = (np.asarray(dec) - dc) * 3600.0
            keep |= dx * dx + dy * dy < self.radius**2
        return keep

    def box(self) -> SkyBox:
        if not self.centres:
            return SkyBox(0.0, 0.0, 91.0, 91.0)
        c = np.array(self.centres, dtype=float)
        return box_of(c[:, 0], c[:, 1], self.radius / 3600.0 * 1.001)

    def describe(self) -> str:
        return f"{len(self.centres)} {self.label} of radius {self.radius:.2f} arcsec"


class Outside:
    """Everywhere except the given shapes (sky rows: outside the sources)."""

    def __init__(self, shapes: list[Any]) -> None:
        self.shapes = shapes

    def contains(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        keep = np.isfinite(ra) & np.isfinite(dec)
        for s in self.shapes:
            keep &= ~s.contains(ra, dec)
        return keep

    def box(self) -> SkyBox:
        return SkyBox(0.0, 360.0, -90.0, 90.0)

    def describe(self) -> str:
        return "outside " + "; ".join(s.describe() for s in self.shapes)
