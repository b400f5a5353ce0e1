"""The scan engine (``core.io.scan``): Selection, the passes, and the index built on the way by
every command that reads the table."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixtab.core.format.catalog import Source
from pixtab.core.format.exposures import ExposureMap
from pixtab.core.io import index_store
from pixtab.core.io.plan import PlanOptions
from pixtab.core.io.scan import ChunkSelection, Scan, Selection
from pixtab.core.io.criteria import Aperture, Criteria
from pixtab.core.io.table import PixTable
from pixtab.core.ops.sources import select_sources, source_criteria

from conftest import conformance_path
from helpers.cli import invoke

RA, DEC = 150.1163, 2.2058
STAR = Criteria(apertures=[Aperture("circle", RA, DEC, 3.0)], lambdas=[(5000.0, 8000.0)])


def truth(pt: PixTable, criteria: Criteria) -> np.ndarray:
    """The rows of ``criteria`` by the full scan, in one chunk (the reference)."""
    return Scan(pt, criteria, PlanOptions(full_scan=True), chunk_rows=pt.nrows).select().rows


@pytest.fixture(params=["image", "table"])
def table(request: pytest.FixtureRequest, simulated) -> Path:
    return simulated(rows=40_000, ifus=[11, 12], layout=request.param, exposures=2)


def test_selection_is_compact_and_lazy(table: Path) -> None:
    with PixTable(table) as pt:
        sel = Scan(pt, STAR, chunk_rows=4096).select()
        rows = truth(pt, STAR)
        assert sel.count() == len(sel) == rows.size > 0
        assert np.array_equal(sel.rows, rows) and sel.rows.dtype == np.int64
        assert np.array_equal(np.concatenate(list(sel.iter_rows())), rows)
        kept = sum(c.data.nbytes for c in sel.chunks if c.data is not None)
        assert kept <= min(4 * rows.size, pt.nrows // 8 + 16 * len(sel.chunks))
        cols = pt.read(["data", "lambda"])
        got = list(sel.iter_columns(["data", "lambda"]))
        assert np.array_equal(np.concatenate([r for r, _ in got]), rows)
        for name in ("data", "lambda"):
            assert np.concatenate([a[name] for _, a in got]).tobytes() == cols[name][rows].tobytes()
        assert sum(sel.per_exposure.values()) == rows.size


def test_narrow_and_union(table: Path) -> None:
    with PixTable(table) as pt:
        wide = Scan(pt, Criteria(lambdas=[(5000.0, 8000.0)]), chunk_rows=5000).select()
        narrow = wide.narrow(Criteria(ifus=[12]))
        both = truth(pt, Criteria(lambdas=[(5000.0, 8000.0)], ifus=[12]))
        assert np.array_equal(narrow.rows, both)
        other = Scan(pt, Criteria(ifus=[11]), chunk_rows=5000).select()
        assert np.array_equal(narrow.union([other]).rows, np.union1d(both, other.rows))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["none", "all", "few", "many"]), min_size=3, max_size=3), min_size=1, max_size=5),
       st.integers(0, 2**32 - 1))
def test_union_of_every_kind_of_chunk(kinds: list[list[str]], seed: int) -> None:
    """A union ORs chunks kept as none / all / indices / packed bits, shares a chunk only
    one selection fills, and picks the compact form of the result."""
    rng = np.random.default_rng(seed)
    bounds = [(0, 1000), (1000, 1500), (1500, 4003)]  # lengths 1000, 500 and one no multiple of 8
    wanted = {"none": 0.0, "all": 1.0, "few": 0.01, "many": 0.5}

    def one(row: list[str]) -> tuple[Selection, np.ndarray]:
        chunks, rows = [], []
        for (a, b), kind in zip(bounds, row):
            idx = np.flatnonzero(rng.random(b - a) < wanted[kind])
            chunks.append(ChunkSelection.of(a, b, idx))
            rows.append(idx + a)
        return Selection(4003, chunks, {}, ExposureMap([], 4003)), np.concatenate(rows)

    made = [one(row) for row in kinds]
    union = made[0][0].union([s for s, _ in made[1:]])
    expected = np.unique(np.concatenate([r for _, r in made]))
    assert np.array_equal(union.rows, expected) and union.count() == expected.size
    for i, cs in enumerate(union.chunks):
        assert cs.kind == ChunkSelection.of(cs.start, cs.stop, cs.indices()).kind
        filled = [s.chunks[i] for s, _ in made if s.chunks[i].count]
        if len(filled) == 1:
            assert cs is filled[0]


def test_everything_reads_nothing(table: Path) -> None:
    with PixTable(table) as pt:
        sel = Scan(pt).select()
        assert sel.count() == pt.nrows and {c.kind for c in sel.chunks} == {"all"}
        assert sum(sel.per_exposure.values()) == pt.nrows and set(sel.per_exposure) == {1, 2}


@settings(max_examples=30, deadline=None)
@given(idx=st.lists(st.integers(0, 9_999), max_size=400, unique=True).map(sorted),
       start=st.integers(0, 12_000), span=st.integers(0, 12_000))  # fmt: skip
def test_copy_reads_the_rows_asked_for(simulated, idx: list[int], start: int, span: int) -> None:
    with PixTable(simulated(rows=20_000, ifus=[12])) as pt:
        chunks = [ChunkSelection.of(0, 10_000, np.array(idx, dtype=np.int64)), ChunkSelection(10_000, 20_000, 10_000, "all")]
        sel = Selection(pt.nrows, chunks, {0: len(idx) + 10_000}, Scan(pt).select().exposures, Scan(pt))
        want = sel.rows[(sel.rows >= start) & (sel.rows < start + span)]
        scan = Scan(pt, chunk_rows=777)
        got = list(scan.copy(sel, ["origin"], start, start + span))
        rows = np.concatenate([np.asarray(r) for r, _ in got]) if got else np.empty(0, np.int64)
        assert np.array_equal(rows, want)
        origin = pt.read(["origin"])["origin"]
        assert all(np.array_equal(a["origin"], origin[np.asarray(r)]) for r, a in got)
        assert sel.count_between(start, start + span) == want.size


def test_select_many_is_each_one_source_selection(table: Path) -> None:
    sources = [Source("a", RA, DEC, radius=2.0), Source("b", RA + 2e-4, DEC, halfside=3.0), Source("far", RA + 1, DEC, radius=2.0)]
    base = Criteria(lambdas=[(5000.0, 8000.0)])
    with PixTable(table) as pt:
        many = select_sources(pt, base, sources)
        for s, sel in zip(sources, many):
            assert np.array_equal(sel.rows, truth(pt, source_criteria(base, s)))
        assert many[2].count() == 0 and many[0].count() > 0


def test_stream_builds_an_index_on_the_way(simulated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXTAB_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "t.fits"
    shutil.copyfile(simulated(rows=30_000, ifus=[11]), path)
    with PixTable(path) as pt:
        n = sum(len(b) for b in Scan(pt, options=PlanOptions(build_index=True)).stream(["data"], keep_flagged=True))
        assert n == pt.nrows
    with PixTable(path) as pt:
        assert index_store.find(pt) is not None


COMMANDS = {
    "image": ["image", "IN", "-o", "OUT.fits"],
    "spectrum": ["spectrum", "IN", "-o", "OUT.fits", "--circle", str(RA), str(DEC), "2"],
    "fit": ["fit", "IN", "--circle", str(RA), str(DEC), "3", "--lambda", "6000:7000"],
    "plot": ["plot", "IN", "-o", "OUT.png"],
    "export": ["export", "IN", "-o", "OUT.parquet"],
    "extract": ["extract", "IN", "-o", "OUT.fits", "--lambda", "6000:6100"],
    "extract --catalog": ["extract", "IN", "--catalog", "CAT", "--output-dir", "OUT"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_build_index_on_every_reading_command(name: str, simulated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--build-index`` on any command that reads the table leaves a valid index; the next
    command takes the index path (-v says so)."""
    monkeypatch.setenv("PIXTAB_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "t.fits"
    shutil.copyfile(simulated(rows=60_000, ifus=[11, 12], sources=[]), src)
    cat = tmp_path / "cat.csv"
    cat.write_text(f"id,ra,dec,radius\na,{RA},{DEC},2\n")
    args = [str(src) if a == "IN" else str(cat) if a == "CAT" else str(tmp_path / "out") + a[3:] if a.startswith("OUT") else a
            for a in COMMANDS[name]]  # fmt: skip
    r = invoke("-v", *args, "--build-index")
    assert "indexed" in r.stderr
    with PixTable(src) as pt:
        index = index_store.find(pt)
        assert index is not None and index.check() is None
    r = invoke("-v", "extract", src, "--count", "--ifu", "12")
    assert "index path" in r.stderr, r.stderr


@pytest.mark.parametrize("chunk", [1, 999, 4096, 10**7])
def test_chunks_tile_the_table(chunk: int) -> None:
    path = conformance_path("pt_drs_combined_bintable.fits")
    with PixTable(path) as pt:
        whole = pt.read(["lambda", "origin"])
        parts = list(Scan(pt).chunks(["lambda", "origin"], chunk_rows=chunk))
        assert parts[0].start == 0 and parts[-1].stop == pt.nrows
        assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
        for name in whole:
            assert np.array_equal(np.concatenate([p[name] for p in parts]), whole[name])
