"""``pixtab image``: a sky image straight from the pixel table; its brightest sources."""

from __future__ import annotations

import logging
from typing import Any

import click

from .errors import PixtabCommand
from . import output as ui
from .common import display_opts, file_outputs, format_opts, make_display, keep_flagged_opt, png_opt, text_format, title_name, write_png
from .criteria import criteria_options, parse_size
from .options import input_arg, output_opt, overwrite_opt, zero_based_opt
from .writing import check_outputs, phases

log = logging.getLogger("pixtab")

PEAK_FIELDS = ("id", "ra", "dec", "peak", "fwhm_guess")


def _size_cb(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, bool] | str | None:
    if ctx.resilient_parsing or value is None:  # completion: no parsing, nothing imported
        return value
    try:
        size, bare = parse_size(value)
    except Exception:
        raise click.BadParameter(f"{value!r} is not a size (a number in arcsec, or e.g. 0.2arcsec)", ctx=ctx, param=param) from None
    if not size > 0:
        raise click.BadParameter(f"{value!r}: must be positive", ctx=ctx, param=param)
    return size, bare


@click.command("image", cls=PixtabCommand)
@input_arg
@output_opt(help="Output FITS image (MUSE layout: DATA, with --variance STAT, and NROWS extensions).")
@click.option("--spaxel", default="0.2arcsec", show_default=True, callback=_size_cb, help="Spaxel size (arcsec, or with a unit). Pixel tables: a bare number is in focal-plane pixels (0.2\" each).")
@click.option("--column", type=click.Choice(["data", "stat", "weight"]), default="data", show_default=True, help="Column to image.")
@click.option("--stat", "statistic", type=click.Choice(["mean", "sum", "wmean"]), default="mean", show_default=True,
              help="Per spaxel: mean, sum, or inverse-variance weighted mean (weights 1/stat) of the column over its rows.")
@click.option("--kernel", type=click.Choice(["drizzle", "nearest"]), default="drizzle", show_default=True,
              help="drizzle: spread each row over the spaxels its drop (pixfrac x 0.2\" square) overlaps, as the pipeline's "
              "drizzle; nearest: each row into its nearest spaxel.")
@click.option("--pixfrac", default=0.8, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="Drop size of --kernel drizzle, as a fraction of the table's spaxel (the pipeline's default 0.8).")
@click.option("--variance", is_flag=True, help="Add a STAT extension: the variance of each spaxel's value, from stat.")
@keep_flagged_opt
@criteria_options
@zero_based_opt
@click.option("--peaks", type=click.IntRange(1, None), metavar="N", help="Find the N brightest sources; print id,ra,dec,peak,fwhm_guess.")
@click.option("--seeing", default="0.8arcsec", show_default=True, callback=_size_cb, help="FWHM guess for --peaks (smoothing and fit start).")
@click.option("--min-separation", "separation", callback=_size_cb, metavar="SIZE",
              help="--peaks: two sources are at least this far apart (default 1.5 x --seeing).")
