"""``pixtab export``: selected rows to Parquet, Arrow IPC or CSV/TSV, for dataframe tools."""

from __future__ import annotations

from typing import Any

import click

from .errors import PixtabCommand
from . import output as ui
from .criteria import criteria_options
from .options import input_arg, json_opt, output_opt, overwrite_opt, zero_based_opt
from .writing import check_outputs, phases

_FORMATS = ["parquet", "arrow", "csv", "tsv"]


@click.command("export", cls=PixtabCommand)
@input_arg
@output_opt(required=True, help="Output file: .parquet, .arrow or .feather (Arrow IPC), .csv or .tsv.")
@click.option("--format", "fmt", type=click.Choice(_FORMATS), help="Output format (default: from the output's ending).")
@click.option(
    "--columns",
    metavar="LIST",
    help="Columns to write, e.g. lambda,data,dq,ifu (table columns, decoded ifu,slice,xpix,ypix,exp, ra,dec, row). "
    "Default: every table column.",
)
@click.option("--decode", is_flag=True, help="Add ifu, slice, xpix, ypix, exp decoded from origin (pixels 1-based).")
@click.option("--sky", is_flag=True, help="Add ra, dec: absolute sky position in degrees (float64).")
@criteria_options
@zero_based_opt
@click.option("--allow-empty", is_flag=True, help="Write a file with no row when nothing is selected (default: error).")
@overwrite_opt
@json_opt
def command(
    input: str,
    output: str,
    fmt: str | None,
    columns: str | None,
    decode: bool,
    sky: bool,
    criteria: Any,
    plan: Any,
    slice_numbering: str,
    zero_based: bool,
    allow_empty: bool,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Write the rows of a pixel table (those meeting the criteria, if any) as a columnar file.

    Parquet (zstd, row groups of 2 Mi rows) and Arrow IPC files open in
    pandas, polars, DuckDB and anything Arrow-based, with each column's unit
    in its field metadata. dq is written as uint32, the unsigned flag mask it
    is (in CSV too), so dq > 0 catches bit 31. Memory stays bounded whatever
    the table size. Parquet and Arrow need pyarrow (pip install 'pixtab[parquet]').

    An export of every table column also keeps the layout, the whole primary
    header and the extra extensions (PIXTABLE_FLAT_FIELD) in its schema
    metadata: 'pixtab convert OUT.parquet -o back.fits' rebuilds the pixel
    table bit for bit (with criteria: the table extract would write). CSV/TSV
    are for small cuts, printed as decode-origin prints them.

    \b
    Examples:
      pixtab export PIXTABLE_REDUCED.fits -o rows.parquet --decode
      pixtab export in.fits -o good.parquet --good --lambda 6000:7000 --sky
      pixtab export in.fits -o star.csv --circle 150.1163 2.2058 2 --columns lambda,data,stat,dq
      duckdb -c "SELECT ifu, count(*) FROM 'rows.parquet' GROUP BY ifu"
    """
    from ..core.fits.atomic import atomic_output
    from ..core.io.table import PixTable
    from ..core.ops.export import ExportRequest, column_names, format_of, prepare_export

    if output == "-":
        raise click.UsageError("export writes a file; for text on stdout use decode-origin (--with COLUMNS, same criteria)")
    fmt = fmt or format_of(output)
    if fmt is None:
        raise click.UsageError(
            f"cannot tell the format from {output!r}: use a .parquet, .arrow, .feather, .csv or .tsv name, or --format"
        )
    req = ExportRequest(
        columns=column_names(columns.split(",")) if columns else None,
        decode=decode,
        sky=sky,
        fmt=fmt,
        zero_based=zero_based,
        slice_numbering=slice_numbering,
    )
    if columns is not None and not req.columns:
        raise click.BadParameter("empty column list", param_hint="'--columns'")
    check_outputs([(input, output)], overwrite)
    with PixTable(input) as pt, phases(input) as progress:
        job = prepare_export(pt, criteria, req, allow_empty, progress, plan)
        with atomic_output(output, overwrite) as fd:
            result = job.write(fd, output)
    ui.info(f"wrote {output} ({result.selected:,} of {result.rows:,} rows, {len(result.columns)} columns, {fmt})")
    if as_json:
        ui.print_json(result.as_dict())
