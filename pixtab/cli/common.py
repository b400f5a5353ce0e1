"""Options shared by the measuring commands (image, spectrum, fit, plot)."""

from __future__ import annotations

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


def png_opt(what: str) -> Callable[[F], F]:
    return click.option("--png", type=click.Path(dir_okay=False, path_type=str), metavar="FILE", help=f"Also draw {what} into this PNG file.")


def keep_flagged_opt(f: F) -> F:
    return click.option("--keep-flagged", is_flag=True, help="Use rows with dq != 0 too (default: leave them out).")(f)


def text_format(fmt: str, as_json: bool) -> str:
    return "json" if as_json else fmt


def write_png(path: str, fig: Any, overwrite: bool) -> None:
    """Save a figure atomically to ``path`` (checked with the run's other outputs, before any work)."""
    from ..core.fits.atomic import atomic_output
    from ..core.ops.pictures import save

    with atomic_output(path, overwrite) as fd:
        save(fig, fd)


def file_outputs(*paths: str | None) -> list[str]:
    """The outputs that are files ('-' and None are stdout or nothing)."""
    return [p for p in paths if p and p != "-"]
