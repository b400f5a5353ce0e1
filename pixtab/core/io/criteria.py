"""What to select: sky apertures and the :class:`Criteria` a command or the API builds.

The evaluation (binding to one table, row tests per chunk) is
:mod:`pixtab.core.io.selection`'s :class:`~pixtab.core.io.selection.Selector`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import CriteriaError
from ..format.expr import Expression
from ..format.slicer import SKY_TO_CCD


Range = tuple[float, float]


@dataclass(frozen=True)
class Aperture:
    """A sky aperture: centre in degrees (pixels for pixel tables), size in arcsec (pixels).

    ``plain`` is True when the centre and the size were typed as bare numbers,
    the only form that makes sense for pixel tables.
    """

    shape: str  # 'circle' (size = radius) or 'square' (size = half side)
    ra: float
    dec: float
    size: float
    plain: bool = True

    def label(self) -> str:
        return f"{self.shape} aperture ({self.ra:g}, {self.dec:g}, {self.size:g})"


@dataclass
class Criteria:
    """What to select. Empty lists/None mean "criterion not given".

    ``slices`` are CCD slice numbers (use :func:`ccd_slices` for SKY numbers),
    ``stacks`` MPDAF stacks 1..4 (all 12 slices each), ranges half-open.
    """

    apertures: list[Aperture] = field(default_factory=list)
    lambdas: list[Range] = field(default_factory=list)
    ifus: list[int] | None = None
    slices: list[int] | None = None
    stacks: list[int] | None = None
    xpix: list[Range] = field(default_factory=list)
    ypix: list[Range] = field(default_factory=list)
    exps: list[int] | None = None
    method: str = "and"
    zero_based: bool = False
    #: row-filter expressions, each one criterion; ``slice_numbering`` is how they read ``slice``
    where: tuple[Expression, ...] = ()
    slice_numbering: str = "ccd"
    #: a sky mask image (:class:`~pixtab.core.format.skymask.SkyMask`, inverted or not),
    #: region shapes (:class:`~pixtab.core.format.skymask.SkyRegions`) and a row set
    #: (:class:`~pixtab.core.format.rowset.RowSet`)
    sky_mask: Any = None
    region: Any = None
    rows: Any = None

    def __post_init__(self) -> None:
        if self.method not in ("and", "or"):
            raise CriteriaError(f"method must be 'and' or 'or', not {self.method!r}", field="method")
        for name, ranges in (("lambda", self.lambdas), ("xpix", self.xpix), ("ypix", self.ypix)):
            for lo, hi in ranges:
                if not lo < hi:
                    raise CriteriaError(f"{name} range {lo}:{hi} is empty or inverted (need LO < HI)", field=name)
        for ap in self.apertures:
            if not ap.size > 0 or not math.isfinite(ap.size):
                raise CriteriaError(f"{ap.label()}: size must be a positive number, not {ap.size}", field=ap.shape)

    def _others(self) -> bool:
        """Is any criterion other than a wavelength range given?"""
        return bool(self.apertures or self.ifus or self.slices or self.stacks or self.xpix or self.ypix or self.where) or (
            self.exps is not None or self.sky_mask is not None or self.region is not None or self.rows is not None
        )

    @property
    def empty(self) -> bool:
        """True when no criterion is given."""
        return not self.lambdas and not self._others()

    def lambda_span(self) -> Range | None:
        """[min LO, max HI] of the wavelength cut, when it bounds every selected row."""
        if not self.lambdas or (self.method == "or" and self._others()):
            return None  # OR-ed with another criterion, rows may have any wavelength
        return min(lo for lo, _ in self.lambdas), max(hi for _, hi in self.lambdas)


def ccd_slices(values: Sequence[int], numbering: str = "ccd") -> list[int]:
    """CCD slice numbers of ``values`` given in ``numbering`` ('ccd' or 'sky')."""
    if numbering == "ccd":
        return sorted(set(values))
    if numbering == "sky":
        return sorted({SKY_TO_CCD[v] for v in values})
    raise CriteriaError(f"slice numbering must be 'ccd' or 'sky', not {numbering!r}", field="slice_numbering")
