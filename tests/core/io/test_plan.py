"""The read planner (``core.io.plan``): planned paths select exactly the rows of the full scan.

Random tables (simulated, then perturbed and rewritten: NaNs, lambda falling
or scrambled inside runs, runs moved, rows moved, combined tables, both
layouts) and random criteria. The index path must match the full scan on every
table; the order path on every table where each (IFU, slice) forms one run per
exposure (runs shuffled within an exposure, lambda reversed or scrambled
run-wide, NaNs). Rows moved one by one into the middle of a run break that,
and are the documented blind spot of the order path (``core.io.order``); the
index covers them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixtab.core.fits.atomic import atomic_output
from pixtab.core.format.sky import SkyFrame
from pixtab.core.io import bands, order
from pixtab.core.io.scan.indexer import build_index
from pixtab.core.io.plan import PlanOptions, intersect, merge, plan_rows
from pixtab.core.io.criteria import Aperture, Criteria
from pixtab.core.io.selection import Selector
from pixtab.core.io.table import PixTable
from pixtab.core.io.writer import PixtableWriter
from pixtab.core.ops import extract as ex
from pixtab.core.ops.simulate.tables import SimulationSpec, column_specs, simulate

from helpers.cli import invoke

PERTURBATIONS = ["none", "nan", "reverse_runs", "scramble_runs", "move_runs", "column_major", "move_rows"]
ORDER_EXACT = {"none", "nan", "reverse_runs", "scramble_runs", "move_runs", "column_major"}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory, order_always: None) -> None:
    """Private cache; tiny pages so that small tables are probed like big ones; the order path
    whenever it applies."""
    monkeypatch.setenv("PIXTAB_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setattr(order, "PAGE_BYTES", 64)
    monkeypatch.setattr(order, "MIN_PAGE_ROWS", 16)
    monkeypatch.setattr(order, "SMALL_RUN_PAGES", 2)


def _runs(origin: np.ndarray) -> list[tuple[int, int]]:
    code = origin & 0x7FF
    cut = np.flatnonzero(code[1:] != code[:-1]) + 1
    edges = np.concatenate(([0], cut, [code.size]))
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def perturb(
    cols: dict[str, np.ndarray], kind: str, rng: np.random.Generator, segments: list[tuple[int, int]]
) -> dict[str, np.ndarray]:
    cols = {k: v.copy() for k, v in cols.items()}
    n = len(cols["origin"])
    runs = _runs(cols["origin"])
    if kind == "nan":
        for name in ("lambda", "xpos", "ypos"):
            cols[name][rng.random(n) < 0.05] = np.nan
        a, b = runs[int(rng.integers(len(runs)))]
        cols["lambda"][a:b] = np.nan  # a whole run without wavelengths
    elif kind == "reverse_runs":
        for a, b in runs[:: int(rng.integers(1, 4))]:
            cols["lambda"][a:b] = cols["lambda"][a:b][::-1].copy()
    elif kind == "scramble_runs":
        for a, b in runs[:: int(rng.integers(2, 5))]:
            cols["lambda"][a:b] = rng.permutation(cols["lambda"][a:b])
    elif kind == "move_runs":  # runs shuffled within each exposure
        parts = []
        for a, b in segments:
            inner = _runs(cols["origin"][a:b])
            parts += [np.arange(a + s, a + e) for s, e in (inner[i] for i in rng.permutation(len(inner)))]
        idx = np.concatenate(parts)
        cols = {k: v[idx] for k, v in cols.items()}
    elif kind == "column_major":  # every run sorted by detector x, then y (as the conformance set)
        order_ = np.arange(n)
        for a, b in runs:
            o = cols["origin"][a:b]
            order_[a:b] = a + np.lexsort((o >> 11 & 0x1FFF, o >> 24 & 0x7F))
        cols = {k: v[order_] for k, v in cols.items()}
    elif kind == "move_rows":
        idx = np.arange(n)
        for _ in range(int(rng.integers(1, 6))):
            i, j = rng.integers(n, size=2)
            idx[[i, j]] = idx[[j, i]]
        cols = {k: v[idx] for k, v in cols.items()}
    return cols


def make_table(path: Path, spec: SimulationSpec, kind: str, seed: int) -> Path:
    base = path.with_suffix(".base.fits")
    fd = os.open(base, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        header = simulate(fd, spec)
    finally:
        os.close(fd)
    with PixTable(base) as pt:
        cols = pt.read(None)
        segments = [(e.first, e.last + 1) for e in pt.keywords.exposures] or [(0, pt.nrows)]
    cols = perturb(cols, kind, np.random.default_rng(seed), segments)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        w = PixtableWriter(fd, header, column_specs(spec), spec.rows, spec.layout)
        w.write(cols)
        w.finish(header)
    finally:
        os.close(fd)
    base.unlink()
    return path


@st.composite
def criteria_for(draw: st.DrawFn, pt: PixTable) -> Criteria:
    """Random criteria, centred on rows of ``pt`` so that they select something (mostly)."""
    cols = pt.read(["xpos", "ypos", "origin"])
    n = pt.nrows
    kw: dict[str, object] = {}
    chosen = draw(st.sets(st.sampled_from(["sky", "lambda", "ifu", "slice", "stack", "exp", "ypix"]), min_size=1, max_size=3))
    if "sky" in chosen:
        r = draw(st.integers(0, n - 1))
        ra, dec = SkyFrame.of(pt).radec(cols["xpos"][r : r + 1], cols["ypos"][r : r + 1])
        if np.isfinite(ra[0]) and np.isfinite(dec[0]):
            size = draw(st.floats(0.3, 6.0)) * (5 if pt.wcs == "pixel" else 1)
            kw["apertures"] = [Aperture(draw(st.sampled_from(["circle", "square"])), float(ra[0]), float(dec[0]), size)]
    if "lambda" in chosen:
        ranges = []
        for _ in range(draw(st.integers(1, 2))):
            lo = draw(st.floats(4600, 9300))
            ranges.append((lo, lo + draw(st.floats(1, 800))))
        kw["lambdas"] = ranges
    ifus = sorted({int(v) for v in np.unique((cols["origin"] >> 6) & 0x1F)})
    if "ifu" in chosen:
        kw["ifus"] = sorted(draw(st.sets(st.sampled_from(ifus), min_size=1, max_size=2)))
    if "slice" in chosen:
        kw["slices"] = sorted(draw(st.sets(st.integers(1, 48), min_size=1, max_size=6)))
    if "stack" in chosen:
        kw["stacks"] = sorted(draw(st.sets(st.integers(1, 4), min_size=1, max_size=2)))
    if "exp" in chosen:
        have = pt.keywords.exposure_numbers
        kw["exps"] = sorted(draw(st.sets(st.sampled_from(have), min_size=1, max_size=2)))
    if "ypix" in chosen:
        lo = draw(st.integers(1, 4000))
        kw["ypix"] = [(lo, lo + draw(st.integers(1, 1500)))]
    kw["method"] = draw(st.sampled_from(["and", "or"]))
    if len(kw) == 1:  # only the method: fall back to a wavelength cut
        kw["lambdas"] = [(6000.0, 6100.0)]
    return Criteria(**kw)  # type: ignore[arg-type]


def selected(pt: PixTable, criteria: Criteria, options: PlanOptions) -> np.ndarray:
    sel = ex.select_rows(pt, criteria, plan=options, chunk_rows=4096)
    parts = [cs.start + cs.indices() for cs in sel.chunks]
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


TABLES = st.fixed_dictionaries(
    {
        "rows": st.integers(3000, 60000),  # up to ~1000 rows (13 CCD rows) per run: probing has room
        "ifus": st.lists(st.integers(1, 24), min_size=1, max_size=2, unique=True).map(sorted),
        "exposures": st.integers(1, 3),
        "layout": st.sampled_from(["image", "table"]),
        "wcs": st.sampled_from(["positioned", "projected", "pixel"]),
        "seed": st.integers(0, 1000),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(table=TABLES, kind=st.sampled_from(PERTURBATIONS), data=st.data())
def test_planned_paths_select_the_full_scan_rows(table: dict, kind: str, data: st.DataObject, tmp_path: Path) -> None:
    spec = SimulationSpec(**table)
    path = make_table(tmp_path / "t.fits", spec, kind, table["seed"])
    with PixTable(path) as pt:
        criteria = data.draw(criteria_for(pt))
        full = selected(pt, criteria, PlanOptions(full_scan=True))
        index = build_index(pt, block=data.draw(st.sampled_from([64, 256, 1024])), chunk_blocks=3)
        via_index = selected(pt, criteria, PlanOptions(index=index))
        assert np.array_equal(via_index, full), f"index path differs ({kind})"
        via_order = selected(pt, criteria, PlanOptions(use_index=False))
        if kind in ORDER_EXACT:
            assert np.array_equal(via_order, full), f"order path differs ({kind})"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(table=TABLES, kind=st.sampled_from(PERTURBATIONS), data=st.data())
def test_extract_outputs_are_byte_identical(table: dict, kind: str, data: st.DataObject, tmp_path: Path) -> None:
    spec = SimulationSpec(**table)
    path = make_table(tmp_path / "t.fits", spec, kind, table["seed"])
    with PixTable(path) as pt:
        criteria = data.draw(criteria_for(pt))
        index = build_index(pt, block=256)
        outs = {}
        paths = {"full": PlanOptions(full_scan=True), "index": PlanOptions(index=index)}
        if kind in ORDER_EXACT:
            paths["order"] = PlanOptions(use_index=False)
        for name, opt in paths.items():
            out = tmp_path / f"{name}.fits"
            selection = ex.select_rows(pt, criteria, plan=opt)
            with atomic_output(out, overwrite=True) as fd:
                ex.write_selection(pt, selection, criteria, fd, spec.layout)
            outs[name] = out.read_bytes()
    assert all(b == outs["full"] for b in outs.values())


def test_ifu_cut_reads_only_that_ifu(simulated) -> None:
    path = simulated(rows=40_000, ifus=[3, 4, 5])
    with PixTable(path) as pt:
        ifu = (pt.read(["origin"])["origin"] >> 6) & 0x1F
        want = np.flatnonzero(ifu == 4)
        for opt in (PlanOptions(use_index=False), PlanOptions(index=build_index(pt, block=512))):
            plan = plan_rows(Selector(pt, Criteria(ifus=[4])), opt)
            assert plan.ranges == [(int(want[0]), int(want[-1]) + 1)], plan.path


def test_lambda_cut_reads_a_band_per_run(simulated) -> None:
    path = simulated(rows=60_000, ifus=[7])
    with PixTable(path) as pt:
        lam = pt.read(["lambda"])["lambda"]
        plan = plan_rows(Selector(pt, Criteria(lambdas=[(6000.0, 6700.0)])), PlanOptions(use_index=False))
        assert plan.path == "order" and len(plan.ranges) == 48
        assert plan.rows < 0.4 * pt.nrows
        inside = np.zeros(pt.nrows, dtype=bool)
        for a, b in plan.ranges:
            inside[a:b] = True
        assert inside[(lam >= 6000) & (lam < 6700)].all()


def test_full_scan_is_every_row(simulated) -> None:
    with PixTable(simulated(rows=5000)) as pt:
        plan = plan_rows(Selector(pt, Criteria(ifus=[1])), PlanOptions(full_scan=True))
        assert plan.ranges == [(0, pt.nrows)] and plan.path == "full scan"


def test_span_algebra() -> None:
    assert merge([(5, 7), (0, 2), (2, 3), (6, 9), (4, 4)]) == [(0, 3), (5, 9)]
    assert intersect([(0, 3), (5, 9)], [(2, 6), (8, 20)]) == [(2, 3), (5, 6), (8, 9)]


# -- through the commands --------------------------------------------------------

WHERE_CASES = [
    ["--lambda", "6000:6400", "--where", "data > 0"],
    ["--lambda", "6000:6400", "--where", "data > 0", "--or"],
    ["--ifu", "12", "--good", "--or"],
    ["--ifu", "12", "--xpix", "100:200", "--or"],
    ["--circle", "150.1163", "2.2058", "3", "--lambda", "7000:7100", "--or", "--where", "dq != 0"],
]


@pytest.mark.parametrize("args", WHERE_CASES, ids=lambda a: " ".join(a))
def test_filters_and_unbounded_criteria_on_every_path(args: list[str], simulated, tmp_path: Path) -> None:
    """Criteria nothing bounds (row filters, detector x) never let the planner skip rows they select."""
    src = simulated(rows=60_000, ifus=[11, 12])
    outs = {}
    for name, extra in (("full", ["--full-scan"]), ("order", []), ("index", ["--build-index"]), ("indexed", [])):
        out = tmp_path / f"{name}.fits"
        r = invoke("-v", "extract", src, "-o", out, "--allow-empty", *extra, *args)
        outs[name] = out.read_bytes()
        if name == "indexed":
            assert "index path" in r.stderr
    assert len(set(outs.values())) == 1


def test_spectrum_reads_through_the_planner(simulated, tmp_path: Path) -> None:
    src = simulated(rows=60_000, ifus=[11, 12])
    texts = {}
    for name, extra in (("full", ["--full-scan"]), ("planned", [])):
        r = invoke("-v", "spectrum", src, "--ifu", "12", "--lambda", "5000:8000", *extra)
        assert ("full scan path" if name == "full" else "order path") in r.stderr
        texts[name] = r.stdout
    assert texts["full"] == texts["planned"]


@pytest.mark.parametrize("criteria", [["--lambda", "5000:7000"], ["--lambda", "5000:5100", "--or"], ["--ifu", "11"]])
def test_catalog_extract_on_every_path(criteria: list[str], simulated, tmp_path: Path) -> None:
    """Many sources at once: the planner bounds the union of their apertures; outputs as the full scan's."""
    src = simulated(rows=120_000, ifus=[11, 12])
    cat = tmp_path / "cat.csv"
    cat.write_text("id,ra,dec,radius\na,150.1163,2.2058,2.0\nb,150.1166,2.2059,2.0\nfar,151.1163,2.2058,2.0\n")
    outs: dict[str, dict[str, bytes]] = {}
    for name, extra in (("full", ["--full-scan"]), ("order", []), ("indexed", [])):
        if name == "indexed":
            invoke("index", src)
        d = tmp_path / name
        r = invoke("-v", "extract", src, "--catalog", cat, "--output-dir", d, "--allow-empty", *extra, *criteria)
        assert {"full": "full scan", "order": "", "indexed": "index"}[name] + " path" in r.stderr or name == "order"
        outs[name] = {p.name: p.read_bytes() for p in sorted(d.iterdir())}
    assert outs["full"] and all(o == outs["full"] for o in outs.values())


