"""``pixtab fit``: a 2-D PSF fitted to the rows, over the whole range and per wavelength bin."""

from __future__ import annotations

import logging
import math
from typing import Any

import click

from .errors import PixtabCommand
from . import output as ui
from .common import file_outputs, format_opts, png_opt, text_format, title_name, write_png
from .criteria import criteria_options
from .image import _size_cb
from .options import input_arg, output_opt, overwrite_opt, zero_based_opt
from .registry import deprecated
from .writing import check_outputs, phases


@click.command("fit", cls=PixtabCommand)
@input_arg
@output_opt(help="Write the results to this file (default, or '-': stdout).")
@criteria_options
@zero_based_opt
@click.option("--bins", type=click.IntRange(1, 10000), metavar="N", help="Also fit N equal wavelength bins.")
@click.option("--bin", "bin_width", type=float, metavar="ANGSTROM", help="Also fit bins of this width (Angstrom).")
@deprecated("--bin-width", "--bin", "bin_width")
@click.option("--model", type=click.Choice(["gaussian", "moffat"]), default="gaussian", show_default=True, help="Circular PSF model.")
@click.option("--background/--no-background", default=True, show_default=True, help="Fit a flat background too.")
@click.option("--seeing", default="0.8arcsec", show_default=True, callback=_size_cb, help="FWHM to start the fit from.")
@format_opts
@png_opt("the radial profile and FWHM against wavelength")
@overwrite_opt
def command(input: str, output: str | None, bins: int | None, bin_width: float | None, model: str, background: bool,
            seeing: tuple[float, bool], fmt: str, as_json: bool, png: str | None, overwrite: bool, criteria: Any, **kw: Any) -> None:
    """Fit a circular Gaussian or Moffat PSF to the selected rows themselves.

    Offsets are in arcsec from the aperture centre (dx = dRA cos(dec), dy =
    dDec); without an aperture, from the middle of the rows. Weights are
    1/sqrt(stat); rows with dq != 0, non-finite values or stat <= 0 are left
    out. The first result row (bin "all") fits the whole range; with --bins or
    --bin one row per wavelength bin follows (a failed bin has NaNs and
    the reason in status).

    Columns: bin, lambda_lo, lambda_hi, lambda (mean of the rows) [Angstrom];
    ra, dec [deg]; dx, dy, fwhm [arcsec]; beta (Moffat); peak, background
    [data units]; flux: the model's integral over 0.2"x0.2" spaxels [data
    units x spaxels]; each with a 1-sigma error (_err) from the covariance of
    the weighted fit, NOT rescaled by chi2_red (the reduced chi-square,
    printed: if stat is off by a factor, scale the errors by sqrt(chi2_red));
    rows used; status.

    Other sources in the aperture are found in the residuals of the target's
    fit (5 sigma above the residuals at the same distance, beyond 1.5 FWHM of
    the target) and their rows within 1.5 FWHM left out; the fit is then made
    again, and a message says how many were masked.

    A fit that cannot be made (too few rows, no convergence, no source
    above 5 sigma, a source at the aperture edge) is one error line naming
    the file, and exit status 1.

    \b
    Examples:
      pixtab fit star.fits
      pixtab fit sample.fits --circle 150.1163 2.2058 2 --lambda 6000:6100 --bins 4
      pixtab fit star.fits --model moffat --bin 500 --json
      pixtab fit star.fits --bins 10 --png fit.png
    """
    from ..core.ops.measure.fit import FitRequest, fit_table, radial_profile
    from ..core.io.table import PixTable
    from ..core.ops.measure.neighbours import MASK_FWHM

    if bins is not None and bin_width is not None:
        raise click.UsageError("give --bins or --bin, not both")
    if bin_width is not None and not bin_width > 0:
        raise click.BadParameter("must be a positive number of Angstrom", param_hint="'--bin'")
    req = FitRequest(model, background, bins, bin_width, seeing[0])
    check_outputs([(input, p) for p in file_outputs(output, png)], overwrite)
    with PixTable(input) as pt, phases(input) as progress:
        results, rows = fit_table(pt, criteria, req, progress, kw["plan"])
        unit = pt.columns["data"].unit
    if rows.neighbours:
        first = results[0]
        far = ", ".join(f'{math.hypot(x - first["dx"], y - first["dy"]):.1f}"' for x, y in rows.neighbours)
        ui.info(f"{input}: light of {len(rows.neighbours)} other source(s) in the aperture (peaking {far} from the target): "
                f"rows within {MASK_FWHM:g} FWHM of it left out of the fit")
    failed = [r for r in results if r["status"] != "ok"]
    for r in failed:
        logging.getLogger("pixtab").warning("%s: bin %s (%.1f-%.1f Angstrom): %s", input, r["bin"], r["lambda_lo"], r["lambda_hi"], r["status"])
    ui.emit_records(results, text_format(fmt, as_json), output, overwrite)
    if output and output != "-":
        ui.info(f"wrote {output}")
    if png:
        from ..core.ops.pictures.pictures import fit_figure

        fig = fit_figure(rows, results, radial_profile(results[0], model), title_name(input), unit, model)
        write_png(png, fig, overwrite)
        ui.info(f"wrote {png}")
