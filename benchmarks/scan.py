"""Old against new, interleaved in one run: the scan engine's operations (issue 20).

    python benchmarks/scan.py --old main~3            # a git revision (checked out in a temporary worktree)
    python benchmarks/scan.py --old /work/main --rows 8e7 --repeat 5
    python benchmarks/scan.py --old HEAD --rows 2e6 --repeat 1   # smoke test

Simulates two tables with the CURRENT tree into --workdir (once): ``pixtab
simulate`` as it is, and the same with ``--lambda-tilt 6`` (lambda tilted
across each slice as the pipeline's wavelength solution has it, so that the
row-order planner meets the backward steps of real tables). Then, for every
operation and repeat, runs the old tree and the new tree one after the other
(alternating which goes first), each in its own process with ``PYTHONPATH``
set to its tree, the input warm in the page cache (``cold`` rows: evicted
with ``posix_fadvise(DONTNEED)`` first). Each tree has its own index cache:
empty for the no-index rows, filled by ``pixtab index`` for the indexed ones.
The limit row is numpy reading xpos, ypos and lambda whole.

Prints a markdown table (median and min-max seconds, new/old) and saves it
under benchmarks/results/. Timings mean something only on a quiet machine.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from procs import evict, warm

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
RA, DEC = 150.1163, 2.2058
STAR = ["--circle", str(RA), str(DEC), "2", "--lambda", "6000:6100"]


@dataclass
class Op:
    name: str
    args: list[str]  # after `pixtab`; IN, OUT, CAT, OUTDIR substituted
    cold: bool = False
    indexed: bool = False


OPS = [
    Op('extract 2" + 100 A, no index', ["extract", "IN", "-o", "OUT", *STAR]),
    Op('extract 2" + 100 A, no index, cold', ["extract", "IN", "-o", "OUT", *STAR], cold=True),
    Op('extract 2" + 100 A, --full-scan', ["extract", "IN", "-o", "OUT", *STAR, "--full-scan"]),
    Op('extract 2" + 100 A, indexed', ["extract", "IN", "-o", "OUT", *STAR], indexed=True),
    Op("extract --catalog 100 sources", ["extract", "IN", "--catalog", "CAT", "--output-dir", "OUTDIR", "--overwrite"]),
    Op("image (white light)", ["image", "IN", "-o", "OUT"]),
    Op("image 100 A", ["image", "IN", "-o", "OUT", "--lambda", "6000:6100"]),
    Op('spectrum 2"', ["spectrum", "IN", "-o", "OUT", "--circle", str(RA), str(DEC), "2"]),
    Op("export --lambda -> Parquet", ["export", "IN", "-o", "OUT.parquet", "--lambda", "6000:7000"]),
    Op("convert image -> table", ["convert", "IN", "-o", "OUT", "--to", "table"]),
]


@dataclass
class Row:
    op: str
    table: str
    runs: dict[str, list[float]] = field(default_factory=lambda: {"old": [], "new": []})


def timed(cmd: list[str], env: dict[str, str]) -> float:
    """Wall seconds of ``cmd``, run in its tree (``env``'s PYTHONPATH): ``python -m`` puts the
    working directory first on sys.path, so run from the repository both trees would be the new one."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=env["PYTHONPATH"])
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return dt


def tree_of(old: str, tmp: Path) -> tuple[Path, bool]:
    """The old tree: a directory as given, else a detached worktree of the revision."""
    if Path(old).is_dir():
        return Path(old).resolve(), False
    path = tmp / "old-tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(path), old], check=True)
    return path, True


def env_for(tree: Path, cache: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "PIXTAB_CACHE_DIR": str(cache)}


def catalog(path: Path, n: int = 100) -> Path:
    """``n`` sources of 2" spread over the central 40" (deterministic)."""
    lines = ["id,ra,dec,radius"]
    for i in range(n):
        r, t = 20.0 * math.sqrt((i + 0.5) / n), i * 2.399963
        lines.append(f"s{i:03d},{RA + r * math.cos(t) / 3600 / math.cos(math.radians(DEC)):.7f},{DEC + r * math.sin(t) / 3600:.7f},2")
    path.write_text("\n".join(lines) + "\n")
    return path


def numpy_read(path: Path) -> list[str]:
    code = (
        "import sys, numpy as np\nfrom pixtab.core.io.table import PixTable\npt = PixTable(sys.argv[1])\n"
        "for n in ('xpos', 'ypos', 'lambda'):\n"
        "    c = pt.columns[n]\n"
        "    np.fromfile(pt.path, dtype=c.dtype.newbyteorder('>'), count=pt.nrows, offset=c.offset)\n"
    )
    return [PY, "-c", code, str(path)]


def simulate(workdir: Path, rows: int) -> dict[str, Path]:
    out = {}
    for label, extra in (("simulate", []), ("lambda-tilted", ["--lambda-tilt", "6"])):
        path = workdir / f"scan_{rows:.0e}_{label}.fits".replace("+", "")
        if not path.exists():
            print(f"simulating {path} ...", file=sys.stderr)
            subprocess.run([PY, "-m", "pixtab", "-q", "simulate", str(path), "--nrows", str(rows), *extra],
                           check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
        out[label] = path
    return out


def fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})" if xs else "-"


