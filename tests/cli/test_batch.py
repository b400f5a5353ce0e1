"""Many inputs at once: ``--jobs`` (local processes) and ``--scheduler`` (a real Dask cluster).

The batch must read like the sequential run: same stdout, stderr and exit status, outputs
byte-identical, no partial output after a signal or a dead worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.cli import pixtab_cmd, run_pixtab

def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``pixtab ARGS`` in ``cwd``; stdout and stderr as bytes (runs are compared byte for byte)."""
    return run_pixtab(*args, cwd=cwd, env=env, timeout=timeout, text=False)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with three small tables, one bad file and a bigger table (slow enough to interrupt)."""
    d = tmp_path_factory.mktemp("batch")
    for name, rows, extra in (("a.fits", "3e4", []), ("b.fits", "2e4", ["--layout", "table"]), ("c.fits", "1e4", ["--exposures", "2"])):
        assert run(["-q", "simulate", name, "--nrows", rows, *extra], d).returncode == 0
    (d / "bad.fits").write_bytes(b"not a FITS file\n" * 10)
    assert run(["-q", "simulate", "big1.fits", "--nrows", "1e7"], d).returncode == 0
    for name in ("big2.fits", "big3.fits"):
        os.link(d / "big1.fits", d / name)
    return d


def same_run(cmd: list[str], cwd: Path, extra: list[str]) -> subprocess.CompletedProcess:
    """Run ``cmd`` sequentially and with ``extra``; assert both print and exit alike."""
    seq = run(cmd, cwd)
    par = run([*cmd, *extra], cwd)
    assert (par.returncode, par.stdout, par.stderr) == (seq.returncode, seq.stdout, seq.stderr)
    return par


def tree(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def task_servers(cwd: Path | None = None) -> list[int]:
    """Pids of running pixtab task servers (started in ``cwd``: other test runs may have theirs)."""
    pids = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and b"pixtab.cli.taskserver" in (p / "cmdline").read_bytes():
                if cwd is None or _cwd(int(p.name)) == str(cwd):
                    pids.append(int(p.name))
        except OSError:
            pass
    return pids


def running_tasks(cwd: Path) -> list[int]:
    """Pids of the tasks that still run in ``cwd`` (tasks chdir there): forked by task servers,
    or by the pixtab process itself (they carry its command line)."""
    servers = set(task_servers())
    children = []
    for p in Path("/proc").iterdir():
        try:
            if not p.name.isdigit() or int(p.name) == os.getpid() or _cwd(int(p.name)) != str(cwd):
                continue
            if _ppid(int(p.name)) in servers or b"pixtab" in (p / "cmdline").read_bytes():
                children.append(int(p.name))
        except (OSError, IndexError, ValueError):
            pass
    return children


def task_processes(cwd: Path) -> list[int]:
    """Pids of the task servers started in ``cwd`` and of the tasks running there."""
    return sorted({*task_servers(cwd), *running_tasks(cwd)})


def wait_for(predicate, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


# -- local processes ---------------------------------------------------------------------


@pytest.mark.parametrize("extra", [["--jobs", "2"], ["-j", "3"]])
def test_jobs_prints_and_exits_as_sequential(inputs: Path, extra: list[str]) -> None:
    r = same_run(["info", "--json", "a.fits", "bad.fits", "b.fits", "c.fits"], inputs, extra)
    assert r.returncode == 1
    assert [json.loads(line)["path"] for line in r.stdout.decode().splitlines()] == ["a.fits", "b.fits", "c.fits"]
    assert r.stderr.decode().splitlines() == ["Error: bad.fits: not a FITS file", "Error: 1 of 4 inputs failed: bad.fits"]
    r = same_run(["extract", "--count", "a.fits", "b.fits", "c.fits", "--lambda", "6000:6100"], inputs, extra)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 3


def test_jobs_outputs_identical(inputs: Path, tmp_path: Path) -> None:
    names = ["a.fits", "b.fits", "c.fits"]
    for out, extra in (("seq", []), ("par", ["--jobs", "2"])):
        (tmp_path / out).mkdir()
        r = run(["extract", *names, "--output-dir", str(tmp_path / out), "--lambda", "5000:7000", *extra], inputs)
        assert r.returncode == 0, r.stderr
    assert tree(tmp_path / "seq") == tree(tmp_path / "par")
    assert len(tree(tmp_path / "par")) == 3


def test_small_inputs_run_here_one_after_the_other(inputs: Path) -> None:
    """By default (128 MiB), --jobs runs inputs this small in the process itself, which is faster
    than forked tasks for them; -v says so. Inputs of 1e7 rows (280 MB) go to the workers."""
    default = {"PIXTAB_JOBS_MIN_MB": None}
    cmd = ["-v", "extract", "--count", "--lambda", "6000:6100", "--jobs", "2"]
    small = run([*cmd, "a.fits", "b.fits", "c.fits"], inputs, default)
    assert small.returncode == 0 and len(small.stdout.splitlines()) == 3
    assert b"--jobs 2: the 3 inputs average 1 MiB, under 128 MiB: run here one after the other" in small.stderr
    big = run([*cmd, "big1.fits", "big2.fits"], inputs, default)
    assert big.returncode == 0 and len(big.stdout.splitlines()) == 2
    assert b"one after the other" not in big.stderr
    forced = run([*cmd, "a.fits", "b.fits"], inputs, {"PIXTAB_JOBS_MIN_MB": "0"})
    assert b"one after the other" not in forced.stderr and forced.stdout == b"\n".join(small.stdout.splitlines()[:2]) + b"\n"
    bad = run([*cmd, "a.fits", "b.fits"], inputs, {"PIXTAB_JOBS_MIN_MB": "lots"})
    assert bad.returncode == 2 and b"PIXTAB_JOBS_MIN_MB='lots' is not a number of MiB" in bad.stderr


def test_worth_workers_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pixtab.cli.batch import Dispatch, worth_workers

    small, big = tmp_path / "s.fits", tmp_path / "b.fits"
    small.write_bytes(b"x" * (1 << 20))
    with open(big, "wb") as f:
        f.truncate(300 << 20)  # sparse: its size is what counts
    monkeypatch.setenv("PIXTAB_JOBS_MIN_MB", "128")
    jobs = Dispatch(jobs=2)
    assert worth_workers([str(small)] * 3, Dispatch()) == (False, "")  # no --jobs
    assert worth_workers([str(small)] * 3, jobs)[0] is False
    assert worth_workers([str(small), str(big)], jobs) == (True, "")  # 150.5 MiB on average
    assert worth_workers([str(small), str(tmp_path / "missing.fits")], jobs) == (True, "")  # each task reports it
    assert worth_workers([str(small), "/dev/null"], jobs) == (True, "")  # not a regular file
    assert worth_workers([str(small)] * 3, Dispatch(scheduler="tcp://h:1")) == (True, "")  # the cluster's files
    monkeypatch.delenv("PIXTAB_JOBS_MIN_MB")
    assert worth_workers([str(small), str(big)], jobs)[0] is True
    assert worth_workers([str(small)] * 2, jobs)[0] is False


def test_jobs_usage_errors_are_not_dispatched(inputs: Path) -> None:
    r = run(["extract", "a.fits", "b.fits", "--count", "-j", "0", "--ifu", "1"], inputs)
    assert r.returncode == 2 and b"--jobs" in r.stderr
    r = run(["extract", "a.fits", "b.fits", "-j", "2", "--ifu", "99"], inputs)
    assert r.returncode == 2 and not task_processes(inputs)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_jobs_signal_leaves_no_output(inputs: Path, tmp_path: Path, sig: int, code: int) -> None:
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        pixtab_cmd("convert", "big1.fits", "big2.fits", "--output-dir", out, "-j", "2"),
        cwd=inputs, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    wait_for(lambda: len(list(out.iterdir())) == 2)  # both tasks are writing their temporaries
    proc.send_signal(sig)  # (a conversion takes over a second: neither can be done yet)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    wait_for(lambda: not task_processes(inputs), 10)
    assert list(out.iterdir()) == []


def test_tasks_end_when_their_parent_is_killed(inputs: Path, tmp_path: Path) -> None:
    """SIGKILL of the parent (no cleanup possible there): each task ends itself and removes its temporary."""
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        pixtab_cmd("convert", "big1.fits", "big2.fits", "--output-dir", out, "-j", "2"),
        cwd=inputs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: len(list(out.iterdir())) == 2)
    proc.kill()
    proc.wait()
    wait_for(lambda: not task_processes(inputs), 10)
    assert list(out.iterdir()) == []


# -- a real Dask cluster: one scheduler and two workers on localhost -----------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not os.environ.get("CI"):
        pytest.importorskip("distributed", reason="Dask distributed is not installed (pip install 'pixtab[cluster]')")
    d = tmp_path_factory.mktemp("dask")
    info = d / "scheduler.json"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--scheduler-file", str(info), "--host", "127.0.0.1",
             "--port", "0", "--dashboard-address", ":0"],
            stdout=subprocess.DEVNULL, stderr=open(d / "scheduler.log", "wb"),
        )
    ]
    wait_for(info.exists, 60)
    for k in range(2):
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(info), "--host", "127.0.0.1",
                 "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--name", f"w{k}"],
                stdout=subprocess.DEVNULL, stderr=open(d / f"worker{k}.log", "wb"),
            )
        )
    address = json.loads(info.read_text())["address"]
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(2, timeout=60)
    yield address
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def test_cluster_prints_and_exits_as_sequential(inputs: Path, cluster: str) -> None:
    r = same_run(["info", "--json", "a.fits", "bad.fits", "b.fits"], inputs, ["--scheduler", cluster])
    assert r.returncode == 1 and b"Error: 1 of 3 inputs failed: bad.fits" in r.stderr
    seq = run(["extract", "--count", "--json", "a.fits", "b.fits", "c.fits", "--ifu", "2-5"], inputs)
    env = run(["extract", "--count", "--json", "a.fits", "b.fits", "c.fits", "--ifu", "2-5"], inputs, {"PIXTAB_SCHEDULER": cluster})
    assert (env.returncode, env.stdout, env.stderr) == (seq.returncode, seq.stdout, seq.stderr)


def test_cluster_outputs_identical(inputs: Path, cluster: str, tmp_path: Path) -> None:
    names = ["a.fits", "b.fits", "c.fits"]
    for out, extra in (("seq", []), ("dask", ["--scheduler", cluster])):
        (tmp_path / out).mkdir()
        r = run(["convert", *names, "--output-dir", str(tmp_path / out), *extra], inputs)
        assert r.returncode == 0, r.stderr
    assert tree(tmp_path / "seq") == tree(tmp_path / "dask")


def _dask_worker_of_a_task(inputs: Path) -> int:
    """The Dask worker process running one of the tasks: task -> its task server -> the worker.

    Only a task forked by a task server qualifies (the pixtab client also runs in ``inputs``),
    and the pid found must be a child of a Dask nanny, not an ancestor of this test: a wrong
    walk up the tree once SIGKILLed the CI's test runner itself."""
    found: list[int] = []

    def served() -> bool:
        servers = set(task_servers())
        found[:] = [t for t in running_tasks(inputs) if _ppid(t) in servers]
        return bool(found)

    wait_for(served)
    worker = _ppid(_ppid(found[0]))
    ancestors, pid = set(), os.getpid()
    while pid > 1:
        ancestors.add(pid)
        pid = _ppid(pid)
    nanny = Path(f"/proc/{_ppid(worker)}/cmdline").read_bytes()  # the worker is a spawned child of the nanny
    assert worker not in ancestors and b"distributed.cli.dask_worker" in nanny, nanny
    return worker


