"""Benchmarks side by side: pixtab, MPDAF 3.6 and the raw-read limits, in one run.

    python benchmarks/run.py --rows 8e7            # also 2e7; 3.2e8 where the disk allows
    python benchmarks/run.py --rows 2e7 --no-mpdaf --repeat 1

Simulates the input tables (both layouts) once into --workdir, then for every
operation runs pixtab, MPDAF (if importable; ``pip install -e '.[bench]'``) and
the limit (``cat``, ``cp``, or numpy reading only the columns the operation
needs), alternating the tools, each in its own process, after re-reading the
input so the page cache is warm. Reports the median of --repeat runs with
min-max, the peak RSS of the child (wait4 rusage), and the ratios
pixtab/limit and MPDAF/pixtab. The markdown table is printed and saved with a
machine description under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable
RA, DEC = "150.1163", "2.2058"


@dataclass
class Op:
    name: str
    layout: str  # which input: image or table
    pixtab: list[str]  # arguments after `pixtab`; IN and OUT are substituted
    mpdaf: str | None  # operation in mpdaf_ops.py
    limit: tuple[str, list[str]]  # ("numpy" | "bincount", columns) | ("cp", []) | ("cat", []) | ("none", [])
    target: str


OPS = [
    Op("info", "image", ["info", "--json", "IN"], "info", ("none", []), "< 0.5 s"),
    Op("extract 2\" + 100 A", "image", ["extract", "IN", "-o", "OUT", "--circle", RA, DEC, "2", "--lambda", "6000:6100"],
       "extract_star", ("numpy", ["xpos", "ypos", "lambda"]), "<= 1.3x limit, >= 10x MPDAF"),
    Op("extract 2\" + 100 A (table)", "table", ["extract", "IN", "-o", "OUT", "--circle", RA, DEC, "2", "--lambda", "6000:6100"],
       "extract_star", ("cat", []), "-"),
    Op("extract one IFU", "image", ["extract", "IN", "-o", "OUT", "--ifu", "5"], "extract_ifu", ("numpy", ["origin"]), "-"),
    Op("decode-origin -> FITS", "image", ["decode-origin", "IN", "--format", "fits", "-o", "OUT"], "decode_origin",
       ("numpy", ["origin"]), "-"),
    Op("reconstruct-det one IFU", "image", ["reconstruct-det", "IN", "-o", "OUT", "--ifu", "5"], "reconstruct_ifu",
       ("numpy", ["data", "origin"]), "-"),
    Op("reconstruct-det all IFUs", "image", ["reconstruct-det", "IN", "-o", "OUT", "--all-ifus"], "reconstruct_all",
       ("numpy", ["data", "origin"]), "<= 1.5x limit"),
    Op("image (white light)", "image", ["image", "IN", "-o", "OUT"], "sky_image",
       ("bincount", ["xpos", "ypos", "data", "dq"]), "<= 1.5x limit, <= 500 MB"),
    Op("image 100 A", "image", ["image", "IN", "-o", "OUT", "--lambda", "6000:6100"], "sky_image_band",
       ("bincount", ["xpos", "ypos", "lambda", "data", "dq"]), "-"),
    Op("convert image -> table", "image", ["convert", "IN", "-o", "OUT", "--to", "table"], "to_table", ("cp", []), "<= 1.5x cp"),
    Op("convert table -> image", "table", ["convert", "IN", "-o", "OUT", "--to", "image"], "to_image", ("cp", []), "<= 1.5x cp"),
    # limit: pixtab's own layout conversion of the same table (issue 17's yardstick)
    Op("export --decode -> Parquet", "image", ["export", "IN", "-o", "OUT.parquet", "--decode"], None,
       ("convert", []), "<= 2x convert"),
    Op("export --good --lambda -> Parquet", "image", ["export", "IN", "-o", "OUT.parquet", "--good", "--lambda", "6000:7000"],
       None, ("convert", []), "-"),
    Op("extract --where", "image", ["extract", "IN", "-o", "OUT", "--where", "dq == 0 and data > 3 * sqrt(stat)"], None,
       ("numpy", ["dq", "data", "stat"]), "-"),
]
#: the DuckDB query of the export comparison, and the pixtab command giving the same number
#: (``lambda`` is a keyword in SQL too: quote it there)
DUCKDB_QUERY = "SELECT count(*) FROM '{out}' WHERE dq = 0 AND ifu = 5 AND xpix < 2000 AND \"lambda\" >= 5000"
PIXTAB_QUERY = ["extract", "IN", "--count", "--good", "--ifu", "5", "--xpix", ":2000", "--lambda", "5000:"]


@dataclass
class Sample:
    seconds: float
    rss_mb: float
    ok: bool
    note: str = ""


@dataclass
class Row:
    op: Op
    runs: dict[str, list[Sample]] = field(default_factory=lambda: {"pixtab": [], "mpdaf": [], "limit": []})


def run(cmd: list[str], timeout: float) -> Sample:
    """Run ``cmd`` in its own process; wall time and the child's peak RSS (wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    stderr = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    note = ""
    if proc.returncode != 0:
        last = (stderr.strip().splitlines() or ["?"])[-1]
        note = "timeout" if elapsed >= timeout else f"exit {proc.returncode}: {last[:120]}"
    return Sample(elapsed, usage.ru_maxrss / 1024, proc.returncode == 0, note)


