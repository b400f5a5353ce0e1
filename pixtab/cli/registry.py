"""The one table of pixtab's shared options: one name, one meaning, on every command.

:data:`SHARED` lists every long option that more than one command takes, what
it means, and the commands that take it; ``tests/cli/test_registry.py`` checks
it against the click commands (a new shared option, or a name taking a second
meaning, fails there). :data:`FIELDS` names the option that sets each request
field the core names in its errors. :func:`deprecated` keeps an old name
working, hidden, with a one-line warning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

SELECTING = ("decode-origin", "export", "extract", "fit", "image", "mask", "plot", "sky", "slices", "spectrum")
WRITING = (
    "autocal", "convert", "decode-origin", "export", "extract", "fit", "image", "mask", "plot", "reconstruct-det", "sky",
    "slices", "spectrum",
)  # fmt: skip


@dataclass(frozen=True)
class Shared:
    meaning: str
    commands: tuple[str, ...]
    flag: bool = False  # a flag (no value) everywhere, or a value everywhere


def _s(meaning: str, commands: tuple[str, ...] | str, flag: bool = False) -> Shared:
    return Shared(meaning, tuple(sorted(commands.split() if isinstance(commands, str) else commands)), flag)


SHARED: dict[str, Shared] = {
    # -- which rows (the criteria: one test each; --or joins them) --
    "--circle": _s("rows closer than RADIUS to (RA, DEC)", SELECTING),
    "--square": _s("rows within a square around (RA, DEC)", SELECTING),
    "--lambda": _s("wavelength range LO:HI in Angstrom (simulate: the rows it makes)", (*SELECTING, "simulate")),
    "--ifu": _s("IFUs 1..24, e.g. 5,6 or 5-7 (reconstruct-det: one image each)", (*SELECTING, "reconstruct-det")),
    "--slice": _s("CCD slices 1..48", SELECTING),
    "--slice-numbering": _s("how slice numbers are read and printed: ccd or sky", SELECTING),
    "--stack": _s("stacks 1..4 (12 slices each)", SELECTING),
    "--exp": _s("exposures of a combined table", (*SELECTING, "reconstruct-det")),
    "--xpix": _s("detector x range LO:HI", (*SELECTING, "reconstruct-det")),
    "--ypix": _s("detector y range LO:HI", (*SELECTING, "reconstruct-det")),
    "--where": _s("a row-filter expression over the columns", (*SELECTING, "reconstruct-det")),
    "--good": _s("only rows with dq == 0", (*SELECTING, "reconstruct-det"), flag=True),
    "--or": _s("keep rows meeting any criterion, not all", SELECTING, flag=True),
    "--mask": _s("rows on a pixel > 0 of a sky mask image (sky, slices: the sources left out)", SELECTING),
    "--mask-invert": _s("--mask selects the pixels equal to 0 instead", SELECTING, flag=True),
    "--region": _s("rows inside the shapes of a DS9/CRTF region file (sky, slices: the sources left out)", SELECTING),
    "--rows": _s("a row set: a half-open range LO:HI of 0-based rows, or a FILE of rows", SELECTING),
    # -- how rows are found (the planner; never which rows) --
    "--full-scan": _s("test every row: no index, no use of the row order", SELECTING, flag=True),
    "--build-index": _s("index the table on the way (a full scan) into the cache", SELECTING, flag=True),
    # -- conventions --
    "--zero-based": _s("detector pixels counted from 0 (MPDAF), not 1", (*SELECTING, "reconstruct-det"), flag=True),
    # -- outputs --
    "--output": _s("the output file (-o)", WRITING),
    "--output-dir": _s("one output per input, in this folder", "convert decode-origin extract"),
    "--name": _s("template of the outputs' names in --output-dir", "convert decode-origin extract"),
    "--overwrite": _s("replace an existing output", (*WRITING, "simulate"), flag=True),
    "--allow-empty": _s("write an output with no row when nothing is selected", "export extract", flag=True),
    "--layout": _s("on-disk layout of a pixel table written: image or table", "extract simulate"),
    "--round-float32": _s("ASCII inputs: accept the nearest float32", "convert extract", flag=True),
    "--format": _s("format of what is printed or written", "decode-origin export fit image sky spectrum"),
    "--json": _s("JSON on stdout (one object per line)", "convert export extract fit image index info sky spectrum", flag=True),
    # -- pictures (--png) --
    "--cmap": _s("picture: the matplotlib colour map", "image reconstruct-det"),
    "--percentiles": _s("picture: limits at these percentiles of the pixels holding rows", "image reconstruct-det"),
    "--stretch": _s("picture: the stretch between the limits", "image reconstruct-det"),
    "--vmin": _s("picture: the value drawn at the bottom of the colour map", "image reconstruct-det"),
    "--vmax": _s("picture: the value drawn at the top of the colour map", "image reconstruct-det"),
    "--zscale": _s("picture: limits by zscale instead of percentiles", "image reconstruct-det", flag=True),
    "--png": _s("also draw a PNG picture to this file", "autocal fit image reconstruct-det sky slices spectrum"),
    "--column": _s("the column measured or rebuilt", "image reconstruct-det"),
    "--sky": _s("add absolute ra, dec (degrees)", "decode-origin export", flag=True),
    "--keep-flagged": _s("keep rows with dq != 0 (left out and counted by default)", "image spectrum", flag=True),
    "--seeing": _s("FWHM guess of the sources (arcsec)", "fit image sky slices"),
    "--auto": _s("leave out the sources image --peaks finds", "sky slices", flag=True),
    "--bin": _s("wavelength bin width in Angstrom", "fit sky spectrum"),
    # -- many inputs --
    "--jobs": _s("inputs processed at once (processes)", "convert decode-origin extract info"),
    "--scheduler": _s("a Dask scheduler to run the inputs on", "convert decode-origin extract info"),
}


#: the option that sets each request field the core names in its errors
FIELDS = {
    "exp": "--exp",
    "ifu": "--ifu",
    "slice": "--slice",
    "stack": "--stack",
    "lambda": "--lambda",
    "xpix": "--xpix",
    "ypix": "--ypix",
    "circle": "--circle",
    "square": "--square",
    "column": "--column",
    "fill": "--fill",
    "window": "--xpix/--ypix",
    "with": "--with",
    "sky": "--sky",
    "rows": "--rows",
    "nrows": "--nrows",
    "ifus": "--ifus",
    "exposures": "--exposures",
    "wcs": "--wcs",
    "method": "--or",
    "slice_numbering": "--slice-numbering",
    "where": "--where",
    "columns": "--columns",
    "sources": "--source",
    "profile": "--profile",
    "beta": "--beta",
    "apertures": "--circle/--square",
    "spaxel": "--spaxel",
    "statistic": "--stat",
    "peaks": "--peaks",
    "seeing": "--seeing",
    "bin": "--bin",
    "bins": "--bins",
    "model": "--model",
    "color_by": "--color-by",
    "date_obs": "--date-obs",
    "catalog": "--catalog",
    "mask": "--mask",
    "region": "--region",
    "lambda_bins": "--lambda-bins",
    "slice_offsets": "--slice-offsets",
}


#: ``ctx.meta`` key of the values given under a deprecated name, by parameter
_DEPRECATED_KEY = "pixtab.deprecated"


def deprecated(old: str, new: str, dest: str, flag_value: Any = None) -> Callable[[F], F]:
    """``old``: a hidden former name of ``new`` (the parameter ``dest``). It still works, with one
    ``pixtab: warning:`` line (scripts in the wild use it); ``flag_value``: a former flag that
    set ``dest`` to this value."""

    def given(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None or value is False:
            return value
        from . import output

        output.warning(f"{old} is deprecated: use {new}")
        target = next(p for p in ctx.command.params if p.name == dest)
        raw = flag_value if flag_value is not None else value
        ctx.meta.setdefault(_DEPRECATED_KEY, {})[dest] = raw if flag_value is not None else target.process_value(ctx, raw)
        return value

    kw: dict[str, Any] = {"is_flag": True} if flag_value is not None else {"metavar": "VALUE"}
    return click.option(old, f"deprecated_{old.lstrip('-').replace('-', '_')}", hidden=True, expose_value=False,
                        callback=given, **kw)  # fmt: skip


def apply_deprecated(ctx: click.Context) -> None:
    """Hand the values given under deprecated names to their parameters (the new name wins)."""
    for dest, value in ctx.meta.pop(_DEPRECATED_KEY, {}).items():
        source = ctx.get_parameter_source(dest)
        if source is None or source.name in ("DEFAULT", "DEFAULT_MAP"):
            ctx.params[dest] = value
