"""What every benchmark script does to its files and child processes: warm or evict a file's
pages, and run one command in its own process for its wall time and peak RSS (wait4)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path


def warm(*paths: Path) -> None:
    """Read the files whole, so the next run finds them in the page cache."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def evict(*paths: Path) -> None:
    """Drop the files' pages from the page cache (a cold run reads them from storage)."""
    for path in paths:
        if Path(path).exists():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def measure(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 3600.0) -> tuple[float, float, bool, str]:
    """Run ``cmd`` in its own process: (wall seconds, peak RSS MB, ok, note on failure)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    stderr = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    timer.cancel()
    code = os.waitstatus_to_exitcode(status)
    last = (stderr.strip().splitlines() or ["?"])[-1][:100]
    note = "" if code == 0 else ("timeout" if elapsed >= timeout else f"exit {code}: {last}")
    return elapsed, usage.ru_maxrss / 1024, code == 0, note
