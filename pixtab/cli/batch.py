"""Many inputs at once: local worker processes (``--jobs``) or a Dask cluster (``--scheduler``).

Each input is one task: the user's own command line, run in a process of its own that
handles only input *k* (``PIXTAB_BATCH_INPUT=k``), forked from a warm task server
(:mod:`.taskserver`) so that a task does not pay Python's start-up. Every check, message and exit
code is therefore exactly those of a one-input run; the parent replays each task's
stdout and stderr in input order, so the batch reads like the sequential run. A task
whose process dies leaves no partial output, because outputs are atomic; a task process
whose parent (this process, or a Dask worker) dies terminates itself (it watches its
parent), so a retried task never races an orphan.

This module is the CLI's: the core never runs commands.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from .errors import ARGV_KEY

if TYPE_CHECKING:
    from .taskserver import TaskSlot

#: the index of the one input a task process handles
INPUT_ENV = "PIXTAB_BATCH_INPUT"
#: the pid of the process that started the task (the task ends itself when it dies)
PARENT_ENV = "PIXTAB_BATCH_PARENT"
META_KEY = "pixtab.batch"
#: ``--jobs`` runs inputs smaller than this on average (MiB; ``PIXTAB_JOBS_MIN_MB``) one after
#: the other in this process: a forked task first faults in the memory its pass works in
#: (30-40 ms on the 2-core VM measured), which a warm process reuses from one input to the
#: next. With 4 files of 2e6 rows (56 MB) two tasks took longer than one process for
#: extract and convert; from 5e6 rows (140 MB) convert gained 20-25 % and extract lost 5 %.
MIN_MB_ENV = "PIXTAB_JOBS_MIN_MB"
DEFAULT_MIN_MB = 128
_POLL = 0.002  # seconds between looks at running local tasks (a task of 2e6 rows takes ~30 ms)


@dataclass(frozen=True)
class Dispatch:
    """How the inputs of one command are dispatched: to ``jobs`` local processes or to a Dask scheduler."""

    jobs: int = 1
    scheduler: str | None = None

    @property
    def parallel(self) -> bool:
        return self.jobs > 1 or bool(self.scheduler)


@dataclass(frozen=True)
class Outcome:
    """What one task printed and how it ended."""

    index: int
    returncode: int
    stdout: bytes
    stderr: bytes


def worth_workers(paths: Sequence[str], dispatch: Dispatch) -> tuple[bool, str]:
    """Whether to run ``paths`` in worker processes, and why not (a ``-v`` message).

    A Dask scheduler always gets the tasks (the files may not even be readable here); local
    workers only inputs of at least :data:`DEFAULT_MIN_MB` on average. An input that is not a
    regular file (or cannot be read) leaves the choice to the workers: each reports its own.
    """
    if dispatch.scheduler or not dispatch.parallel:
        return dispatch.parallel, ""
    raw = os.environ.get(MIN_MB_ENV, "").strip()
    try:
        least = float(raw) if raw else DEFAULT_MIN_MB
    except ValueError:
        raise click.UsageError(f"{MIN_MB_ENV}={raw!r} is not a number of MiB") from None
    total = 0
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            return True, ""
        if not stat.S_ISREG(st.st_mode):
            return True, ""
        total += st.st_size
    mean = total / len(paths) / (1 << 20)
    if mean >= least:
        return True, ""
    return False, (f"--jobs {dispatch.jobs}: the {len(paths)} inputs average {mean:.0f} MiB, under {least:g} MiB: "
                   f"run here one after the other, which is faster for inputs this small ({MIN_MB_ENV})")


def task_index() -> int | None:
    """The input this process handles when it runs as a task, else None."""
    value = os.environ.get(INPUT_ENV)
    return int(value) if value is not None and value.isdigit() else None


def watch_parent() -> None:
    """End this task (as on SIGTERM: temporaries removed) when the process that started it dies."""
    parent = os.environ.get(PARENT_ENV, "")
    if not parent.isdigit():
        return

    from ..core.io.scan.forked import term_when_parent_dies

    term_when_parent_dies()  # at once, where the kernel can tell us (Linux)

    def watch() -> None:  # elsewhere, and should the parent have died before the request
        while os.getppid() == int(parent):
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="pixtab-parent-watch", daemon=True).start()


def task_env() -> dict[str, str]:
    """The settings a task inherits from the user's environment (pixtab's own and NO_COLOR)."""
    keep = {k: v for k, v in os.environ.items() if k.startswith("PIXTAB_") or k == "NO_COLOR"}
    for name in ("PIXTAB_SCHEDULER", INPUT_ENV, PARENT_ENV):
        keep.pop(name, None)
    return keep


class _Task:
    """One input being run on a :class:`~.taskserver.TaskSlot`, its output in temporary files."""

    def __init__(self, slot: TaskSlot, argv: Sequence[str], index: int, env: dict[str, str], cwd: str) -> None:
        self.slot, self.index = slot, index
        import tempfile

        fd_out, self.out = tempfile.mkstemp(prefix="pixtab-task-")
        fd_err, self.err = tempfile.mkstemp(prefix="pixtab-task-")
        os.close(fd_out)
        os.close(fd_err)
        slot.start({"argv": list(argv), "index": index, "cwd": cwd, "env": {**env, INPUT_ENV: str(index)},
                    "out": self.out, "err": self.err})

    def wait(self, timeout: float) -> Outcome | None:
        try:
            code = self.slot.wait(timeout)
        except BaseException:
            self.discard()
            raise
        if code is None:
            return None
        data = []
        for path in (self.out, self.err):
            with open(path, "rb") as f:
                data.append(f.read())
        self.discard()
        return Outcome(self.index, code, data[0], data[1])

    def discard(self) -> None:
        """Remove the files that hold the task's output (no ``pixtab-task-*`` is ever left)."""
        for path in (self.out, self.err):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def abandon(self) -> None:
        """Stop the task (SIGTERM: it removes its temporary output) and wait for it.

        One signal only: a second one could land in the task's clean-up and cut it short.
        A task server that is gone already (the whole process group got the signal) is
        not an error here: the run is stopping anyway.
        """
        try:
            self.slot.terminate()
            while self.wait(1.0) is None:
                pass
        except OSError:
            pass
        finally:
            self.discard()


