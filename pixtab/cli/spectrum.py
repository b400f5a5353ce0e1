"""``pixtab spectrum``: the spectrum of the selected rows, binned in wavelength."""

from __future__ import annotations

import os
from typing import Any

import click

from .errors import PixtabCommand
from . import output as ui
from .common import file_outputs, format_opts, keep_flagged_opt, png_opt, text_format, title_name, write_png
from .criteria import criteria_options
from .options import input_arg, output_opt, overwrite_opt, zero_based_opt
from .writing import check_outputs, phases


@click.command("spectrum", cls=PixtabCommand)
@input_arg
@output_opt(help="Output: NAME.fits (binary table with units) or a text file; default (or '-'): text on stdout.")
@click.option("--bin", "width", default=1.25, show_default=True, type=float, help="Bin width in Angstrom.")
@keep_flagged_opt
@criteria_options
@zero_based_opt
@format_opts
@png_opt("the mean of data per row in each bin with its 1-sigma band, and the rows per bin (partial bins marked, not in the curve)")
@overwrite_opt
def command(input: str, output: str | None, width: float, keep_flagged: bool, fmt: str, as_json: bool, png: str | None,
            overwrite: bool, criteria: Any, **kw: Any) -> None:
    """Sum the selected rows in wavelength bins: a quick-look spectrum without a cube.

    Per bin [lambda_lo, lambda_hi): lambda (bin centre), sum of data and its
    variance sum_var (sum of stat), mean of data and its variance mean_var
    (sum of stat / rows^2), rows used and rows left out for dq != 0 (flagged).
    Bins start at the lower end of --lambda (else at a multiple of --bin);
    a --lambda cut is covered whole, empty bins included, up to a million
    bins (more is a usage error: use a larger --bin or a narrower cut).
    Output: a FITS binary table (EXTNAME SPECTRUM, units in TUNITn) when -o
    ends in .fits, else CSV/TSV/JSON Lines (on stdout without -o).

    \b
    Examples:
      pixtab spectrum star.fits -o star_spec.fits
      pixtab spectrum sample.fits --circle 150.1163 2.2058 1.5arcsec --bin 2.5 > spec.csv
      pixtab spectrum star.fits -o spec.fits --png spec.png
    """
    from ..core.fits.atomic import atomic_output
    from ..core.io.table import PixTable
    from ..core.ops.measure.spectrum import make_spectrum, write_fits

    if not width > 0:
        raise click.BadParameter("must be a positive number of Angstrom", param_hint="'--bin'")
    is_fits = bool(output) and output.lower().endswith((".fits", ".fit", ".fts", ".fits.gz"))  # type: ignore[union-attr]
    check_outputs([(input, p) for p in file_outputs(output, png)], overwrite)
    with PixTable(input) as pt, phases(input) as progress:
        spec = make_spectrum(pt, criteria, width, keep_flagged, progress, kw["plan"])
    if is_fits:
        from ..core.fits.cards import printable

        cards = {"HIERARCH PIXTAB INPUT": printable(os.path.basename(input), keep_last=60), "HIERARCH PIXTAB BIN": (width, "[Angstrom] bin width"),
                 "HIERARCH PIXTAB ROWS": (int(spec.rows.sum()), "rows used"),
                 "HIERARCH PIXTAB FLAGGED": (int(spec.flagged.sum()), "selected rows left out for dq != 0")}
        with atomic_output(output, overwrite) as fd:  # type: ignore[arg-type]
            write_fits(spec, fd, cards)
    else:
        cols = spec.columns()
        records = [{k: v[i] for k, v in cols.items()} for i in range(len(spec.sum))]
        ui.emit_records(records, text_format(fmt, as_json), output, overwrite)
    if output and output != "-":
        ui.info(f"wrote {output} ({len(spec.sum)} bins of {width:g} Angstrom, {int(spec.rows.sum()):,} rows, {int(spec.flagged.sum()):,} flagged left out)")
    if png:
        from ..core.ops.pictures.pictures import spectrum_figure

        write_png(png, spectrum_figure(spec, title_name(input)), overwrite)
        ui.info(f"wrote {png}")
