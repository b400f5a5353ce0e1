"""``pixtab sky``: the sky spectrum (median and robust spread per wavelength bin) outside the sources."""

from __future__ import annotations

import os
from typing import Any

import click

from .errors import PixtabCommand
from . import output as ui
from .common import file_outputs, format_opts, png_opt, text_format, write_png
from .criteria import criteria_options
from .options import input_arg, output_opt, overwrite_opt, zero_based_opt
from .writing import check_outputs, phases

SOURCES_NOTE = ("Here --mask and --region name the SOURCES: their rows are left out (--mask-invert: the mask's "
                "0 pixels are the sources).")


def auto_opts(f: Any) -> Any:
    f = click.option("--seeing", default=0.8, show_default=True, type=float,
                     help="With --auto: FWHM guess in arcsec for the source search (as image --peaks).")(f)
    return click.option("--auto", is_flag=True, help="Mask the sources image --peaks finds on the white-light image, "
                        "each out to 2.5 times their median FWHM.")(f)


@click.command("sky", cls=PixtabCommand)
@input_arg
@output_opt(help="Output: NAME.fits (binary table SKY with units) or a text file; default (or '-'): CSV on stdout.")
@click.option("--bin", "width", default=1.25, show_default=True, type=float, help="Bin width in Angstrom.")
@auto_opts
@criteria_options
@zero_based_opt
@format_opts
@png_opt("the sky spectrum (median with its spread, rows per bin)")
@overwrite_opt
def command(input: str, output: str | None, width: float, auto: bool, seeing: float, fmt: str, as_json: bool,
            png: str | None, overwrite: bool, criteria: Any, **kw: Any) -> None:
    """The sky spectrum: per wavelength bin the median of data over the rows outside the sources.

    Per bin [lambda_lo, lambda_hi): lambda (centre), median, spread (half the
    15.9-84.1 % range: a Gaussian's sigma, robust to the sources left in),
    median_err (1.2533 spread / sqrt(rows)) and rows used (dq != 0 left out).
    The sources are --mask SOURCES.fits (pixels > 0), --region FILE (the
    shapes) and/or --auto (found on the table); without them every selected
    row counts. The median is streamed (histograms, two or three passes over
    the rows), exact to 0.05 of the spread or better.

    Here --mask and --region name the SOURCES: their rows are left out
    (--mask-invert: the mask's 0 pixels are the sources).

    \b
    Examples:
      pixtab sky T.fits --auto -o sky.fits --png sky.png
      pixtab sky T.fits --mask sources.fits --bin 2.5 > sky.csv
      pixtab sky T.fits --region stars.reg --lambda 6000:7000
    """
    from ..core.fits.atomic import atomic_output
    from ..core.io.table import PixTable
    from ..core.ops.sky.skyspec import background, make_sky, to_hdulist

    if not width > 0:
        raise click.BadParameter("must be a positive number of Angstrom", param_hint="'--bin'")
    is_fits = bool(output) and output.lower().endswith((".fits", ".fit", ".fts"))  # type: ignore[union-attr]
    check_outputs([(input, p) for p in file_outputs(output, png)], overwrite)
    with PixTable(input) as pt, phases(input) as progress:
        rows, masked = background(pt, criteria, auto, seeing, progress, kw["plan"])
        if masked:
            ui.info(f"{input}: {masked}")
        sky = make_sky(pt, rows, width, progress, kw["plan"])
    if is_fits:
        cards = {"HIERARCH PIXTAB INPUT": os.path.basename(input)[-60:], "HIERARCH PIXTAB BIN": (width, "[Angstrom] bin width"),
                 "HIERARCH PIXTAB ROWS": (int(sky.rows.sum()), "sky rows used")}
        with atomic_output(output, overwrite) as fd:  # type: ignore[arg-type]
            with os.fdopen(os.dup(fd), "wb") as f:
                to_hdulist(sky, cards).writeto(f)  # type: ignore[attr-defined]
    else:
        cols = sky.columns()
        ui.emit_records([{k: v[i] for k, v in cols.items()} for i in range(len(sky.median))], text_format(fmt, as_json),
                        output, overwrite)
    if output and output != "-":
        ui.info(f"wrote {output} ({len(sky.median)} bins of {width:g} Angstrom, {int(sky.rows.sum()):,} sky rows)")
    if png:
        from ..core.ops.pictures.slicepics import sky_figure

        write_png(png, sky_figure(sky, os.path.basename(input)), overwrite)
        ui.info(f"wrote {png}")
