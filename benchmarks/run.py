"""Every performance target of the project in one run, side by side with its yardstick.

    python benchmarks/run.py                               # 2e7, 8e7 and 3.2e8 rows (~13 GB)
    python benchmarks/run.py --sizes 2e6 --repeat 1 --no-mpdaf --jobs-rows 2e5 --no-save   # smoke test

Simulates the inputs once into --workdir (image layout, a point source at the field
centre; 4 + 4 small files for the --jobs rows), then for every case runs pixtab and its
yardstick, alternating them, each in its own process with a warm page cache: the
median of --repeat runs (min-max), the child's peak RSS (wait4), the ratio
pixtab / yardstick and the issue's target for it. Yardsticks:

* ``numpy C,..``: numpy reading those columns whole (``np.fromfile``);
* ``import numpy`` (and ``scipy.optimize`` for fit): the start-up a Python tool pays anyway;
* ``read+write``: numpy reading the columns the command reads, then writing as many
  bytes as pixtab's output has and ``fsync``-ing them (pixtab's outputs are durable);
* ``cp + sync``: ``cp`` then ``sync FILE``; another pixtab run (``--full-scan``, one
  source, sequential), for the relative targets.

Indexed cases use an index built beforehand in a private cache (PIXTAB_CACHE_DIR); the
others run with an empty cache. MPDAF 3.6 (``pip install -e '.[bench]'``) runs the
operations it has, up to --mpdaf-max-rows. pixtab is byte-compiled first (as pip
installs it). The markdown table is printed and saved with a machine description
under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from procs import measure, warm

HERE = Path(__file__).resolve().parent
PY = sys.executable
RA, DEC = "150.1163", "2.2058"
CUT = ["--circle", RA, DEC, "2", "--lambda", "6000:6100"]
XYL = ["xpos", "ypos", "lambda"]


@dataclass
class Case:
    name: str
    rows: int
    pixtab: list[str]  # command after `python -m pixtab -q`: IN, OUT, STAR, CAT, FILES substituted
    ref_name: str
    ref: list[str]  # the yardstick's command (same substitutions; WRITE: bytes of pixtab's output)
    target: str
    indexed: bool = False
    mpdaf: str | None = None  # operation of mpdaf_ops.py
    samples: dict[str, list[tuple[float, float, bool, str]]] = field(default_factory=lambda: {"pixtab": [], "ref": [], "mpdaf": []})


def numpy_read(columns: list[str], write: bool = False) -> list[str]:
    """numpy reading ``columns`` of IN whole; with ``write``, then WRITE bytes written to OUT and fsynced."""
    code = (
        "import os, sys, numpy as np\n"
        "from pixtab.core.io.table import PixTable\n"
        "pt = PixTable(sys.argv[1])\n"
        "for name in sys.argv[2].split(','):\n"
        "    c = pt.columns[name]\n"
        "    np.fromfile(pt.path, dtype=c.dtype.newbyteorder('>'), count=pt.nrows, offset=c.offset)\n"
        "if len(sys.argv) > 3:\n"
        "    n, block = int(sys.argv[4]), np.zeros(1 << 24, np.uint8)\n"
        "    with open(sys.argv[3], 'wb') as f:\n"
        "        while n > 0:\n"
        "            n -= f.write(block[: min(n, len(block))].data)\n"
        "        f.flush(); os.fsync(f.fileno())\n"
    )
    return [PY, "-c", code, "IN", ",".join(columns)] + (["OUT", "WRITE"] if write else [])


IMPORT_NUMPY = [PY, "-c", "import numpy"]
IMPORT_FIT = [PY, "-c", "import numpy, scipy.optimize, pixtab.core.ops.measure.psfmodels"]


def cases(sizes: list[int], jobs_rows: int) -> list[Case]:
    out: list[Case] = []
    for n in sizes:
        big = n >= 3e8
        if not big:
            out += [
                Case("extract 2\" + 100 A, no index, warm", n, ["extract", "IN", "-o", "OUT", *CUT], "numpy " + ",".join(XYL),
                     numpy_read(XYL), "<= 1.0 (bar 1.3)", mpdaf="extract_star"),
                Case("extract 2\" + 100 A by row order", n, ["extract", "IN", "--count", *CUT], "same, --full-scan",
                     [PY, "-m", "pixtab", "-q", "extract", "IN", "--count", *CUT, "--full-scan"], "<= 1.0"),
            ]
        out += [
            Case("info", n, ["info", "IN"], "import numpy", IMPORT_NUMPY, "<= 2", indexed=True, mpdaf="info" if not big else None),
            Case("extract --count 2\" + 100 A, index", n, ["extract", "IN", "--count", *CUT], "import numpy", IMPORT_NUMPY, "<= 2",
                 indexed=True),
            Case("extract -o 2\" + 100 A, index", n, ["extract", "IN", "-o", "OUT", *CUT], "import numpy", IMPORT_NUMPY, "<= 2.5",
                 indexed=True),
            Case("convert image -> table", n, ["convert", "IN", "-o", "OUT", "--to", "table"], "cp + sync",
                 ["sh", "-c", 'cp "$0" "$1" && sync "$1"', "IN", "OUT"], "<= 1.5", mpdaf="to_table" if n <= 2e7 else None),
            Case("decode-origin -> FITS", n, ["decode-origin", "IN", "--format", "fits", "-o", "OUT"], "read+write",
                 numpy_read(["origin"], write=True), "<= 3", mpdaf="decode_origin" if not big else None),
            Case("reconstruct-det all IFUs", n, ["reconstruct-det", "IN", "-o", "OUT", "--all-ifus"], "read+write",
                 numpy_read(["data", "origin"], write=True), "<= 2", mpdaf="reconstruct_all" if not big else None),
        ]
        if big or n == max(sizes):
            out += [
                Case("extract --catalog, 100 sources", n, ["extract", "IN", "--catalog", "CAT100", "--output-dir", "OUTDIR", "--lambda",
                     "6000:6100"], "1 source", [PY, "-m", "pixtab", "-q", "extract", "IN", "--catalog", "CAT1", "--output-dir",
                     "OUTDIR", "--lambda", "6000:6100"], "<= 2, <= 300 MB"),
                Case("image (white light)", n, ["image", "IN", "-o", "OUT"], "numpy " + ",".join([*XYL, "data"]),
                     numpy_read([*XYL, "data"]), "<= 1.5, <= 500 MB", mpdaf="sky_image" if not big else None),
            ]
    out.append(Case("fit (4\" star cut)", min(sizes), ["fit", "STAR"], "import numpy, scipy.optimize",
                    IMPORT_FIT, "<= 1.3"))
    out.append(Case("fit (2.4\" star cut: 1e5 rows at 2e7)", min(sizes), ["fit", "STAR1E5"], "import numpy, scipy.optimize",
                    IMPORT_FIT, "<= 1.3"))
    for what, extra in (("convert", ["--to", "table"]), ("decode-origin", ["--format", "fits"]), ("extract", CUT)):
        for rows_, tag in ((min(sizes[0], 20_000_000), "4 files"), (jobs_rows, "4 small files")):
            target = ("not slower" if tag != "4 files" else ">= 1.5x faster" if what == "convert" else
                      "> 1x faster" if what == "decode-origin" else "not slower")
            out.append(Case(f"{what} --jobs 2, {tag}", int(rows_), [what, "BATCH", "--output-dir", "OUTDIR", *extra, "--jobs", "2"],
                            "sequential", [PY, "-m", "pixtab", "-q", what, "BATCH", "--output-dir", "OUTDIR", *extra], target))
    return out


def run(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[float, float, bool, str]:
    """Run ``cmd`` in its own process: (wall seconds, peak RSS MB, ok, note)."""
    return measure(cmd, env, timeout)


def simulate(path: Path, rows: int) -> Path:
    if not path.exists():
        print(f"simulating {path} ...", file=sys.stderr)
        subprocess.run([PY, "-m", "pixtab", "-q", "simulate", str(path), "--nrows", str(rows), "--source", RA, DEC, "0.8", "100"],
                       check=True)
    return path


def inputs(workdir: Path, all_cases: list[Case]) -> dict[str, object]:
    """The tables, the star cut, the catalogues and the --jobs files; the indexes in the cache."""
    tables = {n: simulate(workdir / f"sim_{n:.1e}.fits".replace("+", ""), n) for n in sorted({c.rows for c in all_cases if
              "--jobs" not in c.name})}
    batches = {}
    for n in sorted({c.rows for c in all_cases if "--jobs" in c.name}):
        batches[n] = [simulate(workdir / f"batch_{n:.1e}_{i}.fits".replace("+", ""), n) for i in range(4)]
    star, star1e5 = workdir / "star.fits", workdir / "star_1e5.fits"  # the issue's fit: a 1e5-row star
    for path, radius in ((star, "4"), (star1e5, "2.4")):
        if not path.exists():
            subprocess.run([PY, "-m", "pixtab", "-q", "extract", str(tables[min(tables)]), "--circle", RA, DEC, radius, "-o", str(path)],
                           check=True)
    cat1, cat100 = workdir / "cat1.csv", workdir / "cat100.csv"
    cat1.write_text(f"id,ra,dec,radius\ns0,{RA},{DEC},2\n")
    lines = [f"s{i},{float(RA) + (i % 10 - 4.5) * 0.0015:.6f},{float(DEC) + (i // 10 - 4.5) * 0.0015:.6f},2" for i in range(100)]
    cat100.write_text("id,ra,dec,radius\n" + "\n".join(lines) + "\n")
    env = dict(os.environ, PIXTAB_CACHE_DIR=str(workdir / "cache"))
    for n, t in tables.items():
        if any(c.indexed and c.rows == n for c in all_cases):
            subprocess.run([PY, "-m", "pixtab", "-q", "index", str(t)], check=True, env=env)
    return {"tables": tables, "batches": batches, "STAR": star, "STAR1E5": star1e5, "CAT1": cat1, "CAT100": cat100}


def substitute(args: list[str], c: Case, data: dict[str, object], out: Path, outdir: Path, write: int) -> list[str]:
    subs = {"IN": str(data["tables"].get(c.rows, "")), "OUT": str(out), "OUTDIR": str(outdir), "STAR": str(data["STAR"]), "STAR1E5": str(data["STAR1E5"]),  # type: ignore[union-attr]
            "CAT1": str(data["CAT1"]), "CAT100": str(data["CAT100"]), "WRITE": str(write)}
    res: list[str] = []
    for a in args:
        if a == "BATCH":
            res += [str(p) for p in data["batches"][c.rows]]  # type: ignore[index]
        else:
            res.append(subs.get(a, a))
    return res


def fmt(s: list[tuple[float, float, bool, str]]) -> str:
    good = [x[0] for x in s if x[2]]
    if not good:
        return s[0][3] if s else "-"
    return f"{statistics.median(good):.2f} ({min(good):.2f}-{max(good):.2f})"


def med(s: list[tuple[float, float, bool, str]]) -> float | None:
    good = [x[0] for x in s if x[2]]
    return statistics.median(good) if good else None


def mb(s: list[tuple[float, float, bool, str]]) -> str:
    good = [x[1] for x in s if x[2]]
    return f"{max(good):.0f}" if good else "-"


def table(all_cases: list[Case]) -> str:
    lines = ["| case | rows | pixtab s (min-max) | pixtab MB | yardstick | yardstick s | ratio | target | MPDAF s | MPDAF MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for c in all_cases:
        p, r = med(c.samples["pixtab"]), med(c.samples["ref"])
        ratio = "-" if not (p and r) else (f"{r / p:.2f}x faster" if "faster" in c.target else f"{p / r:.2f}")
        lines.append(f"| {c.name} | {c.rows:.1e} | {fmt(c.samples['pixtab'])} | {mb(c.samples['pixtab'])} | {c.ref_name} "
                     f"| {fmt(c.samples['ref'])} | {ratio} | {c.target} | {fmt(c.samples['mpdaf']) if c.samples['mpdaf'] else '-'} "
                     f"| {mb(c.samples['mpdaf'])} |")
    return "\n".join(lines)


def compile_pixtab() -> None:
    """Byte-compile pixtab as an installation does: with PYTHONDONTWRITEBYTECODE set and no
    __pycache__, every run would compile its modules again (0.1-0.2 s of start-up)."""
    where = subprocess.run([PY, "-c", "import pixtab, os; print(os.path.dirname(pixtab.__file__))"], capture_output=True, text=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([PY, "-m", "compileall", "-q", where.stdout.strip()], check=True, env=env)


def machine() -> str:
    import astropy
    import numpy

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return (f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, load {load:.2f} at the end, "
            f"Python {platform.python_version()}, numpy {numpy.__version__}, astropy {astropy.__version__}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2e7,8e7,3.2e8", help="table sizes in rows, comma-separated")
    ap.add_argument("--jobs-rows", type=float, default=2e6, help="rows of the small --jobs files")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=HERE / "data")
    ap.add_argument("--no-mpdaf", action="store_true", help="skip MPDAF even if installed")
    ap.add_argument("--mpdaf-max-rows", type=float, default=8e7)
    ap.add_argument("--mpdaf-timeout", type=float, default=600.0)
    ap.add_argument("--mpdaf-repeat", type=int, default=3, help="MPDAF runs in the first N repetitions only (its convert takes minutes)")
    ap.add_argument("--only", help="comma-separated substrings of case names to run")
    ap.add_argument("--no-save", action="store_true", help="print the table only (smoke tests)")
    ap.add_argument("--export", action="store_true", help="also the Parquet export comparison (benchmarks/export.py)")
    args = ap.parse_args()
    sizes = sorted(int(float(s)) for s in args.sizes.split(","))
    args.workdir.mkdir(parents=True, exist_ok=True)
    compile_pixtab()
    all_cases = [c for c in cases(sizes, int(args.jobs_rows)) if not args.only or any(s in c.name for s in args.only.split(","))]
    data = inputs(args.workdir, all_cases)
    use_mpdaf = not args.no_mpdaf and subprocess.run([PY, "-c", "import mpdaf"], capture_output=True).returncode == 0
    out, outdir = args.workdir / "out.fits", args.workdir / "outdir"
    with_index = dict(os.environ, PIXTAB_CACHE_DIR=str(args.workdir / "cache"))
    no_index = dict(os.environ, PIXTAB_CACHE_DIR=str(args.workdir / "nocache"))
    for rep in range(args.repeat):
        for c in all_cases:
            src = [Path(p) for p in substitute(["IN"], c, data, out, outdir, 0) if p] if c.rows in data["tables"] else []  # type: ignore[operator]
            tools = [("pixtab", [PY, "-m", "pixtab", "-q", *c.pixtab]), ("ref", c.ref)]
            if use_mpdaf and c.mpdaf and c.rows <= args.mpdaf_max_rows and rep < args.mpdaf_repeat:
                tools.append(("mpdaf", [PY, str(HERE / "mpdaf_ops.py"), c.mpdaf, "IN", "OUT"]))
            written = 0
            for tool, cmd in tools:
                out.unlink(missing_ok=True)
                shutil.rmtree(outdir, ignore_errors=True)
                outdir.mkdir()
                warm(*src, *(data["batches"].get(c.rows, []) if "--jobs" in c.name else []))  # type: ignore[union-attr]
                env = with_index if c.indexed else no_index
                os.sync()  # no run pays for the writeback of the one before it (convert: 2 GB)
                s = run(substitute(cmd, c, data, out, outdir, written), env, args.mpdaf_timeout if tool == "mpdaf" else 3600)
                if tool == "pixtab" and out.exists():
                    written = out.stat().st_size
                c.samples[tool].append(s)
                print(f"[{rep + 1}/{args.repeat}] {c.name:<42} {c.rows:8.1e} {tool:<6} {s[0]:8.2f} s {s[1]:7.0f} MB {s[3]}", file=sys.stderr)
    out.unlink(missing_ok=True)
    shutil.rmtree(outdir, ignore_errors=True)
    extra = ""
    if args.export:
        from export import export_comparison

        extra = "\n### Export: size and a DuckDB query\n\n" + export_comparison(data["tables"][min(sizes)], args.workdir) + "\n"  # type: ignore[index]
    mpdaf_runs = min(args.repeat, args.mpdaf_repeat)
    report = (f"## Targets, median of {args.repeat} (min-max), warm cache\n\nMachine: {machine()}. Date: {time.strftime('%Y-%m-%d')}. "
              f"MPDAF: {f'3.6, median of {mpdaf_runs}' if use_mpdaf else 'not run'}.\n\n{table(all_cases)}\n{extra}")
    print(report)
    if args.no_save:
        return
    dest = HERE / "results"
    dest.mkdir(exist_ok=True)
    (dest / f"{time.strftime('%Y-%m-%d-%H%M')}-targets.md").write_text(report)  # a second run the same day keeps the first


if __name__ == "__main__":
    main()
