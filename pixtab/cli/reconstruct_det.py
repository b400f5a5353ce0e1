"""``pixtab reconstruct-det``: the detector image of one column, per IFU and exposure."""

from __future__ import annotations

import os

import click

from .errors import PixtabCommand
from . import output as out
from .common import display_opts, make_display, png_opt, write_png
from .criteria import where_options
from .options import input_arg, int_list_callback, output_opt, overwrite_opt, range_callback, zero_based_opt
from .writing import check_outputs, phases


@click.command("reconstruct-det", cls=PixtabCommand)
@input_arg
@output_opt(required=True, help="Output FITS file (one IMAGE extension per IFU, EXTNAME CHANnn).")
@click.option(
    "--column",
    type=click.Choice(["data", "lambda", "stat", "dq", "weight"]),
    default="data",
    show_default=True,
    help="Column whose values fill the image.",
)
@click.option("--ifu", "ifus", multiple=True, metavar="LIST", callback=int_list_callback(1, 24),
              help="IFUs, e.g. 5,6 or 5-7: one image each (as the rows of these IFUs on every command).")
@click.option("--exp", type=click.IntRange(0, None), help="Use only the rows of this exposure (a single-exposure table has only exposure 0).")
@click.option("--xpix", callback=range_callback(integer=True), metavar="LO:HI", help="Detector x window (half-open).")
@click.option("--ypix", callback=range_callback(integer=True), metavar="LO:HI", help="Detector y window (half-open).")
@click.option("--full-ccd", is_flag=True, help="Image the whole 4096 x 4112 CCD.")
@click.option("--all-ifus", is_flag=True, help="One image per IFU present, in one multi-extension file.")
@click.option(
    "--fill",
    type=click.Choice(["nan", "0"]),
    default="nan",
    show_default=True,
    help="Value of pixels without a row (0 gives MPDAF's wavelength image).",
)
@where_options
@zero_based_opt
@png_opt("the detector image(s), cropped to the rows, square pixels")
@display_opts("data, stat: 0.5:99.5 with an asinh stretch; lambda, dq, weight: 0:100, linear")
@overwrite_opt
def command(
    input: str,
    output: str,
    column: str,
    ifus: list[int] | None,
    exp: int | None,
    xpix: tuple[float, float] | None,
    ypix: tuple[float, float] | None,
    full_ccd: bool,
    all_ifus: bool,
    fill: str,
    zero_based: bool,
    png: str | None,
    overwrite: bool,
    where: tuple,
    display: dict,
) -> None:
    """Rebuild the detector images of a column, one per IFU, from the rows of one exposure.

    Each row goes to its detector pixel (the last row written wins); pixels
    without a row hold the fill value. The image covers the bounding box of the
    rows (default), the --xpix/--ypix window, or the full CCD. In each image
    HDU, CRPIX1/2 = 1 and CRVAL1/2 = detector x/y of the first pixel in the
    chosen base (PIXBASE), so world coordinates are detector pixels.

    --where/--good keep only the rows that meet them (e.g. --good images
    the rows the pipeline's resampler would use).

    A table with several IFUs needs --ifu (one or more) or --all-ifus, and one where two
    exposures put rows on the same pixel needs --exp: both are usage errors
    (exit 2). An exposure or column the table lacks, or nothing selected, is
    exit 1. A single-exposure table has exposure 0 only (--exp 0: every row).

    \b
    Examples:
      pixtab reconstruct-det PIXTABLE_OBJECT_0001-05.fits -o det.fits
      pixtab reconstruct-det combined.fits -o det.fits --ifu 5,6 --exp 2 --full-ccd
      pixtab reconstruct-det reduced.fits -o all.fits --all-ifus --column lambda --fill 0
    """
    from ..core.fits.atomic import atomic_output
    from ..core.io.table import PixTable
    from ..core.ops.reconstruct import Request, survey, write_streamed

    if output == "-":
        raise click.UsageError("reconstruct-det cannot write to stdout ('-'): give an output file name")
    req = Request(
        column=column,
        ifus=tuple(ifus or ()),
        exp=exp,
        xpix=xpix,
        ypix=ypix,
        full_ccd=full_ccd,
        all_ifus=all_ifus,
        fill=fill,
        zero_based=zero_based,
        where=where,
    )
    check_outputs([(input, output)], overwrite, [png] if png else [])
    shown = make_display(display) if png else None
    with PixTable(input) as pt, phases(input) as progress:
        plan = survey(pt, req, progress)  # errors about the request before any output exists
        unit = pt.columns[column].unit
        with atomic_output(output, overwrite) as fd:
            # Each image is written and freed once the stream has passed its IFU.
            images = write_streamed(fd, pt, plan, unit, progress).images
    shapes = ", ".join(f"CHAN{im.ifu:02d} {im.shape[1]}x{im.shape[0]}" for im in images)
    out.info(f"wrote {output} ({shapes})")
    if png:
        from ..core.ops.pictures.detplot import detector_figure, detector_images_from

        title = f"{os.path.basename(input)}: {column}"
        # values spread over a range (flux, variance): robust limits, asinh; coordinates and masks: all of it, linear
        stretch, pct = ("asinh", (0.5, 99.5)) if column in ("data", "stat") else ("linear", (0.0, 100.0))
        images = detector_images_from(output, 0.0 if fill == "0" else None)
        write_png(png, detector_figure(images, title, shown, stretch, pct, column), overwrite)
        out.info(f"wrote {png}")