_slots = threading.local()


def run_task(argv: Sequence[str], index: int, env: dict[str, str], cwd: str, cancel: str | None = None) -> Outcome:
    """Run task ``index`` here and wait for it: the function a Dask worker runs.

    Each worker thread keeps one warm task server. ``cancel`` names a Dask event; once
    it is set the task gets SIGTERM and cleans up.
    """
    from distributed import Event

    if getattr(_slots, "slot", None) is None:
        from .taskserver import TaskSlot  # subprocess and friends: only for --jobs

        _slots.slot = TaskSlot()
    event = Event(cancel) if cancel else None
    task = _Task(_slots.slot, argv, index, {**os.environ, **env}, cwd)
    while (outcome := task.wait(0.1)) is None:
        if event is not None and event.is_set():
            task.abandon()
            raise RuntimeError("cancelled")
    return outcome


def _local_slots(k: int) -> list[Any]:
    """Forked from this process when it can (warm at once), else task servers."""
    from . import forkslot

    if forkslot.usable():
        forkslot.preload()
        return [forkslot.ForkSlot() for _ in range(k)]
    from .taskserver import TaskSlot

    return [TaskSlot() for _ in range(k)]


def _local(argv: Sequence[str], n: int, jobs: int) -> Iterator[Outcome]:
    """The tasks on ``jobs`` warm task servers here, outcomes in input order."""
    slots = _local_slots(min(jobs, n))
    running: dict[int, _Task] = {}
    finished: dict[int, Outcome] = {}
    waiting = list(range(n))
    env, cwd = dict(os.environ), os.getcwd()
    try:
        for index in range(n):
            while index not in finished:
                busy = {t.slot for t in running.values()}
                for slot in [s for s in slots if s not in busy]:
                    if waiting:
                        k = waiting.pop(0)
                        running[k] = _Task(slot, argv, k, env, cwd)
                for k, task in list(running.items()):
                    outcome = task.wait(0 if len(running) > 1 else _POLL)
                    if outcome is not None:
                        finished[k] = outcome
                        del running[k]
                if index not in finished and len(running) > 1:
                    time.sleep(_POLL)
            yield finished.pop(index)
    finally:
        for task in running.values():
            task.abandon()
        for slot in slots:
            try:
                slot.close()
            except OSError:  # already gone (SIGTERM to the process group)
                pass


_ADDRESS = re.compile(r"(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})")


