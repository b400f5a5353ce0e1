"""``pixtab convert``: rewrite pixel tables in the other on-disk layout, bit for bit."""

from __future__ import annotations

import click

from .errors import PixtabCommand
from .options import batch_opts, inputs_arg, json_opt, output_dir_opts, output_opt, overwrite_opt, round_float32_opt
from .output import info, print_json, shown_path
from .writing import check_outputs, for_each_input, make_output_dir, output_paths, phases


@click.command("convert", cls=PixtabCommand)
@inputs_arg
@output_opt(help="Output file (one input); '-' writes the FITS file to stdout (not to a terminal).")
@output_dir_opts("{stem}.fits")
@click.option(
    "--to",
    "layout",
    type=click.Choice(["image", "table"]),
    default=None,
    help="Layout to write. Default: the other one (image for MPDAF's ASCII tables).",
)
@round_float32_opt
@overwrite_opt
@json_opt
@batch_opts
def command(
    inputs: tuple[str, ...],
    output: str | None,
    output_dir: str | None,
    name_template: str,
    layout: str | None,
    round_float32: bool,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Convert pixel tables between the image and the binary-table layout.

    The image layout (one IMAGE extension per column) is the pipeline's
    default; the binary-table layout interleaves rows. Every column keeps its values, type and unit string bit for bit; the
    primary header, the weight column, unknown columns and extra extensions
    such as PIXTABLE_FLAT_FIELD are carried unchanged, so converting twice
    gives back the original data. MPDAF's ASCII tables (save_as_ima=False) are
    read and written with the pipeline's float32/int32 types when every value
    converts exactly. Streams in bounded memory (under 200 MB).

    A Parquet or Arrow file written by 'pixtab export' (every column) is
    turned back into the pixel table it came from, bit for bit, in its
    original layout unless --to says otherwise.

    \b
    Examples:
      pixtab convert PIXTABLE_OBJECT_0001.fits -o object_table.fits
      pixtab convert table.fits -o image.fits --to image
      pixtab convert *.fits --output-dir converted/ --json
      pixtab convert rows.parquet -o back.fits
    """
    if as_json and output == "-":
        raise click.UsageError("--json and -o - both write to stdout: give an output file name")
    targets = dict(zip(inputs, output_paths(inputs, output, output_dir, name_template)))
    make_output_dir(output_dir)
    check_outputs(list(targets.items()), overwrite)

    def one(path: str) -> None:
        from ..core.fits.atomic import atomic_output
        from ..core.io.arrow import sniff
        from ..core.io.table import PixTable
        from ..core.ops.convert import convert

        target = targets[path]
        if sniff(path):
            _from_export(path, target, layout, overwrite, as_json)
            return
        with PixTable(path) as pt, phases(path) as progress:
            with atomic_output(target, overwrite) as fd:
                result = convert(pt, fd, layout, output=target, round_float32=round_float32, progress=progress)
        if as_json:
            print_json(result.as_dict(), path)
        extra = f", {result.rounded_values:,} values rounded to float32" if result.rounded_values else ""
        info(f"wrote {shown_path(target)} ({result.rows:,} rows, {result.source_layout} -> {result.layout} layout{extra})")

    for_each_input(inputs, one)


def _from_export(path: str, target: str, layout: str | None, overwrite: bool, as_json: bool) -> None:
    """Rebuild the pixel table of a pixtab export (Parquet or Arrow IPC); outputs already checked."""
    from ..core.fits.atomic import atomic_output
    from ..core.io.arrow import ArrowInput
    from ..core.ops.rebuild import rebuild

    src = ArrowInput(path)
    with phases(path) as progress, atomic_output(target, overwrite) as fd:
        result = rebuild(src, fd, layout, target, progress)
    if as_json:
        print_json(result.as_dict())
    info(f"wrote {shown_path(target)} ({result.rows:,} rows, {src.kind} -> {result.layout} layout)")
