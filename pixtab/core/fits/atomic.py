"""Write outputs atomically: a hidden temporary file in the target directory, then a rename.

An interrupted or failed run leaves neither the target nor the temporary file:
the CLI's signal handlers raise an exception, and :func:`atomic_output`
removes its temporary file on any exception on the way out.
Without ``overwrite`` the final step is ``os.link`` + ``unlink``, which fails
atomically when the target appeared in the meantime (two writers never produce
a mixed file: one of them wins whole, the other fails).
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..errors import OutputError

#: signal number of an interruption already requested (0: none)
_INTERRUPTED = 0


class Interrupted(BaseException):
    """An output was not committed because the process was asked to stop."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by signal {signum}")


def note_interrupt(signum: int) -> None:
    """Record that a signal asked us to stop (called by the CLI's signal handlers).

    The exception the handler raises can be lost when it lands in a finaliser
    (Python only prints "Exception ignored"); this flag makes sure no output is
    committed afterwards all the same.
    """
    global _INTERRUPTED
    _INTERRUPTED = signum


def interrupted() -> int:
    """The signal that asked us to stop, or 0."""
    return _INTERRUPTED


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Are ``a`` and ``b`` the same file? By identity (device and inode) when both exist
    (hard links, symlinks, ``./x`` and ``x``), else by resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]], overwrite: bool) -> Path:
    """Validate an output path before any work is done; return it.

    ``inputs``: every input of the run (an output may not replace any of them,
    even with ``overwrite``).
    """
    out = Path(path)
    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise OutputError(f"{out}: is a directory")
    if not parent.is_dir():
        raise OutputError(f"{out}: directory {parent} does not exist")
    for src in inputs:
        if same_file(src, out):
            what = "the input" if len(inputs) == 1 else f"the input {src}"
            raise OutputError(f"{out}: output is the same file as {what}")
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: already exists", field="overwrite")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{out}: directory {parent} is not writable")
    return out


@contextmanager
def atomic_output(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[int]:
    """Yield a writable file descriptor; on success it becomes ``path``.

    The descriptor belongs to a temporary file ``.NAME.tmp-XXXX`` beside the
    target. On normal exit it is fsynced and renamed onto ``path``; on any
    exception (including KeyboardInterrupt) it is removed.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=directory)
    except OSError as exc:
        raise OutputError(f"{target}: cannot create a file in {directory}: {exc.strerror}") from None
    try:
        try:
            try:
                yield fd
                os.fsync(fd)
                if _INTERRUPTED:
                    raise Interrupted(_INTERRUPTED)
            except OSError as exc:
                raise OutputError(describe_os_error(exc, target)) from exc
            os.fchmod(fd, _umask_mode())
        finally:
            os.close(fd)
        _commit(tmp, target, overwrite)
    except BaseException:
        _remove(tmp)
        raise


def _commit(tmp: str, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputError(f"{target}: already exists", field="overwrite") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        # File systems without hard links: best effort check-then-rename.
        if target.exists():
            raise OutputError(f"{target}: already exists", field="overwrite") from None
        os.replace(tmp, target)
        return
    _remove(tmp)


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def describe_os_error(exc: OSError, target: str | os.PathLike[str]) -> str:
    """One-line message for an OSError raised while writing ``target``."""
    reasons = {
        errno.ENOSPC: "no space left on device",
        errno.EFBIG: "file size limit exceeded",
        errno.EDQUOT: "disk quota exceeded",
        errno.EACCES: "permission denied",
        errno.EROFS: "read-only file system",
    }
    return f"{target}: write failed: {reasons.get(exc.errno or 0, exc.strerror or str(exc))}"
