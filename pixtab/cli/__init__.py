"""The ``pixtab`` command group: global options, error handling, exit codes.

Command modules import numpy/astropy (through :mod:`pixtab.core`) only inside
their bodies, so ``pixtab --help`` and tab completion stay fast.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from .. import __version__
from ..core.fits.atomic import Interrupted, interrupted, note_interrupt  # light: no numpy/astropy
from . import batch, completion, output, thirdparty

EXIT_OK, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 130

CONTEXT_SETTINGS = {
    "help_option_names": ["-h", "--help"],
    "auto_envvar_prefix": "PIXTAB",
    "max_content_width": 100,
}

EPILOG = """\b
Exit status:
  0    success
  1    runtime or data error (also: some of several inputs failed)
  2    usage error (bad option or value)
  130  interrupted (Ctrl-C); 143 on SIGTERM, 129 SIGHUP, 131 SIGQUIT: no partial output is left.

\b
Environment:
  PIXTAB_QUIET=1   as -q (2: -qq); PIXTAB_VERBOSE=1 as -v
  PIXTAB_DEBUG=1   show tracebacks, as --traceback
  NO_COLOR=1       no colours on a terminal (pipes and files never get any)

Detector pixels are 1-based (as the MUSE pipeline and FITS count) unless
--zero-based is given; ranges LO:HI are half-open; row indices are 0-based.
Set PIXTAB_DEBUG=1 or pass --traceback to see tracebacks."""


@dataclass
class Settings:
    """Global options, available to commands as ``ctx.find_root().obj``."""

    verbose: int = 0
    quiet: int = 0
    traceback: bool = False


class Terminated(BaseException):
    """Raised by the SIGTERM/SIGHUP/SIGQUIT handler so that ``finally`` blocks clean up."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        self.signum = signum
        super().__init__(f"signal {signum}")


#: signals that stop a run cleanly (temporary files removed), exit status 128 + number: Ctrl-C,
#: a scheduler's kill, a closed terminal or dropped ssh session (SIGHUP), Ctrl-\ (SIGQUIT)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_STOP_MESSAGES = {signal.SIGINT: "Interrupted.", signal.SIGHUP: "Hangup.", signal.SIGQUIT: "Quit."}


#: the option that sets each request field the core names in its errors (same name, same meaning, every command)
OPTIONS = {
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
    "bin_width": "--bin-width",
    "model": "--model",
    "color_by": "--color-by",
    "date_obs": "--date-obs",
    "catalog": "--catalog",
    "mask": "--mask",
    "region": "--region",
    "lambda_bins": "--lambda-bins",
    "slice_offsets": "--slice-offsets",
}
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
    if field in OPTIONS:
        return f"{OPTIONS[field]}: {exc}"
    return str(exc)


def _translate_errors(ctx: click.Context, invoke: Callable[[click.Context], Any]) -> Any:
    """Run ``invoke(ctx)``, turning core errors into click errors bound to ``ctx``.

    CriteriaError becomes a usage error (exit 2, with the command's own usage
    line); other PixtabErrors and MemoryError one ``Error:`` line (exit 1).
    """
    from ..core.errors import CriteriaError, PixtabError

    try:
        return invoke(ctx)
    except CriteriaError as exc:
        if _debug(ctx):
            raise
        raise click.UsageError(describe_error(exc), ctx=ctx) from None
    except PixtabError as exc:
        if _debug(ctx):
            raise
        raise click.ClickException(describe_error(exc)) from None
    except MemoryError:
        if _debug(ctx):
            raise
        raise click.ClickException("out of memory") from None
    except OSError as exc:
        # The file system refused something (a name too long, EIO...): one line naming the path.
        if _debug(ctx) or not exc.filename or isinstance(exc, BrokenPipeError):
            raise
        raise click.ClickException(f"{exc.filename}: {exc.strerror or exc}") from None


class PixtabCommand(click.Command):
    """A subcommand whose core errors become one-line messages with the right exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        return _translate_errors(ctx, super().invoke)


class PixtabGroup(click.Group):
    """The group, with the same error translation for anything raised outside a command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[batch.ARGV_KEY] = list(args)  # the command line a batch task reruns
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        return _translate_errors(ctx, super().invoke)


def _debug(ctx: click.Context) -> bool:
    obj = ctx.find_root().obj
    return bool((obj and obj.traceback) or os.environ.get("PIXTAB_DEBUG") == "1")


