"""Issue 13 item 12: SIGHUP (terminal closed, ssh dropped) and SIGQUIT stop a run cleanly.

Mid-write, every signal is in tests/faults/test_faults_output.py::test_signal_mid_write; here the
input survives a hang-up, and --help lists the exit codes.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from helpers.cli import run_pixtab
from helpers.faults import make_table, sha256
from test_faults_output import _start_big_write, _wait_for_temporary

REPO = Path(__file__).resolve().parents[2]


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
    run = run_pixtab("--help")
    assert "129 SIGHUP" in run.stdout and "143 on SIGTERM" in run.stdout and "131 SIGQUIT" in run.stdout
