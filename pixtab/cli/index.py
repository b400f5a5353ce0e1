"""``pixtab index``: index pixel tables so that cuts read only the rows they can touch."""

from __future__ import annotations

import click

from .errors import PixtabCommand
from . import output as ui
from .options import inputs_arg, json_opt
from .writing import for_each_input, phases


@click.command("index", cls=PixtabCommand)
@inputs_arg
@click.option("--sidecar", is_flag=True, help="Write the index next to the table (NAME.pixtab-index.npz) instead of the cache.")
@click.option("--rebuild", is_flag=True, help="Build the index even when a valid one exists.")
@json_opt
def command(inputs: tuple[str, ...], sidecar: bool, rebuild: bool, as_json: bool) -> None:
    """Index pixel tables: per block of 2048 rows, the range of xpos, ypos,
    lambda, IFU/slice and CCD row, and the runs of (IFU, slice).

    One streaming pass per table over four columns. extract then reads only
    the blocks a cut can touch, whatever the row order. The index goes to
    the per-user cache ($PIXTAB_CACHE_DIR, else $XDG_CACHE_HOME/pixtab, else
    ~/.cache/pixtab), keyed by the file's identity; --sidecar writes it next
    to the table instead. An index whose table changed (size, mtime, ctime,
    inode, headers) is ignored with a warning. A valid index is not rebuilt unless
    --rebuild.

    \b
    Examples:
      pixtab index PIXTABLE_REDUCED_*.fits
      pixtab index --sidecar --json table.fits
    """
    from ..core.io.table import PixTable
    from ..core.ops.index import index_table

    def one(path: str) -> None:
        with PixTable(path) as pt, phases(path) as progress:
            result = index_table(pt, sidecar, rebuild, progress)
        if as_json:
            ui.print_json(result.as_dict())
        elif result.built:
            ui.info(f"indexed {path} ({result.blocks:,} blocks, {result.seconds:.2f} s) -> {result.index}")
        else:
            ui.info(f"{path}: index up to date ({result.index})")

    for_each_input(inputs, one)