def warm(path: Path) -> None:
    """Read the file once so the timed run starts with a warm page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def numpy_read_cmd(path: Path, columns: list[str]) -> list[str]:
    """numpy reading the named columns whole (the bare I/O an operation needs)."""
    code = (
        "import sys, numpy as np\n"
        "from pixtab.core.io.table import PixTable\n"
        "pt = PixTable(sys.argv[1])\n"
        "for name in sys.argv[2].split(','):\n"
        "    c = pt.columns[name]\n"
        "    np.fromfile(pt.path, dtype=c.dtype.newbyteorder('>'), count=pt.nrows, offset=c.offset)\n"
    )
    return [PY, "-c", code, str(path), ",".join(columns)]


def bincount_cmd(path: Path, columns: list[str]) -> list[str]:
    """numpy reading the columns whole and binning them with one bincount (a positioned table:
    a flat grid of 0.2" about CRVAL, no TAN projection): the reference for ``image``."""
    code = (
        "import sys, math, numpy as np\n"
        "from pixtab.core.io.table import PixTable\n"
        "pt = PixTable(sys.argv[1])\n"
        "col = {n: np.fromfile(pt.path, dtype=pt.columns[n].dtype.newbyteorder('>'), count=pt.nrows,\n"
        "                      offset=pt.columns[n].offset) for n in sys.argv[2].split(',')}\n"
        "keep = col['dq'] == 0\n"
        "if 'lambda' in col:\n"
        "    keep &= (col['lambda'] >= 6000) & (col['lambda'] < 6100)\n"
        "s = 3600 / 0.2\n"
        "ix = np.floor(-col['xpos'][keep] * (s * math.cos(math.radians(pt.centre[1]))) + 0.5).astype(np.int64)\n"
        "iy = np.floor(col['ypos'][keep] * s + 0.5).astype(np.int64)\n"
        "ix -= ix.min(); iy -= iy.min()\n"
        "flat = iy * (ix.max() + 1) + ix\n"
        "n = np.bincount(flat); v = np.bincount(flat, weights=col['data'][keep])\n"
    )
    return [PY, "-c", code, str(path), ",".join(columns)]


def pixtab_cmd(op: Op, src: Path, out: Path) -> list[str]:
    return [PY, "-m", "pixtab", "-q", *substitute(op.pixtab, src, out)]


def substitute(args: list[str], src: Path, out: Path) -> list[str]:
    """IN, OUT and OUT.<suffix> in an argument list."""
    subs = {"IN": str(src), "OUT": str(out)}
    return [subs.get(a, str(out.with_suffix(a[3:])) if a.startswith("OUT.") else a) for a in args]


def limit_cmd(op: Op, src: Path, out: Path) -> list[str] | None:
    kind, cols = op.limit
    if kind == "numpy":
        return numpy_read_cmd(src, cols)
    if kind == "bincount":
        return bincount_cmd(src, cols)
    if kind == "cp":
        return ["cp", str(src), str(out)]
    if kind == "cat":
        return ["sh", "-c", f"cat '{src}' > /dev/null"]
    if kind == "convert":
        return [PY, "-m", "pixtab", "-q", "convert", str(src), "-o", str(out), "--to", "table"]
    return None


def export_comparison(src: Path, workdir: Path) -> str:
    """Parquet size against the FITS file, and a DuckDB query against pixtab's answer."""
    pq = workdir / "export.parquet"
    pq.unlink(missing_ok=True)
    subprocess.run([PY, "-m", "pixtab", "-q", "export", str(src), "-o", str(pq), "--decode"], check=True)
    plain = workdir / "export_plain.parquet"
    plain.unlink(missing_ok=True)
    subprocess.run([PY, "-m", "pixtab", "-q", "export", str(src), "-o", str(plain)], check=True)
    warm(pq)
    code = f"import duckdb; print(duckdb.sql({DUCKDB_QUERY.format(out=pq)!r}).fetchall()[0][0])"
    t0 = time.perf_counter()
    duck = subprocess.run([PY, "-c", code], capture_output=True, text=True)
    t_duck = time.perf_counter() - t0
    warm(src)
    t0 = time.perf_counter()
    mine = subprocess.run([PY, "-m", "pixtab", "-q", *substitute(PIXTAB_QUERY, src, src)], capture_output=True, text=True)
    t_mine = time.perf_counter() - t0
    fits_size = src.stat().st_size
    lines = [
        "| file | bytes | / FITS |",
        "|---|---|---|",
        f"| FITS (image layout) | {fits_size:,} | 1.00 |",
        f"| Parquet, every column | {plain.stat().st_size:,} | {plain.stat().st_size / fits_size:.2f} |",
        f"| Parquet, --decode | {pq.stat().st_size:,} | {pq.stat().st_size / fits_size:.2f} |",
        "",
        f"Query `{DUCKDB_QUERY.format(out='export.parquet')}`: DuckDB {duck.stdout.strip() or duck.stderr.strip()[-200:]} "
        f"in {t_duck:.2f} s (new process); `pixtab {' '.join(PIXTAB_QUERY)}` on the FITS file: "
        f"{mine.stdout.strip()} in {t_mine:.2f} s.",
    ]
    pq.unlink(missing_ok=True)
    plain.unlink(missing_ok=True)
    return "\n".join(lines)


def have_mpdaf() -> bool:
    return subprocess.run([PY, "-c", "import mpdaf"], capture_output=True).returncode == 0


def simulate_inputs(rows: int, workdir: Path) -> dict[str, Path]:
    paths = {}
    for layout in ("image", "table"):
        path = workdir / f"sim_{rows:.0e}_{layout}.fits".replace("+", "")
        if not path.exists():
            print(f"simulating {path} ...", file=sys.stderr)
            subprocess.run([PY, "-m", "pixtab", "-q", "simulate", str(path), "--rows", str(rows), "--layout", layout], check=True)
        paths[layout] = path
    return paths


def fmt(samples: list[Sample]) -> str:
    good = [s.seconds for s in samples if s.ok]
    if not good:
        return samples[0].note if samples else "-"
    med = statistics.median(good)
    return f"{med:.2f} ({min(good):.2f}-{max(good):.2f})"


def median(samples: list[Sample]) -> float | None:
    good = [s.seconds for s in samples if s.ok]
    return statistics.median(good) if good else None


def peak(samples: list[Sample]) -> str:
    good = [s.rss_mb for s in samples if s.ok]
    return f"{max(good):.0f}" if good else "-"


def table(rows: list[Row]) -> str:
    head = "| operation | pixtab s (min-max) | pixtab MB | limit s | pixtab/limit | MPDAF s | MPDAF MB | MPDAF/pixtab | target |"
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        p, m, lim = median(r.runs["pixtab"]), median(r.runs["mpdaf"]), median(r.runs["limit"])
        ratio_l = f"{p / lim:.2f}" if p and lim else "-"
        ratio_m = f"{m / p:.1f}" if p and m else "-"
        lines.append(
            f"| {r.op.name} | {fmt(r.runs['pixtab'])} | {peak(r.runs['pixtab'])} | {fmt(r.runs['limit']) if r.runs['limit'] else '-'} "
            f"| {ratio_l} | {fmt(r.runs['mpdaf']) if r.runs['mpdaf'] else 'not run'} | {peak(r.runs['mpdaf'])} | {ratio_m} | {r.op.target} |"
        )
    return "\n".join(lines)


def machine() -> str:
    import numpy
    import astropy

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, "
        f"Python {platform.python_version()}, numpy {numpy.__version__}, astropy {astropy.__version__}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=float, default=2e7)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=HERE / "data")
    ap.add_argument("--no-mpdaf", action="store_true", help="skip MPDAF even if installed")
    ap.add_argument("--mpdaf-timeout", type=float, default=600.0)
    ap.add_argument("--only", help="comma-separated substrings of operation names to run")
    args = ap.parse_args()
    rows = int(args.rows)
    args.workdir.mkdir(parents=True, exist_ok=True)
    inputs = simulate_inputs(rows, args.workdir)
    use_mpdaf = not args.no_mpdaf and have_mpdaf()
    ops = [o for o in OPS if not args.only or any(s in o.name for s in args.only.split(","))]
    results = [Row(o) for o in ops]
    out = args.workdir / "out.fits"
    for rep in range(args.repeat):
        for r in results:
            src = inputs[r.op.layout]
            tools = [("pixtab", pixtab_cmd(r.op, src, out))]
            lim = limit_cmd(r.op, src, out)
            if lim:
                tools.append(("limit", lim))
            if use_mpdaf and r.op.mpdaf:
                tools.append(("mpdaf", [PY, str(HERE / "mpdaf_ops.py"), r.op.mpdaf, str(src), str(out)]))
            for tool, cmd in tools:
                out.unlink(missing_ok=True)
                out.with_suffix(".parquet").unlink(missing_ok=True)
                warm(src)
                timeout = args.mpdaf_timeout if tool == "mpdaf" else 3600
                s = run(cmd, timeout)
                r.runs[tool].append(s)
                print(f"[{rep + 1}/{args.repeat}] {r.op.name:<28} {tool:<7} {s.seconds:8.2f} s {s.rss_mb:7.0f} MB {s.note}", file=sys.stderr)
            out.unlink(missing_ok=True)
            out.with_suffix(".parquet").unlink(missing_ok=True)
    extra = ""
    if any(o.name.startswith("export") for o in ops):
        extra = "\n### Export: size and a DuckDB query\n\n" + export_comparison(inputs["image"], args.workdir) + "\n"
    size = inputs["image"].stat().st_size / 1e9
    report = (
        f"## {rows:.2g} rows ({size:.1f} GB image layout), median of {args.repeat} (min-max), warm cache\n\n"
        f"Machine: {machine()}. Date: {time.strftime('%Y-%m-%d')}. "
        f"MPDAF: {'3.6' if use_mpdaf else 'not run'}.\n\n{table(results)}\n{extra}"
    )
    print(report)
    dest = HERE / "results"
    dest.mkdir(exist_ok=True)
    (dest / f"{time.strftime('%Y-%m-%d')}-{rows:.0e}.md".replace("+", "")).write_text(report)
    shutil.rmtree(args.workdir / "__pycache__", ignore_errors=True)


if __name__ == "__main__":
    main()
