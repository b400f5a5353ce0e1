"""Keyword arguments of ``select(...)`` -> the core's :class:`Criteria`, with the CLI's rules.

Same criteria, same ranges and same errors as the row-selecting commands:
apertures ``(ra, dec, size)`` in degrees and arcsec (numbers, or astropy
angles/quantities), half-open ranges ``(lo, hi)`` (``None`` for an open end),
integer lists, ``where`` expressions. Errors are :class:`CriteriaError` (the
request makes no sense whatever the table) naming the argument in ``field``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from ..core.errors import CriteriaError
from ..core.format.expr import parse
from ._engine import Aperture, Criteria, RowSet, SkyMask, SkyRegions, ccd_slices

INT_BOUNDS = {"ifu": (1, 24), "slice": (1, 48), "stack": (1, 4), "exp": (0, 9999)}
GOOD = "dq == 0"


def _number(value: Any, unit: str, field: str) -> tuple[float, bool]:
    """A float in ``unit`` ('deg' or 'arcsec'), and whether it was given as a bare number."""
    if hasattr(value, "unit"):  # astropy Quantity, Angle, Latitude...
        import astropy.units as u

        try:
            return float(value.to_value(u.Unit(unit))), False
        except u.UnitConversionError:
            raise CriteriaError(f"{field}: {value} is not an angle", field=field) from None
    try:
        return float(value), True
    except (TypeError, ValueError):
        raise CriteriaError(f"{field}: {value!r} is not a number", field=field) from None


def _apertures(shape: str, value: Any) -> list[Aperture]:
    if value is None:
        return []
    triples = [value] if len(value) == 3 and not isinstance(value[0], (tuple, list)) else list(value)
    out = []
    for t in triples:
        if len(t) != 3:
            raise CriteriaError(f"{shape} must be (ra, dec, size) or a list of them, not {t!r}", field=shape)
        ra, p1 = _number(t[0], "deg", shape)
        dec, p2 = _number(t[1], "deg", shape)
        size, p3 = _number(t[2], "arcsec", shape)
        if not (math.isfinite(ra) and math.isfinite(dec)):
            raise CriteriaError(f"{shape} ({ra:g}, {dec:g}, {size:g}): the centre must be finite", field=shape)
        out.append(Aperture(shape, ra, dec, size, p1 and p2 and p3))
    return out


def _ranges(field: str, value: Any) -> list[tuple[float, float]]:
    if value is None:
        return []
    pairs = [value] if len(value) == 2 and not isinstance(value[0], (tuple, list)) else list(value)
    out = []
    for p in pairs:
        if len(p) != 2:
            raise CriteriaError(f"{field} must be (lo, hi) or a list of them, not {p!r}", field=field)
        lo = -math.inf if p[0] is None else float(p[0])
        hi = math.inf if p[1] is None else float(p[1])
        out.append((lo, hi))
    return out


def _ints(field: str, value: Any) -> list[int] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, int) or hasattr(value, "__index__") else list(value)
    lo, hi = INT_BOUNDS[field]
    out = []
    for v in values:
        if isinstance(v, bool) or not hasattr(v, "__index__"):
            raise CriteriaError(f"{field}: {v!r} is not an integer", field=field)
        if not lo <= int(v) <= hi:
            raise CriteriaError(f"{field} {int(v)} is outside {lo}..{hi}", field=field)
        out.append(int(v))
    if not out:
        raise CriteriaError(f"{field}: an empty list selects nothing; leave it out to select any", field=field)
    return sorted(set(out))


def _rows(rows: Any) -> Any:
    """``rows=``: a spec as the commands' ``--rows`` ("LO:HI" or a file), ``range``, or a numpy
    array of row indices or of one boolean per row."""
    if rows is None:
        return None
    if isinstance(rows, str):
        return RowSet.parse(rows)
    if isinstance(rows, range) and rows.step == 1:
        if rows.stop <= rows.start:
            raise CriteriaError(f"rows {rows} is empty", field="rows")
        return RowSet(f"{rows.start}:{rows.stop}", rows.start, rows.stop)
    import numpy as np

    arr = np.asarray(rows)
    if arr.dtype == bool:
        return RowSet("mask", flags=arr)
    if arr.dtype.kind not in "iu" or (arr.size and arr.min() < 0):
        raise CriteriaError("rows must be row indices (>= 0), booleans, a range or a LO:HI spec", field="rows")
    return RowSet("indices", indices=np.unique(arr.astype(np.int64)))


def _where(where: Any, good: bool) -> tuple[Any, ...]:
    texts = [] if where is None else [where] if isinstance(where, str) else list(where)
    return tuple(parse(t) for t in ([GOOD] if good else []) + texts)


def build(
    circle: Any = None,
    square: Any = None,
    lam: Any = None,
    ifu: Any = None,
    slice: Any = None,  # noqa: A002 - the criterion's name everywhere
    stack: Any = None,
    xpix: Any = None,
    ypix: Any = None,
    exp: Any = None,
    where: Any = None,
    good: bool = False,
    rows: Any = None,
    mask: Any = None,
    mask_invert: bool = False,
    region: Any = None,
    any: bool = False,  # noqa: A002 - "any of the criteria"
    zero_based: bool = False,
    slice_numbering: str = "ccd",
) -> Criteria:
    """The criteria of ``select(...)`` (see :meth:`pixtab.api.Table.select`)."""
    slices = _ints("slice", slice)
    if mask_invert and mask is None:
        raise CriteriaError("mask_invert needs a mask", field="mask_invert")
    return Criteria(
        apertures=_apertures("circle", circle) + _apertures("square", square),
        lambdas=_ranges("lambda", lam),
        ifus=_ints("ifu", ifu),
        slices=ccd_slices(slices, slice_numbering) if slices else None,
        stacks=_ints("stack", stack),
        xpix=_ranges("xpix", xpix),
        ypix=_ranges("ypix", ypix),
        exps=_ints("exp", exp),
        method="or" if any else "and",
        zero_based=zero_based,
        where=_where(where, good),
        slice_numbering=slice_numbering,
        sky_mask=SkyMask(str(mask), mask_invert) if mask is not None else None,
        region=SkyRegions(str(region)) if region is not None else None,
        rows=_rows(rows),
    )


def _meet(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Ranges of values in a union of ``a`` and in a union of ``b`` (both half-open)."""
    out = [(max(x[0], y[0]), min(x[1], y[1])) for x in a for y in b]
    return [r for r in out if r[0] < r[1]]


