"""Issue 13 items 13 and 22: a closed stderr, and stdout writes that fail.

13: with stderr closed (``2>&-``) every command works normally and says nothing.
22: a failed write of data to stdout (``> /dev/full``, stdout closed) is exit 1 with one line
    on stderr, never an internal error and never exit 0 with the data lost; a closed pipe
    (``| head``) stays quiet.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from astropy.io import fits

from helpers.cli import REPO, pixtab_cmd, run_pixtab
from helpers.faults import make_table, sha256


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_table(tmp_path_factory.mktemp("streams") / "in.fits", rows=5000, ifus=[3, 4])


def _run(args: list[str], *, stdout: object = subprocess.PIPE, close: tuple[int, ...] = ()) -> subprocess.CompletedProcess:
    """``pixtab ARGS`` with the file descriptors ``close`` closed in the child (stderr None when 2 is)."""

    def closer() -> None:
        for fd in close:
            os.close(fd)

    return run_pixtab(*args, stdout=stdout, stderr=subprocess.PIPE if 2 not in close else None, preexec_fn=closer)


WRITERS = {
    "simulate": lambda src, out: ["simulate", str(out), "--nrows", "2000"],
    "extract": lambda src, out: ["extract", str(src), "-o", str(out), "--ifu", "3"],
    "convert": lambda src, out: ["convert", str(src), "-o", str(out)],
    "decode-origin": lambda src, out: ["decode-origin", str(src), "--format", "fits", "-o", str(out)],
    "reconstruct-det": lambda src, out: ["reconstruct-det", str(src), "-o", str(out), "--ifu", "3"],
}


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_closed_stderr_writes_normally(command: str, table: Path, tmp_path: Path) -> None:
    before = sha256(table)
    out = tmp_path / "out.fits"
    run = _run(WRITERS[command](table, out), close=(2,))
    assert run.returncode == 0
    assert run.stdout == ""
    with fits.open(out) as hdul:
        hdul.verify("exception")
    assert [p.name for p in tmp_path.iterdir()] == ["out.fits"]
    assert sha256(table) == before


def test_closed_stderr_keeps_errors_silent_and_the_status(tmp_path: Path) -> None:
    run = _run(["info", str(tmp_path / "missing.fits")], close=(2,))
    assert (run.returncode, run.stdout) == (1, "")


def test_closed_stderr_data_still_on_stdout(table: Path) -> None:
    run = _run(["info", "--get", "nrows", str(table)], close=(2,))
    assert (run.returncode, run.stdout) == (0, "5000\n")


STDOUT_COMMANDS = {
    "info --nrows": lambda src: ["info", "--get", "nrows", str(src)],
    "info --json": lambda src: ["info", "--json", str(src)],
    "info": lambda src: ["info", str(src)],
    "extract --count": lambda src: ["extract", str(src), "--count", "--ifu", "3"],
    "extract --count --json": lambda src: ["extract", str(src), "--count", "--ifu", "3", "--json"],
    "decode-origin": lambda src: ["decode-origin", str(src)],
    "decode-origin --value": lambda src: ["decode-origin", "--value", "0x14064041"],
    "--version": lambda src: ["--version"],
}


@pytest.mark.parametrize("command", sorted(STDOUT_COMMANDS))
def test_stdout_on_a_full_disk_is_one_line(command: str, table: Path) -> None:
    with open("/dev/full", "w") as full:
        run = _run(STDOUT_COMMANDS[command](table), stdout=full)
    assert run.returncode == 1, run.stderr
    assert run.stderr == "Error: stdout: write failed: no space left on device\n"


@pytest.mark.parametrize("command", sorted(STDOUT_COMMANDS))
def test_closed_stdout_is_one_line(command: str, table: Path) -> None:
    run = _run(STDOUT_COMMANDS[command](table), stdout=None, close=(1,))
    assert run.returncode == 1, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: stdout: write failed: "), run.stderr
    assert "internal error" not in run.stderr


def test_closed_stdout_does_not_let_an_output_take_fd_1(table: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.fits"
    run = _run(["convert", str(table), "-o", str(out)], stdout=None, close=(1,))
    assert run.returncode == 0, run.stderr
    with fits.open(out) as hdul:
        hdul.verify("exception")


def test_closed_pipe_is_quiet(table: Path) -> None:
    proc = subprocess.Popen(pixtab_cmd("decode-origin", table), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert b"Traceback" not in err and b"internal error" not in err, err
