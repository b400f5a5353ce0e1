"""Everything the CLI writes: data on stdout, logs and progress on stderr.

The rich console for stderr is built on demand so that click's test runner,
which swaps ``sys.stderr``, captures it. Progress bars are drawn only when
stderr is a terminal and the user did not ask for ``--quiet``
(:func:`pixtab.cli.writing.phases`).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import click

def stderr_console() -> Any:
    """A rich console writing to the current ``sys.stderr`` (honours NO_COLOR, TERM=dumb)."""
    from rich.console import Console

    return Console(file=sys.stderr, stderr=True, highlight=False)


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def echo(text: str = "") -> None:
    """One line of data on stdout."""
    click.echo(text)


def info(message: str) -> None:
    """A human message on stderr ("wrote X"), silenced by ``-q``."""
    logging.getLogger("pixtab").info(message)


def print_json(obj: object) -> None:
    """One JSON object on one line of stdout, keys sorted (JSON Lines for many)."""
    click.echo(json.dumps(obj, sort_keys=True, allow_nan=False, default=_json_default))


def _json_default(obj: object) -> object:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class _StderrHandler(logging.Handler):
    """Log records as ``pixtab: level: message`` lines on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
            if record.levelno >= logging.WARNING:
                msg = f"pixtab: {record.levelname.lower()}: {msg}"
            click.echo(msg, err=True)
        except Exception:  # pragma: no cover - logging must never crash the tool
            self.handleError(record)


def configure_logging(verbose: int, quiet: int) -> None:
    """INFO by default; ``-q`` keeps warnings, ``-qq`` errors only; ``-v`` adds debug."""
    level = logging.INFO - 10 * verbose + 10 * quiet
    if quiet:
        level = logging.WARNING if quiet == 1 else logging.ERROR
    root = logging.getLogger("pixtab")
    root.handlers[:] = [_StderrHandler()]
    root.setLevel(max(logging.DEBUG, level))
    root.propagate = False


def progress_enabled() -> bool:
    ctx = click.get_current_context(silent=True)
    quiet = bool(ctx and ctx.find_root().obj and ctx.find_root().obj.quiet)
    return not quiet and sys.stderr.isatty()
