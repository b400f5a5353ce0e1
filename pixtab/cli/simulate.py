"""``pixtab simulate``: write a realistic synthetic pixel table."""

from __future__ import annotations

import math

import click

from . import output
from .errors import PixtabCommand
from .options import int_list_callback, layout_opt, overwrite_opt, range_callback
from .registry import deprecated
from .writing import check_outputs, phases


def _rows(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        n = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number (e.g. 1e6)", ctx=ctx, param=param) from None
    if not math.isfinite(n) or n != int(n) or n < 1:
        raise click.BadParameter(f"{value!r} is not a positive whole number", ctx=ctx, param=param)
    return int(n)


def _finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not math.isfinite(value):
        raise click.BadParameter(f"{value!r} is not a finite number", ctx=ctx, param=param)
    return value


def _finite_sources(ctx: click.Context, param: click.Parameter, value: tuple) -> tuple:
    for source in value:
        if not all(math.isfinite(v) for v in source):
            raise click.BadParameter(f"{' '.join(map(repr, source))}: every number must be finite", ctx=ctx, param=param)
    return value


@click.command("simulate", cls=PixtabCommand)
@click.argument("output_path", metavar="OUTPUT", type=click.Path(dir_okay=False, path_type=str))
@click.option("--nrows", "rows", default="1e6", show_default=True, callback=_rows, metavar="N", help="Total number of rows (up to 3.2e8 and more).")
@deprecated("--rows", "--nrows", "rows")
@layout_opt()
@click.option("--ifus", default="1-24", show_default=True, callback=int_list_callback(1, 24), help="IFUs to include (5,6 or 1-24).")
@click.option("--exposures", default=1, show_default=True, type=click.IntRange(1, 99), help="Exposures; >1 makes a combined table.")
@click.option(
    "--wcs",
    type=click.Choice(["pixel", "projected", "positioned"]),
    default="positioned",
    show_default=True,
    help="Coordinate state of xpos/ypos (pix, rad or deg).",
)
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**63 - 1), help="Random seed (same seed, same file).")
@click.option("--flat-field", is_flag=True, help="Append a PIXTABLE_FLAT_FIELD extension.")
@click.option("--ra", default=150.1163, show_default=True, type=click.FloatRange(0, 360, max_open=True), callback=_finite, help="Pointing RA [deg].")
@click.option("--dec", default=2.2058, show_default=True, type=click.FloatRange(-90, 90), callback=_finite, help="Pointing Dec [deg].")
@click.option(
    "--source",
    "sources",
    nargs=4,
    multiple=True,
    type=float,
    callback=_finite_sources,
    metavar="RA DEC FWHM PEAK",
    help="Inject a point source (repeatable): RA, Dec [deg], FWHM [arcsec] at 7000 Angstrom, peak "
    "[data units], flat spectrum. Given sources replace the default ones; recorded in the header.",
)
@click.option(
    "--profile",
    type=click.Choice(["gaussian", "moffat"]),
    default="gaussian",
    show_default=True,
    help="Profile of the --source sources.",
)
@click.option("--beta", default=2.8, show_default=True, type=float, callback=_finite, help="Moffat power index (--profile moffat).")
@click.option(
    "--seeing-slope",
    default=0.0,
    show_default=True,
    type=float,
    callback=_finite,
    help="FWHM varies as (lambda / 7000 Angstrom) ** SLOPE (seeing: about -0.2).",
)
@click.option(
    "--lambda-tilt",
    default=0.0,
    show_default=True,
    type=float,
    callback=_finite,
    metavar="ANGSTROM",
    help="Tilt lambda across each slice by this much from edge to edge, as the pipeline's wavelength "
    "solution does (a few Angstrom; 0: lambda follows the CCD row only).",
)
@click.option(
    "--date-obs",
    default="2023-03-14T05:12:08.118",
    show_default=True,
    metavar="ISOT",
    help="DATE-OBS (and MJD-OBS) of the exposure; exposures of one field need distinct ones.",
)
@click.option("--keep-sky", is_flag=True, help="Leave the sky (a continuum and emission lines) in data: a table before "
              "sky subtraction (SKYSUB false), for pixtab sky and slices.")
@click.option("--slice-offsets", default=0.0, show_default=True, type=float, metavar="SIGMA", callback=_finite,
              help="Multiply each IFU slice's data by its own level 1 + N(0, SIGMA) (seeded): the slice pattern "
              "self-calibration removes; 0: none.")
@click.option("--lambda", "lambda_range", metavar="LO:HI", callback=range_callback(),
              help="Simulate only the detector rows of this wavelength range [LO, HI) in Angstrom (a patch of a real exposure).")
@click.option("--full-density", is_flag=True,
              help="A row on every pixel of every slice (in the --lambda window), as in a real exposure: about 1.3e7 rows "
              "per IFU over the whole range; the row count follows (do not give --nrows).")
@overwrite_opt
def command(output_path: str, overwrite: bool, sources: tuple, **kw: object) -> None:
    """Write a realistic synthetic pixel table to OUTPUT ('-': stdout, not a terminal).

    Rows are ordered by exposure, IFU, slice and detector row as the pipeline
    writes them, with XOFFSET keywords, LIMITS and a few bright sources. The
    file loads in the MUSE pipeline. Every source (the default ones too) is
    recorded in the header (PIXTAB SIM SRCn RA/DEC/FWHM/PEAK).

    --nrows spreads rows thinly over every slice (1e6 rows in 24 IFUs is 1/300
    of a real exposure, so detector pictures look like a barcode);
    --full-density --lambda LO:HI --ifus ... gives the true density of a real
    exposure in a small patch.

    \b
    Examples:
      pixtab simulate sample.fits --nrows 2e6
      pixtab simulate combined.fits --exposures 3 --ifus 10,11 --layout table
      pixtab simulate star.fits --nrows 2e6 --ifus 12,13 --source 150.1163 2.2058 0.8 5000
      pixtab simulate patch.fits --full-density --ifus 12,13 --lambda 6000:6100
    """
    from ..core.fits.atomic import atomic_output
    from ..core.ops.simulate.tables import SimulationSpec, SimSource, simulate, validate

    ctx = click.get_current_context()
    if kw["full_density"] and ctx.get_parameter_source("rows") is not click.core.ParameterSource.DEFAULT:
        raise click.UsageError("--full-density sets the row count: give --nrows or --full-density, not both")
    if kw["lambda_range"] is not None:
        kw["lambda_range"] = tuple(kw["lambda_range"])  # type: ignore[arg-type]
    spec = SimulationSpec(sources=[SimSource(*s) for s in sources], **kw)  # type: ignore[arg-type]
    validate(spec)
    check_outputs([], overwrite, [output_path])
    with phases(output_path) as progress, atomic_output(output_path, overwrite) as fd:
        simulate(fd, spec, progress=progress)
    output.info(f"wrote {output.shown_path(output_path)} ({spec.rows:,} rows, {spec.layout} layout, {spec.wcs})")