def check_address(address: str) -> str:
    """A Dask scheduler address (``[tcp|tls]://HOST:PORT``), checked before any connection:
    a typo must not cost a 10-second wait and a traceback."""
    m = _ADDRESS.fullmatch(address.strip())
    if m is None or m["scheme"] not in (None, "tcp", "tls") or not 0 < int(m["port"]) < 65536:
        raise click.BadParameter(
            f"{address!r} is not a scheduler address (tcp://HOST:PORT or HOST:PORT; tls:// with Dask's TLS settings)",
            param_hint="'--scheduler'",
        )
    return address.strip()


def _probe(address: str) -> None:
    """Fail fast, in one line, where a Dask client would retry for seconds and then leave a
    half-made client whose finaliser hangs and prints a traceback: TLS without certificates,
    nothing listening at the address."""
    import socket

    import dask

    m = _ADDRESS.fullmatch(address)
    assert m is not None
    if m["scheme"] == "tls" and not dask.config.get("distributed.comm.tls.client.cert", None):
        raise click.ClickException(
            f"cannot reach the Dask scheduler at {address}: tls:// needs Dask's TLS settings "
            "(distributed.comm.tls.ca-file and .client.cert/.key, e.g. DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT)"
        )
    try:
        socket.create_connection((m["host"].strip("[]"), int(m["port"])), timeout=10).close()
    except OSError as exc:
        raise click.ClickException(f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc}") from None


def _forget_failed_client() -> None:
    """Collect the client that failed half-way now, its finaliser's complaints dropped."""
    import gc

    hook, sys.unraisablehook = sys.unraisablehook, lambda unraisable: None
    try:
        gc.collect()
    finally:
        sys.unraisablehook = hook


def _dask(argv: Sequence[str], paths: Sequence[str], address: str) -> Iterator[Outcome]:
    """One Dask task per input on the cluster at ``address``, results in input order."""
    address = check_address(address)
    try:
        from distributed import Client, Event
    except ImportError:
        raise click.ClickException(
            "--scheduler needs Dask distributed: pip install 'pixtab[cluster]'"
        ) from None
    _probe(address)
    try:
        client = Client(address, timeout="10s", set_as_default=False)
    except Exception as exc:  # refused, not a scheduler...: one line
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        _forget_failed_client()
        raise click.ClickException(f"cannot reach the Dask scheduler at {address}: {reason}") from None
    token = uuid.uuid4().hex
    cancel = f"pixtab-cancel-{token}"
    env, cwd = task_env(), os.getcwd()
    futures = [
        client.submit(run_task, list(argv), k, env, cwd, cancel, key=f"pixtab-{token}-{k}", pure=False)
        for k in range(len(paths))
    ]
    try:
        for k, future in enumerate(futures):
            try:
                yield future.result()
            except Exception as exc:  # KilledWorker, a lost scheduler, ...: this input failed
                reason = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
                yield Outcome(k, 1, b"", f"Error: {paths[k]}: the cluster could not run it ({reason})\n".encode())
    finally:
        if any(not f.done() for f in futures):
            Event(cancel, client=client).set()
            client.cancel(futures)
        client.close()


def _show(outcome: Outcome) -> None:
    for data, stream in ((outcome.stdout, sys.stdout), (outcome.stderr, sys.stderr)):
        if data and stream is not None:
            stream.flush()
            binary = getattr(stream, "buffer", None)
            if binary is not None:
                binary.write(data)
                binary.flush()
            else:  # click's test runner
                stream.write(data.decode(errors="replace"))


def _failure_line(outcome: Outcome, path: str) -> None:
    """A task that died without its own message still gets one line naming its input."""
    if outcome.returncode < 0 and not outcome.stderr.strip():
        sig = signal.Signals(-outcome.returncode).name if -outcome.returncode in signal.valid_signals() else "?"
        click.echo(f"Error: {path}: killed by {sig}", err=True)


def run(argv: Sequence[str], paths: Sequence[str], dispatch: Dispatch) -> list[str]:
    """Run every input as a task, replay the output in input order, return the inputs that failed."""
    outcomes = _dask(argv, paths, dispatch.scheduler) if dispatch.scheduler else _local(argv, len(paths), dispatch.jobs)
    failed = []
    try:
        for outcome in outcomes:
            _show(outcome)
            if outcome.returncode != 0:
                _failure_line(outcome, paths[outcome.index])
                failed.append(paths[outcome.index])
    finally:  # now, not when the traceback of an interrupt is freed: stop what still runs
        outcomes.close()
    return failed
