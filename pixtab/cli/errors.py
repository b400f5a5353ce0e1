"""The seam between the core's errors and click: one line, the right exit status.

The core raises :class:`~pixtab.core.errors.PixtabError` s naming the request
field at fault; here they become click errors naming the option
(:data:`pixtab.cli.registry.FIELDS`) or the advice that helps (:data:`ADVICE`):
a :class:`~pixtab.core.errors.CriteriaError` is a usage error (exit 2), any
other one an ``Error:`` line (exit 1). :class:`PixtabCommand` and
:class:`PixtabGroup` run every command inside that seam.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from .registry import FIELDS, apply_deprecated

EXIT_OK, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 130
#: ``ctx.meta`` key of the command line as given (a batch task reruns it)
ARGV_KEY = "pixtab.argv"

#: advice on how to get past an error, by the field the core names
ADVICE = {
    "overwrite": "use --overwrite to replace it",
    "allow_empty": "--allow-empty writes a 0-row table",
    "round_float32": "--round-float32 accepts the nearest float32",
    "one_ifu": "choose one with --ifu N, or use --all-ifus",
    "one_exp": "choose one with --exp K",
}


def describe_error(exc: Exception) -> str:
    """A core error's message, with the option it is about or the advice that helps."""
    field = getattr(exc, "field", None)
    if field in ADVICE:
        return f"{exc} ({ADVICE[field]})"
    if field in FIELDS:
        return f"{FIELDS[field]}: {exc}"
    return str(exc)


def translate_errors(ctx: click.Context, invoke: Callable[[click.Context], Any]) -> Any:
    """Run ``invoke(ctx)``, turning core errors into click errors bound to ``ctx``.

    CriteriaError becomes a usage error (exit 2, with the command's own usage
    line); other PixtabErrors and MemoryError one ``Error:`` line (exit 1).
    """
    from ..core.errors import CriteriaError, PixtabError

    try:
        return invoke(ctx)
    except CriteriaError as exc:
        if debug(ctx):
            raise
        raise click.UsageError(describe_error(exc), ctx=ctx) from None
    except PixtabError as exc:
        if debug(ctx):
            raise
        raise click.ClickException(describe_error(exc)) from None
    except MemoryError:
        if debug(ctx):
            raise
        raise click.ClickException("out of memory") from None
    except OSError as exc:
        # The file system refused something (a name too long, EIO...): one line naming the path.
        if debug(ctx) or not exc.filename or isinstance(exc, BrokenPipeError):
            raise
        raise click.ClickException(f"{exc.filename}: {exc.strerror or exc}") from None


class PixtabCommand(click.Command):
    """A subcommand whose core errors become one-line messages with the right exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        apply_deprecated(ctx)
        return translate_errors(ctx, super().invoke)


class PixtabGroup(click.Group):
    """The group, with the same error translation for anything raised outside a command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGV_KEY] = list(args)  # the command line a batch task reruns
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        return translate_errors(ctx, super().invoke)


def debug(ctx: click.Context) -> bool:
    obj = ctx.find_root().obj
    return bool((obj and obj.traceback) or os.environ.get("PIXTAB_DEBUG") == "1")
