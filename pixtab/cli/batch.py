"""Many inputs at once: local worker processes (``--jobs``) or a Dask cluster (``--scheduler``).

Each input is one task: the user's own command line, run in a fresh ``pixtab`` process
that handles only input *k* (``PIXTAB_BATCH_INPUT=k``). Every check, message and exit
code is therefore exactly those of a one-input run; the parent replays each task's
stdout and stderr in input order, so the batch reads like the sequential run. A task
whose process dies leaves no partial output, because outputs are atomic; a task process
whose parent (this process, or a Dask worker) dies terminates itself (it watches its
parent), so a retried task never races an orphan.

This module is the CLI's: the core never runs commands.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import click

#: the index of the one input a task process handles
INPUT_ENV = "PIXTAB_BATCH_INPUT"
#: the pid of the process that started the task (the task ends itself when it dies)
PARENT_ENV = "PIXTAB_BATCH_PARENT"
META_KEY = "pixtab.batch"
ARGV_KEY = "pixtab.argv"
_POLL = 0.05  # seconds between looks at running local tasks


@dataclass(frozen=True)
class Plan:
    """How to run the inputs of one command: ``jobs`` local processes or a Dask scheduler."""

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


def task_index() -> int | None:
    """The input this process handles when it runs as a task, else None."""
    value = os.environ.get(INPUT_ENV)
    return int(value) if value is not None and value.isdigit() else None


def watch_parent() -> None:
    """End this task (as on SIGTERM: temporaries removed) when the process that started it dies."""
    parent = os.environ.get(PARENT_ENV, "")
    if not parent.isdigit():
        return

    def watch() -> None:
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


def _command(argv: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "pixtab", *argv]


def run_task(argv: Sequence[str], index: int, env: dict[str, str], cwd: str, cancel: str | None = None) -> Outcome:
    """Run task ``index`` in a child process here (on a Dask worker: the task function).

    ``cancel`` names a Dask event; once it is set the child gets SIGTERM and cleans up.
    """
    event = None
    if cancel:
        from distributed import Event

        event = Event(cancel)
    child_env = {**os.environ, **env, INPUT_ENV: str(index), PARENT_ENV: str(os.getpid())}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(_command(argv), cwd=cwd, env=child_env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            while True:
                try:
                    code = proc.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    if event is not None and event.is_set():
                        proc.terminate()
        finally:
            if proc.poll() is None:  # interrupted here: the child cleans up on SIGTERM
                proc.terminate()
                proc.wait()
        out.seek(0)
        err.seek(0)
        return Outcome(index, code, out.read(), err.read())


class _Local:
    """One child process per input, at most ``jobs`` at a time, stdout/stderr to temporary files."""

    def __init__(self, argv: Sequence[str], jobs: int) -> None:
        self.argv, self.jobs = list(argv), jobs
        self.running: dict[int, tuple[subprocess.Popen[bytes], object, object]] = {}

    def _start(self, index: int) -> None:
        env = {**os.environ, INPUT_ENV: str(index), PARENT_ENV: str(os.getpid())}
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        proc = subprocess.Popen(_command(self.argv), env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.running[index] = (proc, out, err)

    def _collect(self, index: int) -> Outcome:
        proc, out, err = self.running.pop(index)
        data = []
        for f in (out, err):
            f.seek(0)  # type: ignore[attr-defined]
            data.append(f.read())  # type: ignore[attr-defined]
            f.close()  # type: ignore[attr-defined]
        return Outcome(index, proc.returncode, data[0], data[1])

    def run(self, n: int) -> Iterator[Outcome]:
        waiting = list(range(n))
        finished: dict[int, Outcome] = {}
        try:
            for index in range(n):
                while index not in finished:
                    while waiting and len(self.running) < self.jobs:
                        self._start(waiting.pop(0))
                    for k in [k for k, (p, _, _) in self.running.items() if p.poll() is not None]:
                        finished[k] = self._collect(k)
                    if index not in finished:
                        time.sleep(_POLL)
                yield finished.pop(index)
        finally:
            for proc, _, _ in self.running.values():
                if proc.poll() is None:
                    proc.terminate()  # SIGTERM: the task removes its temporary output
            for k in list(self.running):
                self.running[k][0].wait()
                self._collect(k)


def _dask(argv: Sequence[str], paths: Sequence[str], address: str) -> Iterator[Outcome]:
    """One Dask task per input on the cluster at ``address``, results in input order."""
    try:
        from distributed import Client, Event
    except ImportError:
        raise click.ClickException(
            "--scheduler needs Dask distributed: pip install 'pixtab[cluster]'"
        ) from None
    try:
        client = Client(address, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise click.ClickException(f"cannot reach the Dask scheduler at {address}: {exc}") from None
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


def run(argv: Sequence[str], paths: Sequence[str], plan: Plan) -> list[str]:
    """Run every input as a task, replay the output in input order, return the inputs that failed."""
    outcomes = _dask(argv, paths, plan.scheduler) if plan.scheduler else _Local(argv, plan.jobs).run(len(paths))
    failed = []
    for outcome in outcomes:
        _show(outcome)
        if outcome.returncode != 0:
            _failure_line(outcome, paths[outcome.index])
            failed.append(paths[outcome.index])
    return failed
