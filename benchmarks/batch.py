"""Many inputs: sequential vs ``--jobs 2`` vs a two-worker Dask cluster on this machine.

    python benchmarks/batch.py --files 8 --rows 1e7

Simulates --files tables into --workdir (once), then times, each in its own process and
with a warm page cache, a 2" + 100 A cut of every file and a conversion of every file,
run sequentially, with ``--jobs 2``, and with ``--scheduler`` on a local Dask cluster (one
scheduler, two single-threaded workers, started here). The per-file overhead of the
cluster path is measured on ``info`` (almost no work): (cluster - sequential) / files,
with a one-worker cluster so that no parallelism hides it. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PIXTAB = [sys.executable, "-m", "pixtab"]
CUT = ["--circle", "150.1163", "2.2058", "2arcsec", "--lambda", "6000:6100", "--allow-empty"]


def timed(args: list[str], cwd: Path, repeat: int) -> tuple[float, float, float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        r = subprocess.run([*PIXTAB, *args], cwd=cwd, capture_output=True)
        times.append(time.perf_counter() - t)
        if r.returncode != 0:
            raise SystemExit(f"pixtab {' '.join(args)} failed: {r.stderr.decode()}")
    return statistics.median(times), min(times), max(times)


class Cluster:
    def __init__(self, workers: int, tmp: Path) -> None:
        info = tmp / f"scheduler{workers}.json"
        self.procs = [subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--scheduler-file", str(info), "--host",
             "127.0.0.1", "--port", "0", "--dashboard-address", ":0"], stderr=subprocess.DEVNULL)]
        while not info.exists():
            time.sleep(0.1)
        self.procs += [subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(info), "--host", "127.0.0.1",
             "--nthreads", "1", "--no-dashboard"], stderr=subprocess.DEVNULL) for _ in range(workers)]
        self.address = json.loads(info.read_text())["address"]
        from distributed import Client

        with Client(self.address) as c:
            c.wait_for_workers(workers)

    def close(self) -> None:
        for p in self.procs:
            p.terminate()
            p.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--rows", default="1e7")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path(__file__).parent / "data" / "batch")
    a = ap.parse_args()
    a.workdir.mkdir(parents=True, exist_ok=True)
    names = [f"exp{k:02d}_{a.rows}.fits" for k in range(a.files)]
    for name in names:
        if not (a.workdir / name).exists():
            subprocess.run([*PIXTAB, "-q", "simulate", name, "--nrows", a.rows, "--seed", str(names.index(name))],
                           cwd=a.workdir, check=True)
    for name in names:  # warm the page cache
        subprocess.run(["cat", name], cwd=a.workdir, stdout=subprocess.DEVNULL, check=True)
    tmp = Path(tempfile.mkdtemp(dir=a.workdir))
    two, one = Cluster(2, tmp), Cluster(1, tmp)
    rows = []
    try:
        for label, args in (("extract 2\" + 100 A", ["extract", *names, "--output-dir", str(tmp), "--overwrite", *CUT]),
                            ("convert -> table", ["convert", *names, "--output-dir", str(tmp), "--overwrite", "--to", "table"])):
            seq = timed(args, a.workdir, a.repeat)
            jobs = timed([*args, "--jobs", "2"], a.workdir, a.repeat)
            dask = timed([*args, "--scheduler", two.address], a.workdir, a.repeat)
            rows.append((label, seq, jobs, dask))
        seq = timed(["info", *names], a.workdir, a.repeat)
        dask1 = timed(["info", *names, "--scheduler", one.address], a.workdir, a.repeat)
    finally:
        two.close()
        one.close()
    fmt = lambda t: f"{t[0]:.2f} ({t[1]:.2f}-{t[2]:.2f})"  # noqa: E731
    print(f"{a.files} files of {a.rows} rows, median of {a.repeat} (min-max), seconds\n")
    print("| operation | sequential | --jobs 2 | Dask, 2 workers | speed-up jobs / dask |")
    print("|---|---|---|---|---|")
    for label, s, j, d in rows:
        print(f"| {label} | {fmt(s)} | {fmt(j)} | {fmt(d)} | {s[0] / j[0]:.2f} / {s[0] / d[0]:.2f} |")
    print(f"\ncluster overhead per file (info, 1 worker): ({dask1[0]:.2f} - {seq[0]:.2f}) / {a.files} = "
          f"{(dask1[0] - seq[0]) / a.files:.3f} s")


if __name__ == "__main__":
    main()
