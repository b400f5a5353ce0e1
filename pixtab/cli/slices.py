"""``pixtab slices``: the level of each IFU slice against the field, per wavelength band."""

from __future__ import annotations

import os
from typing import Any

import click

from .errors import PixtabCommand
from . import output as ui
from .common import png_opt, write_png
from .criteria import criteria_options
from .options import input_arg, output_opt, overwrite_opt, zero_based_opt
from .sky import auto_opts
from .writing import check_outputs, phases


@click.command("slices", cls=PixtabCommand)
@input_arg
@output_opt(help="Output FITS table in the DRS's AUTOCAL_FACTORS layout, with level, median and spread columns.")
@click.option("--lambda-bins", "nbands", type=click.IntRange(1, 200), metavar="N",
              help="N equal wavelength bands over the table's range (default: the DRS's 20 self-calibration bands).")
@auto_opts
@criteria_options
@zero_based_opt
@png_opt("the levels: 24 IFU panels, one line per slice against the wavelength band")
@overwrite_opt
def command(input: str, output: str | None, nbands: int | None, auto: bool, seeing: float, png: str | None,
            overwrite: bool, criteria: Any, **kw: Any) -> None:
    """Per IFU, slice and wavelength band: the median of the background rows over the field's median.

    The quantity the DRS self-calibration (autocalib=deepfield) equalises: a
    slice pattern shows as levels off 1 (1.02: 2 % brighter than the field).
    On a table before and after the DRS's self-calibration it shows whether
    the pattern is gone. Prints a summary (levels' robust spread, the most
    deviant slices); -o writes the table in the DRS's AUTOCAL_FACTORS layout
    (ifu, sli, quad, npts, corr = 1 / level, plus level, median, spread), which
    pixtab autocal reads; --png draws it as MPDAF's plot_autocal_factors does.

    Here --mask and --region name the SOURCES: their rows are left out
    (--mask-invert: the mask's 0 pixels are the sources); --auto finds them.

    \b
    Examples:
      pixtab slices T.fits --auto --png slices.png
      pixtab slices T.fits --mask sources.fits --lambda-bins 5 -o slices.fits
    """
    from ..core.format.autocal import to_hdulist
    from ..core.fits.atomic import atomic_output
    from ..core.io.table import PixTable
    from ..core.ops.sky.skyspec import background
    from ..core.ops.sky.slicemap import band_edges, slice_levels, summary

    if not (output or png):
        output = "-"  # the summary alone
    if output == "-":
        output = None
    check_outputs([(input, p) for p in (output, png) if p], overwrite)
    with PixTable(input) as pt, phases(input) as progress:
        rows, masked = background(pt, criteria, auto, seeing, progress, kw["plan"])
        if masked:
            ui.info(f"{input}: {masked}")
        levels = slice_levels(pt, rows, band_edges(pt, nbands), progress, kw["plan"])
    for line in summary(levels):
        click.echo(line)
    if output:
        cards = {"HIERARCH PIXTAB INPUT": os.path.basename(input)[-60:], "HIERARCH PIXTAB QUANTITY": "slice level / field"}
        with atomic_output(output, overwrite) as fd:
            with os.fdopen(os.dup(fd), "wb") as f:
                to_hdulist(levels.factors(), cards).writeto(f)  # type: ignore[attr-defined]
        ui.info(f"wrote {output}")
    if png:
        from ..core.ops.pictures.slicepics import levels_figure

        write_png(png, levels_figure(levels.level, levels.edges, os.path.basename(input), "slice level / field"), overwrite)
        ui.info(f"wrote {png}")
