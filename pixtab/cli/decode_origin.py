"""``pixtab decode-origin``: where each row came from on the detector."""

from __future__ import annotations

import logging
from typing import Any

import click

from .errors import PixtabCommand
from . import output as out
from .criteria import criteria_options
from .options import batch_opts, output_dir_opts, output_opt, overwrite_opt, zero_based_opt
from .writing import check_outputs, for_each_input, make_output_dir, output_paths, phases

log = logging.getLogger("pixtab")


def _values_cb(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> list[int]:
    out = []
    for text in value:
        try:
            v = int(text, 0)
        except ValueError:
            raise click.BadParameter(f"{text!r} is not an integer (decimal or 0x hex)", ctx=ctx, param=param) from None
        if not 0 <= v < 2**31:
            raise click.BadParameter(f"{text!r} is outside 0..2**31-1 (a positive int32)", ctx=ctx, param=param)
        out.append(v)
    return out


@click.command("decode-origin", cls=PixtabCommand)
@click.argument("inputs", metavar="[INPUT]...", nargs=-1, type=click.Path(path_type=str))
@output_opt(help="Output file (one input); default stdout for csv/tsv ('-' too); fits needs a file.")
@output_dir_opts("", "{stem}_origin.FORMAT")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "tsv", "fits"]), default="csv", show_default=True, help="Output format."
)
@zero_based_opt
@click.option("--sky", is_flag=True, help="Add ra,dec: absolute sky position in degrees (RA in [0, 360)).")
@click.option(
    "--with",
    "with_cols",
    metavar="COLS",
    help="Also copy these columns, e.g. data,lambda (text prints dq as the unsigned 32-bit mask it is).",
)
@criteria_options
@click.option(
    "--value",
    "values",
    multiple=True,
    callback=_values_cb,
    metavar="ORIGIN",
    help="Decode a literal origin value (0x14000841 or decimal; repeatable) instead of a file.",
)
@overwrite_opt
@batch_opts
def command(
    inputs: tuple[str, ...],
    output: str | None,
    output_dir: str | None,
    name_template: str,
    fmt: str,
    zero_based: bool,
    sky: bool,
    with_cols: str | None,
    criteria: Any,
    plan: Any,
    slice_numbering: str,
    values: list[int],
    overwrite: bool,
) -> None:
    """Decode the origin column: IFU, slice, detector x/y and exposure of each row.

    Prints CSV (or TSV) with the header row,ifu,slice,xpix,ypix,exp: row is the
    0-based row index, x uses the XOFFSET keyword of the row's own exposure,
    exp is 0 on single-exposure tables and 1..N on combined ones. Pixels are
    1-based as the pipeline counts them; --zero-based gives MPDAF's numbers.
    --format fits -o OUT writes the same columns as a FITS binary table.

    The selection options (--ifu, --lambda, --circle, --where, --good, ...)
    keep only the rows that meet them, as extract selects them; --rows
    limits the rows looked at. In text output dq (--with dq) is printed as
    the unsigned 32-bit flag mask (bit 31 set: 2147483648 and above).

    Several inputs each get a file in --output-dir (--jobs N: N at once).

    --value decodes literal origin values without a file; as x needs a file's
    XOFFSET, it prints the x within the slice (xslice) instead.

    \b
    Examples:
      pixtab decode-origin PIXTABLE.fits | head
      pixtab decode-origin PIXTABLE.fits --rows 0:1000 --sky --with data,lambda
      pixtab decode-origin PIXTABLE.fits --format fits -o origin.fits
      pixtab decode-origin PIXTABLE.fits --where 'dq > 0' --with dq,data
      pixtab decode-origin *.fits --format fits --output-dir decoded/ -j 2
      pixtab decode-origin --value 0x14064041
    """
    sep = "\t" if fmt == "tsv" else ","
    rows, criteria = _split_rows(criteria)
    if values:
        if inputs or output_dir or sky or with_cols or rows or fmt == "fits" or not criteria.empty:
            raise click.UsageError(
                "--value decodes literal values: give no INPUT, --output-dir, --sky, --with, --rows, --format fits or selection"
            )
        from ..core.ops.decode import decode_literals, format_text, header_line

        cols = decode_literals(values, zero_based, slice_numbering)
        text = [header_line(list(cols), sep), format_text(list(cols.values()), sep)]
        if output and output != "-":
            check_outputs([], overwrite, [output])
        _emit_text(output, overwrite, text)
        return
    if not inputs:
        raise click.UsageError("missing INPUT (or --value ORIGIN)")
    if output_dir or len(inputs) > 1:  # a file per input
        names = output_paths(inputs, output, output_dir, name_template or f"{{stem}}_origin.{fmt}")
        targets: dict[str, str | None] = dict(zip(inputs, names))
        make_output_dir(output_dir)
    else:
        if fmt == "fits" and (not output or output == "-"):
            raise click.UsageError("--format fits needs -o/--output FILE (or --output-dir)")
        targets = {inputs[0]: output if output and output != "-" else None}
    check_outputs([(src, dst) for src, dst in targets.items() if dst], overwrite)
    settings = dict(fmt=fmt, sep=sep, rows=rows, criteria=criteria, plan=plan, zero_based=zero_based,
                    slice_numbering=slice_numbering, sky=sky, with_cols=with_cols, overwrite=overwrite)
    for_each_input(inputs, lambda path: _decode(path, targets[path], **settings))


def _decode(input_path: str, output: str | None, *, fmt: str, sep: str, rows: Any, criteria: Any, plan: Any,
            zero_based: bool, slice_numbering: str, sky: bool, with_cols: str | None, overwrite: bool) -> None:
    """One input to ``output`` (None: text on stdout)."""
    from ..core.fits.atomic import atomic_output
    from ..core.io.table import PixTable
    from ..core.io.scan import Scan
    from ..core.ops.decode import DecodeOptions, check_options, check_with_columns, count_between, iter_text_output, write_fits_table

    with PixTable(input_path) as pt:
        start, stop = _row_bounds(rows, pt.nrows)
        opts = DecodeOptions(
            zero_based=zero_based,
            slice_numbering=slice_numbering,
            sky=sky,
            with_columns=check_with_columns(pt, (with_cols or "").split(",")),
        )
        check_options(pt, opts)
        if sky and pt.wcs == "pixel":
            log.warning("%s: pixel-unit table: ra,dec are the focal-plane xpos,ypos (pixels)", input_path)
        with phases(input_path) as progress:
            selection = None if criteria.empty else Scan(pt, criteria, plan, progress).select()
            if fmt == "fits":
                with atomic_output(output, overwrite) as fd:  # type: ignore[arg-type]
                    write_fits_table(fd, pt, opts, start, stop, progress, selection)
            else:
                _emit_text(output, overwrite, iter_text_output(pt, opts, start, stop, sep, progress, selection))
    if output:
        out.info(f"wrote {output} ({count_between(selection, start, stop):,} rows)")


def _split_rows(criteria: Any) -> tuple[Any, Any]:
    """A --rows range limits the rows looked at (no selection pass); a row file is a criterion."""
    rs = criteria.rows
    if rs is None or not rs.is_range:
        return None, criteria
    import dataclasses

    return rs, dataclasses.replace(criteria, rows=None)


def _row_bounds(rows: Any, nrows: int) -> tuple[int, int]:
    """Row range from a --rows range (open end: the table's end), clipped to the table."""
    if rows is None:
        return 0, nrows
    start = min(rows.lo, nrows)
    stop = min(rows.hi if rows.hi is not None else nrows, nrows)
    return start, max(start, stop)


_emit_text = out.write_text
