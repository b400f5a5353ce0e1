"""``pixtab plot``: where the selected rows fall on the sky, as a picture."""

from __future__ import annotations

from typing import Any

import click

from .errors import PixtabCommand
from . import output as ui
from .common import picture_path_cb, title_name, write_png
from .criteria import criteria_options
from .options import input_arg, output_opt, overwrite_opt, zero_based_opt
from .writing import check_outputs, phases


@click.command("plot", cls=PixtabCommand)
@input_arg
@output_opt(required=True, callback=picture_path_cb, help="Output picture: PNG, PDF or SVG, by the extension.")
@click.option("--color-by", "by", type=click.Choice(["ifu", "slice", "exp", "dq", "data"]), default="ifu", show_default=True,
              help="Colour of the points; flagged rows (dq != 0) are always drawn in red.")
@click.option("--max-points", default=200_000, show_default=True, type=click.IntRange(1000, 5_000_000),
              help="Draw a uniform random sample of at most this many rows.")
@criteria_options
@zero_based_opt
@overwrite_opt
def command(input: str, output: str, by: str, max_points: int, overwrite: bool, criteria: Any, **kw: Any) -> None:
    """Scatter plot of the sky positions of the selected rows (PNG).

    Axes are RA/Dec (a TAN plane about the table's centre, north up, east
    left; pixel tables: xpos/ypos in pixels); the --circle/--square apertures
    are drawn. Large
    selections are drawn as a uniform random sample (--max-points), in one
    streaming pass and bounded memory.

    \b
    Examples:
      pixtab plot sample.fits -o sky.png
      pixtab plot star.fits -o star_slices.png --color-by slice
      pixtab plot combined.fits -o exps.png --color-by exp --lambda 6000:6100
    """
    from ..core.ops.pictures.pictures import sky_figure
    from ..core.io.table import PixTable
    from ..core.ops.pictures.skyplot import sample_sky

    check_outputs([(input, output)], overwrite)
    with PixTable(input) as pt, phases(input) as progress:
        s = sample_sky(pt, criteria, by, max_points, progress=progress, plan=kw["plan"])
    fig = sky_figure(s, by, title_name(input))
    write_png(output, fig, overwrite)
    ui.info(f"wrote {output} ({len(s.x):,} of {s.total:,} rows drawn)")
