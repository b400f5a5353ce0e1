"""``pixtab autocal``: read, summarise, plot and merge the DRS's AUTOCAL_FACTORS tables."""

from __future__ import annotations

import os

import click

from .errors import PixtabCommand
from . import output as ui
from .common import png_opt, write_png
from .options import overwrite_opt
from .writing import check_outputs


@click.command("autocal", cls=PixtabCommand)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=str))
@click.option("--merge", is_flag=True, help="Merge the tables: per (band, IFU, slice) the sigma-clipped mean of corr "
              "(3 sigma, 5 iterations; factors from no point left out), with std_corr, nkeep and nrej.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), help="With --merge: the merged table "
              "(the DRS's layout: muse_scipost autocalib=user applies it as AUTOCAL_FACTORS).")
@click.option("--npts", is_flag=True, help="With --png: draw the number of points instead of the factors.")
@png_opt("the factors: 24 IFU panels, one line per slice against the wavelength band (of the merged table with --merge, "
         "else of the first input)")
@overwrite_opt
def command(inputs: tuple[str, ...], merge: bool, output: str | None, npts: bool, png: str | None, overwrite: bool) -> None:
    """Read AUTOCAL_FACTORS tables the DRS self-calibration wrote; plot and merge them.

    Prints one summary line per table (bands, slices with points, factors'
    median and robust spread, factors the DRS replaced by their neighbours'
    mean). --merge combines several exposures' tables with a sigma-clipped
    mean, as MPDAF's merge_autocal_factors does; -o writes the result in the
    DRS's layout. --png draws factors as MPDAF's plot_autocal_factors does
    (dots: the DRS's original value where it replaced one).

    \b
    Examples:
      pixtab autocal AUTOCAL_FACTORS.fits --png factors.png
      pixtab autocal exp*/AUTOCAL_FACTORS.fits --merge -o merged.fits --png merged.png
    """
    from ..core.format.autocal import merge as merge_tables
    from ..core.format.autocal import read, to_hdulist
    from ..core.fits.atomic import check_output
    from ..core.ops.sky.slicemap import factors_summary

    if output and not merge:
        raise click.UsageError("-o writes the merged table: add --merge")
    outs = [p for p in (output, png) if p]
    check_outputs([(inputs[0], p) for p in outs], overwrite)
    for p in outs:  # none of the other inputs either
        check_output(p, list(inputs), overwrite)
    tables = [read(p) for p in inputs]
    for path, t in zip(inputs, tables):
        click.echo(f"{path}: {factors_summary(t)}")
    shown, title = tables[0], os.path.basename(inputs[0])
    if merge:
        try:
            shown = merge_tables(tables)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        title = f"merge of {len(tables)} table(s)"
        click.echo(f"merged: {factors_summary(shown)}")
        if output:
            from ..core.fits.atomic import atomic_output

            with atomic_output(output, overwrite) as fd, os.fdopen(os.dup(fd), "wb") as f:
                to_hdulist(shown, {"HIERARCH PIXTAB MERGED": (len(tables), "tables merged")}).writeto(f)  # type: ignore[attr-defined]
            ui.info(f"wrote {output}")
    if png:
        from ..core.ops.pictures.slicepics import levels_figure

        cube = shown.npts.astype(float) if npts else shown.corr
        marks = None if npts or shown.corr_orig is None else shown.corr_orig
        write_png(png, levels_figure(cube, shown.edges, title, "number of points" if npts else "correction factor", marks), overwrite)
        ui.info(f"wrote {png}")
