"""Everything the CLI writes: data on stdout, logs and progress on stderr.

The rich console for stderr is built on demand so that click's test runner,
which swaps ``sys.stderr``, captures it. Progress bars are drawn only when
stderr is a terminal and the user did not ask for ``--quiet``
(:func:`pixtab.cli.writing.phases`).
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click


def stderr_console() -> Any:
    """A rich console writing to the current ``sys.stderr`` (honours NO_COLOR, TERM=dumb)."""
    from rich.console import Console

    return Console(file=sys.stderr, stderr=True, highlight=False)


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


class StdoutError(click.ClickException):
    """Data could not be written to stdout (a full disk, a closed stdout): exit 1, one line."""

    def __init__(self, exc: OSError) -> None:
        from ..core.fits.atomic import describe_os_error

        super().__init__(describe_os_error(exc, "stdout"))


def silence_stdout() -> None:
    """Point fd 1 at /dev/null so that the interpreter's final flush cannot fail again."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


#: the first failed write to stdout of this run, re-raised by every later write and at the end
_stdout_failure: StdoutError | None = None
#: the reader of stdout went away (``| head``): the run ends as Unix tools do, by SIGPIPE
_reader_gone = False


def reader_gone() -> bool:
    """Did a write to stdout meet a closed pipe during this run?"""
    return _reader_gone


@contextmanager
def writing_stdout() -> Iterator[None]:
    """Every write of data to stdout goes through this: a failure is one ``Error:`` line.

    A closed pipe (``| head``) is not an error: it propagates as BrokenPipeError,
    which ends the run quietly.
    """
    global _stdout_failure, _reader_gone
    if _stdout_failure is not None:
        raise _stdout_failure
    try:
        yield
    except BrokenPipeError:
        _reader_gone = True
        silence_stdout()
        raise
    except OSError as exc:
        silence_stdout()
        # Kept: a caller that swallows it (click probes streams in try/except) does not lose it.
        _stdout_failure = StdoutError(exc)
        raise _stdout_failure from None


class CheckedStdout:
    """``sys.stdout`` for a whole run: click's own output (``--help``, ``--version``) too
    reports a failed write as one line instead of a traceback."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        with writing_stdout():
            return self._stream.write(text)

    def flush(self) -> None:
        with writing_stdout():
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def release_stdout() -> None:
    """Put the plain stream back for the interpreter's exit (its flush then goes to /dev/null
    if a write failed)."""
    if isinstance(sys.stdout, CheckedStdout):
        sys.stdout = sys.stdout._stream


def flush_stdout() -> None:
    """Flush stdout at the end of a run, so that a failed write is reported (not lost)."""
    with writing_stdout():
        if sys.stdout is not None:
            sys.stdout.flush()


def echo(text: str = "") -> None:
    """One line of data on stdout."""
    with writing_stdout():
        click.echo(text)
        sys.stdout.flush()


def shown_path(path: str) -> str:
    """A path as messages name it: '-' is the standard output."""
    return "standard output" if path == "-" else path


def info(message: str) -> None:
    """A human message on stderr ("wrote X"), silenced by ``-q``."""
    logging.getLogger("pixtab").info(message)


def warning(message: str) -> None:
    """A warning on stderr (``pixtab: warning: ...``), kept by ``-q``."""
    logging.getLogger("pixtab").warning(message)


def print_json(obj: object, source: str = "") -> None:
    """One JSON object on one line of stdout, keys sorted (JSON Lines for many).

    JSON has no NaN or infinity: such values (e.g. a header's LIMITS = 1E999)
    are written as null, with a warning naming them.
    """
    bad: list[str] = []
    clean = _finite_only(obj, "", bad)
    for where in bad:
        logging.getLogger("pixtab").warning("%s%s is not finite; written as null", f"{source}: " if source else "", where)
    import json

    echo(json.dumps(clean, sort_keys=True, allow_nan=False, default=_json_default))


def _finite_only(obj: object, where: str, bad: list[str]) -> object:
    if isinstance(obj, dict):
        return {k: _finite_only(v, f"{where}.{k}" if where else str(k), bad) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_only(v, f"{where}[{i}]", bad) for i, v in enumerate(obj)]
    if isinstance(obj, float) or type(obj).__name__.startswith("float"):
        try:
            value = float(obj)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return obj
        if not math.isfinite(value):
            bad.append(where)
            return None
    return obj


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
    # A reader that went away (| head) ends the run by SIGPIPE; any other failure is one line.
    with writing_stdout():
        stream.flush()
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):  # click's test runner: no descriptor
            fd = None
        for block in blocks:
            if fd is None:
                stream.write(block)
                continue
            # os.write, not the buffered stream: a partial write to a pipe whose reader left
            # must end in EPIPE here, not be kept in a buffer and lost at exit.
            view = memoryview(block)
            while view:
                view = view[os.write(fd, view[: 1 << 20]) :]
        stream.flush()


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

        import json

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
