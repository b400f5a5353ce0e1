"""The ten LIMITS keywords, computed from rows the way the DRS does.

``muse_pixtable_compute_limits``: min/max of xpos, ypos, lambda and of the
decoded IFU and slice numbers; in the positioned (``deg``) state CRVAL1/2 are
added to the x/y extremes so the stored values are absolute.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from . import origin as org
from ..fits.header import Header
from .keywords import LIMIT_KEYS, key

log = logging.getLogger(__name__)


class LimitsAccumulator:
    """Running min/max over chunks (finite values only). Feed it xpos, ypos, lambda, origin."""

    def __init__(self) -> None:
        self.lo: dict[str, float] = {}
        self.hi: dict[str, float] = {}

    def _update(self, name: str, values: np.ndarray) -> None:
        if values.size == 0:
            return
        lo, hi = values.min(), values.max()
        # NaN and +-inf are ignored: min/max propagate NaN, and a FITS header
        # cannot hold inf. Filter only when needed (rare).
        if values.dtype.kind == "f" and not (np.isfinite(lo) and np.isfinite(hi)):
            values = values[np.isfinite(values)]
            if values.size == 0:
                return
            lo, hi = values.min(), values.max()
        self.lo[name] = min(self.lo.get(name, lo), lo)
        self.hi[name] = max(self.hi.get(name, hi), hi)

    def add(self, xpos: np.ndarray, ypos: np.ndarray, lam: np.ndarray, origin: np.ndarray) -> None:
        self._update("x", xpos)
        self._update("y", ypos)
        self._update("lambda", lam)
        if origin.size:
            self._update("ifu", org.get_ifu(origin))
            self._update("slice", org.get_slice(origin))

    def result(self, wcs: str, crval: tuple[float, float] | None) -> dict[str, float | int | None]:
        """The limits as ``{x_low: ..., ...}``; absolute x/y in the positioned state."""
        out: dict[str, float | int | None] = {}
        shift = {"x": 0.0, "y": 0.0}
        if wcs == "positioned" and crval is not None:
            shift = {"x": crval[0], "y": crval[1]}
        for name in ("x", "y", "lambda", "ifu", "slice"):
            for side, store in (("low", self.lo), ("high", self.hi)):
                v = store.get(name)
                if v is None:
                    out[f"{name}_{side}"] = None
                elif name in ("ifu", "slice"):
                    out[f"{name}_{side}"] = int(v)
                else:
                    out[f"{name}_{side}"] = float(v) + shift.get(name, 0.0)
        return out


def set_limits(header: Header, limits: dict[str, float | int | None]) -> None:
    """Write LIMITS keywords into ``header`` (in place), keeping existing card positions.

    Floats are written with 15 significant digits (the DRS writes float32,
    7 digits, which would lose the absolute RA/Dec of positioned tables).
    """
    for short, suffix in LIMIT_KEYS.items():
        name = key(suffix)
        value = limits.get(short)
        if value is None:
            if name in header:
                del header[name]
            continue
        if isinstance(value, float) and not math.isfinite(value):
            # A FITS header cannot hold inf (e.g. CRVAL1 = 1E999 added to every x).
            log.warning("LIMITS %s would be %r: not finite; the keyword is left out", suffix, value)
            value = None
            if name in header:
                del header[name]
            continue
        if isinstance(value, float):
            value = float(f"{value:.15g}")
        if name in header:
            header[name] = value
        else:
            header.append((name, value), end=True)


def reserve_limits(header: Header, has_rows: bool) -> None:
    """Placeholder LIMITS (absent when there will be no rows), so that the header
    has its final size before the data pass and :func:`finish_limits` only
    changes values."""
    if has_rows:
        set_limits(header, {k: (0 if k.startswith(("ifu", "slice")) else 0.0) for k in LIMIT_KEYS})
    else:
        set_limits(header, {k: None for k in LIMIT_KEYS})


def finish_limits(header: Header, rows: LimitsAccumulator | None, wcs: str, crval: tuple[float, float] | None) -> None:
    """Write the LIMITS of the rows seen (``rows`` None: no rows, no LIMITS) into ``header``."""
    set_limits(header, rows.result(wcs, crval) if rows is not None else {k: None for k in LIMIT_KEYS})
