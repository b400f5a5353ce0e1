"""Issue 22 items 1 and 11: a table index is trusted only when it is exact, and read only from a regular file.

1: data rewritten in place (same size, same headers, mtime restored as ``touch -r`` does) must not
   be cut through the old index: the inode's change time is part of the identity.
11: a FIFO (or directory, device) where pixtab looks for an index is skipped with a warning, never
    opened (opening a FIFO for reading blocks until a writer comes).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers.cli import run_pixtab
from helpers.faults import make_table
from pixtab.core.io import index_store
from pixtab.core.io.table import PixTable


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_table(tmp_path_factory.mktemp("round3-index") / "base.fits", rows=20_000, ifus=[3, 4])


@pytest.fixture
def table(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PIXTAB_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "t.fits"
    shutil.copyfile(base, path)
    return path


CUT = ["--ifu", "3", "--allow-empty"]


def _count(path: Path, *extra: str) -> tuple[int, str]:
    run = run_pixtab("extract", path, "--count", *CUT, *extra, timeout=60)
    assert run.returncode == 0, run.stderr
    return int(run.stdout.split()[0].replace(",", "")), run.stderr


def _rewrite_origin_in_place(path: Path) -> None:
    """Copy the origin codes of the second half of the rows over the first half (IFU 3 rows
    become IFU 4 rows), byte for byte, then restore the mtime as ``touch -r`` does."""
    st = os.stat(path)
    with PixTable(path) as pt:
        assert pt.layout == "image"
        col, n = pt.columns["origin"], pt.nrows
    item = col.dtype.itemsize
    with open(path, "r+b") as f:
        f.seek(col.offset)
        data = np.frombuffer(f.read(item * n), dtype=np.uint8).reshape(-1, item).copy()
        data[: n // 2] = data[n - n // 2 :]
        f.seek(col.offset)
        f.write(data.tobytes())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)


@pytest.mark.parametrize("sidecar", [False, True])
def test_data_rewritten_in_place_with_mtime_restored_is_not_cut_through_the_old_index(table: Path, sidecar: bool) -> None:
    run = run_pixtab(*["index", str(table)] + (["--sidecar"] if sidecar else []))
    assert run.returncode == 0, run.stderr
    _rewrite_origin_in_place(table)
    full, _ = _count(table, "--full-scan")
    assert full > 0
    got, stderr = _count(table)
    assert got == full
    assert "stale table index" in stderr and "ctime" in stderr, stderr


def test_identity_holds_the_inode_change_time(table: Path) -> None:
    with PixTable(table) as pt:
        ident = index_store.identity(pt)
    assert ident["ctime_ns"] == os.stat(table).st_ctime_ns


def _fifo_run(table: Path, where: Path) -> None:
    os.mkfifo(where)
    got, stderr = _count(table)  # run_pixtab's timeout fails the test instead of hanging forever
    full, _ = _count(table, "--full-scan")
    assert got == full
    assert "not a regular file" in stderr, stderr
    assert os.path.exists(where) and not os.path.isfile(where)


def test_fifo_as_sidecar_index_is_skipped_not_opened(table: Path) -> None:
    _fifo_run(table, index_store.sidecar_path(str(table)))


def test_fifo_as_cached_index_is_skipped_not_opened(table: Path) -> None:
    with PixTable(table) as pt:
        where = index_store.cache_path(index_store.identity(pt))
    where.parent.mkdir(parents=True)
    _fifo_run(table, where)


def test_directory_as_cached_index_is_skipped(table: Path) -> None:
    with PixTable(table) as pt:
        where = index_store.cache_path(index_store.identity(pt))
    where.mkdir(parents=True)
    got, stderr = _count(table)
    assert got == _count(table, "--full-scan")[0]
    assert "not a regular file" in stderr, stderr
