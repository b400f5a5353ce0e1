"""How a picture maps values to colours: limits, stretch, colour map; and picture formats.

Limits come from the pixels that hold rows only (empty pixels, NaN or a fill value, never
pull them), as percentiles, zscale (IRAF's, as DS9 and astronomers expect), or given
values; the stretch is linear, asinh, log or sqrt (astropy.visualization).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

#: picture formats, by file name extension (matplotlib writes each; PDF and SVG are vector)
FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}
STRETCHES = ("linear", "asinh", "log", "sqrt")


def picture_format(path: str) -> str | None:
    """The format a picture file name asks for, or None when its extension is not one."""
    return FORMATS.get(os.path.splitext(path)[1].lower())


@dataclass(frozen=True)
class Display:
    """The user's choices; None means the picture's own default."""

    vmin: float | None = None
    vmax: float | None = None
    percentiles: tuple[float, float] | None = None
    zscale: bool = False
    stretch: str | None = None
    cmap: str | None = None

    def describe(self, lo: float, hi: float, default_stretch: str, default_pct: tuple[float, float]) -> str:
        """A short note for a title: the limits and how they were chosen, and the stretch."""
        how = ("zscale" if self.zscale else "{:g}-{:g} %".format(*(self.percentiles or default_pct)))
        if self.vmin is not None or self.vmax is not None:
            how = "given" if self.vmin is not None and self.vmax is not None else how + ", one end given"
        return f"{self.stretch or default_stretch}, {lo:.4g} to {hi:.4g} ({how})"


def limits(values: np.ndarray, display: Display, default_pct: tuple[float, float]) -> tuple[float, float]:
    """(vmin, vmax) for ``values`` (the finite values of the pixels that hold rows)."""
    values = values[np.isfinite(values)]
    lo: float
    hi: float
    if not values.size:
        lo, hi = 0.0, 1.0
    elif display.zscale:
        from astropy.visualization import ZScaleInterval

        lo, hi = (float(v) for v in ZScaleInterval().get_limits(values))
    else:
        lo, hi = (float(v) for v in np.percentile(values, display.percentiles or default_pct))
    lo = lo if display.vmin is None else display.vmin
    hi = hi if display.vmax is None else display.vmax
    if not hi > lo:
        hi = lo + (abs(lo) or 1.0) * 1e-6
    return lo, hi


def norm(lo: float, hi: float, stretch: str, asinh_a: float = 0.1) -> Any:
    """An astropy ImageNormalize from lo to hi with the named stretch (values outside take the end colours);
    ``asinh_a`` is where asinh turns from linear to logarithmic (a fraction of the range)."""
    from astropy.visualization import AsinhStretch, ImageNormalize, LinearStretch, LogStretch, SqrtStretch

    s = {"linear": LinearStretch(), "asinh": AsinhStretch(asinh_a), "log": LogStretch(1000), "sqrt": SqrtStretch()}[stretch]
    return ImageNormalize(vmin=lo, vmax=hi, stretch=s, clip=False)  # matplotlib clips; NaN stays "bad"


def colour_map(plt: Any, name: str, bad: str) -> Any:
    """A matplotlib colour map by name (ValueError naming the choices when unknown), with
    the colour of pixels without rows."""
    try:
        cmap = plt.get_cmap(name)
    except ValueError:
        raise ValueError(f"unknown colour map {name!r} (e.g. gray, viridis, magma, inferno, cividis, gist_heat)") from None
    return cmap.with_extremes(bad=bad)