def test_cluster_survives_a_killed_worker(inputs: Path, cluster: str, tmp_path: Path) -> None:
    """The worker running a task is SIGKILLed mid-file: the task is retried elsewhere, nothing partial is left."""
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        pixtab_cmd("convert", "big1.fits", "big2.fits", "--output-dir", out, "--scheduler", cluster),
        cwd=inputs, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    wait_for(lambda: any(p.name.startswith(".") for p in out.iterdir()))
    worker = _dask_worker_of_a_task(inputs)
    os.kill(worker, signal.SIGKILL)  # the nanny starts a new worker; the scheduler reschedules the task
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["big1.fits", "big2.fits"]
    assert run(["convert", "big1.fits", "-o", str(tmp_path / "ref.fits")], inputs).returncode == 0
    assert (out / "big1.fits").read_bytes() == (tmp_path / "ref.fits").read_bytes()


def test_cluster_interrupt_cancels(inputs: Path, cluster: str, tmp_path: Path) -> None:
    """Ctrl-C: the running tasks stop and clean up, the queued one never starts."""
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        pixtab_cmd("convert", "big1.fits", "big2.fits", "big3.fits", "--output-dir", out, "--scheduler", cluster),
        cwd=inputs, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    wait_for(lambda: any(p.name.startswith(".") for p in out.iterdir()))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    wait_for(lambda: not running_tasks(inputs), 15)  # the workers' task servers stay, warm
    time.sleep(1)  # a task that was wrongly left queued would start now
    left = sorted(p.name for p in out.iterdir())
    assert not [n for n in left if n.startswith(".")] and "big3.fits" not in left
    assert not running_tasks(inputs)


