"""pixtab.mpdaf (the MPDAF drop-in) against MPDAF 3.6 and the pixtab CLI, in one run.

    python benchmarks/mpdaf_facade.py --rows 8e7            # the issue's size; --workdir for the tables
    python benchmarks/mpdaf_facade.py --rows 2e6 --no-mpdaf  # a smoke test

One table (image layout) is simulated once; then, each in its own process after
a warm-up read, the same MPDAF script line, ``PixTable(IN).extract(sky=(dec, ra,
2, 'C'), lbda=(6000, 6100)).write(OUT)``, with ``from mpdaf.drs import PixTable``
and with ``from pixtab.mpdaf import PixTable``, then ``pixtab extract`` doing the
same; and ``get_data()`` of a selection of about 1e5 rows (the extracted table,
and ``get_data(ksel)`` on the file-backed table). Wall time and the child's peak
RSS (wait4) are printed as a markdown table with the ratios the issue asks for:
facade/MPDAF time, facade/CLI time, facade/MPDAF peak RSS.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from procs import measure, warm

PY = sys.executable


@dataclass
class Sample:
    seconds: float
    rss_mb: float
    ok: bool
    note: str = ""


def run(cmd: list[str], timeout: float) -> Sample:
    """``cmd`` in its own process: wall time and the child's peak RSS (wait4)."""
    return Sample(*measure(cmd, timeout=timeout))


def have_mpdaf() -> bool:
    return subprocess.run([PY, "-c", "import mpdaf"], capture_output=True).returncode == 0


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, "
            f"load {os.getloadavg()[0]:.2f} at the end, Python {platform.python_version()}")

RA, DEC = 150.1163, 2.2058
NAN_SHIM = "import numpy; numpy.NaN = numpy.nan\n"  # MPDAF 3.6 imports need it under numpy 2
EXTRACT = "PixTable({src!r}).extract(sky=({dec}, {ra}, 2.0, 'C'), lbda=(6000, 6100)).write({out!r})\n"
GET_DATA = """import time
import numpy as np
pix = PixTable({src!r})
sub = pix.extract(ifu=5, lbda=(6000.0, 6000.0 + {width}))
t0 = time.perf_counter(); d = sub.get_data(); t1 = time.perf_counter()
rows = np.flatnonzero(pix.select_ifus([5]) & pix.select_lambda([(6000.0, 6000.0 + {width})]))
t2 = time.perf_counter(); e = pix.get_data(rows); t3 = time.perf_counter()
assert len(d) == len(e) == len(rows)
print(len(d), t1 - t0, t3 - t2)
"""


def script(tool: str, body: str) -> list[str]:
    head = NAN_SHIM + "from mpdaf.drs import PixTable\n" if tool == "mpdaf" else "from pixtab.mpdaf import PixTable\n"
    return [PY, "-c", head + body]


def timed_get_data(tool: str, src: Path, width: float) -> tuple[int, float, float]:
    out = subprocess.run(script(tool, GET_DATA.format(src=str(src), width=width)), capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{tool} get_data failed: {out.stderr.strip().splitlines()[-1:]}")
    n, a, b = out.stdout.split()
    return int(n), float(a), float(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=float, default=8e7)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--no-mpdaf", action="store_true", help="leave MPDAF out (smoke test)")
    ap.add_argument("--timeout", type=float, default=1800.0)
    args = ap.parse_args()
    rows = int(args.rows)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pixtab-facade-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"facade_{rows:.0e}.fits".replace("+", "")
    if not src.exists():
        subprocess.run([PY, "-m", "pixtab", "simulate", str(src), "--nrows", str(rows)], check=True)
    tools = ["pixtab.mpdaf", "cli"] + ([] if args.no_mpdaf or not have_mpdaf() else ["mpdaf"])
    results: dict[str, Sample] = {}
    for tool in tools:
        out = work / f"out_{tool}.fits"
        out.unlink(missing_ok=True)
        warm(src)
        if tool == "cli":
            cmd = [PY, "-m", "pixtab", "extract", str(src), "-o", str(out), "--circle", str(RA), str(DEC), "2",
                   "--lambda", "6000:6100", "--overwrite"]
        else:
            cmd = script(tool, EXTRACT.format(src=str(src), out=str(out), ra=RA, dec=DEC))
        results[tool] = run(cmd, args.timeout)
    # about 1e5 rows of IFU 5: the wavelength width that holds them on this table
    width = min(4500.0, 4500.0 * 1e5 / (rows / 24))
    gets = {tool: timed_get_data(tool, src, width) for tool in tools if tool != "cli"}
    lines = [f"Table: {rows:,} rows (image layout), {src}. Machine: {machine()}.", "",
             "| tool | extract 2\" + 100 A, write | peak RSS |", "|---|---|---|"]
    for tool, s in results.items():
        lines.append(f"| {tool} | {s.seconds:.2f} s{'' if s.ok else ' (' + s.note + ')'} | {s.rss_mb:.0f} MB |")
    f, c = results["pixtab.mpdaf"], results["cli"]
    lines += ["", f"facade / CLI time: {f.seconds / c.seconds:.2f} (target <= 1.5)"]
    if "mpdaf" in results:
        m = results["mpdaf"]
        lines += [f"MPDAF / facade time: {m.seconds / f.seconds:.1f} (target >= 10)",
                  f"facade / MPDAF peak RSS: {100 * f.rss_mb / m.rss_mb:.1f} % (target <= 10 %)"]
    lines += ["", "| tool | rows | get_data() of the extract | get_data(ksel) on the file |", "|---|---|---|---|"]
    for tool, (n, a, b) in gets.items():
        lines.append(f"| {tool} | {n:,} | {a * 1e3:.1f} ms | {b * 1e3:.1f} ms |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
