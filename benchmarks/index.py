"""Read only what a cut can touch (issue 15): the planner's paths, cold and warm.

    python benchmarks/index.py --image /work/bench-data/sim8e7.fits [--table /work/bench-data/sim8e7_table.fits]

For each case, in its own process: a *cold* run (the input and its index evicted
from the page cache first with ``posix_fadvise(DONTNEED)``) and a *warm* run
(input read once before). Reported: median wall time of ``--repeat`` runs
(start-up included), bytes fetched from storage by the child (``wait4`` rusage
``ru_inblock`` x 512, i.e. what ``/proc/PID/io`` calls read_bytes) and, for
pixtab, the bytes it read through read calls (its ``-v`` log: ``rchar``).

Cases: a 2" circle + 100 A cut with an index, by the row order only, and with
``--full-scan``; ``--ifu 5`` against ``dd`` of exactly that IFU's byte ranges;
``pixtab index`` against numpy reading xpos, ypos, lambda and origin (chunked,
bounded memory); a 100-source cut (``extract --catalog``: one output per source, + 100 A). The index lives
in a private cache (``PIXTAB_CACHE_DIR`` under --workdir). Results are printed
as a markdown table and saved under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from procs import evict, warm

HERE = Path(__file__).resolve().parent
PY = sys.executable
RA, DEC = 150.1163, 2.2058
CUT = ["--circle", str(RA), str(DEC), "2", "--lambda", "6000:6100"]


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(seconds, bytes from storage, stderr) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    err = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    dt = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err}")
    return dt, usage.ru_inblock * 512, err


def rchar(stderr: str) -> int | None:
    m = re.search(r"read (\d+) bytes \(", stderr)
    return int(m[1]) if m else None


def ifu_byte_ranges(path: Path, ifu: int) -> list[tuple[int, int]]:
    """(offset, length) of IFU ``ifu``'s rows in every column (image layout, pipeline order)."""
    import numpy as np

    from pixtab.core.io.scan import Scan
    from pixtab.core.io.table import PixTable

    with PixTable(path) as pt:
        lo = hi = None
        for chunk in Scan(pt).chunks(["origin"]):
            where = np.flatnonzero(((chunk["origin"] >> 6) & 0x1F) == ifu)
            if where.size:
                lo = chunk.start + int(where[0]) if lo is None else lo
                hi = chunk.start + int(where[-1]) + 1
        assert lo is not None and hi is not None
        if not pt.storage.packed:
            w = pt.storage.row_bytes
            return [(pt.storage.data_offset + lo * w, (hi - lo) * w)]
        return [(c.offset + lo * c.dtype.itemsize, (hi - lo) * c.dtype.itemsize) for c in pt.columns.values()]


def dd_cmd(path: Path, ranges: list[tuple[int, int]]) -> list[str]:
    parts = [
        f"dd if='{path}' of=/dev/null bs=4M iflag=skip_bytes,count_bytes skip={off} count={n} status=none"
        for off, n in ranges
    ]
    return ["sh", "-c", " && ".join(parts)]


NUMPY_READ = """
import sys, numpy as np
from pixtab.core.io.table import PixTable
pt = PixTable(sys.argv[1])
step = 1 << 22
with open(pt.path, "rb") as f:
    for name in ("xpos", "ypos", "lambda", "origin"):
        c = pt.columns[name]
        f.seek(c.offset)
        for a in range(0, pt.nrows, step):
            np.fromfile(f, dtype=c.dtype.newbyteorder(">"), count=min(step, pt.nrows - a))
"""