@click.group(cls=PixtabGroup, context_settings=CONTEXT_SETTINGS, epilog=EPILOG)
@click.version_option(__version__, "-V", "--version", message="%(version)s")
@click.option("-v", "--verbose", count=True, help="More messages on stderr (repeatable).")
@click.option("-q", "--quiet", count=True, help="No progress or info messages; -qq: errors only.")
@click.option("--traceback", is_flag=True, help="Show the full traceback of errors (debugging).")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: int, traceback: bool) -> None:
    """Streaming tools for MUSE pixel tables (PIXTABLE_* files).

    Reads both on-disk layouts (IMAGE extensions and BINTABLE) in bounded
    memory, and writes files the MUSE pipeline loads. Data go to stdout,
    messages and progress to stderr.
    """
    ctx.obj = Settings(verbose, quiet, traceback)
    output.configure_logging(verbose, quiet)


#: subcommand modules, in the order ``--help`` lists them
COMMAND_MODULES = [
    "info", "extract", "index", "export", "convert", "simulate", "decode_origin", "reconstruct_det", "image", "spectrum", "fit",
    "plot", "mask", "sky", "slices", "autocal",
]


def _register_commands() -> None:
    import importlib

    for name in COMMAND_MODULES:
        cli.add_command(importlib.import_module(f"{__name__}.{name}").command)


def _on_signal(signum: int, frame: object) -> None:
    if interrupted():  # already stopping: a second signal must not cut the clean-up short
        return
    note_interrupt(signum)  # in case the exception below is swallowed by a finaliser
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def _quiet_unraisable(unraisable: Any) -> None:
    """Drop the "Exception ignored" report of an interrupt that landed in a finaliser.

    The interrupt itself is not lost: ``note_interrupt`` recorded it, and no
    output is committed after it.
    """
    if isinstance(unraisable.exc_value, (KeyboardInterrupt, Terminated)):
        return
    sys.__unraisablehook__(unraisable)


def _guard_standard_fds() -> None:
    """Give a closed stdin/stdout/stderr (``2>&-``, some daemons and cron set-ups) a stand-in.

    Otherwise the next file pixtab opens would get that descriptor and messages
    meant for stderr would land in an output. A closed stderr becomes /dev/null
    (pixtab then works normally and says nothing); a closed stdout becomes a
    read-only /dev/null, so that writing data to it fails loudly (exit 1).
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            stand_in = os.open(os.devnull, os.O_WRONLY if fd == 2 else os.O_RDONLY)
            if stand_in != fd:
                os.dup2(stand_in, fd)
                os.close(stand_in)
    if sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115 - lives as long as the process
    if sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    if not isinstance(sys.stdout, output.CheckedStdout):
        sys.stdout = output.CheckedStdout(sys.stdout)


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int, *args: Any, **kw: Any) -> None:
    """Python warnings (numpy's RuntimeWarnings on inf/NaN data, astropy's) as one ``pixtab: warning:``
    line, without the module path and source line a user can do nothing with."""
    import logging

    logging.getLogger("pixtab").warning("%s", str(message).splitlines()[0] if str(message) else category.__name__)


def _say(message: str) -> None:
    """A last message on stderr; a stderr that is gone (closed terminal) is not an error."""
    try:
        click.echo(message, err=True)
    except (OSError, ValueError):
        pass


def main(args: list[str] | None = None, prog_name: str = "pixtab") -> None:
    """Console-script entry point: exit 130 on Ctrl-C, 143 on SIGTERM, never a traceback.

    click's standalone mode would turn Ctrl-C into "Aborted!" with status 1, so
    exceptions are handled here instead.
    """
    _guard_standard_fds()
    import warnings

    previous_showwarning, warnings.showwarning = warnings.showwarning, _warning_line
    thirdparty.install()
    previous = {sig: signal.signal(sig, _on_signal) for sig in STOP_SIGNALS}
    sys.unraisablehook = _quiet_unraisable
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        if previous[sig] == signal.SIG_IGN:  # background job with Ctrl-C ignored, nohup, ...
            signal.signal(sig, signal.SIG_IGN)
    try:
        rv = cli.main(args=args, prog_name=prog_name, standalone_mode=False)
        code = rv if isinstance(rv, int) else EXIT_OK
        output.flush_stdout()
    except click.ClickException as exc:
        try:
            exc.show()
        except (OSError, ValueError):
            pass
        code = exc.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):
        _say("Interrupted.")
        code = EXIT_INTERRUPTED
    except (Terminated, Interrupted) as exc:
        _say(_STOP_MESSAGES.get(exc.signum, "Terminated."))
        code = 128 + exc.signum
    except Exception as exc:
        # A bug, not bad input: still one line, unless the user asked for details.
        if "--traceback" in (args if args is not None else sys.argv) or os.environ.get("PIXTAB_DEBUG") == "1":
            raise
        _say(f"Error: internal error: {type(exc).__name__}: {exc} (rerun with --traceback)")
        code = EXIT_FAILURE
    finally:
        warnings.showwarning = previous_showwarning
        output.release_stdout()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    sys.exit(code)


_register_commands()
completion.register_fish()
