"""Write-behind: an output's pages go to the disk while the rest is still being written.

Every output is fsynced before its atomic rename (:mod:`.atomic`). Left alone, the kernel
keeps the written pages dirty in the page cache and that final fsync writes them all at
once, after the command's work is done. Asking for writeback every :data:`STEP` bytes
(``sync_file_range(..., SYNC_FILE_RANGE_WRITE)``: start, do not wait) overlaps the disk
with the reading and computing; the fsync then only waits for the tail. Durability is
the fsync's, unchanged. Where the call does not exist (not Linux) or fails (a pipe), it
is skipped.
"""

from __future__ import annotations

from typing import Any

#: bytes written between two writeback requests
STEP = 32 << 20
_SYNC_FILE_RANGE_WRITE = 2
_call: Any = None  # the libc function, loaded at the first request; False when missing


def _sync_file_range() -> Any:
    global _call
    if _call is None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            fn = libc.sync_file_range
            fn.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
            fn.restype = ctypes.c_int
            _call = fn
        except (OSError, AttributeError):
            _call = False
    return _call


class WriteBehind:
    """Counts the bytes written to ``fd`` and starts their writeback every :data:`STEP` bytes."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pending = 0

    def wrote(self, nbytes: int) -> None:
        self.pending += nbytes  # (a race between writer threads only shifts the next request)
        if self.pending >= STEP:
            self.pending = 0
            fn = _sync_file_range()
            if fn:
                fn(self.fd, 0, 0, _SYNC_FILE_RANGE_WRITE)  # the whole file's dirty pages; errors ignored
