"""Options shared by the measuring commands (image, spectrum, fit, plot)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def format_opts(f: F) -> F:
    """``--format csv|tsv|json`` and ``--json`` (the same as ``--format json``)."""
    f = click.option("--json", "as_json", is_flag=True, help="Print JSON Lines (the same as --format json).")(f)
    return click.option(
        "--format", "fmt", type=click.Choice(["csv", "tsv", "json"]), default="csv", show_default=True,
        help="Text format of the results (CSV with a header line, TSV, or JSON Lines).",
    )(f)


#: picture file extensions (as pixtab.core.ops.pictures.display.FORMATS, without importing numpy here)
PICTURE_EXTENSIONS = (".png", ".pdf", ".svg")


def picture_path_cb(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A picture's file name: its extension says the format; another one is a usage error."""
    if value is None or ctx.resilient_parsing:
        return value
    if not value.lower().endswith(PICTURE_EXTENSIONS):
        raise click.BadParameter(f"{value!r}: the extension gives the format: .png, .pdf or .svg", ctx=ctx, param=param)
    return value


def png_opt(what: str) -> Callable[[F], F]:
    return click.option("--png", type=click.Path(dir_okay=False, path_type=str), metavar="FILE", callback=picture_path_cb,
                        help=f"Also draw {what} into this file (PNG, PDF or SVG, by its extension).")


def _pct_cb(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, float] | None:
    if value is None or ctx.resilient_parsing:
        return None
    try:
        lo, hi = (float(v) for v in value.split(":"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: give LO:HI, e.g. 1:99", ctx=ctx, param=param) from None
    if not 0 <= lo < hi <= 100:
        raise click.BadParameter(f"{value!r}: need 0 <= LO < HI <= 100", ctx=ctx, param=param)
    return lo, hi


def display_opts(defaults: str) -> Callable[[F], F]:
    """How a picture shows values: --vmin/--vmax, --percentiles, --zscale, --stretch, --cmap;
    the command gets ``display`` (a dict for pixtab.core.ops.pictures.display.Display)."""

    def deco(f: F) -> F:
        opts = [
            click.option("--vmin", type=float, help="Picture: value drawn as the bottom of the colour map."),
            click.option("--vmax", type=float, help="Picture: value drawn as the top of the colour map."),
            click.option("--percentiles", callback=_pct_cb, metavar="LO:HI",
                         help=f"Picture: limits at these percentiles of the pixels that hold rows ({defaults})."),
            click.option("--zscale", is_flag=True, help="Picture: limits by zscale (as IRAF and DS9) instead of percentiles."),
            click.option("--stretch", type=click.Choice(["linear", "asinh", "log", "sqrt"]), help="Picture: stretch between the limits."),
            click.option("--cmap", metavar="NAME", help="Picture: matplotlib colour map (gray, viridis, magma, ...)."),
        ]

        @functools.wraps(f)
        def wrapper(*args: Any, **kw: Any) -> Any:
            kw["display"] = {k: kw.pop(k) for k in ("vmin", "vmax", "percentiles", "zscale", "stretch", "cmap")}
            return f(*args, **kw)

        for opt in reversed(opts):
            wrapper = opt(wrapper)
        return wrapper  # type: ignore[return-value]

    return deco


def keep_flagged_opt(f: F) -> F:
    return click.option("--keep-flagged", is_flag=True, help="Use rows with dq != 0 too (default: leave them out).")(f)


def text_format(fmt: str, as_json: bool) -> str:
    return "json" if as_json else fmt


def write_png(path: str, fig: Any, overwrite: bool) -> None:
    """Save a figure atomically to ``path``, in the format its extension names (checked with
    the run's other outputs, before any work)."""
    from ..core.fits.atomic import atomic_output
    from ..core.ops.pictures.pictures import save

    with atomic_output(path, overwrite) as fd:
        save(fig, fd, os.path.splitext(path)[1].lower().lstrip(".") or "png")


def make_display(display: dict[str, Any]) -> Any:
    """The core's Display from the options (an unknown colour map is a usage error, exit 2)."""
    from ..core.ops.pictures.display import Display

    if display.get("cmap"):
        from ..core.ops.pictures.pictures import pyplot

        try:
            pyplot().get_cmap(display["cmap"])
        except ValueError:
            raise click.BadParameter(f"unknown colour map {display['cmap']!r} (e.g. gray, viridis, magma, inferno, cividis)",
                                     param_hint="'--cmap'") from None
    return Display(**display)


def file_outputs(*paths: str | None) -> list[str]:
    """The outputs that are files ('-' and None are stdout or nothing)."""
    return [p for p in paths if p and p != "-"]


def title_name(path: str) -> str:
    """A file's name for a figure title: undecodable bytes as U+FFFD, control characters
    (a tab...) escaped, so that any legal file name can be drawn."""
    import os

    name = os.fsencode(os.path.basename(path)).decode("utf-8", "replace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in name)
