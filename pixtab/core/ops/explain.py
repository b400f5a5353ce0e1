"""Why a selection is empty, in one line: what the table holds, and which criterion alone
selects nothing, from the header only (LIMITS, exposures; no row is read again)."""

from __future__ import annotations

import math

from ..errors import EmptySelectionError
from ..format.exposures import number_ranges
from ..io.criteria import Criteria
from ..io.table import PixTable


def empty_selection(pt: PixTable, criteria: Criteria, flagged: int = 0, tail: str = "", field: str | None = None) -> EmptySelectionError:
    """The error for a selection that kept no row: ``PATH: no row matches the criteria``,
    then the criteria that alone select nothing (or that only together do), what the table
    holds and ``tail``; or, when rows matched but all were flagged, that."""
    if flagged:
        return EmptySelectionError(f"{pt.path}: the {flagged:,} rows that match are all flagged (dq != 0) and left out"
                                   + (f"; {tail}" if tail else ""), field=field)
    alone = criteria_outside(pt, criteria)
    why = "; ".join(alone) if alone else ("no row meets them together" if _count(criteria) > 1 else "")
    parts = [f"{pt.path}: no row matches the criteria" + (f" ({why})" if why else ""), f"the table holds {holds(pt)}"]
    if tail:
        parts.append(tail)
    return EmptySelectionError("; ".join(parts), field=field)


def holds(pt: PixTable) -> str:
    """The table's extent: sky area (or pixel range), wavelengths, IFUs, exposures."""
    lim = pt.keywords.limits
    out = []
    if all(lim.get(k) is not None for k in ("x_low", "x_high", "y_low", "y_high")):
        if pt.wcs == "positioned":
            out.append(f"RA {lim['x_low']:.5f}..{lim['x_high']:.5f}, Dec {lim['y_low']:.5f}..{lim['y_high']:.5f} deg")
        elif pt.wcs == "projected" and pt.centre is not None:
            radius = math.degrees(abs(float(lim["y_low"]))) * 3600.0  # theta - 90 deg at the field's rim
            out.append(f"a field of {radius:.0f}\" radius about RA {pt.centre[0]:.5f}, Dec {pt.centre[1]:.5f} deg")
        else:
            out.append(f"xpos {lim['x_low']:.1f}..{lim['x_high']:.1f}, ypos {lim['y_low']:.1f}..{lim['y_high']:.1f} pix")
    if lim.get("lambda_low") is not None:
        out.append(f"lambda {lim['lambda_low']:.0f}..{lim['lambda_high']:.0f} Angstrom")
    if lim.get("ifu_low") is not None:
        lo, hi = int(lim["ifu_low"]), int(lim["ifu_high"])
        out.append(f"IFU {lo}" if lo == hi else f"IFUs {lo}-{hi}")
    exps = [e.exp for e in pt.keywords.exposures]
    out.append(f"exposures {number_ranges(exps)}" if exps else "one exposure (0)")
    return ", ".join(out)


def criteria_outside(pt: PixTable, c: Criteria) -> list[str]:
    """The criteria that select nothing on their own, by the table's limits."""
    lim = pt.keywords.limits
    out = []
    if c.lambdas and lim.get("lambda_low") is not None:
        lo, hi = float(lim["lambda_low"]), float(lim["lambda_high"])
        if all(b <= lo or a > hi for a, b in c.lambdas):
            out.append("no wavelength in " + ", ".join(f"{a:g}-{b:g}" for a, b in c.lambdas) + " Angstrom")
    if c.ifus and lim.get("ifu_low") is not None:
        if not any(int(lim["ifu_low"]) <= i <= int(lim["ifu_high"]) for i in c.ifus):
            out.append(f"no IFU {number_ranges(c.ifus)} in the table")
    if c.slices and lim.get("slice_low") is not None:
        if not any(int(lim["slice_low"]) <= s <= int(lim["slice_high"]) for s in c.slices):
            out.append(f"no slice {number_ranges(c.slices)} in the table")
    if c.exps is not None:
        have = [e.exp for e in pt.keywords.exposures] or [0]
        if not set(c.exps) & set(have):
            out.append(f"no exposure {number_ranges(c.exps)} in the table")
    has_box = all(lim.get(k) is not None for k in ("x_low", "x_high", "y_low", "y_high"))
    if c.apertures and has_box and pt.wcs in ("positioned", "pixel"):
        box = (float(lim["x_low"]), float(lim["x_high"]), float(lim["y_low"]), float(lim["y_high"]))
        test = _outside if pt.wcs == "positioned" else _outside_pixels
        far = [ap for ap in c.apertures if test(ap.ra, ap.dec, ap.size, box)]
        if len(far) == len(c.apertures):
            ap = far[0]
            what = "the aperture" if len(far) == 1 else f"each of the {len(far)} apertures"
            note = f"{what} ({ap.ra:g}, {ap.dec:g}) lies outside the table's " + ("sky area" if pt.wcs == "positioned" else "positions")
            if not test(ap.dec, ap.ra, ap.size, box):
                note += " (RA and Dec swapped?)"
            out.append(note)
    return out


def _outside(ra: float, dec: float, size_arcsec: float, box: tuple[float, float, float, float]) -> bool:
    """Whether a point lies farther than ``size`` from a RA/Dec box (small-field metric)."""
    x0, x1, y0, y1 = box
    ddec = max(y0 - dec, 0.0, dec - y1)
    inside = x0 <= ra % 360.0 <= x1
    dra = 0.0 if inside else min(abs((ra - x + 180.0) % 360.0 - 180.0) for x in (x0, x1))
    dra *= math.cos(math.radians(min(max(dec, y0), y1)))
    return math.hypot(dra, ddec) * 3600.0 > 1.5 * size_arcsec  # a square's corner reaches 1.41 x


def _outside_pixels(x: float, y: float, size: float, box: tuple[float, float, float, float]) -> bool:
    x0, x1, y0, y1 = box
    return math.hypot(max(x0 - x, 0.0, x - x1), max(y0 - y, 0.0, y - y1)) > 1.5 * size


def _count(c: Criteria) -> int:
    return sum(bool(x) for x in (c.apertures, c.lambdas, c.ifus, c.slices, c.stacks, c.xpix, c.ypix, c.exps, c.where))