def catalog(path: Path, n: int) -> Path:
    """A catalogue of ``n`` sources of 2" spread over the central 40" (deterministic)."""
    import math

    lines = ["id,ra,dec,radius"]
    for i in range(n):
        r = 20.0 * math.sqrt((i + 0.5) / n)
        t = i * 2.399963
        dra = r * math.cos(t) / 3600.0 / math.cos(math.radians(DEC))
        ddec = r * math.sin(t) / 3600.0
        lines.append(f"s{i:03d},{RA + dra:.7f},{DEC + ddec:.7f},2")
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", type=Path, required=True, help="image-layout table (pixtab simulate)")
    ap.add_argument("--table", type=Path, help="the same in BINTABLE layout (optional)")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pixtab-bench-index")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip", action="append", default=[], metavar="REGEX", help="skip cases whose label matches")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    cache = args.workdir / "cache"
    env = dict(os.environ, PIXTAB_CACHE_DIR=str(cache), PYTHONPATH=str(HERE.parent))
    out = args.workdir / "out.fits"
    rows: list[tuple[str, str, float, float, int, int | None]] = []

    def case(label: str, src: Path, cmd: list[str], cold: bool = True, warm_too: bool = True) -> None:
        if any(re.search(pat, label) for pat in args.skip):
            return
        for mode in (["cold"] if cold else []) + (["warm"] if warm_too else []):
            times, disk, read = [], [], None
            for _ in range(args.repeat):
                if mode == "cold":
                    evict(src, *cache.glob("*.npz"))
                else:
                    warm(src)
                dt, nbytes, err = run(cmd, env)
                times.append(dt)
                disk.append(nbytes)
                read = rchar(err) or read
            rows.append((label, mode, statistics.median(times), min(times), int(statistics.median(disk)), read))
            print(f"{label:45s} {mode:4s} {statistics.median(times):7.3f} s  disk {statistics.median(disk)/1e6:9.1f} MB"
                  + (f"  read {read/1e6:9.1f} MB" if read else ""), file=sys.stderr)

    pixtab = [PY, "-m", "pixtab", "-v"]
    cat = ["--catalog", str(catalog(args.workdir / "sources.csv", 100)), "--output-dir", str(args.workdir / "sources"),
           "--overwrite", "--allow-empty", "--lambda", "6000:6100"]
    for layout, src in (("image", args.image), ("table", args.table)):
        if src is None:
            continue
        size = src.stat().st_size
        for p in cache.glob("*.npz"):
            p.unlink()
        ext = ["extract", str(src), "-o", str(out), "--overwrite"]
        case(f"[{layout}] 2\" + 100 A, --full-scan", src, pixtab + ext + CUT + ["--full-scan"])
        case(f"[{layout}] 2\" + 100 A, order only (no index)", src, pixtab + ext + CUT)
        case(f"[{layout}] index build (pixtab index)", src, [PY, "-m", "pixtab", "index", "--rebuild", str(src)], warm_too=False)
        if layout == "image":
            case(f"[{layout}] numpy reads xpos,ypos,lambda,origin", src, [PY, "-c", NUMPY_READ, str(src)], warm_too=False)
        case(f"[{layout}] 2\" + 100 A, with index", src, pixtab + ext + CUT)
        case(f"[{layout}] 100 sources (--catalog) x 2\" + 100 A, with index", src, pixtab + ["extract", str(src)] + cat)
        if layout == "image":
            case(f"[{layout}] --ifu 5, with index", src, pixtab + ext + ["--ifu", "5"])
            for p in cache.glob("*.npz"):
                p.unlink()
            case(f"[{layout}] --ifu 5, order only", src, pixtab + ext + ["--ifu", "5"])
            case(f"[{layout}] dd of IFU 5's byte ranges", src, dd_cmd(src, ifu_byte_ranges(src, 5)))
            case(f"[{layout}] 100 sources (--catalog) x 2\" + 100 A, order only", src, pixtab + ["extract", str(src)] + cat)
            case(f"[{layout}] 100 sources (--catalog) x 2\" + 100 A, --full-scan", src, pixtab + ["extract", str(src), "--full-scan"] + cat)
        case(f"[{layout}] cat (whole file)", src, ["sh", "-c", f"cat '{src}' > /dev/null"], warm_too=False)
        rows.append((f"[{layout}] file size", "", 0.0, 0.0, size, None))

    lines = [
        f"# benchmarks/index.py ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"inputs: {args.image}" + (f", {args.table}" if args.table else "") + f"; median of {args.repeat}.",
        "",
        "| case | cache | time (s) | min (s) | from storage (MB) | read calls (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for label, mode, med, lo, disk, read in rows:
        if not mode:
            lines.append(f"| {label} | | | | {disk / 1e6:.1f} | |")
            continue
        lines.append(f"| {label} | {mode} | {med:.3f} | {lo:.3f} | {disk / 1e6:.1f} | {'' if read is None else f'{read / 1e6:.1f}'} |")
    text = "\n".join(lines) + "\n"
    print(text)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / f"index-{time.strftime('%Y-%m-%d')}-{args.image.stem}.md").write_text(text)


if __name__ == "__main__":
    main()