@pytest.mark.parametrize("extra", [["--ifu", "12"], ["--ifu", "11", "--exp", "2"], ["--ifu", "12", "--xpix", "100:300", "--ypix", "1:500"]])
def test_reconstruct_det_reads_one_ifu(extra: list[str], simulated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """reconstruct-det --ifu reads the IFU's rows only; the images are those of a full pass."""
    import importlib

    from pixtab.core.ops.reconstruct.request import Request

    survey = importlib.import_module("pixtab.core.ops.reconstruct.survey")
    src = simulated(rows=90_000, ifus=[11, 12, 13], exposures=2 if "--exp" in extra else 1)
    with PixTable(src) as pt:
        req = Request(ifus=(int(extra[1]),))
        lo, hi = survey.planned_rows(pt, req, (0, pt.nrows))
        ifu = (pt.read(["origin"])["origin"] >> 6) & 0x1F
        want = np.flatnonzero(ifu == int(extra[1]))
        assert (lo, hi) == (int(want[0]), int(want[-1]) + 1) and hi - lo < pt.nrows
    outs = []
    for narrow in (True, False):
        if not narrow:
            monkeypatch.setattr(survey, "planned_rows", lambda pt, req, rows: rows)
        out = tmp_path / f"{narrow}.fits"
        invoke("reconstruct-det", src, "-o", out, *extra)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
