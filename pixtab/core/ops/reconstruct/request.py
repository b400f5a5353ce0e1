"""What to reconstruct (:class:`Request`), its checks, and what comes out (:class:`DetectorImage`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...errors import CriteriaError, InputError
from ...format import origin as org
from ...format.exposures import ExposureMap
from ...format.expr import Expression
from ...io.table import PixTable

#: columns that can be imaged
IMAGE_COLUMNS = ("data", "lambda", "stat", "dq", "weight")


@dataclass(frozen=True)
class Request:
    """What to reconstruct. ``xpix``/``ypix`` are half-open (lo, hi) in the chosen base;
    either side may be infinite (then the bounding box of the rows decides).

    Checks that need no table run here (:class:`CriteriaError`, a usage error);
    :func:`check_against` checks what needs the table.
    """

    column: str = "data"
    ifus: tuple[int, ...] = ()  # the IFUs to rebuild, one image each (empty: the table's one IFU)
    exp: int | None = None
    xpix: tuple[float, float] | None = None
    ypix: tuple[float, float] | None = None
    full_ccd: bool = False
    all_ifus: bool = False
    fill: str = "nan"  # 'nan' or '0'
    zero_based: bool = False
    #: row-filter expressions, AND-ed with the rest
    where: tuple[Expression, ...] = ()

    def __post_init__(self) -> None:
        if self.column not in IMAGE_COLUMNS:
            raise CriteriaError(f"column must be one of {', '.join(IMAGE_COLUMNS)}, not {self.column!r}", field="column")
        if self.fill not in ("nan", "0"):
            raise CriteriaError(f"fill must be nan or 0, not {self.fill!r}", field="fill")
        object.__setattr__(self, "ifus", tuple(sorted(set(int(i) for i in self.ifus))))
        if self.all_ifus and self.ifus:
            raise CriteriaError(f"{ifu_words(self.ifus)} and all IFUs exclude each other", field="ifu")
        if any(not 1 <= i <= org.N_IFUS for i in self.ifus):
            raise CriteriaError(f"IFUs are numbered 1..{org.N_IFUS}, not {', '.join(map(str, self.ifus))}", field="ifu")
        if self.full_ccd and (self.xpix or self.ypix):
            raise CriteriaError("a window and the full CCD exclude each other", field="window")
        for name, rng, size in (("xpix", self.xpix, org.CCD_NX), ("ypix", self.ypix, org.CCD_NY)):
            if rng is None:
                continue
            lo, hi = rng
            if (math.isfinite(lo) and lo < self.base) or (math.isfinite(hi) and hi > self.base + size):
                raise CriteriaError(
                    f"{name} range {_fmt_range(rng)} reaches outside the CCD "
                    f"({self.base}:{self.base + size} in this base)",
                    field=name,
                )

    @property
    def base(self) -> int:
        """Detector pixel number of the first CCD column/row."""
        return 0 if self.zero_based else 1

    def window0(self) -> tuple[float, float, float, float]:
        """The window as 0-based half-open bounds (x0, x1, y0, y1); infinite when open."""
        xr = self.xpix or (-math.inf, math.inf)
        yr = self.ypix or (-math.inf, math.inf)
        b = self.base
        return xr[0] - b, xr[1] - b, yr[0] - b, yr[1] - b

    def describe(self) -> str:
        """' of IFU 5, exposure 2' (for messages)."""
        parts = []
        if self.ifus:
            parts.append(ifu_words(self.ifus))
        if self.exp is not None:
            parts.append(f"exposure {self.exp}")
        if self.xpix or self.ypix:
            parts.append("the window")
        if self.where:
            parts.append("the row filter")
        return " of " + ", ".join(parts) if parts else ""


def check_against(pt: PixTable, req: Request) -> None:
    """What needs the table: the column and the exposure exist (:class:`InputError`, exit 1)."""
    if req.column not in pt.columns:
        raise InputError(pt.path, f"no '{req.column}' column to image", field="column")
    if req.exp is not None:
        problem = ExposureMap(pt.keywords.exposures, pt.nrows).check([req.exp])
        if problem:
            raise InputError(pt.path, problem, field="exp")


def ifu_words(ifus: tuple[int, ...]) -> str:
    """'IFU 5' or 'IFUs 5, 6'."""
    return ("IFU " if len(ifus) == 1 else "IFUs ") + ", ".join(map(str, ifus))


def _fmt_range(rng: tuple[float, float]) -> str:
    return ":".join("" if not math.isfinite(v) else str(int(v)) for v in rng)


@dataclass(frozen=True)
class DetectorImage:
    """What one reconstructed image holds. ``xstart``/``ystart``: the detector
    pixel of ``image[0, 0]`` in the request's base; ``shape`` is (ny, nx);
    ``npix`` the pixels holding a value other than the fill (0 until counted)."""

    ifu: int
    exposures: list[int]
    xstart: int
    ystart: int
    shape: tuple[int, int]
    nrows: int = 0  # rows written
    npix: int = 0
