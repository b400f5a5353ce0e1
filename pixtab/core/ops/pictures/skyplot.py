"""A bounded-memory sample of the selected rows' sky positions, for a scatter plot.

Every row gets a random key; the rows with the smallest keys are kept (a
uniform sample of at most ``max_points`` rows, whatever the table size),
flagged rows included (marked). Positions are tangent-plane offsets from the
table's centre in arcsec, x to the east (pixels for pixel tables).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import CriteriaError
from ...format.origin import get_ifu, get_slice
from ...io.plan import PlanOptions
from ...io.scan import Scan, exposure_numbers
from ...io.criteria import Criteria
from ...io.table import PixTable
from ...progress import SILENT, Progress
from ..explain import empty_selection
from ...io.tangent import Plane

COLOUR_BY = ("ifu", "slice", "exp", "dq", "data")


@dataclass
class SkySample:
    x: np.ndarray
    y: np.ndarray
    colour: np.ndarray
    flagged: np.ndarray
    total: int  # rows selected
    celestial: bool
    unit: str | None
    centre: tuple[float, float] = (0.0, 0.0)  # RA, Dec (deg) of the offsets' origin (celestial tables)
    #: the criteria's apertures: (shape, x, y, size), offsets and size in arcsec (pixels for pixel tables)
    apertures: tuple[tuple[str, float, float, float], ...] = ()


def sample_sky(pt: PixTable, criteria: Criteria, by: str = "ifu", max_points: int = 200_000, seed: int = 0,
               progress: Progress = SILENT, plan: PlanOptions | None = None) -> SkySample:
    if by not in COLOUR_BY:
        raise CriteriaError(f"colour by one of {', '.join(COLOUR_BY)}, not {by!r}", field="color_by")
    plane = Plane.of(pt)
    columns = ["xpos", "ypos", "dq"] + (["origin"] if by in ("ifu", "slice") else ["data"] if by == "data" else [])

    def reduce(batch):  # type: ignore[no-untyped-def]
        n = len(batch)
        rng = np.random.default_rng([seed, batch.start])
        key = rng.random(n)
        if n > max_points:
            keep = np.argpartition(key, max_points)[:max_points]
        else:
            keep = np.arange(n)
        if by == "ifu":
            colour = get_ifu(batch["origin"][keep])
        elif by == "slice":
            colour = get_slice(batch["origin"][keep])
        elif by == "exp":
            colour = exposure_numbers(pt, batch)[keep]
        elif by == "dq":
            colour = batch["dq"][keep]
        else:
            colour = batch["data"][keep]
        return n, key[keep], batch["xpos"][keep], batch["ypos"][keep], colour, batch["dq"][keep] != 0

    total = 0
    kept: list[np.ndarray] | None = None
    for n, *arrays in Scan(pt, criteria, plan, progress).stream(columns, reduce, keep_flagged=True, phase="plot"):  # type: ignore[misc]
        total += n
        kept = arrays if kept is None else [np.concatenate([a, b]) for a, b in zip(kept, arrays)]
        if kept[0].size > 2 * max_points:
            best = np.argpartition(kept[0], max_points)[:max_points]
            kept = [a[best] for a in kept]
    if not total or kept is None:
        raise empty_selection(pt, criteria)
    if kept[0].size > max_points:
        best = np.argpartition(kept[0], max_points)[:max_points]
        kept = [a[best] for a in kept]
    _, xpos, ypos, colour, flagged = kept
    x, y = plane.from_table(xpos, ypos)
    if plane.is_sky:
        x, y = x * 3600.0, y * 3600.0
    unit = pt.columns["data"].unit if by == "data" else None
    apertures = []
    for a in criteria.apertures:
        ax, ay = (plane.from_sky(np.array([a.ra]), np.array([a.dec])) if plane.is_sky else (np.array([a.ra]), np.array([a.dec])))
        scale = 3600.0 if plane.is_sky else 1.0
        apertures.append((a.shape, float(ax[0]) * scale, float(ay[0]) * scale, a.size))
    return SkySample(x, y, colour, flagged, total, plane.is_sky, unit, (plane.ra0, plane.dec0), tuple(apertures))
