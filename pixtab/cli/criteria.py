"""The row-selection options shared by every command that selects rows.

``@criteria_options`` adds the sky apertures, wavelength, IFU/slice/stack,
detector pixel and exposure options, ``--or``, and the row filters
(``@where_options``: ``--where EXPR`` and ``--good``); the command receives
one ``criteria`` argument (a :class:`pixtab.core.io.selection.Criteria`) instead of
the separate values. ``@where_options`` alone gives ``where``, a tuple of
parsed expressions, to commands with their own selection (reconstruct-det).
Commands that also take ``--zero-based`` pass it on through the criteria.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .options import int_list_callback, range_callback, slice_numbering_opt

F = TypeVar("F", bound=Callable[..., Any])

WHERE_HELP = (
    "Keep rows where EXPR is true: Python syntax over the columns xpos, ypos, lambda, data, dq, stat, "
    "weight, origin, the decoded ifu, slice, xpix, ypix, exp (pixels 1-based unless --zero-based) and "
    "ra, dec (degrees; not for pixel-unit tables). Operators: comparisons (chained too), + - * / // % **, "
    "& | ^ ~ << >>, and/or/not, 'in (5, 6)'; functions abs, sqrt, log10, isfinite, isnan; int (0x hex) "
    "and float literals. dq is the unsigned 32-bit flag mask (dq > 0 catches bit 31). "
    "Quote it for the shell: --where 'dq == 0 and data > 3 * sqrt(stat)'."
)
GOOD_EXPRESSION = "dq == 0"


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_ra(text: str) -> tuple[float, bool]:
    """RA in degrees and whether it was a plain number. ':' or 'h' means hours."""
    value = _number(text)
    if value is not None:
        return value, True
    from astropy import units as u
    from astropy.coordinates import Angle

    hours = ":" in text or "h" in text.lower()
    return float(Angle(text.strip(), unit=u.hourangle if hours else u.deg).deg), False


def parse_dec(text: str) -> tuple[float, bool]:
    """Dec in degrees (decimal or sexagesimal) and whether it was a plain number."""
    value = _number(text)
    if value is not None:
        return value, True
    from astropy import units as u
    from astropy.coordinates import Angle

    return float(Angle(text.strip(), unit=u.deg).deg), False


#: angle units read without astropy (arcsec per unit): the common spellings of a size
_ARCSEC_PER = {"arcsec": 1.0, '"': 1.0, "arcmin": 60.0, "'": 60.0, "deg": 3600.0, "mas": 1e-3}


def parse_size(text: str) -> tuple[float, bool]:
    """Aperture size in arcsec (a bare number, or with an angle unit) and whether it was bare."""
    value = _number(text)
    if value is not None:
        return value, True
    # "0.8arcsec" (the defaults) and the common units without importing astropy.units; others through it
    for unit, factor in _ARCSEC_PER.items():
        head = text.strip()
        if head.endswith(unit) and (number := _number(head[: -len(unit)].strip())) is not None:
            return number * factor, False
    from astropy import units as u

    return float(u.Quantity(text.strip()).to_value(u.arcsec)), False


def aperture_callback(shape: str) -> Any:
    """Callback turning repeated ``RA DEC SIZE`` triples into :class:`Aperture` objects."""

    def cb(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if ctx.resilient_parsing or not value:  # completion and --help stay light (no numpy/astropy)
            return []
        from ..core.io.criteria import Aperture

        out = []
        for ra_t, dec_t, size_t in value or ():
            what = f"{ra_t} {dec_t} {size_t}"
            try:
                ra, ra_plain = parse_ra(ra_t)
            except Exception:
                raise click.BadParameter(f"{what}: cannot read RA {ra_t!r}", ctx=ctx, param=param) from None
            try:
                dec, dec_plain = parse_dec(dec_t)
            except Exception:
                raise click.BadParameter(f"{what}: cannot read Dec {dec_t!r}", ctx=ctx, param=param) from None
            try:
                size, size_plain = parse_size(size_t)
            except Exception:
                raise click.BadParameter(
                    f"{what}: cannot read size {size_t!r} (a number in arcsec, or e.g. 2arcsec, 0.5arcmin)",
                    ctx=ctx,
                    param=param,
                ) from None
            if not (math.isfinite(ra) and math.isfinite(dec)):
                raise click.BadParameter(f"{what}: the centre must be finite", ctx=ctx, param=param)
            if not (size > 0 and math.isfinite(size)):
                raise click.BadParameter(f"{what}: size must be positive and finite", ctx=ctx, param=param)
            out.append(Aperture(shape, ra, dec, size, ra_plain and dec_plain and size_plain))
        return out

    return cb


def _where_callback(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> Any:
    if ctx.resilient_parsing or not value:
        return ()
    if len(value) > 1:
        raise click.BadParameter("give it once; combine conditions with and/or", ctx=ctx, param=param)
    from ..core.format.expr import ExpressionError, parse

    try:
        return (parse(value[0]),)
    except ExpressionError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _filters(where: tuple[Any, ...], good: bool) -> tuple[Any, ...]:
    if not good:
        return tuple(where)
    from ..core.format.expr import parse

    return (parse(GOOD_EXPRESSION), *where)


def where_options(f: F) -> F:
    """``--where EXPR`` and ``--good``; the command gets ``where`` (a tuple of expressions)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kw: Any) -> Any:
        kw["where"] = _filters(kw.pop("where"), kw.pop("good"))
        return f(*args, **kw)

    _add_where(wrapper)
    return wrapper  # type: ignore[return-value]