@format_opts
@png_opt("the image (arcsinh stretch, peaks circled)")
@display_opts("default 0.5:100, asinh")
@overwrite_opt
def command(input: str, output: str | None, spaxel: tuple[float, bool], column: str, statistic: str, kernel: str, pixfrac: float,
            variance: bool,
            keep_flagged: bool, peaks: int | None, seeing: tuple[float, bool], separation: tuple[float, bool] | None, fmt: str, as_json: bool, png: str | None,
            overwrite: bool, criteria: Any, display: dict, **kw: Any) -> None:
    """Bin the selected rows onto a sky grid: an image without a cube.

    One streaming pass onto a TAN grid centred on the table's centre (north
    up, east left). --kernel drizzle (default) spreads each row over the
    spaxels its drop overlaps (a square of --pixfrac times the table's 0.2"
    spaxel), weighted by the fraction each holds, as the pipeline's drizzle:
    a narrow band has no holes. --kernel nearest drops each row into its
    nearest spaxel. Spaxels without rows are NaN. The FITS output follows
    MUSE's products (MPDAF's Image(path) and DS9 open it as it is): an empty
    primary HDU, the image in DATA with a celestial WCS, with --variance its
    variance in STAT, the rows touching each spaxel in NROWS. Flagged rows (dq != 0) are
    left out unless --keep-flagged. Pixel-unit tables give an image in
    focal-plane pixels, without a celestial WCS. The weight column of combined
    tables is not applied (--stat wmean weights rows by 1/stat); there is no
    median, which no streaming pass in bounded memory can give.

    --peaks N finds the N brightest sources (photutils: smoothing by --seeing,
    local maxima, Gaussian fits), then measures each again on the rows around
    it (no binning), and prints id,ra,dec,peak,fwhm_guess on stdout, brightest
    first: RA/Dec in degrees, peak in data units, FWHM in arcsec. Not taken
    for sources: maxima on spaxels with under half the median rows or within
    one --seeing of the covered area's edge, a second maximum within
    --min-separation of a brighter one, and candidates whose refit on the rows
    fails or moves away from the image estimate.

    \b
    Examples:
      pixtab image sample.fits -o white.fits
      pixtab image sample.fits --peaks 1 --lambda 6000:6100
      pixtab image sample.fits -o ha.fits --lambda 6555:6570 --png ha.png --peaks 5
      IFS=, read -r id ra dec rest < <(pixtab image t.fits --peaks 1 | tail -n 1)
    """
    from ..core.ops.measure.image import ImageRequest, make_image
    from ..core.ops.measure.imagefile import write_image
    from ..core.errors import InputError
    from ..core.fits.atomic import atomic_output
    from ..core.io.table import PixTable

    if not output and not peaks and not png:
        raise click.UsageError("nothing to do: give -o/--output, --peaks N and/or --png FILE")
    if output == "-":
        raise click.UsageError("the image is a FITS file: -o needs a file name")
    check_outputs([(input, p) for p in file_outputs(output, png)], overwrite)
    shown = make_display(display) if png else None
    with PixTable(input) as pt, phases(input) as progress:
        size, bare = spaxel
        if pt.wcs == "pixel" and not bare:
            size /= 0.2  # arcsec to focal-plane pixels
        if pt.wcs == "pixel" and peaks:
            raise InputError(input, "pixel-unit table: no sky positions, so no source catalogue")
        req = ImageRequest(size, column, statistic, keep_flagged, variance, kernel, pixfrac)
        im = make_image(pt, criteria, req, progress, kw["plan"])
        for note in im.notes:
            log.warning("%s", note)
        found: list = []
        if peaks:
            from ..core.ops.measure.fit import spaxel_area
            from ..core.ops.measure.peaks import find_peaks, refine_on_rows

            apart = 1.5 * seeing[0] if separation is None else separation[0]
            found = refine_on_rows(pt, criteria, find_peaks(im, peaks, seeing[0], separation=apart), spaxel_area(pt), peaks, apart)
            if len(found) < peaks:
                log.warning("%s: found %d source(s) above the threshold, %d asked for", input, len(found), peaks)
    if output:
        with atomic_output(output, overwrite) as fd:
            write_image(im, fd)
        ny, nx = im.image.shape
        ui.info(f"wrote {output} ({nx}x{ny} spaxels of {im.spaxel:g}{'arcsec' if im.celestial else ' pix'}, {im.rows:,} rows, {im.flagged:,} flagged left out)")
    if png:
        from ..core.ops.pictures.pictures import image_figure

        write_png(png, image_figure(im, title_name(input), found, shown), overwrite)
        ui.info(f"wrote {png}")
    if peaks:
        ui.emit_records([p.as_dict() for p in found], text_format(fmt, as_json), None, overwrite, PEAK_FIELDS)
