"""The process around a run: signals, standard descriptors, warnings, exit status.

:func:`run` is what ``pixtab`` does as a program: a closed stdin/stdout/stderr
gets a stand-in, SIGINT/SIGTERM/SIGHUP/SIGQUIT stop the run cleanly (temporary
files removed) with status 128 + the signal, Python warnings become one
``pixtab: warning:`` line, and nothing ends in a traceback.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import click

from ..core.fits.atomic import Interrupted, interrupted, note_interrupt  # light: no numpy/astropy
from . import output, thirdparty
from .errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK


class Terminated(BaseException):
    """Raised by the SIGTERM/SIGHUP/SIGQUIT handler so that ``finally`` blocks clean up."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        self.signum = signum
        super().__init__(f"signal {signum}")


#: signals that stop a run cleanly (temporary files removed), exit status 128 + number: Ctrl-C,
#: a scheduler's kill, a closed terminal or dropped ssh session (SIGHUP), Ctrl-\ (SIGQUIT)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_STOP_MESSAGES = {signal.SIGINT: "Interrupted.", signal.SIGHUP: "Hangup.", signal.SIGQUIT: "Quit."}


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


def keep_freed_memory() -> bool:
    """Have glibc keep the memory pixtab frees for its next arrays (Linux; True if it agreed).

    A pass allocates and frees chunk-sized arrays all the time (reads, picked rows, write
    batches). By default glibc maps each array over 128 KiB (a threshold that rises as they
    are freed) and hands the top of its heap back beyond 128 KiB free, so the next array is
    new memory: a page fault per 4 KiB, about 0.2 us on bare metal and up to 10 us on a VM
    whose host backs the guest's memory lazily. With arrays up to 32 MiB (glibc's most) from
    the heap, and the heap given back only beyond 1 GiB free, ``extract --ifu 12`` of a
    3.2e8-row table took 33 k page faults instead of 104 k. The price: the process keeps its
    peak heap until it exits, which is right for a command, not for a library's host.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    # M_MMAP_THRESHOLD (-3), then M_TRIM_THRESHOLD (-1); 1 on success
    return bool(mallopt(-3, 32 << 20)) and bool(mallopt(-1, 1 << 30))


def _say(message: str) -> None:
    """A last message on stderr; a stderr that is gone (closed terminal) is not an error."""
    try:
        click.echo(message, err=True)
    except (OSError, ValueError):
        pass


def run(group: click.Group, args: list[str] | None = None, prog_name: str = "pixtab") -> None:
    """Run ``group`` as the program: exit 130 on Ctrl-C, 143 on SIGTERM, never a traceback.

    click's standalone mode would turn Ctrl-C into "Aborted!" with status 1, so
    exceptions are handled here instead.
    """
    _guard_standard_fds()
    keep_freed_memory()
    import warnings

    previous_showwarning, warnings.showwarning = warnings.showwarning, _warning_line
    thirdparty.install()
    previous = {sig: signal.signal(sig, _on_signal) for sig in STOP_SIGNALS}
    sys.unraisablehook = _quiet_unraisable
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        if previous[sig] == signal.SIG_IGN:  # background job with Ctrl-C ignored, nohup, ...
            signal.signal(sig, signal.SIG_IGN)
    try:
        rv = group.main(args=args, prog_name=prog_name, standalone_mode=False)
        code = rv if isinstance(rv, int) else EXIT_OK
        output.flush_stdout()
    except SystemExit as exc:  # click's own exit (it ends a run whose stdout pipe closed with 1)
        code = exc.code if isinstance(exc.code, int) else EXIT_FAILURE
    except BrokenPipeError:
        code = EXIT_FAILURE  # the reader is gone: see below
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
    if output.reader_gone():  # whatever caught the BrokenPipeError on its way
        _die_of_sigpipe()
    sys.exit(code)


def _die_of_sigpipe() -> None:
    """End as Unix tools do when their reader stops early (``| head``): killed by SIGPIPE,
    status 141 in the shell, without a message (Python itself ignores SIGPIPE)."""
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)