def _common(a: Iterable[int] | None, b: Iterable[int] | None) -> list[int] | None:
    if a is None or b is None:
        return list(a) if a is not None else (list(b) if b is not None else None)
    return sorted(set(a) & set(b))


def narrowed(a: Criteria, b: Criteria) -> Criteria | None:
    """Criteria meaning "``a`` and ``b``", or None when they cannot be said as one
    (OR-ed criteria, apertures in both, different pixel bases)."""
    if a.empty:
        return b
    if b.empty:
        return a
    if a.method == "or" or b.method == "or" or (a.apertures and b.apertures):
        return None
    if any(getattr(a, k) is not None and getattr(b, k) is not None for k in ("sky_mask", "region", "rows")):
        return None
    if (a.xpix or a.ypix or a.where) and (b.xpix or b.ypix or b.where) and a.zero_based != b.zero_based:
        return None
    merged = replace(
        a,
        apertures=a.apertures + b.apertures,
        lambdas=_meet(a.lambdas, b.lambdas) if a.lambdas and b.lambdas else a.lambdas or b.lambdas,
        ifus=_common(a.ifus, b.ifus),
        slices=_common(a.slices, b.slices),
        stacks=_common(a.stacks, b.stacks),
        xpix=_meet(a.xpix, b.xpix) if a.xpix and b.xpix else a.xpix or b.xpix,
        ypix=_meet(a.ypix, b.ypix) if a.ypix and b.ypix else a.ypix or b.ypix,
        exps=_common(a.exps, b.exps),
        zero_based=a.zero_based if (a.xpix or a.ypix or a.where) else b.zero_based,
        where=a.where + b.where,
        sky_mask=a.sky_mask if a.sky_mask is not None else b.sky_mask,
        region=a.region if a.region is not None else b.region,
        rows=a.rows if a.rows is not None else b.rows,
    )
    empties = [
        (a.lambdas and b.lambdas and not merged.lambdas),
        (a.xpix and b.xpix and not merged.xpix),
        (a.ypix and b.ypix and not merged.ypix),
        *[(x is not None and y is not None and not m) for x, y, m in (
            (a.ifus, b.ifus, merged.ifus), (a.slices, b.slices, merged.slices),
            (a.stacks, b.stacks, merged.stacks), (a.exps, b.exps, merged.exps))],
    ]
    return None if any(empties) else merged
