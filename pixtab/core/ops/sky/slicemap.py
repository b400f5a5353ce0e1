"""Slice levels: per IFU, slice and wavelength band, the median of the background rows over the
field's median in that band (the quantity the DRS self-calibration equalises).

A level of 1.02 means the slice is 2 % brighter than the field; the DRS's
AUTOCAL_FACTORS ``corr`` would be about 1 / level (it multiplies data by it,
against the IFU's level rather than the field's). Medians are streamed with
:mod:`.binstats`; bands are the DRS's 20 (default) or N equal ones over the
table's wavelength range. Flagged rows (dq != 0) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...format.autocal import DRS_EDGES, NIFUS, NSLICES, AutocalFactors
from .binstats import keyed_stats
from ...errors import CriteriaError, EmptySelectionError
from ...format.origin import get_ifu, get_slice
from ...io.plan import PlanOptions
from ...io.scan import Scan
from ...io.criteria import Criteria
from ...io.table import PixTable
from ...progress import SILENT, Progress

PER_BAND = NIFUS * NSLICES


@dataclass
class SliceLevels:
    """Cubes [band, ifu - 1, slice - 1] (CCD slices) and the band edges (Angstrom)."""

    edges: np.ndarray
    level: np.ndarray
    median: np.ndarray
    spread: np.ndarray
    npts: np.ndarray
    field: np.ndarray  # [band]: the field's median
    fallbacks: int

    def factors(self) -> AutocalFactors:
        """As an AUTOCAL_FACTORS table (corr = 1 / level), with level, median and spread columns."""
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = np.where(self.npts > 0, 1.0 / self.level, np.nan)
        return AutocalFactors(self.edges, corr, self.npts, None, {"level": self.level, "median": self.median, "spread": self.spread})


def band_edges(pt: PixTable, nbands: int | None) -> np.ndarray:
    """The DRS's band edges (None), or ``nbands`` equal bands over the table's LIMITS."""
    if nbands is None:
        return np.array(DRS_EDGES)
    if nbands < 1:
        raise CriteriaError(f"need at least 1 wavelength band, not {nbands}", field="lambda_bins")
    lo, hi = pt.keywords.limits.get("lambda_low"), pt.keywords.limits.get("lambda_high")
    if lo is None or hi is None or not hi > lo:
        lo, hi = DRS_EDGES[1] - 400.0, DRS_EDGES[-2] + 100.0  # no LIMITS: MUSE's nominal range
    edges = np.linspace(float(lo), float(hi), nbands + 1)
    edges[-1] = np.nextafter(edges[-1], np.inf)  # the last row's wavelength is in the last band
    return edges


def slice_levels(pt: PixTable, criteria: Criteria, edges: np.ndarray, progress: Progress = SILENT,
                 plan: PlanOptions | None = None) -> SliceLevels:
    """Levels of the rows ``criteria`` select (give it the background: the sources' complement)."""
    nb = edges.size - 1

    def reduce(batch):  # type: ignore[no-untyped-def]
        q = np.searchsorted(edges, batch["lambda"].astype(np.float64), side="right") - 1
        ifu, slc = get_ifu(batch["origin"]).astype(np.int64), get_slice(batch["origin"]).astype(np.int64)
        ok = (q >= 0) & (q < nb) & (ifu >= 1) & (ifu <= NIFUS) & (slc >= 1) & (slc <= NSLICES)
        q = q[ok]
        key = q * PER_BAND + (ifu[ok] - 1) * NSLICES + slc[ok] - 1
        values = batch["data"][ok].astype(np.float64)
        return np.concatenate([key, nb * PER_BAND + q]), np.concatenate([values, values])

    scan = Scan(pt, criteria, plan, progress)

    def passes():  # type: ignore[no-untyped-def]
        return scan.stream(["lambda", "origin", "data"], reduce, phase="slices")

    st = keyed_stats(passes)
    size = nb * PER_BAND + nb

    def full(a: np.ndarray, fill: float) -> np.ndarray:
        out = np.full(size, fill, dtype=np.float64 if fill != 0 else np.int64)
        out[st.keys] = a
        return out

    n, med, spr = full(st.n, 0), full(st.median, np.nan), full(st.spread, np.nan)
    if n[: nb * PER_BAND].sum() == 0:
        raise EmptySelectionError(f"{pt.path}: no background row in the wavelength bands")
    field = med[nb * PER_BAND :]
    shape = (nb, NIFUS, NSLICES)
    median = med[: nb * PER_BAND].reshape(shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        level = median / field[:, None, None]
    return SliceLevels(edges, level, median, spr[: nb * PER_BAND].reshape(shape), n[: nb * PER_BAND].reshape(shape),
                       field, st.fallbacks)


def _band_median(cube: np.ndarray) -> np.ndarray:
    """Median over the bands (axis 0) of the finite values; NaN where there is none."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices (IFUs not in the table)
        return np.nanmedian(cube, axis=0)


def summary(lv: SliceLevels, worst: int = 5) -> list[str]:
    """A few lines: slices measured, the levels' robust spread, the most deviant slices."""
    per_slice = _band_median(np.where(lv.npts > 0, lv.level, np.nan))  # [ifu, slice] over the bands
    ok = np.isfinite(per_slice)
    if not ok.any():
        return ["no slice measured"]
    vals = per_slice[ok]
    mad = 1.4826 * float(np.median(np.abs(vals - np.median(vals))))
    lines = [f"slices measured: {int(ok.sum())} in {lv.edges.size - 1} band(s); level (median over bands): "
             f"median {np.median(vals):.4f}, robust spread {mad:.4f}"]
    order = np.argsort(-np.abs(np.where(ok, per_slice - 1.0, 0.0)), axis=None)[:worst]
    for k in order:
        i, s = divmod(int(k), 48)
        if ok[i, s]:
            lines.append(f"  IFU {i + 1:2d} slice {s + 1:2d}: level {per_slice[i, s]:.4f}")
    return lines


def factors_summary(f: AutocalFactors) -> str:
    """One line about an AUTOCAL_FACTORS table."""
    used = f.npts > 0 if f.npts.any() else np.isfinite(f.corr)
    vals = f.corr[used & np.isfinite(f.corr)]
    replaced = int(np.isfinite(f.corr_orig).sum()) if f.corr_orig is not None else 0
    if vals.size == 0:
        return f"{f.nbins} band(s), no factor computed from points"
    mad = 1.4826 * float(np.median(np.abs(vals - np.median(vals))))
    slices = int(used.any(axis=0).sum())
    return (f"{f.nbins} band(s) {f.edges[0]:.0f}-{f.edges[-1]:.0f} Angstrom, {slices} slice(s) with points; corr median "
            f"{np.median(vals):.4f}, robust spread {mad:.4f}, range {vals.min():.4f}..{vals.max():.4f}; {replaced} replaced by the DRS")
