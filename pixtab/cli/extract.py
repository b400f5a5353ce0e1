"""``pixtab extract``: select rows by sky aperture, wavelength, IFU, slice, detector pixel or exposure."""

from __future__ import annotations

from typing import Any

import click

from .errors import PixtabCommand
from . import output as ui
from .criteria import criteria_options
from . import catalog as catalog_cli
from .catalog import catalog_opts
from .options import (
    batch_opts,
    inputs_arg,
    json_opt,
    layout_opt,
    output_dir_opts,
    output_opt,
    overwrite_opt,
    round_float32_opt,
    zero_based_opt,
)
from .writing import check_outputs, for_each_input, make_output_dir, output_paths, phases

NAME_TEMPLATE = "{stem}_extract.fits"


@click.command("extract", cls=PixtabCommand)
@inputs_arg
@output_opt(help="Output file (one input); '-' writes the FITS file to stdout (not to a terminal).")
@output_dir_opts(NAME_TEMPLATE)
@criteria_options
@layout_opt()
@zero_based_opt
@click.option("--count", is_flag=True, help="Print the number of selected rows and write nothing.")
@click.option("--allow-empty", is_flag=True, help="Write a 0-row table when nothing is selected (default: error, no file).")
@round_float32_opt
@overwrite_opt
@json_opt
@batch_opts
@catalog_opts
def command(
    inputs: tuple[str, ...],
    output: str | None,
    output_dir: str | None,
    name_template: str,
    criteria: Any,
    plan: Any,
    slice_numbering: str,
    layout: str,
    zero_based: bool,
    count: bool,
    allow_empty: bool,
    round_float32: bool,
    overwrite: bool,
    as_json: bool,
    catalog: str | None,
    catalog_radius: str | None,
) -> None:
    """Copy the rows of pixel tables that meet the criteria into new pixel tables.

    Criteria are AND-ed (--or: OR-ed); repeated apertures or ranges of one
    option are always OR-ed. The output keeps every column (weight too) and
    header keyword, with LIMITS, MERGED and EXPn FIRST/LAST updated as the
    pipeline does; PIXTABLE_FLAT_FIELD is trimmed to the wavelength cut.
    An empty selection writes nothing and exits 1 (unless --allow-empty).

    Only rows that can meet the criteria are read: an index of the table
    (pixtab index, or --build-index) rules blocks of rows out exactly;
    without one, the pipeline's row order (exposure, IFU, slice, CCD row)
    bounds IFU, slice, stack and wavelength cuts, checked on every row read
    (--full-scan: test every row). -v tells which path was taken and how
    many bytes were read.

    \b
    Examples:
      pixtab extract in.fits -o star.fits --circle 150.1163 2.2058 2 --lambda 6000:6100
      pixtab extract in.fits -o s.fits --circle 10:00:27.9 -2:12:21 0.5arcmin
      pixtab extract in.fits --count --ifu 5-7 --ypix 1:2000
      pixtab extract *.fits --output-dir cut/ --exp 2 --json
      pixtab image t.fits --peaks 20 | pixtab extract t.fits --catalog - --radius 2 --output-dir stars/
    """
    if catalog is not None:
        if output:
            raise click.UsageError("--catalog writes one file per source: use --output-dir, not -o")
        if criteria.apertures:
            raise click.UsageError("--catalog gives the apertures: drop --circle/--square")
        sources = catalog_cli.read_sources(click.get_current_context(), catalog, catalog_radius)
        template = catalog_cli.NAME_TEMPLATE if name_template == NAME_TEMPLATE else name_template
        opts = dict(count=count, allow_empty=allow_empty, layout=layout, round_float32=round_float32,
                    overwrite=overwrite, as_json=as_json, plan=plan)
        return catalog_cli.run(inputs, sources, criteria, output_dir, template, opts)
    if catalog_radius is not None:
        raise click.UsageError("--radius is the default radius of --catalog sources; use --circle RA DEC RADIUS")
    if criteria.empty:
        raise click.UsageError("give at least one selection criterion (--circle, --lambda, --ifu, --where, ...)")
    if as_json and output == "-":
        raise click.UsageError("--json and -o - both write to stdout: give an output file name")
    outputs = dict(zip(inputs, [None] * len(inputs) if count else output_paths(inputs, output, output_dir, name_template)))
    if not count:
        make_output_dir(output_dir)
        check_outputs([(src, out) for src, out in outputs.items() if out], overwrite)

    def one(path: str) -> None:
        from ..core.fits.atomic import atomic_output
        from ..core.io.plan import log_io, process_io
        from ..core.io.table import PixTable
        from ..core.ops.extract import check_columns, check_selection, select_rows, summarize, write_selection

        io_before = process_io()
        with PixTable(path) as pt, phases(path) as progress:
            if not count:
                check_columns(pt)
            selection = select_rows(pt, criteria, progress, plan)
            out = outputs[path]
            if out is None:
                result = summarize(pt, selection, None, None)
                if as_json:
                    d = result.as_dict()
                    del d["output"], d["layout"]
                    ui.print_json(d, path)
                else:
                    ui.echo(f"{path}: {result.selected}" if len(inputs) > 1 else str(result.selected))
                log_io(path, io_before)
                return
            check_selection(pt, selection, allow_empty, criteria)
            with atomic_output(out, overwrite) as fd:
                write_selection(pt, selection, criteria, fd, layout, progress, round_float32)
            result = summarize(pt, selection, out, layout)
        log_io(path, io_before)
        ui.info(f"wrote {ui.shown_path(out)} ({result.selected:,} of {result.rows:,} rows, {layout} layout)")
        if as_json:
            ui.print_json(result.as_dict(), path)

    for_each_input(inputs, one)
