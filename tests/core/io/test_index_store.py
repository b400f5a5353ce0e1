"""Table indexes: building, where they are kept, and never using a stale or foreign one."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pixtab.core.io import index_store
from pixtab.core.io.index import BLOCK_ROWS
from pixtab.core.io.scan.indexer import build_index
from pixtab.core.io.table import PixTable

from helpers.cli import invoke, pixtab_cmd

CUT = ["--circle", "150.1163", "2.2058", "3", "--lambda", "6000:6400"]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("PIXTAB_CACHE_DIR", str(d))
    return d


@pytest.fixture
def table(simulated, tmp_path: Path) -> Path:
    """A writable copy of a simulated table (tests change it)."""
    path = tmp_path / "t.fits"
    shutil.copyfile(simulated(rows=30_000, ifus=[11, 12]), path)
    return path


def extract_path(table: Path, tmp_path: Path) -> tuple[str, bytes]:
    out = tmp_path / "out.fits"
    r = invoke("-v", "extract", table, "-o", out, "--overwrite", "--allow-empty", *CUT)
    path = next(line for line in r.stderr.splitlines() if " path: " in line).split(": ")[1]
    return path + "\n" + r.stderr, out.read_bytes()


def test_cache_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PIXTAB_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert index_store.cache_dir() == tmp_path / "xdg" / "pixtab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert index_store.cache_dir() == tmp_path / "home" / ".cache" / "pixtab"
    monkeypatch.setenv("PIXTAB_CACHE_DIR", str(tmp_path / "own"))
    assert index_store.cache_dir() == tmp_path / "own"


def test_index_then_extract_uses_it(table: Path, cache: Path, tmp_path: Path, order_always: None) -> None:
    before = table.read_bytes()
    log, full = extract_path(table, tmp_path)
    assert log.startswith("order")
    r = invoke("index", table)
    assert "indexed" in r.stderr
    assert len(list(cache.glob("index-*.npz"))) == 1
    log, planned = extract_path(table, tmp_path)
    assert log.startswith("index") and planned == full
    assert table.read_bytes() == before  # the input is never touched
    r = invoke("index", table)
    assert "up to date" in r.stderr


def test_index_json_and_sidecar(table: Path, cache: Path) -> None:
    import json

    r = invoke("index", "--sidecar", "--json", table)
    info = json.loads(r.stdout)
    assert info["index"] == str(table) + ".pixtab-index.npz" and info["built"] and info["blocks"] == -(-30_000 // BLOCK_ROWS)
    assert Path(info["index"]).exists() and not cache.exists()


def test_build_index_during_extract(table: Path, cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.fits"
    r = invoke("-v", "extract", table, "-o", out, "--build-index", *CUT)
    assert "full scan path" in r.stderr and "indexed" in r.stderr
    log, planned = extract_path(table, tmp_path)
    assert log.startswith("index") and planned == out.read_bytes()


def _assert_ignored(table: Path, tmp_path: Path, why: str) -> None:
    log, _ = extract_path(table, tmp_path)
    assert not log.startswith("index"), log
    assert "warning" in log and why in log, log


def test_stale_mtime(table: Path, cache: Path, tmp_path: Path) -> None:
    invoke("index", table)
    st = table.stat()
    os.utime(table, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    _assert_ignored(table, tmp_path, "mtime_ns differs")


def test_stale_header_same_size_and_time(table: Path, cache: Path, tmp_path: Path) -> None:
    invoke("index", table)
    st = table.stat()
    data = bytearray(table.read_bytes())
    at = data.index(b"OBJECT  = 'PIXTAB-SIM'")
    data[at : at + 22] = b"OBJECT  = 'PIXTAB-SIN'"
    table.write_bytes(bytes(data))
    os.utime(table, ns=(st.st_atime_ns, st.st_mtime_ns))
    _assert_ignored(table, tmp_path, "headers_sha256 differs")


def test_replaced_file(table: Path, cache: Path, tmp_path: Path, simulated) -> None:
    """Another table put in place under the same name (new inode, other rows)."""
    invoke("index", "--sidecar", table)
    other = tmp_path / "other.fits"
    shutil.copyfile(simulated(rows=20_000, ifus=[11, 12]), other)
    os.replace(other, table)
    _assert_ignored(table, tmp_path, "stale")


def test_truncated_and_garbage_index(table: Path, cache: Path, tmp_path: Path) -> None:
    invoke("index", table)
    (idx,) = cache.glob("index-*.npz")
    blob = idx.read_bytes()
    idx.write_bytes(blob[: len(blob) // 2])
    _assert_ignored(table, tmp_path, "unreadable")
    idx.write_bytes(b"not an index at all")
    _assert_ignored(table, tmp_path, "unreadable")


def test_foreign_index(table: Path, cache: Path, tmp_path: Path, simulated) -> None:
    """An index of another table under this table's name is not used."""
    other = simulated(rows=20_000, ifus=[3])
    invoke("index", "--sidecar", other)
    shutil.copyfile(str(other) + ".pixtab-index.npz", str(table) + ".pixtab-index.npz")
    os.unlink(str(other) + ".pixtab-index.npz")
    _assert_ignored(table, tmp_path, "rows")


