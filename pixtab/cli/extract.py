"""``pixtab extract``: select rows by sky aperture, wavelength, IFU, slice, detector pixel or exposure."""

from __future__ import annotations

import math
from typing import Any

import click

from . import PixtabCommand
from . import output as ui
from .options import (
    inputs_arg,
    int_list_callback,
    json_opt,
    layout_opt,
    output_dir_opts,
    output_opt,
    overwrite_opt,
    range_callback,
    round_float32_opt,
    slice_numbering_opt,
    zero_based_opt,
)
from .writing import check_outputs, for_each_input, make_output_dir, output_paths, phases


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


def parse_size(text: str) -> tuple[float, bool]:
    """Aperture size in arcsec (a bare number, or with an angle unit) and whether it was bare."""
    value = _number(text)
    if value is not None:
        return value, True
    from astropy import units as u

    return float(u.Quantity(text.strip()).to_value(u.arcsec)), False


def aperture_callback(shape: str) -> Any:
    """Callback turning repeated ``RA DEC SIZE`` triples into :class:`Aperture` objects."""

    def cb(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        from ..core.io.selection import Aperture

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
            if not size > 0:
                raise click.BadParameter(f"{what}: size must be positive", ctx=ctx, param=param)
            out.append(Aperture(shape, ra, dec, size, ra_plain and dec_plain and size_plain))
        return out

    return cb


@click.command("extract", cls=PixtabCommand)
@inputs_arg
@output_opt(help="Output file (one input).")
@output_dir_opts("{stem}_extract.fits")
@click.option(
    "--circle",
    nargs=3,
    multiple=True,
    metavar="RA DEC RADIUS",
    callback=aperture_callback("circle"),
    help="Rows closer than RADIUS to (RA, DEC) (repeatable; apertures are OR-ed). RA/DEC in decimal "
    "degrees or sexagesimal (RA with ':' or 'h' is in hours); RADIUS in arcsec or with a unit "
    "(2arcsec, 0.5arcmin). Pixel tables: all three in pixels.",
)
@click.option(
    "--square",
    nargs=3,
    multiple=True,
    metavar="RA DEC HALFSIDE",
    callback=aperture_callback("square"),
    help="Rows within a square of half side HALFSIDE around (RA, DEC) (repeatable, like --circle).",
)
@click.option("--lambda", "lambdas", multiple=True, metavar="LO:HI", callback=range_callback(), help="Wavelength range [LO, HI) in Angstrom (repeatable, OR-ed).")
@click.option("--ifu", "ifus", multiple=True, metavar="LIST", callback=int_list_callback(1, 24), help="IFUs, e.g. 5,6 or 5-7.")
@click.option("--slice", "slices", multiple=True, metavar="LIST", callback=int_list_callback(1, 48), help="Slices 1..48 (CCD numbering unless --slice-numbering sky).")
@slice_numbering_opt
@click.option("--stack", "stacks", multiple=True, metavar="LIST", callback=int_list_callback(1, 4), help="Stacks 1..4 (12 slices each: CCD slices 12(n-1)+1..12n).")
@click.option("--xpix", multiple=True, metavar="LO:HI", callback=range_callback(integer=True), help="Detector x range [LO, HI) (repeatable, OR-ed).")
@click.option("--ypix", multiple=True, metavar="LO:HI", callback=range_callback(integer=True), help="Detector y range [LO, HI) (repeatable, OR-ed).")
@click.option("--exp", "exps", multiple=True, metavar="LIST", callback=int_list_callback(0, 9999), help="Exposures of a combined table (a single-exposure table has only exposure 0).")
@click.option("--or", "use_or", is_flag=True, help="Keep rows meeting any criterion (default: all of them).")
@layout_opt()
@zero_based_opt
@click.option("--count", is_flag=True, help="Print the number of selected rows and write nothing.")
@click.option("--allow-empty", is_flag=True, help="Write a 0-row table when nothing is selected (default: error, no file).")
@round_float32_opt
@overwrite_opt
@json_opt
def command(
    inputs: tuple[str, ...],
    output: str | None,
    output_dir: str | None,
    name_template: str,
    circle: list,
    square: list,
    lambdas: list,
    ifus: list[int] | None,
    slices: list[int] | None,
    slice_numbering: str,
    stacks: list[int] | None,
    xpix: list,
    ypix: list,
    exps: list[int] | None,
    use_or: bool,
    layout: str,
    zero_based: bool,
    count: bool,
    allow_empty: bool,
    round_float32: bool,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Copy the rows of pixel tables that meet the criteria into new pixel tables.

    Criteria are AND-ed (--or: OR-ed); repeated apertures or ranges of one
    option are always OR-ed. The output keeps every column (weight too) and
    header keyword, with LIMITS, MERGED and EXPn FIRST/LAST updated as the
    pipeline does; PIXTABLE_FLAT_FIELD is trimmed to the wavelength cut.
    An empty selection writes nothing and exits 1 (unless --allow-empty).

    \b
    Examples:
      pixtab extract in.fits -o star.fits --circle 150.1163 2.2058 2 --lambda 6000:6100
      pixtab extract in.fits -o s.fits --circle 10:00:27.9 -2:12:21 0.5arcmin
      pixtab extract in.fits --count --ifu 5-7 --ypix 1:2000
      pixtab extract *.fits --output-dir cut/ --exp 2 --json
    """
    from ..core.io.selection import Criteria, ccd_slices

    criteria = Criteria(
        apertures=[*circle, *square],
        lambdas=lambdas,
        ifus=ifus,
        slices=ccd_slices(slices, slice_numbering) if slices else None,
        stacks=stacks,
        xpix=xpix,
        ypix=ypix,
        exps=exps,
        method="or" if use_or else "and",
        zero_based=zero_based,
    )
    if criteria.empty:
        raise click.UsageError("give at least one selection criterion (--circle, --lambda, --ifu, ...)")
    outputs = dict(zip(inputs, [None] * len(inputs) if count else output_paths(inputs, output, output_dir, name_template)))
    if not count:
        make_output_dir(output_dir)
        check_outputs([(src, out) for src, out in outputs.items() if out], overwrite)

    def one(path: str) -> None:
        from ..core.fits.atomic import atomic_output
        from ..core.io.table import PixTable
        from ..core.ops.extract import check_columns, check_selection, select_rows, summarize, write_selection

        with PixTable(path) as pt, phases(path) as progress:
            if not count:
                check_columns(pt)
            selection = select_rows(pt, criteria, progress)
            out = outputs[path]
            if out is None:
                result = summarize(pt, selection, None, None)
                if as_json:
                    d = result.as_dict()
                    del d["output"], d["layout"]
                    ui.print_json(d)
                else:
                    ui.echo(f"{path}: {result.selected}" if len(inputs) > 1 else str(result.selected))
                return
            check_selection(pt, selection, allow_empty)
            with atomic_output(out, overwrite) as fd:
                write_selection(pt, selection, criteria, fd, layout, progress, round_float32)
            result = summarize(pt, selection, out, layout)
        ui.info(f"wrote {out} ({result.selected:,} of {result.rows:,} rows, {layout} layout)")
        if as_json:
            ui.print_json(result.as_dict())

    for_each_input(inputs, one)
