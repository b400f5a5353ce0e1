"""``pixtab mask``: MPDAF's PixTableMask file (one boolean per row) from a sky mask or any criteria."""

from __future__ import annotations

from typing import Any

import click

from .errors import PixtabCommand
from . import output as ui
from .criteria import criteria_options
from .options import input_arg, output_opt, overwrite_opt, zero_based_opt
from .writing import check_outputs, phases


@click.command("mask", cls=PixtabCommand)
@input_arg
@output_opt(required=True, help="Output PixTableMask FITS file (e.g. T.mask.fits).")
@criteria_options
@zero_based_opt
@overwrite_opt
def command(input: str, output: str, overwrite: bool, criteria: Any, **kw: Any) -> None:
    """Write the rows the criteria select as an MPDAF PixTableMask file.

    One boolean per row of INPUT, True where the row is selected: with --mask
    SOURCES.fits it is what MPDAF's PixTable.mask_column(SOURCES.fits) makes
    (MPDAF's PixTableMask(filename=...) loads it), except that rows off the
    mask image are False (MPDAF takes the nearest edge pixel). Any other
    criterion works too (--region, --lambda, --where, ...). Read it back with
    --rows T.mask.fits on any command. Flagged rows are not left out.

    \b
    Examples:
      pixtab mask T.fits --mask sources.fits -o T.mask.fits
      pixtab mask T.fits --region stars.reg -o T.stars.fits
      pixtab extract T.fits --rows T.mask.fits -o objects.fits
    """
    from ..core.ops.sky.maskcol import write_row_mask
    from ..core.fits.atomic import atomic_output
    from ..core.io.table import PixTable

    if criteria.empty:
        raise click.UsageError("give --mask FILE (or another criterion): an empty mask says nothing")
    maskfile = (criteria.sky_mask.path if criteria.sky_mask is not None else
                criteria.region.path if criteria.region is not None else "pixtab criteria")
    check_outputs([(input, output)], overwrite)
    with PixTable(input) as pt, phases(input) as progress:
        with atomic_output(output, overwrite) as fd:
            count = write_row_mask(pt, criteria, fd, maskfile, progress, kw["plan"])
        nrows = pt.nrows
    ui.info(f"wrote {output} ({count:,} of {nrows:,} rows masked)")