def test_inconsistent_arrays_are_foreign(table: Path, cache: Path, tmp_path: Path) -> None:
    with PixTable(table) as pt:
        index = build_index(pt, block=1024)
        index.lo["lambda"] = index.lo["lambda"][:-1]
        index_store.save(index, index_store.sidecar_path(str(table)))
    _assert_ignored(table, tmp_path, "wrong length")


def test_unwritable_cache_is_a_warning(table: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("PIXTAB_CACHE_DIR", str(blocker / "cache"))  # a directory under a file
    out = tmp_path / "o.fits"
    r = invoke("extract", table, "-o", out, "--build-index", *CUT)
    assert out.exists()
    assert "warning: cannot write the table index" in r.stderr
    r = invoke("index", table, code=1)
    assert "could not be written" in r.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_cache_is_a_warning(table: Path, cache: Path, tmp_path: Path) -> None:
    cache.mkdir()
    cache.chmod(0o555)
    try:
        out = tmp_path / "o.fits"
        r = invoke("extract", table, "-o", out, "--build-index", *CUT)
        assert "warning: cannot write the table index" in r.stderr
    finally:
        cache.chmod(0o755)


def test_full_disk_is_a_warning(table: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*a: object, **k: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    out = tmp_path / "o.fits"
    r = invoke("extract", table, "-o", out, "--build-index", *CUT)
    assert "No space left on device" in r.stderr
    assert list(cache.iterdir()) == []  # no temporary file left behind


def test_concurrent_builds(table: Path, cache: Path) -> None:
    env = dict(os.environ, PIXTAB_CACHE_DIR=str(cache))
    cmd = pixtab_cmd("index", "--rebuild", table)
    procs = [subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].name.startswith("index-")
    with PixTable(table) as pt:
        assert index_store.find(pt) is not None


def test_verbose_says_path_ranges_and_bytes(table: Path, cache: Path, tmp_path: Path, order_always: None) -> None:
    import re

    out = tmp_path / "v.fits"
    for extra, path in ((["--full-scan"], "full scan"), ([], "order"), (["--build-index"], "full scan"), ([], "index")):
        r = invoke("-v", "extract", table, "-o", out, "--overwrite", *extra, *CUT)
        assert re.search(rf": {path} path: \d+ range\(s\), \d+ of 30000 rows to scan; the planner read \d+ bytes", r.stderr), r.stderr
        assert re.search(r": read \d+ bytes \(\d+ from storage, the rest from the page cache\)", r.stderr), r.stderr
    r = invoke("extract", table, "-o", out, "--overwrite", *CUT)
    assert " path: " not in r.stderr  # debug lines only with -v
