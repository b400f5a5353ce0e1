"""Where table indexes live, and how a stale or foreign one is recognised.

Format: a NumPy ``.npz`` archive (no pickles) holding ``meta`` (UTF-8 JSON in
a uint8 array: format name and version, rows, block size, the identity of
the indexed file) and the arrays of :class:`~pixtab.core.io.index.TableIndex`
(``lo_<field>``/``hi_<field>``, ``run_starts``/``run_codes``).

Places, looked up in this order:

* a sidecar ``NAME.pixtab-index.npz`` next to the table, only when someone
  asked for one (it is never written otherwise);
* the per-user cache ``$PIXTAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/pixtab``,
  else ``~/.cache/pixtab``: ``index-<dev>-<inode>.npz``, so a renamed file
  keeps its index and two files never share one.

Identity: size, mtime_ns, ctime_ns, device, inode and a SHA-256 of the
primary header and of the headers of the column HDUs. Any difference means a
stale index. The inode's change time is what makes the identity exact: data
rewritten in place with the same size and headers can have its mtime put
back (``touch -r``), never its ctime. (A rename or chmod changes the ctime
too: the index is then rebuilt, which costs time, never a wrong answer.) A
file that does not parse, is truncated, or describes another table is
foreign. Both are ignored with a warning, never used. Writes go to a
temporary file in the target directory, then ``os.replace``: readers see the
old index or the new one, never a mix, and two processes building at once
both succeed (the last rename wins; both indexes are equal). A cache that is
read-only, full or absent is a warning, never an error.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .index import FLOAT_FIELDS, INT_FIELDS, TableIndex
from .table import PixTable

log = logging.getLogger(__name__)

FORMAT = "pixtab-index"
VERSION = 1
SIDECAR_SUFFIX = ".pixtab-index.npz"


def cache_dir() -> Path:
    """The per-user index cache directory (not created here)."""
    explicit = os.environ.get("PIXTAB_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "pixtab"


def sidecar_path(table_path: str) -> Path:
    return Path(table_path + SIDECAR_SUFFIX)


def identity(pt: PixTable) -> dict[str, object]:
    """What must not change for an index of ``pt`` to stay valid."""
    import hashlib  # (here: a run of a table without an index never needs it)

    st = os.fstat(pt.fd)
    h = hashlib.sha256()
    for i in [0] + sorted({c.hdu for c in pt.columns.values()}):
        hdu = pt.hdus[i]
        h.update(os.pread(pt.fd, hdu.data_offset - hdu.header_offset, hdu.header_offset))
    return {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "dev": st.st_dev,
        "ino": st.st_ino,
        "headers_sha256": h.hexdigest(),
    }


def cache_path(ident: dict[str, object] | os.stat_result) -> Path:
    """The cache's file for the table of ``ident`` (its identity, or just its ``os.stat``)."""
    if isinstance(ident, os.stat_result):
        ident = {"dev": ident.st_dev, "ino": ident.st_ino}
    return cache_dir() / f"index-{int(ident['dev']):x}-{int(ident['ino']):x}.npz"  # type: ignore[call-overload]


def _arrays(index: TableIndex) -> dict[str, np.ndarray]:
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "nrows": index.nrows,
        "block": index.block,
        "identity": index.identity,
    }
    out = {"meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)}
    for name in FLOAT_FIELDS + INT_FIELDS:
        out[f"lo_{name}"] = index.lo[name]
        out[f"hi_{name}"] = index.hi[name]
    if index.run_starts is not None and index.run_codes is not None:
        out["run_starts"] = index.run_starts
        out["run_codes"] = index.run_codes
    return out


def save(index: TableIndex, path: Path) -> bool:
    """Write ``index`` to ``path`` atomically; a warning (False) when that is impossible."""
    try:
        import tempfile  # only to write one

        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    except OSError as exc:
        log.warning("cannot write the table index %s: %s", path, exc.strerror or exc)
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **_arrays(index))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return True
    except OSError as exc:
        log.warning("cannot write the table index %s: %s", path, exc.strerror or exc)
        return False
    finally:
        if os.path.exists(tmp):
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file (ValueError otherwise).

    O_NONBLOCK: opening a FIFO for reading would wait for a writer forever; the
    type is then checked on the open descriptor, so a swap after a stat cannot fool it.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read(path: Path) -> TableIndex:
    """Parse an index file; ValueError (with the reason) when it is not a valid one."""
    import zipfile  # (np.load's archive format: only when there is an index to read)

    try:
        with _open_regular(path) as f, np.load(f, allow_pickle=False) as z:
            if not hasattr(z, "files") or "meta" not in z.files:
                raise ValueError("no metadata")
            meta = json.loads(bytes(z["meta"]).decode())
            if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
                raise ValueError(f"not a {FORMAT} version {VERSION} file")
            lo = {n: z[f"lo_{n}"] for n in FLOAT_FIELDS + INT_FIELDS}
            hi = {n: z[f"hi_{n}"] for n in FLOAT_FIELDS + INT_FIELDS}
            runs = (z["run_starts"], z["run_codes"]) if "run_starts" in z.files else (None, None)
    except (OSError, KeyError, EOFError, ValueError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ValueError(f"unreadable: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}") from None
    if not isinstance(meta.get("identity"), dict):
        raise ValueError("no file identity recorded")
    try:
        index = TableIndex(int(meta["nrows"]), int(meta["block"]), lo, hi, runs[0], runs[1], meta["identity"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("bad metadata") from None
    problem = index.check()
    if problem:
        raise ValueError(problem)
    return index


def _matches(index: TableIndex, pt: PixTable, ident: dict[str, object]) -> str | None:
    """Why ``index`` does not describe ``pt`` as it is now (None: it does)."""
    if index.nrows != pt.nrows:
        return f"it indexes {index.nrows} rows, the table has {pt.nrows}"
    for k in ("size", "headers_sha256", "dev", "ino", "mtime_ns", "ctime_ns"):
        if index.identity.get(k) != ident[k]:
            return f"the file changed since it was indexed ({k} differs)"
    return None


def find(pt: PixTable) -> TableIndex | None:
    """A valid index of ``pt`` (sidecar first, then the cache), or None.

    A stale, truncated or foreign index is reported with a warning and not used.
    """
    try:
        paths = [p for p in (sidecar_path(pt.path), cache_path(os.fstat(pt.fd))) if p.exists()]
        ident = identity(pt) if paths else {}  # (the headers' hash only when there is an index)
    except OSError:
        return None
    for path in paths:
        try:
            index = read(path)
        except ValueError as exc:
            log.warning("%s: ignoring the table index %s: %s", pt.path, path, exc)
            continue
        why = _matches(index, pt, ident)
        if why:
            log.warning("%s: ignoring the stale table index %s: %s", pt.path, path, why)
            continue
        log.debug("%s: using the table index %s", pt.path, path)
        return index
    return None


def store(index: TableIndex, pt: PixTable, before: dict[str, object], sidecar: bool = False) -> Path | None:
    """Save ``index`` (cache, or sidecar) with ``pt``'s identity; the path, or None (warned).

    ``before`` is the identity taken before the rows were read: if the file
    changed meanwhile the index may describe neither version and is not kept.
    """
    now = identity(pt)
    if now != before:
        log.warning("%s: the file changed while it was being indexed; index not saved", pt.path)
        return None
    index.identity = now
    path = sidecar_path(pt.path) if sidecar else cache_path(now)
    return path if save(index, path) else None
