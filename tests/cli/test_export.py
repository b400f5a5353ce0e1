"""pixtab export (Parquet, Arrow IPC, CSV/TSV) and convert back: outputs read with pyarrow, DuckDB
and polars; rebuilt tables identical to the input (or to extract's output) bit for bit, in both
layouts, single and combined, conformance tables included; refusals and exit codes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import pixtab
from pixtab.core.io.table import PixTable

from conftest import conformance_path, conformance_tables
from helpers.cli import invoke, run_pixtab
from helpers.decode import read_columns, reference_decode

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def combined(simulated) -> Path:
    return simulated(rows=40_000, ifus=[10, 11, 12], exposures=3, wcs="positioned", seed=31)


@pytest.fixture(scope="module")
def single_table(simulated) -> Path:
    return simulated(rows=25_000, ifus=[5, 6], wcs="projected", seed=32, layout="table", flat_field=True)


def _primary(path: Path) -> bytes:
    with PixTable(path) as pt:
        return os.pread(pt.fd, pt.hdus[0].data_offset, 0)


def assert_same_table(a: Path, b: Path) -> None:
    """Same columns (names, order, units, bytes) and the same primary header bytes."""
    with PixTable(a) as x, PixTable(b) as y:
        assert [(c.stored_name, c.unit, c.dtype) for c in x.columns.values()] == [
            (c.stored_name, c.unit, c.dtype) for c in y.columns.values()
        ]
        ca, cb = x.read(None, native=False), y.read(None, native=False)
        for name in ca:
            assert ca[name].tobytes() == cb[name].tobytes(), name
        assert [h.extname for h in x.extra_hdus] == [h.extname for h in y.extra_hdus]
        for h, k in zip(x.extra_hdus, y.extra_hdus):
            assert x.hdu_bytes(h) == y.hdu_bytes(k)
    assert _primary(a) == _primary(b)


def export(src: Path, out: Path, *args: object, code: int = 0):
    result = invoke("export", src, "-o", out, *args, code=None)
    assert result.exit_code == code, result.stderr
    return result


def convert(src: Path, out: Path, *args: object, code: int = 0):
    result = invoke("convert", src, "-o", out, *args, code=None)
    assert result.exit_code == code, result.stderr
    return result


# -- what the files hold ---------------------------------------------------------


def test_parquet_columns_units_and_metadata(combined: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.parquet"
    export(combined, out, "--decode", "--sky")
    t = pq.read_table(out)
    _, cols = read_columns(combined)
    ref = reference_decode(combined)
    assert t.column_names == [*cols, "ifu", "slice", "xpix", "ypix", "exp", "ra", "dec"]
    for name, values in cols.items():
        got = t[name].to_numpy()
        want = values.view(np.uint32) if name == "dq" else values
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), name
    for name in ("ifu", "slice", "xpix", "ypix", "exp"):
        assert np.array_equal(t[name].to_numpy(), ref[name]), name
    assert t.schema.field("dq").type == pa.uint32() and t.schema.field("ra").type == pa.float64()
    assert t.schema.field("lambda").metadata[b"unit"] == b"Angstrom"
    assert t.schema.field("xpix").metadata[b"unit"] == b"pix"
    meta = json.loads(t.schema.metadata[b"pixtab"])
    assert meta["layout"] == "image" and meta["rows"] == len(t)
    assert meta["primary_header"].encode() == _primary(combined)
    decode = invoke("decode-origin", combined, "--sky").stdout.splitlines()
    sky = np.loadtxt(decode[1:], delimiter=",")
    assert np.array_equal(t["ra"].to_numpy(), sky[:, 6]) and np.array_equal(t["dec"].to_numpy(), sky[:, 7])
    md = pq.ParquetFile(out).metadata
    assert md.row_group(0).column(0).compression == "ZSTD"


def test_duckdb_counts_equal_pixtab(combined: Path, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    out = tmp_path / "c.parquet"
    export(combined, out, "--decode")
    rows = duckdb.sql(f"SELECT ifu, count(*) FROM '{out}' GROUP BY ifu ORDER BY ifu").fetchall()
    for ifu, n in rows:
        assert n == int(invoke("extract", combined, "--count", "--ifu", ifu).stdout)
    ((bad,),) = duckdb.sql(f"SELECT count(*) FROM '{out}' WHERE dq > 0").fetchall()
    assert bad == int(invoke("extract", combined, "--count", "--where", "dq > 0").stdout)
    ((good,),) = duckdb.sql(f"SELECT count(*) FROM '{out}' WHERE dq = 0 AND exp = 2 AND xpix < 2000").fetchall()
    assert good == int(invoke("extract", combined, "--count", "--good", "--where", "exp == 2 and xpix < 2000").stdout)


def test_polars_reads_parquet_and_arrow(combined: Path, tmp_path: Path) -> None:
    pl = pytest.importorskip("polars")
    export(combined, tmp_path / "c.parquet", "--decode", "--good")
    export(combined, tmp_path / "c.arrow", "--decode", "--good")
    a = pl.read_parquet(tmp_path / "c.parquet")
    b = pl.read_ipc(tmp_path / "c.arrow")
    assert a.equals(b)
    assert a["dq"].dtype == pl.UInt32 and (a["dq"] == 0).all()
    assert a.height == int(invoke("extract", combined, "--count", "--good").stdout)
    per_exp = dict(a.group_by("exp").len().iter_rows())
    for exp, n in per_exp.items():
        assert n == int(invoke("extract", combined, "--count", "--good", "--exp", exp).stdout)


def test_csv_and_tsv_reuse_the_text_writer(combined: Path, tmp_path: Path) -> None:
    export(combined, tmp_path / "c.csv", "--columns", "row,dq,lambda,xpix", "--where", "dq > 0x7fffffff")
    lines = (tmp_path / "c.csv").read_text().splitlines()
    assert lines[0] == "row,dq,lambda,xpix"
    text = invoke("decode-origin", combined, "--with", "dq,lambda", "--where", "dq > 0x7fffffff").stdout.splitlines()
    mine = [line.split(",") for line in lines[1:]]
    theirs = [line.split(",") for line in text[1:]]
    assert [[m[0], m[1], m[2], m[3]] for m in mine] == [[t[0], t[6], t[7], t[3]] for t in theirs]
    assert all(int(m[1]) >= 2**31 for m in mine)
    export(combined, tmp_path / "c.tsv", "--columns", "ifu,data", "--ifu", "12")
    assert (tmp_path / "c.tsv").read_text().splitlines()[0] == "ifu\tdata"


# -- and back --------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".parquet", ".arrow", ".feather"])
@pytest.mark.parametrize("to", [None, "image", "table"])
def test_round_trip_is_bit_exact(combined: Path, single_table: Path, tmp_path: Path, suffix: str, to: str | None) -> None:
    for src in (combined, single_table):
        mid, back = tmp_path / f"{src.stem}{suffix}", tmp_path / f"{src.stem}_back.fits"
        export(src, mid, "--decode")  # decoded columns are extra, not in the way
        convert(mid, back, *(["--to", to] if to else []))
        with PixTable(src) as a, PixTable(back) as b:
            assert b.layout == (to or a.layout)
        assert_same_table(src, back)
        if to is None:
            assert back.read_bytes() == src.read_bytes()  # same layout: the very same file
        os.remove(mid), os.remove(back)


def test_export_with_criteria_rebuilds_what_extract_writes(combined: Path, single_table: Path, tmp_path: Path) -> None:
    for src, args in ((combined, ["--exp", "2", "--good", "--lambda", "4000:5200"]), (single_table, ["--ifu", "6", "--lambda", "4000:5000"])):
        extract = tmp_path / "x.fits"
        invoke("extract", src, "-o", extract, *args)
        export(src, tmp_path / "x.parquet", *args)
        convert(tmp_path / "x.parquet", tmp_path / "back.fits", "--to", "image")  # extract's default layout
        assert (tmp_path / "back.fits").read_bytes() == extract.read_bytes()
        for p in ("x.fits", "x.parquet", "back.fits"):
            os.remove(tmp_path / p)


CONFORMANCE_FILES = conformance_tables()


@pytest.mark.conformance
@pytest.mark.parametrize("path", CONFORMANCE_FILES, ids=lambda p: p.name)
def test_conformance_tables_round_trip(path: Path, tmp_path: Path) -> None:
    export(path, tmp_path / "c.parquet", "--decode")
    convert(tmp_path / "c.parquet", tmp_path / "back.fits")
    assert_same_table(path, tmp_path / "back.fits")
    with PixTable(path) as pt:
        other = "table" if pt.layout == "image" else "image"
    convert(tmp_path / "c.parquet", tmp_path / "other.fits", "--to", other)
    assert_same_table(path, tmp_path / "other.fits")


# -- refusals --------------------------------------------------------------------


def test_convert_refuses_what_cannot_be_a_pixel_table(combined: Path, tmp_path: Path) -> None:
    sub = tmp_path / "sub.parquet"
    export(combined, sub, "--columns", "lambda,data,ifu")
    r = convert(sub, tmp_path / "x.fits", code=1)
    assert "xpos, ypos, dq, stat, origin, weight" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    plain = tmp_path / "plain.parquet"
    pq.write_table(pq.read_table(tmp_path / "sub.parquet").replace_schema_metadata(None), plain)
    r = convert(plain, tmp_path / "x.fits", code=1)
    assert "not written by pixtab export" in r.stderr
    # a dataframe tool's filtered copy: the header no longer matches the rows
    full = tmp_path / "full.parquet"
    export(combined, full)
    t = pq.read_table(full)
    pq.write_table(t.slice(0, 100), tmp_path / "cut.parquet")
    r = convert(tmp_path / "cut.parquet", tmp_path / "x.fits", code=1)
    assert "has 100 rows, the export had" in r.stderr
    assert not (tmp_path / "x.fits").exists()
    (tmp_path / "junk.parquet").write_bytes(b"PAR1" + b"\0" * 100)
    r = convert(tmp_path / "junk.parquet", tmp_path / "x.fits", code=1)
    assert "unreadable parquet file" in r.stderr


def test_usage_and_input_errors(combined: Path, simulated, tmp_path: Path) -> None:
    single = simulated(rows=3000, ifus=[4], wcs="pixel")
    out = tmp_path / "o.parquet"
    invoke("export", combined, "-o", tmp_path / "o.xyz", code=2)
    invoke("export", combined, "-o", out, "--columns", "nosuch", code=2)
    invoke("export", combined, "-o", out, "--where", "nosuch > 1", code=2)
    invoke("export", combined, "-o", out, "--format", "nope", code=2)
    assert invoke("export", combined, "-o", "-", "--format", "csv", code=None).exit_code == 2 and not Path("-").exists()
    r = invoke("export", single, "-o", out, "--columns", "weight", code=1)
    assert "no 'weight' column" in r.stderr
    r = invoke("export", single, "-o", out, "--sky", code=1)
    assert "ra and dec are undefined" in r.stderr
    r = invoke("export", combined, "-o", out, "--where", "lambda < 0", code=1)
    assert "no row matches" in r.stderr and not out.exists()
    invoke("export", combined, "-o", out, "--where", "lambda < 0", "--allow-empty")
    assert pq.read_table(out).num_rows == 0
    r = invoke("export", combined, "-o", out, code=1)
    assert "--overwrite" in r.stderr
    invoke("export", combined, "-o", out, "--overwrite")
    r = invoke("export", tmp_path / "missing.fits", "-o", tmp_path / "m.parquet", code=1)
    assert "no such file" in r.stderr
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary left


def test_missing_pyarrow_is_one_line_naming_the_install(combined: Path, tmp_path: Path, monkeypatch) -> None:
    for mod in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    r = invoke("export", combined, "-o", tmp_path / "o.parquet", code=1)
    assert r.stderr.strip() == "Error: Parquet and Arrow files need pyarrow, which is not installed: pip install 'pixtab[parquet]'"
    invoke("export", combined, "-o", tmp_path / "o.csv", "--columns", "ifu", "--ifu", "10")  # CSV needs no pyarrow


def test_subprocess_export_and_convert(combined: Path, tmp_path: Path) -> None:
    out, back = tmp_path / "s.parquet", tmp_path / "s.fits"
    p = run_pixtab("export", combined, "-o", out, "--json", "--good", env={"PIXTAB_QUIET": "0"}, code=0)
    summary = json.loads(p.stdout)
    assert summary["selected"] == int(invoke("extract", combined, "--count", "--good").stdout) and summary["rebuildable"]
    assert p.stderr.startswith("wrote ")
    run_pixtab("convert", out, "-o", back, code=0)
    with pixtab.open(back) as pt:
        assert pt.nrows == summary["selected"]


# -- library level ---------------------------------------------------------------


def test_row_groups_are_full_and_rows_in_order(combined: Path, tmp_path: Path) -> None:
    from pixtab.core.ops.export import ExportRequest, prepare_export
    from pixtab.core.io.criteria import Criteria

    out = tmp_path / "g.parquet"
    with PixTable(combined) as pt, open(out, "wb") as f:
        job = prepare_export(pt, Criteria(ifus=[11]), ExportRequest(row_group_rows=1000, decode=True, columns=("row", "data")))
        res = job.write(f.fileno(), str(out))
        data = pt.read(["data", "origin"])
    md = pq.ParquetFile(out).metadata
    sizes = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
    assert sum(sizes) == res.selected and all(n == 1000 for n in sizes[:-1]) and 0 < sizes[-1] <= 1000
    t = pq.read_table(out)
    rows = t["row"].to_numpy()
    assert np.array_equal(rows, np.flatnonzero(((data["origin"] >> 6) & 0x1F) == 11))
    assert t["data"].to_numpy().tobytes() == data["data"][rows].tobytes()


def test_export_of_an_ascii_table_is_not_rebuilt(tmp_path: Path) -> None:
    from astropy.io import fits

    src = conformance_path("pt_single_ifu.fits")
    with pixtab.open(src) as pt:
        arrays, header = pt.read(None, 0, 300), pt.primary_header  # an astropy Header (API)
    cols = [fits.Column(n, "I11" if a.dtype.kind in "iu" else "E16.9", array=a) for n, a in arrays.items()]  # dq: uint32
    fits.HDUList([fits.PrimaryHDU(header=header), fits.TableHDU.from_columns(cols)]).writeto(tmp_path / "a.fits")
    export(tmp_path / "a.fits", tmp_path / "a.parquet")
    t = pq.read_table(tmp_path / "a.parquet")
    assert t.num_rows == 300 and t.schema.field("dq").type == pa.int64()  # the parsed values, as they are
    r = convert(tmp_path / "a.parquet", tmp_path / "b.fits", code=1)
    assert "convert that FITS file itself" in r.stderr
