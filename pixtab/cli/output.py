"""Everything the CLI writes: data on stdout, logs and progress on stderr.

The rich console for stderr is built on demand so that click's test runner,
which swaps ``sys.stderr``, captures it. Progress bars are drawn only when
stderr is a terminal and the user did not ask for ``--quiet``
(:func:`pixtab.cli.writing.phases`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Iterable, Sequence
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


def warning(message: str) -> None:
    """A warning on stderr (``pixtab: warning: ...``), kept by ``-q``."""
    logging.getLogger("pixtab").warning(message)


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


def write_text(path: str | None, overwrite: bool, blocks: Iterable[bytes]) -> None:
    """Text blocks to stdout (no path or '-'; ending quietly on a closed pipe) or atomically
    to ``path`` (checked before any work, with :func:`pixtab.cli.writing.check_outputs`)."""
    if path and path != "-":
        from ..core.fits.atomic import atomic_output

        with atomic_output(path, overwrite) as fd, os.fdopen(os.dup(fd), "wb") as f:
            for block in blocks:
                f.write(block)
        return
    stream = sys.stdout.buffer
    try:
        for block in blocks:
            stream.write(block)
        stream.flush()
    except BrokenPipeError:
        # The reader went away (| head): silence the final flush, let click exit quietly.
        _silence_stdout()
        raise


def _silence_stdout() -> None:
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _cell(value: object) -> str:
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        v = float(value)  # type: ignore[arg-type]
        return "nan" if math.isnan(v) else format(v, ".12g")
    return str(value)


def records_text(records: Sequence[dict[str, object]], fmt: str, keys: Sequence[str] = ()) -> bytes:
    """Records as CSV/TSV with a header line, or JSON Lines (NaN as null, keys in order)."""
    if fmt == "json":
        def clean(v: object) -> object:
            if isinstance(v, float) or type(v).__name__.startswith("float"):
                f = float(v)  # type: ignore[arg-type]
                return None if math.isnan(f) or math.isinf(f) else f
            if type(v).__name__.startswith(("int", "uint")):
                return int(v)  # type: ignore[call-overload]
            return v

        return "".join(json.dumps({k: clean(v) for k, v in r.items()}) + "\n" for r in records).encode()
    sep = "\t" if fmt == "tsv" else ","
    if not records and not keys:
        return b""
    keys = list(records[0]) if records else list(keys)
    lines = [sep.join(keys)]
    for r in records:
        cells = [_cell(r.get(k, "")) for k in keys]
        if sep == ",":
            cells = ['"' + c.replace('"', '""') + '"' if ("," in c or '"' in c) else c for c in cells]
        lines.append(sep.join(cells))
    return ("\n".join(lines) + "\n").encode()


def emit_records(
    records: Sequence[dict[str, object]], fmt: str, path: str | None, overwrite: bool, keys: Sequence[str] = ()
) -> None:
    """Print records (stdout, or the checked file ``path``) as CSV, TSV or JSON Lines (``keys``: header when empty)."""
    write_text(path, overwrite, [records_text(records, fmt, keys)])
