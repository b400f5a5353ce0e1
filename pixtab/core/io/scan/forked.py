"""A measuring pass on forked processes: one per core, each folding its share of the chunks.

Threads share one GIL. A numpy call on a chunk's piece releases it only while it runs,
and some calls never do (``np.add.at``, ``np.bincount``): two threads running the drizzle
kernel together are no faster than one. A pass whose result is a sum (the image's and the
spectrum's bins) instead forks :data:`~.tuning.WORKERS` children once it is planned.
Child ``i`` folds chunks ``i, i + W, i + 2W, ...`` into an accumulator of its own and
sends it back through a pipe. The parent merges them in child order, so the result does
not depend on which child finishes first. A catalogue's selection pass runs the same way
(each child finds every source's rows in its share of the chunks).

Memory: each child's accumulator and its pickle, and the parent's merge of them: for an
image, a few times its float64 sums (MBs for a MUSE field at 0.2"), whatever the table size.

A child reads the table through the parent's descriptor (positional reads), touches
nothing else of the parent's (no progress display, no output file, no logging of its own
beyond warnings) and leaves with ``os._exit``. It dies with its parent
(``PR_SET_PDEATHSIG``). Its progress comes to the parent as messages on the same pipe.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from ...errors import PixtabError
from ...progress import Progress
from ..rowsource import Scratch

_FRAME = struct.Struct("<cQ")  # tag, length of what follows (progress: the rows themselves)


class Accumulator(Protocol):
    """What a folding pass adds its chunk results into."""

    def add(self, part: Any) -> None: ...

    def merge(self, other: Any) -> None: ...


A = TypeVar("A", bound=Accumulator)
T = TypeVar("T")


def term_when_parent_dies() -> None:
    """Ask Linux for SIGTERM the moment the parent dies (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class _PipeProgress(Progress):
    """A child's progress: each advance is a message to the parent."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def advance(self, n: int) -> None:
        if n:
            _send(self.fd, b"p", n)


def fold_forked(shares: Sequence[Sequence[T]], work: Callable[[T, Scratch, Progress], Any], new: Callable[[], A],
                progress: Progress) -> A:
    """``new()`` with the ``work`` result of every task added: child ``i`` does the tasks of
    ``shares[i]`` in order (one child per share), reporting its progress to ``progress``."""
    children: list[tuple[int, int]] = []  # (pid, read end)
    try:
        for share in shares:
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child (its effects are tested)
                os.close(r)
                _child(share, work, new, w)
            os.close(w)
            children.append((pid, r))
        try:
            parts = _collect([r for _, r in children], progress)
        except _Gone as gone:
            pid = next(p for p, r in children if r == gone.fd)
            children.remove((pid, gone.fd))
            os.close(gone.fd)
            raise PixtabError(f"a worker process of the pass ended without its result ({_how(os.waitpid(pid, 0)[1])})") from None
    finally:
        for pid, r in children:
            os.close(r)
            try:
                os.kill(pid, signal.SIGTERM)  # gone already, unless the parent is leaving early
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
    total = parts[0]
    for part in parts[1:]:
        total.merge(part)
    return total


def _child(tasks: Sequence[T], work: Callable[[T, Scratch, Progress], Any], new: Callable[[], A], w: int) -> None:
    code = 1
    try:
        term_when_parent_dies()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        scratch, acc, progress = Scratch(), new(), _PipeProgress(w)
        for task in tasks:
            acc.add(work(task, scratch, progress))
        _send(w, b"r", pickle.dumps(acc, protocol=pickle.HIGHEST_PROTOCOL))
        code = 0
    except BaseException as exc:  # noqa: BLE001 - every failure goes to the parent
        try:
            _send(w, b"e", pickle.dumps((type(exc), exc.args, vars(exc))))
        except Exception:  # noqa: BLE001 - an exception that does not pickle: its text
            _send(w, b"e", pickle.dumps((PixtabError, (str(exc),), {"field": None})))
    finally:
        os._exit(code)


def _send(fd: int, tag: bytes, value: int | bytes) -> None:
    data = _FRAME.pack(tag, value) if isinstance(value, int) else _FRAME.pack(tag, len(value)) + value
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _collect(fds: list[int], progress: Progress) -> list[Any]:
    """Each child's accumulator, in child order; a child's exception is raised here."""
    bufs = {fd: bytearray() for fd in fds}
    results: dict[int, Any] = {}
    while len(results) < len(fds):
        ready, _, _ = select.select([fd for fd in fds if fd not in results], [], [])
        for fd in ready:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise _Gone(fd)
            buf = bufs[fd]
            buf += chunk
            while len(buf) >= _FRAME.size:
                tag, n = _FRAME.unpack_from(buf)
                if tag == b"p":
                    progress.advance(n)
                    del buf[: _FRAME.size]
                    continue
                if len(buf) < _FRAME.size + n:
                    break
                payload = bytes(buf[_FRAME.size : _FRAME.size + n])
                del buf[: _FRAME.size + n]
                if tag == b"e":
                    raise _rebuilt(*pickle.loads(payload))
                results[fd] = pickle.loads(payload)
    return [results[fd] for fd in fds]


class _Gone(Exception):
    """A child's pipe closed before its result came."""

    def __init__(self, fd: int) -> None:
        self.fd = fd


def _how(status: int) -> str:
    """How a child ended, for a message."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:  # a real-time signal, say
            name = f"signal {sig}"
        return f"killed by {name}" + (": out of memory?" if sig == signal.SIGKILL else "")
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _rebuilt(cls: type[BaseException], args: tuple, attrs: dict) -> BaseException:
    """The child's exception, rebuilt without calling its ``__init__`` (whose arguments
    need not be its ``args``)."""
    exc = cls.__new__(cls)
    exc.args = args
    vars(exc).update(attrs)
    return exc
