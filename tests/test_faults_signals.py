"""Issue 13 item 12: SIGHUP (terminal closed, ssh dropped) and SIGQUIT stop a write cleanly.

Real subprocesses: the signal arrives while the hidden temporary file is being written; the
run must exit 128 + signal number with one line, and leave neither target nor temporary.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from conftest_faults import pixtab_cmd, run_pixtab, make_table, sha256, temporaries
from test_faults_output import _start_big_write, _wait_for_temporary

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "sig, code, message", [(signal.SIGHUP, 129, "Hangup."), (signal.SIGQUIT, 131, "Quit.")]
)
def test_hangup_and_quit_mid_write_leave_nothing(sig: int, code: int, message: str, tmp_path: Path) -> None:
    out = tmp_path / "big.fits"
    proc = _start_big_write(out)
    try:
        _wait_for_temporary(proc, tmp_path)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, stderr
    assert (stdout, stderr) == ("", f"{message}\n")
    assert list(tmp_path.iterdir()) == []


def test_hangup_during_extract_keeps_the_input(tmp_path: Path) -> None:
    src = make_table(tmp_path / "in.fits", rows=3_000_000, ifus=list(range(1, 25)))
    before = sha256(src)
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "o.fits"
    proc = _start_big_write(out, ["convert", str(src), "-o", str(out)])
    try:
        _wait_for_temporary(proc, outdir, then=0.0)
        proc.send_signal(signal.SIGHUP)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (proc.returncode, stdout, stderr) == (129, "", "Hangup.\n")
    assert list(outdir.iterdir()) == [] and sha256(src) == before


def test_help_lists_the_signal_exit_codes() -> None:
    run = run_pixtab(["--help"])
    assert "129 SIGHUP" in run.stdout and "143 on SIGTERM" in run.stdout and "131 SIGQUIT" in run.stdout