def _add_where(f: Callable[..., Any]) -> None:
    click.option("--good", is_flag=True, help="Keep only good rows: dq == 0 (as the pipeline's resampler).")(f)
    click.option("--where", multiple=True, metavar="EXPR", callback=_where_callback, help=WHERE_HELP)(f)


#: criteria option values, consumed by the wrapper
_CRITERIA_PARAMS = (
    "circle", "square", "lambdas", "ifus", "slices", "slice_numbering", "stacks", "xpix", "ypix", "exps",
    "use_or", "where", "good", "full_scan", "build_index", "mask", "mask_invert", "region", "rows",
)  # fmt: skip


def _mask_criteria(ctx: click.Context, v: dict[str, Any]) -> dict[str, Any]:
    """--mask/--mask-invert, --region and --rows read into their objects (bad files: exit 1)."""
    from ..core.format.rowset import RowSet
    from ..core.format.skymask import SkyMask, SkyRegions

    if v["mask_invert"] and not v["mask"]:
        raise click.UsageError("--mask-invert needs --mask", ctx=ctx)
    return {
        "sky_mask": SkyMask(v["mask"], v["mask_invert"]) if v["mask"] else None,
        "region": SkyRegions(v["region"]) if v["region"] else None,
        "rows": RowSet.parse(v["rows"]) if v["rows"] else None,
    }


ROWS_HELP = (
    "Only these rows: a half-open range LO:HI of 0-based row indices (either end open), or a FILE: the row "
    "list 'export --columns row' writes (.parquet/.arrow/.csv/.tsv), a .npy of indices or of nrows booleans, "
    "an MPDAF PixTableMask .fits (pixtab mask), or text with one index per line."
)


def mask_options(f: Callable[..., Any]) -> None:
    """``--mask``, ``--mask-invert``, ``--region`` and ``--rows`` (values read by the criteria wrapper)."""
    click.option("--rows", metavar="SPEC", help=ROWS_HELP)(f)
    click.option(
        "--region", metavar="FILE", type=click.Path(dir_okay=False, path_type=str),
        help="Rows inside the sky shapes of a DS9 or CRTF region file (circle, ellipse, box, polygon, annulus; "
        "shapes OR-ed, excluded shapes subtracted; sky coordinates only). Needs pixtab[masks].",
    )(f)
    click.option("--mask-invert", is_flag=True, help="With --mask: rows on the mask's background pixels (= 0) instead.")(f)
    click.option(
        "--mask", metavar="FILE.fits[EXT]",
        help="Rows whose RA/Dec falls on a pixel > 0 of this sky image (celestial WCS; nearest pixel; rows off "
        "the image are not selected). EXT: extension number or name (default: the first 2-D image).",
    )(f)


