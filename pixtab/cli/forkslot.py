"""``--jobs`` on this machine: tasks forked from the pixtab process itself.

A task server (:mod:`.taskserver`) is a new Python that imports numpy and pixtab before
its first task: on 2 cores, two of them starting next to the parent cost more than a
batch of small files takes sequentially. The parent already runs pixtab; once it has
imported what the tasks need (what a sequential run would import anyway), a forked
child starts warm at once. Forking is safe only while the parent has one thread, which
is the case when a batch starts; otherwise (and where fork is missing) the batch uses
task servers. :class:`ForkSlot` has the interface of :class:`~.taskserver.TaskSlot`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from .taskserver import ChildSlot


def usable() -> bool:
    """Whether tasks may be forked from this process now."""
    return hasattr(os, "fork") and threading.active_count() == 1


def preload() -> None:
    """Import in the parent what the tasks would each import (once, before the first fork)."""
    from .taskserver import _preload

    _preload()


class ForkSlot(ChildSlot):
    """One task at a time, each a child forked from this process."""

    def __init__(self) -> None:
        self.pid = 0

    def start(self, request: dict[str, Any]) -> None:
        from .taskserver import fork_task

        for stream in (sys.stdout, sys.stderr):  # nothing buffered may be written twice
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        self.pid = fork_task(request)

    def wait(self, timeout: float) -> int | None:
        """The task's exit status, or None if it still runs after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = 0
                return os.waitstatus_to_exitcode(status)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(left, 0.005))

    def close(self) -> None:
        if self.pid:  # abandoned without a wait: do not leave a zombie
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.pid = 0
