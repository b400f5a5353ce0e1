"""A warm pixtab process that runs batch tasks one at a time, each in a forked child.

Starting Python and importing numpy and pixtab costs 0.1-0.2 s; a batch of many small
files would pay it per file. A task server pays it once: it imports pixtab's modules, then
for each request on stdin forks a child that runs the pixtab command line with stdout and
stderr sent to the files the client named. The server is single-threaded, so forking it
is safe.

Protocol, one JSON object per line: the client sends ``{"argv", "index", "cwd", "env",
"out", "err"}``; the server answers ``{"pid": N}`` when the child started and ``{"code": C}``
when it ended (C < 0: killed by signal -C). On end of input (the client went away) the
server sends SIGTERM to a running child, which then removes its temporary output, and exits.

Run as ``python -m pixtab.cli.taskserver``; :class:`TaskSlot` is the client side.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import subprocess
import sys
from typing import Any, BinaryIO

#: what the batch commands (info, extract, convert, decode-origin, index) import: numpy
#: and pixtab, no astropy (they read and write headers without it); the optional packages
#: of the measuring commands (scipy, matplotlib...) are not worth a longer start
_PRELOAD = (
    "numpy",
    "pixtab.cli",
    "pixtab.core.io.table",
    "pixtab.core.ops.describe",
    "pixtab.core.ops.extract",
    "pixtab.core.ops.sources",
    "pixtab.core.ops.convert",
    "pixtab.core.ops.decode",
)


def _preload() -> None:
    for name in _PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # a module renamed or failing: the task will import (and report) it itself
            pass


def fork_task(request: dict[str, Any]) -> int:
    """Fork a child that becomes the task of ``request`` and exits with its status; its pid."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _child(request)
        finally:
            os._exit(code)
    return pid


def _child(request: dict[str, Any]) -> int:
    """In the forked child: become the task and run it; returns the exit status."""
    from pixtab.cli import main

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ["PIXTAB_BATCH_PARENT"] = str(os.getppid())  # the task ends itself if this server dies
    for fd, path, mode in ((0, os.devnull, os.O_RDONLY), (1, request["out"], os.O_WRONLY), (2, request["err"], os.O_WRONLY)):
        target = os.open(path, mode)
        os.dup2(target, fd)
        os.close(target)
    try:
        main(list(request["argv"]))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    return code


def serve() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the children; the client ends us
    _preload()
    out = sys.stdout.buffer
    child = 0
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], 0.05)
        if child:
            pid, status = os.waitpid(child, os.WNOHANG)
            if pid:
                out.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
                out.flush()
                child = 0
        if not ready:
            continue
        line = sys.stdin.buffer.readline()
        if not line:  # the client is gone: stop the task (it cleans up) and leave
            if child:
                os.kill(child, signal.SIGTERM)
                os.waitpid(child, 0)
            return
        child = fork_task(json.loads(line))
        out.write(json.dumps({"pid": child}).encode() + b"\n")
        out.flush()


class ChildSlot:
    """What both kinds of task slot share: the pid of the running task (0: none), and its end."""

    pid = 0

    def terminate(self) -> None:
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


class TaskSlot(ChildSlot):
    """Client side: one task server, one task at a time."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pixtab.cli.taskserver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,  # unbuffered: select() on the pipe must see every reply line
        )
        self.pid = 0

    def start(self, request: dict[str, Any]) -> None:
        """Start a task; ``request`` as in the protocol above."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()
        self.pid = self._reply()["pid"]

    def wait(self, timeout: float) -> int | None:
        """The task's exit status, or None if it still runs after ``timeout`` seconds."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        self.pid = 0
        return int(self._reply()["code"])

    def close(self) -> None:
        stdin: BinaryIO | None = self.proc.stdin  # type: ignore[assignment]
        if stdin is not None:
            stdin.close()
        self.proc.wait()

    def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise OSError(f"the pixtab task server ended unexpectedly (status {self.proc.wait()})")
        return json.loads(line)


if __name__ == "__main__":
    serve()
