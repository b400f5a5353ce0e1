"""The spectrum of the selected rows, binned in wavelength, in one streaming pass.

Per bin [lo, hi): the sum of data and its variance (sum of stat), the mean of
data and its variance (sum of stat / n^2), the number of rows used and the
number of selected rows left out for dq != 0. Bins are ``width`` Angstrom wide,
starting at the lower end of the wavelength cut when there is one, else at a
multiple of the width; only the span of bins that hold rows is reported.

A wavelength cut is covered whole, empty bins included, up to MAX_BINS bins: a
wider cut (``--lambda 0:1e9 --bin 1`` would be a billion lines of zeros) and
bins too fine to number the wavelengths are refused with one line.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from .canvas import Block, BinCanvas
from ...errors import CriteriaError
from ...io.plan import PlanOptions
from ...io.scan import Scan
from ...io.criteria import Criteria
from ...io.table import PixTable
from ...progress import SILENT, Progress
from ..explain import empty_selection

#: most bins a spectrum covers (a million: 0.005 Angstrom over the whole MUSE range)
MAX_BINS = 1_000_000
#: bin numbers stay below this (float64 counts every integer up to 2**53 exactly)
_MAX_BIN_NUMBER = 2.0**52

FIELDS = ("lambda_lo", "lambda_hi", "lambda", "sum", "sum_var", "mean", "mean_var", "rows", "flagged")


@dataclass
class Spectrum:
    lambda_lo: np.ndarray
    lambda_hi: np.ndarray
    sum: np.ndarray
    sum_var: np.ndarray
    rows: np.ndarray
    flagged: np.ndarray
    data_unit: str | None
    stat_unit: str | None
    width: float

    @property
    def wavelength(self) -> np.ndarray:
        return 0.5 * (self.lambda_lo + self.lambda_hi)

    @property
    def mean(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.rows > 0, self.sum / self.rows, np.nan)

    @property
    def mean_var(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.rows > 0, self.sum_var / self.rows.astype(float) ** 2, np.nan)

    def columns(self) -> dict[str, np.ndarray]:
        return {
            "lambda_lo": self.lambda_lo, "lambda_hi": self.lambda_hi, "lambda": self.wavelength,
            "sum": self.sum, "sum_var": self.sum_var, "mean": self.mean, "mean_var": self.mean_var,
            "rows": self.rows, "flagged": self.flagged,
        }

    def units(self) -> dict[str, str]:
        d, s = self.data_unit or "", self.stat_unit or ""
        return {"lambda_lo": "Angstrom", "lambda_hi": "Angstrom", "lambda": "Angstrom", "sum": d, "sum_var": s,
                "mean": d, "mean_var": s, "rows": "", "flagged": ""}


class SpectrumSums:
    """The spectrum's running sums per wavelength bin, of the rows used and of the flagged
    rows left out (a :class:`~pixtab.core.io.scan.forked.Accumulator`)."""

    def __init__(self) -> None:
        self.used, self.flagged = BinCanvas(1), BinCanvas(1)

    def add(self, part: tuple[Block | None, Block | None]) -> None:
        self.used.add(part[0])
        self.flagged.add(part[1])

    def merge(self, other: "SpectrumSums") -> None:
        self.used.merge(other.used)
        self.flagged.merge(other.flagged)


def make_spectrum(
    pt: PixTable,
    criteria: Criteria,
    width: float = 1.25,
    keep_flagged: bool = False,
    progress: Progress = SILENT,
    plan: PlanOptions | None = None,
) -> Spectrum:
    if not (width > 0 and math.isfinite(width)):
        raise CriteriaError(f"the bin width must be a positive number of Angstrom, not {width}", field="bin")
    span = criteria.lambda_span()
    anchor = span[0] if span is not None and math.isfinite(span[0]) else 0.0
    if span is not None and all(map(math.isfinite, span)):
        covered = (span[1] - span[0]) / width
        if not covered <= MAX_BINS:
            raise CriteriaError(
                f"--lambda {span[0]:g}:{span[1]:g} with bins of {width:g} Angstrom makes {covered:.3g} bins "
                f"(at most {MAX_BINS:,}): use a larger --bin or a narrower --lambda", field="bin")

    def bins(lam: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            k = np.floor((lam.astype(np.float64) - anchor) / width)
        if k.size and not np.all(np.abs(k) < _MAX_BIN_NUMBER):
            raise CriteriaError(f"bins of {width:g} Angstrom are too fine to number the wavelengths of the rows "
                                f"from {anchor:g}: use a larger --bin", field="bin")
        return k.astype(np.int64)

    def reduce(batch) -> tuple[Block | None, Block | None]:  # type: ignore[no-untyped-def]
        used = Block.of((bins(batch["lambda"]),), {"n": None, "sum": batch["data"].astype(np.float64),
                                                    "var": batch["stat"].astype(np.float64)}) if len(batch) else None
        flagged = Block.of((bins(batch.flagged_lambda),), {"f": None}) if batch.flagged_lambda is not None else None
        return used, flagged

    total = Scan(pt, criteria, plan, progress).fold(["lambda", "data", "stat"], reduce, SpectrumSums, keep_flagged,
                                                    flagged_lambda=True, phase="spectrum")
    canvas, flags = total.used, total.flagged
    if canvas.origin is None:
        nflag = int(flags.sums["f"].sum()) if flags.origin is not None else 0
        raise empty_selection(pt, criteria, nflag)
    (k0,), sums = canvas.trimmed("n")
    if span is not None and all(map(math.isfinite, span)):
        # Cover the whole cut, empty bins included.
        nb = max(1, math.ceil((span[1] - span[0]) / width - 1e-9))
        full = {key: np.zeros(nb, dtype=v.dtype) for key, v in sums.items()}
        lo, hi = max(k0, 0), min(k0 + sums["n"].size, nb)
        for key in sums:
            full[key][lo:hi] = sums[key][lo - k0 : hi - k0]
        k0, sums = 0, full
    n = sums["n"].astype(np.int64)
    k = k0 + np.arange(n.size)
    f = np.zeros(n.size, dtype=np.int64)
    if flags.origin is not None:
        fk = flags.origin[0] + np.arange(flags.shape[0])
        inside = (fk >= k0) & (fk < k0 + n.size)
        f[fk[inside] - k0] = flags.sums["f"][inside]
    hi_edge = anchor + width * (k + 1)
    if span is not None and math.isfinite(span[1]):
        hi_edge = np.minimum(hi_edge, span[1])
    return Spectrum(anchor + width * k, hi_edge, sums["sum"], sums["var"], n, f,
                    pt.columns["data"].unit, pt.columns["stat"].unit, width)


def to_fits(spec: Spectrum, header_cards: dict[str, object]) -> "object":
    from astropy.io import fits

    units = spec.units()
    cols = []
    for name, arr in spec.columns().items():
        fmt = "K" if arr.dtype.kind in "iu" else "D"
        cols.append(fits.Column(name=name, format=fmt, unit=units[name] or None, array=arr))
    hdu = fits.BinTableHDU.from_columns(cols, name="SPECTRUM")
    for k, v in header_cards.items():
        hdu.header[k] = v
    return fits.HDUList([fits.PrimaryHDU(), hdu])


def write_fits(spec: Spectrum, fd: int, header_cards: dict[str, object]) -> None:
    with os.fdopen(os.dup(fd), "wb") as f:
        to_fits(spec, header_cards).writeto(f)  # type: ignore[attr-defined]
