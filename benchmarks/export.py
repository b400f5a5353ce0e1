"""Export to Parquet: file sizes, and a DuckDB query against pixtab's answer on the FITS file.

    python benchmarks/export.py --rows 2e7      (or from run.py: --export)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

PY = sys.executable

#: the DuckDB query of the export comparison, and the pixtab command giving the same number
#: (``lambda`` is a keyword in SQL too: quote it there)
DUCKDB_QUERY = "SELECT count(*) FROM '{out}' WHERE dq = 0 AND ifu = 5 AND xpix < 2000 AND \"lambda\" >= 5000"
PIXTAB_QUERY = ["extract", "IN", "--count", "--good", "--ifu", "5", "--xpix", ":2000", "--lambda", "5000:"]



def warm(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def substitute(args: list[str], src: Path, out: Path) -> list[str]:
    subs = {"IN": str(src), "OUT": str(out)}
    return [subs.get(a, a) for a in args]


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
