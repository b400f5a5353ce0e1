"""Issue 22 items 5-8 and 10: batch tasks, signals to the process group, scheduler addresses, pipes.

5: a task rerun after its first run committed its output (Dask reruns the tasks of a worker that
   died) recognises its own output: byte-identical means done; anything else is still refused.
6: SIGTERM to the whole process group (``kill -- -PGID``, scancel, systemd) exits 143, one line.
7: an interrupted ``--jobs`` run leaves no ``pixtab-task-*`` file in $TMPDIR.
8: a bad ``--scheduler`` address is refused before any connection: one line, fast, no traceback.
10: a reader that stops early (``| head -1``) ends pixtab by SIGPIPE (141), silently.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.cli import REPO, pixtab_cmd, run_pixtab
from helpers.faults import make_table


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("round3-jobs")
    make_table(d / "a.fits", rows=20_000, ifus=[3])
    make_table(d / "b.fits", rows=20_000, ifus=[4])
    make_table(d / "big1.fits", rows=4_000_000, ifus=list(range(1, 25)))
    os.link(d / "big1.fits", d / "big2.fits")
    return d


def _task(inputs: Path, out: Path, index: int) -> subprocess.CompletedProcess[str]:
    """Run one task of ``convert a.fits b.fits --output-dir OUT`` as a batch runs it."""
    env = {**os.environ, "PIXTAB_BATCH_INPUT": str(index)}
    env.pop("PIXTAB_DEBUG", None)
    return subprocess.run(pixtab_cmd("convert", "a.fits", "b.fits", "--output-dir", out), cwd=inputs, env=env,
                          capture_output=True, text=True, timeout=120)


def test_rerun_task_recognises_its_own_committed_output(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    first = _task(inputs, out, 1)
    assert first.returncode == 0, first.stderr
    done = (out / "b.fits").read_bytes()
    again = _task(inputs, out, 1)  # the rerun of a task whose worker died after the commit
    assert again.returncode == 0, again.stderr
    assert (out / "b.fits").read_bytes() == done
    assert sorted(p.name for p in out.iterdir()) == ["b.fits"]


def test_rerun_task_still_refuses_another_file(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.fits").write_bytes(b"someone else's file")
    run = _task(inputs, out, 1)
    assert run.returncode == 1
    assert "already exists" in run.stderr and len(run.stderr.splitlines()) == 1, run.stderr
    assert (out / "b.fits").read_bytes() == b"someone else's file"
    assert sorted(p.name for p in out.iterdir()) == ["b.fits"]


def test_batch_still_refuses_existing_outputs_before_any_task(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    _task(inputs, out, 1)
    run = run_pixtab("convert", inputs / "a.fits", inputs / "b.fits", "--output-dir", out, "-j", "2")
    assert run.returncode == 1 and "already exists" in run.stderr, run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["b.fits"]


@pytest.mark.parametrize("attempt", range(3))
def test_sigterm_to_the_process_group_exits_143(inputs: Path, tmp_path: Path, attempt: int) -> None:
    out = tmp_path / "out"
    out.mkdir()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PIXTAB_DEBUG"}
    env["TMPDIR"] = str(tmp)
    proc = subprocess.Popen(pixtab_cmd("convert", "big1.fits", "big2.fits", "--output-dir", out, "-j", "2"),
                            cwd=inputs, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while len(list(out.iterdir())) < 2 and time.monotonic() < deadline:  # both tasks are writing
        time.sleep(0.02)
    time.sleep(0.03 * attempt)  # early, middle, late in the writing (a 4e6-row convert takes ~0.3 s)
    os.killpg(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr and "task server" not in stderr, stderr
    deadline = time.monotonic() + 30  # the tasks' own clean-up (they got the signal too)
    while list(out.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(out.iterdir()) == []
    assert [p.name for p in tmp.iterdir() if p.name.startswith("pixtab-task-")] == []


@pytest.mark.parametrize("address, code", [("foo", 2), ("tcp://", 2), (":::", 2), ("tcp://host:99999", 2),
                                           ("tls://127.0.0.1:9", 1), ("tcp://127.0.0.1:9", 1), ("127.0.0.1:9", 1)])
def test_bad_scheduler_address_is_one_line_and_fast(address: str, code: int, inputs: Path) -> None:
    t0 = time.monotonic()
    run = run_pixtab("info", inputs / "a.fits", inputs / "b.fits", "--scheduler", address, timeout=60)
    took = time.monotonic() - t0
    assert run.returncode == code, run.stderr
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr, run.stderr
    assert run.stderr.splitlines()[-1].startswith("Error: ") and "scheduler" in run.stderr.splitlines()[-1]
    assert took < 9, took  # no 10-second retries, no 20-second hang in a finaliser
    assert run.stdout == ""


@pytest.mark.parametrize("command", [["decode-origin"], ["decode-origin", "--format", "tsv"], ["spectrum", "--bin", "0.5"]])
def test_reader_stopping_early_is_sigpipe(command: list[str], inputs: Path) -> None:
    args = " ".join([command[0], str(inputs / "big1.fits"), *command[1:]])
    script = f"set -o pipefail; {sys.executable} -m pixtab {args} | head -1 > /dev/null"
    run = subprocess.run(["bash", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={k: v for k, v in os.environ.items() if k != "PIXTAB_DEBUG"})
    assert run.returncode == 141, run.stderr
    assert run.stderr == ""
