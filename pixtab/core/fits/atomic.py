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
import re
import stat
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


def file_key(path: str | os.PathLike[str]) -> tuple[object, ...]:
    """A key equal for two names exactly when :func:`same_file` holds for them, so that
    many names are compared through a dict rather than pairwise."""
    try:
        st = os.stat(path)
    except OSError:
        return ("path", os.path.realpath(path))
    return ("file", st.st_dev, st.st_ino)


#: the output name that means standard output
STDOUT = "-"
_PROC_FD = re.compile(r"/proc/(?:self|\d+)/fd/(\d+)")


def stream_fd(path: str | os.PathLike[str]) -> int | None:
    """The inherited descriptor an output name stands for: 1 for ``-`` and ``/dev/stdout``,
    N for ``/dev/fd/N`` and ``/proc/self/fd/N``; None for an ordinary name.

    Such a name is written through the descriptor the shell gave us (its pipe, its
    file opened with ``>`` or ``>>``), never renamed over.
    """
    name = os.fspath(path)
    if name == STDOUT:
        return 1
    for _ in range(16):  # follow a short chain of symbolic links (/dev/stdout -> /proc/self/fd/1)
        parent = os.path.realpath(os.path.dirname(os.path.abspath(name)))
        full = os.path.join(parent, os.path.basename(name))
        m = _PROC_FD.fullmatch(full)
        if m and (full.startswith("/proc/self/") or full.startswith(f"/proc/{os.getpid()}/")):
            return int(m[1])
        if not os.path.islink(full):
            return None
        name = os.path.join(parent, os.readlink(full))
    return None


def _kind(mode: int) -> str:
    for test, what in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISFIFO, "a FIFO"),
    ):
        if test(mode):
            return what
    return "not a regular file"


def _refuse_terminal(fd: int, out: object) -> None:
    if os.isatty(fd):
        raise OutputError(f"{out}: is a terminal: FITS data would garble it (redirect it to a file or a pipe)")


def is_stream(path: str | os.PathLike[str]) -> bool:
    """True when the output is written as a stream (stdout, a FIFO, a character device)."""
    if stream_fd(path) is not None:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def check_output(path: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]], overwrite: bool) -> Path:
    """Validate an output path before any work is done; return it.

    ``inputs``: every input of the run (an output may not replace any of them,
    even with ``overwrite``). Only a regular file (or a name not yet taken) is
    ever replaced, by a rename. Standard output, a FIFO or a character device
    such as /dev/null is written as a stream (no rename, no overwrite needed;
    never a terminal); any other special file is refused.
    """
    out = Path(path)
    fd = stream_fd(path)
    if fd is not None:
        try:
            os.fstat(fd)
        except OSError:
            raise OutputError(f"{out}: descriptor {fd} is not open") from None
        _refuse_terminal(fd, out)
        return out
    try:
        st: os.stat_result | None = os.stat(out)
    except FileNotFoundError:
        st = None
        if os.path.islink(out):
            raise OutputError(f"{out}: is a symbolic link to a missing file") from None
    except OSError as exc:
        raise OutputError(describe_os_error(exc, out, "cannot use")) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{out}: is a directory")
    if st is not None and (stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode)):
        if stat.S_ISCHR(st.st_mode):
            try:
                probe = os.open(out, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
            except OSError as exc:
                raise OutputError(describe_os_error(exc, out, "cannot open")) from None
            try:
                _refuse_terminal(probe, out)
            finally:
                os.close(probe)
        return out
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{out}: is {_kind(st.st_mode)}, not a regular file: refusing to replace it")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{out}: directory {parent} does not exist")
    for src in inputs:
        if same_file(src, out):
            what = "the input" if len(inputs) == 1 else f"the input {src}"
            raise OutputError(f"{out}: output is the same file as {what}")
    if st is not None and not overwrite:
        raise OutputError(f"{out}: already exists", field="overwrite")
    if not os.access(os.path.realpath(parent), os.W_OK):
        raise OutputError(f"{out}: directory {parent} is not writable")
    return out


@contextmanager
def atomic_output(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[int]:
    """Yield a writable file descriptor; on success it becomes ``path``.

    The descriptor belongs to a temporary file ``.NAME.tmp-XXXX`` beside the
    target. On normal exit it is fsynced and renamed onto ``path``; on any
    exception (including KeyboardInterrupt) it is removed. A symbolic link is
    followed: the file it points to is replaced, the link stays.

    A stream output (see :func:`is_stream`) is staged in an unnamed temporary
    file (writers place blocks by offset) and copied to the stream in order at
    the end; an interrupted run sends nothing.
    """
    if is_stream(path):
        with _staged_stream(path) as fd:
            yield fd
        return
    target = Path(path)
    if target.is_symlink():
        target = Path(os.path.realpath(target))  # replace the file the link points to, not the link
    directory = target.parent if str(target.parent) else Path(".")
    import tempfile  # (with shutil, random, bz2, lzma: 4 ms of start-up) only to write

    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target.name, directory), dir=directory)
    except OSError as exc:
        raise OutputError(f"{path}: cannot create a file in {directory}: {_reason(exc)}") from None
    try:
        try:
            try:
                yield fd
                os.fsync(fd)
                if _INTERRUPTED:
                    raise Interrupted(_INTERRUPTED)
            except OSError as exc:
                raise OutputError(describe_os_error(exc, path)) from exc
            os.fchmod(fd, _umask_mode())
        finally:
            os.close(fd)
        _commit(tmp, target, overwrite, path)
    except BaseException:
        _remove(tmp)
        raise