def report(rows: list[Row], limits: dict[str, list[float]], header: str) -> str:
    lines = [header, "", "| table | operation | old s | new s | new/old |", "|---|---|---|---|---|"]
    for r in rows:
        o, n = r.runs["old"], r.runs["new"]
        ratio = f"{statistics.median(n) / statistics.median(o):.2f}" if o and n else "-"
        lines.append(f"| {r.table} | {r.op} | {fmt(o)} | {fmt(n)} | {ratio} |")
    for table, xs in limits.items():
        lines.append(f"| {table} | numpy reads xpos, ypos, lambda whole | - | {fmt(xs)} | - |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, help="old tree: a directory (worktree) or a git revision")
    ap.add_argument("--rows", type=float, default=8e7)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=HERE / "data")
    ap.add_argument("--only", help="comma-separated substrings of operation names")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    tables = simulate(args.workdir, int(args.rows))
    ops = [o for o in OPS if not args.only or any(s in o.name for s in args.only.split(","))]
    with tempfile.TemporaryDirectory(prefix="pixtab-scan-bench-") as tmp_:
        tmp = Path(tmp_)
        old, made = tree_of(args.old, tmp)
        trees = {"old": old, "new": ROOT}
        for tree in trees.values():  # as installed: byte-compiled (else every run compiles its modules again)
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            subprocess.run([PY, "-m", "compileall", "-q", str(tree / "pixtab")], check=True, env=env, stdout=subprocess.DEVNULL)
        cat = catalog(tmp / "cat.csv")
        out, outdir = tmp / "out.fits", tmp / "cut"
        caches = {(t, k): tmp / f"cache-{t}-{k}" for t in trees for k in ("none", "index")}
        try:
            for label, src in tables.items():  # each tree indexes the tables into its own cache
                for t, tree in trees.items():
                    timed([PY, "-m", "pixtab", "-q", "index", str(src)], env_for(tree, caches[t, "index"]))
            rows = [Row(o.name, label) for label in tables for o in ops]
            limits: dict[str, list[float]] = {label: [] for label in tables}
            for rep in range(args.repeat):
                for row, (label, op) in zip(rows, [(label, o) for label in tables for o in ops]):
                    src = tables[label]
                    order = ["old", "new"] if rep % 2 == 0 else ["new", "old"]
                    for t in order:
                        args_ = [str(src) if a == "IN" else str(out) + a[3:] if a.startswith("OUT") and a != "OUTDIR"
                                 else str(cat) if a == "CAT" else str(outdir) if a == "OUTDIR" else a for a in op.args]  # fmt: skip
                        (evict if op.cold else warm)(src)
                        env = env_for(trees[t], caches[t, "index" if op.indexed else "none"])
                        row.runs[t].append(timed([PY, "-m", "pixtab", "-q", *args_, "--overwrite"]
                                                 if "--overwrite" not in args_ else [PY, "-m", "pixtab", "-q", *args_], env))  # fmt: skip
                for label, src in tables.items():
                    warm(src)
                    limits[label].append(timed(numpy_read(src), env_for(ROOT, caches["new", "none"])))
        finally:
            if made:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False)
    load = os.getloadavg()
    head = (f"# scan engine: old {args.old} vs new {ROOT.name}, {int(args.rows):.1e} rows, {args.repeat} repeat(s), "
            f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
    text = report(rows, limits, head)
    print(text)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / f"scan-{time.strftime('%Y-%m-%d')}-{args.rows:.0e}.md".replace("+", "")).write_text(text + "\n")


if __name__ == "__main__":
    main()