def test_scheduler_unreachable_or_missing(inputs: Path) -> None:
    r = run(["info", "a.fits", "b.fits", "--scheduler", "tcp://127.0.0.1:9"], inputs, timeout=60)
    assert r.returncode == 1
    assert r.stderr.decode().splitlines()[-1].startswith("Error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    hide = "import sys; sys.modules['distributed'] = None; from pixtab.cli import main; main()"
    r = subprocess.run(
        [sys.executable, "-c", hide, "info", "a.fits", "b.fits", "--scheduler", "tcp://127.0.0.1:9"],
        cwd=inputs, capture_output=True, timeout=60,
    )
    assert r.returncode == 1
    assert r.stderr.decode().strip() == "Error: --scheduler needs Dask distributed: pip install 'pixtab[cluster]'"


def test_jobs_never_write_over_an_input(inputs: Path, tmp_path: Path) -> None:
    """The skeleton's checks run for the whole run before any task starts: the data-loss case of issue 12."""
    import shutil

    for name in ("a.fits", "c.fits"):
        shutil.copy(inputs / name, tmp_path / name)
    shutil.copy(inputs / "a.fits", tmp_path / "a_x.fits")
    before = (tmp_path / "a_x.fits").read_bytes()
    r = run(["extract", "a.fits", "a_x.fits", "c.fits", "--output-dir", ".", "--name", "{stem}_x.fits", "--overwrite",
             "--lambda", "5000:9000", "-j", "2"], tmp_path)
    assert r.returncode == 1 and b"a_x.fits" in r.stderr
    assert (tmp_path / "a_x.fits").read_bytes() == before and not (tmp_path / "c_x.fits").exists()