def criteria_options(f: F) -> F:
    """Every row-selection option; the command gets ``criteria`` (a :class:`Criteria`),
    ``plan`` (the planner's :class:`PlanOptions`: --full-scan, --build-index) and
    ``slice_numbering`` (for its own output)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kw: Any) -> Any:
        from ..core.io.plan import PlanOptions
        from ..core.io.criteria import Criteria, ccd_slices

        v = {k: kw.pop(k) for k in _CRITERIA_PARAMS}
        kw["criteria"] = Criteria(
            apertures=[*v["circle"], *v["square"]],
            lambdas=v["lambdas"],
            ifus=v["ifus"],
            slices=ccd_slices(v["slices"], v["slice_numbering"]) if v["slices"] else None,
            stacks=v["stacks"],
            xpix=v["xpix"],
            ypix=v["ypix"],
            exps=v["exps"],
            method="or" if v["use_or"] else "and",
            zero_based=bool(kw.get("zero_based", False)),
            where=_filters(v["where"], v["good"]),
            slice_numbering=v["slice_numbering"],
            **_mask_criteria(click.get_current_context(), v),
        )
        kw["plan"] = PlanOptions(full_scan=v["full_scan"], build_index=v["build_index"])
        kw["slice_numbering"] = v["slice_numbering"]
        return f(*args, **kw)

    options = [
        click.option(
            "--circle",
            nargs=3,
            multiple=True,
            metavar="RA DEC RADIUS",
            callback=aperture_callback("circle"),
            help="Rows closer than RADIUS to (RA, DEC) (repeatable; apertures are OR-ed). RA/DEC in decimal "
            "degrees or sexagesimal (RA with ':' or 'h' is in hours); RADIUS in arcsec or with a unit "
            "(2arcsec, 0.5arcmin). Pixel tables: all three in pixels.",
        ),
        click.option(
            "--square",
            nargs=3,
            multiple=True,
            metavar="RA DEC HALFSIDE",
            callback=aperture_callback("square"),
            help="Rows within a square of half side HALFSIDE around (RA, DEC) (repeatable, like --circle).",
        ),
        click.option("--lambda", "lambdas", multiple=True, metavar="LO:HI", callback=range_callback(), help="Wavelength range [LO, HI) in Angstrom (repeatable, OR-ed)."),
        click.option("--ifu", "ifus", multiple=True, metavar="LIST", callback=int_list_callback(1, 24), help="IFUs, e.g. 5,6 or 5-7."),
        click.option("--slice", "slices", multiple=True, metavar="LIST", callback=int_list_callback(1, 48), help="Slices 1..48 (CCD numbering unless --slice-numbering sky)."),
        slice_numbering_opt,
        click.option("--stack", "stacks", multiple=True, metavar="LIST", callback=int_list_callback(1, 4), help="Stacks 1..4 (12 slices each: CCD slices 12(n-1)+1..12n)."),
        click.option("--xpix", multiple=True, metavar="LO:HI", callback=range_callback(integer=True), help="Detector x range [LO, HI) (repeatable, OR-ed)."),
        click.option("--ypix", multiple=True, metavar="LO:HI", callback=range_callback(integer=True), help="Detector y range [LO, HI) (repeatable, OR-ed)."),
        click.option("--exp", "exps", multiple=True, metavar="LIST", callback=int_list_callback(0, 9999), help="Exposures of a combined table (a single-exposure table has only exposure 0)."),
    ]
    _add_where(wrapper)
    mask_options(wrapper)
    wrapper = click.option(
        "--full-scan",
        is_flag=True,
        help="Test every row: use neither an index nor the row order to skip rows (the reference path, "
        "for checks and benchmarks).",
    )(wrapper)
    wrapper = click.option(
        "--build-index",
        is_flag=True,
        help="Index the table on the way (a full scan that also reads xpos, ypos, lambda, origin) into the "
        "cache, so that later cuts skip rows (see pixtab index).",
    )(wrapper)
    wrapper = click.option("--or", "use_or", is_flag=True, help="Keep rows meeting any criterion (default: all of them).")(wrapper)
    for opt in reversed(options):
        wrapper = opt(wrapper)
    return wrapper  # type: ignore[return-value]
