"""Issue 13 items 3 and 9: special files and ``-`` as outputs and inputs.

9: a character device, a FIFO or /dev/stdout as ``-o`` is written directly and never replaced;
   other special files are refused; a symbolic link keeps being a link.
3: ``-o -`` streams the FITS file to stdout (extract, convert, simulate), refused on a terminal
   and where it makes no sense; ``info -`` and a pipe as input say a seekable file is needed.
"""

from __future__ import annotations

import os
import pty
import socket
import stat
import subprocess
import threading
from pathlib import Path

import pytest
from astropy.io import fits

from helpers.cli import REPO, pixtab_cmd, run_pixtab
from helpers.faults import assert_one_line_error, make_table, sha256


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_table(tmp_path_factory.mktemp("outputs") / "in.fits", rows=20_000, ifus=[3, 4])


def _writers(src: Path, out: str) -> dict[str, list[str]]:
    return {
        "extract": ["extract", str(src), "-o", out, "--ifu", "3"],
        "convert": ["convert", str(src), "-o", out],
        "simulate": ["simulate", out, "--nrows", "3000", "--ifus", "2"],
    }


def _reference(command: str, src: Path, tmp_path: Path) -> bytes:
    ref = tmp_path / f"ref-{command}.fits"
    run = run_pixtab(*_writers(src, str(ref))[command])
    assert run.returncode == 0, run.stderr
    return ref.read_bytes()


@pytest.mark.parametrize("command", ["extract", "convert", "simulate"])
def test_dash_streams_the_same_file_to_stdout(command: str, table: Path, tmp_path: Path) -> None:
    want = _reference(command, table, tmp_path)
    run = subprocess.run(pixtab_cmd(*_writers(table, "-")[command]), capture_output=True, cwd=REPO, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == want
    assert not (REPO / "-").exists()


@pytest.mark.parametrize("command", ["extract", "convert", "simulate"])
def test_dash_is_refused_on_a_terminal(command: str, table: Path) -> None:
    master, slave = pty.openpty()
    try:
        run = subprocess.run(pixtab_cmd(*_writers(table, "-")[command]), stdout=slave, stderr=subprocess.PIPE,
                             text=True, cwd=REPO, timeout=120)
    finally:
        os.close(slave)
        os.close(master)
    assert run.returncode == 1
    assert run.stderr.startswith("Error: -: is a terminal") and len(run.stderr.splitlines()) == 1, run.stderr


def test_dash_is_refused_where_it_cannot_go(table: Path, tmp_path: Path) -> None:
    run = run_pixtab("reconstruct-det", table, "-o", "-", "--ifu", "3")
    assert run.returncode == 2 and "stdout" in run.stderr
    run = run_pixtab("extract", table, "-o", "-", "--ifu", "3", "--json")
    assert run.returncode == 2 and "both write to stdout" in run.stderr
    assert not (REPO / "-").exists()


@pytest.mark.parametrize("command", ["extract", "convert", "simulate"])
def test_dev_stdout_onto_a_redirected_file_writes_through_it(command: str, table: Path, tmp_path: Path) -> None:
    want = _reference(command, table, tmp_path)
    out = tmp_path / "redirected.fits"
    with open(out, "wb") as f:
        inode = os.fstat(f.fileno()).st_ino
        run = subprocess.run(pixtab_cmd(*_writers(table, "/dev/stdout")[command]), stdout=f, stderr=subprocess.PIPE,
                             cwd=REPO, timeout=120)
    assert run.returncode == 0, run.stderr
    assert os.stat(out).st_ino == inode  # written through the shell's descriptor, not renamed over
    assert out.read_bytes() == want


def _char_device(path: Path) -> Path:
    """A /dev/null of our own (major 1, minor 3), so that a regression cannot break the system's."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a character device needs root")
    return path


@pytest.mark.parametrize("command", ["extract", "convert", "simulate"])
@pytest.mark.parametrize("overwrite", [False, True])
def test_character_device_is_written_not_replaced(command: str, overwrite: bool, table: Path, tmp_path: Path) -> None:
    null = _char_device(tmp_path / "null")
    before = sha256(table)
    run = run_pixtab(*_writers(table, str(null))[command] + (["--overwrite"] if overwrite else []))
    assert run.returncode == 0, run.stderr
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]
    assert sha256(table) == before


def test_fifo_gets_the_file_and_stays_a_fifo(table: Path, tmp_path: Path) -> None:
    want = _reference("convert", table, tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    run = run_pixtab(*_writers(table, str(fifo))["convert"], "--overwrite")
    reader.join(timeout=60)
    assert run.returncode == 0, run.stderr
    assert got == [want]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_socket_is_refused(table: Path, tmp_path: Path) -> None:
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        run = run_pixtab(*_writers(table, str(path))["convert"], "--overwrite")
    assert run.returncode == 1
    assert_one_line_error(run.stdout, run.stderr, path, "is a socket, not a regular file")
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_block_device_is_refused(table: Path, tmp_path: Path) -> None:
    path = tmp_path / "blk"
    try:
        os.mknod(path, stat.S_IFBLK | 0o600, os.makedev(7, 200))
    except PermissionError:
        pytest.skip("creating a block device needs root")
    run = run_pixtab(*_writers(table, str(path))["extract"], "--overwrite")
    assert run.returncode == 1
    assert_one_line_error(run.stdout, run.stderr, path, "is a block device, not a regular file")
    assert stat.S_ISBLK(os.lstat(path).st_mode)


def test_symlink_output_replaces_the_file_and_keeps_the_link(table: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.fits"
    real.write_bytes(b"old")
    link = tmp_path / "link.fits"
    link.symlink_to(real)
    run = run_pixtab(*_writers(table, str(link))["convert"], "--overwrite")
    assert run.returncode == 0, run.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == _reference("convert", table, tmp_path)


def test_dangling_symlink_output_is_refused(table: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.fits"
    link.symlink_to(tmp_path / "nowhere" / "x.fits")
    run = run_pixtab(*_writers(table, str(link))["convert"])
    assert run.returncode == 1
    assert_one_line_error(run.stdout, run.stderr, link, "symbolic link to a missing file")


def test_info_dash_and_pipes_need_a_seekable_file(table: Path, tmp_path: Path) -> None:
    with open(table, "rb") as f:
        run = run_pixtab("info", "-", stdin=f)
    assert run.returncode == 1
    assert_one_line_error(run.stdout, run.stderr, "-", "pixtab needs a seekable file")
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    run = run_pixtab("info", fifo, timeout=30)  # must not block in open()
    assert_one_line_error(run.stdout, run.stderr, fifo, "is a pipe: pixtab needs a seekable file")
    cat = subprocess.Popen(["cat", str(table)], stdout=subprocess.PIPE)
    run = run_pixtab("info", "/dev/stdin", stdin=cat.stdout, timeout=30)
    cat.kill()
    cat.wait()
    assert_one_line_error(run.stdout, run.stderr, "/dev/stdin", "is a pipe: pixtab needs a seekable file")