def _temp_prefix(name: str, directory: Path) -> str:
    """``.NAME.tmp-``, NAME cut short when the temporary name would exceed the directory's
    longest file name (a legal 255-byte output name must not fail for its temporary's sake)."""
    try:
        longest = os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        longest = 255
    room = max(1, longest - len(".") - len(".tmp-") - 8)  # mkstemp adds 8 random characters
    while len(os.fsencode(name)) > room:
        name = name[:-1]
    return f".{name}.tmp-"


@contextmanager
def _staged_stream(path: str | os.PathLike[str]) -> Iterator[int]:
    import tempfile

    with tempfile.TemporaryFile(prefix="pixtab-stream-") as staging:
        fd = staging.fileno()
        try:
            yield fd
            if _INTERRUPTED:
                raise Interrupted(_INTERRUPTED)
            size = os.fstat(fd).st_size
            inherited = stream_fd(path)
            dest = os.dup(inherited) if inherited is not None else os.open(path, os.O_WRONLY | os.O_NOCTTY)
            try:
                _copy_to_stream(fd, dest, size)
            finally:
                os.close(dest)
        except BrokenPipeError:
            raise OutputError(f"{path}: the reader closed the pipe before the end of the file") from None
        except OSError as exc:
            raise OutputError(describe_os_error(exc, path)) from None


def _copy_to_stream(src: int, dest: int, size: int) -> None:
    """Copy ``size`` bytes of ``src`` from offset 0 to ``dest`` in order."""
    pos = 0
    while pos < size:
        block = os.pread(src, min(1 << 22, size - pos), pos)
        if not block:
            raise OSError(errno.EIO, "staged output shrank")
        view = memoryview(block)
        while view:
            view = view[os.write(dest, view) :]
        pos += len(block)


#: a batch task that may be a rerun (Dask retries a task whose worker died after it committed)
_RERUN_TOLERANT = False


def tolerate_reruns(enabled: bool = True) -> None:
    """Commit idempotently: an existing output that is byte for byte the one just made counts
    as committed (not "already exists"). For batch tasks, whose run as a whole was checked
    for existing outputs before any task started; anything else that exists is still refused."""
    global _RERUN_TOLERANT
    _RERUN_TOLERANT = enabled


def rerun_tolerant() -> bool:
    return _RERUN_TOLERANT


def _same_content(a: str, b: Path) -> bool:
    """Are the regular files ``a`` and ``b`` byte for byte the same (streamed, bounded memory)?"""
    try:
        if not stat.S_ISREG(os.stat(b).st_mode) or os.path.getsize(a) != os.path.getsize(b):
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                x, y = fa.read(1 << 20), fb.read(1 << 20)
                if x != y:
                    return False
                if not x:
                    return True
    except OSError:
        return False


def _commit(tmp: str, target: Path, overwrite: bool, name: object) -> None:
    try:
        if overwrite:
            _replace_regular(tmp, target, name)
            return
        try:
            os.link(tmp, target)
        except FileExistsError:
            if _RERUN_TOLERANT and _same_content(tmp, target):
                _remove(tmp)  # a rerun of a task whose first run committed this very file
                return
            raise OutputError(f"{name}: already exists", field="overwrite") from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            # File systems without hard links: best effort check-then-rename.
            if os.path.lexists(target):
                if _RERUN_TOLERANT and _same_content(tmp, target):
                    _remove(tmp)
                    return
                raise OutputError(f"{name}: already exists", field="overwrite") from None
            os.replace(tmp, target)
            return
    except OSError as exc:
        raise OutputError(describe_os_error(exc, name, "cannot create")) from None
    _remove(tmp)


def _replace_regular(tmp: str, target: Path, name: object) -> None:
    """Rename ``tmp`` onto ``target`` unless ``target`` became something else than a regular file."""
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputError(f"{name}: is {_kind(mode)}, not a regular file: refusing to replace it")
    os.replace(tmp, target)


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def _reason(exc: OSError) -> str:
    reasons = {
        errno.ENOSPC: "no space left on device",
        errno.EFBIG: "file size limit exceeded",
        errno.EDQUOT: "disk quota exceeded",
        errno.EACCES: "permission denied",
        errno.EROFS: "read-only file system",
    }
    return reasons.get(exc.errno or 0, exc.strerror or str(exc))


def describe_os_error(exc: OSError, target: str | os.PathLike[str], action: str = "write failed") -> str:
    """One-line message for an OSError raised while writing ``target``."""
    return f"{target}: {action}: {_reason(exc)}"
