"""Folding passes on forked processes (``core.io.scan.forked`` and ``Scan.fold``): the same
sums as the threads give, every chunk counted once, a child's error raised in the parent,
no child left behind."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from pixtab.core.errors import InputError, PixtabError
from pixtab.core.io.criteria import Criteria
from pixtab.core.io.scan import Scan, measuring
from pixtab.core.io.scan.batch import RowBatch
from pixtab.core.io.table import PixTable
from pixtab.core.ops.measure import image as image_op
from pixtab.core.progress import Recorder


class Sums:
    """Sum of data and the rows, chunk by chunk (an Accumulator)."""

    def __init__(self) -> None:
        self.total, self.rows, self.pids = 0.0, 0, set()

    def add(self, part: tuple[float, int, int]) -> None:
        self.total += part[0]
        self.rows += part[1]
        self.pids.add(part[2])

    def merge(self, other: "Sums") -> None:
        self.total += other.total
        self.rows += other.rows
        self.pids |= other.pids


def _sum(batch: RowBatch) -> tuple[float, int, int]:
    return float(batch["data"].astype(np.float64).sum()), len(batch), os.getpid()


@pytest.fixture
def table(simulated) -> Path:
    return simulated(rows=60_000, ifus=[11, 12])


def _children() -> set[int]:
    return _children_of(os.getpid())


def test_forked_fold_is_the_threaded_fold(table: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _children()
    with PixTable(table) as pt:
        criteria = Criteria(lambdas=[(5000.0, 8000.0)])
        progress = Recorder()
        forked = Scan(pt, criteria, progress=progress, chunk_rows=4_000).fold(["data"], _sum, Sums, phase="sum")
        monkeypatch.setattr(measuring, "FORK_MIN_SPANS", 10**9)
        threaded = Scan(pt, criteria, chunk_rows=4_000).fold(["data"], _sum, Sums)
        data = pt.read(["data", "dq", "lambda"])
    want = (data["dq"] == 0) & (data["lambda"] >= 5000) & (data["lambda"] < 8000)
    assert forked.rows == threaded.rows == int(want.sum())
    assert forked.total == pytest.approx(threaded.total, rel=1e-12)
    assert len(forked.pids) == measuring.WORKERS and os.getpid() not in forked.pids  # the children did the work
    assert threaded.pids == {os.getpid()}
    assert progress.phases == [["sum", 60_000, 60_000]]
    assert _children() == before  # every child reaped


def test_the_image_is_the_same_on_processes_and_threads(table: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Scan.__init__

    def small_chunks(self, *a, **kw):  # type: ignore[no-untyped-def]
        real(self, *a, **dict(kw, chunk_rows=3_000))

    monkeypatch.setattr(Scan, "__init__", small_chunks)
    with PixTable(table) as pt:
        forked = image_op.make_image(pt, Criteria(), image_op.ImageRequest())
        monkeypatch.setattr(measuring, "FORK_MIN_SPANS", 10**9)
        threaded = image_op.make_image(pt, Criteria(), image_op.ImageRequest())
    assert forked.rows == threaded.rows == 60_000 - forked.flagged
    assert np.array_equal(forked.nrows, threaded.nrows)
    np.testing.assert_allclose(forked.image, threaded.image, rtol=1e-12, equal_nan=True)
    assert forked.header["CRPIX1"] == threaded.header["CRPIX1"]


def test_a_catalogues_selection_is_the_same_on_processes_and_threads(table: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pixtab.core.format.catalog import Source
    from pixtab.core.ops.sources import select_sources

    real = Scan.__init__
    monkeypatch.setattr(Scan, "__init__", lambda self, *a, **kw: real(self, *a, **dict(kw, chunk_rows=2_500)))
    ra, dec = 150.1163, 2.2058
    sources = [Source(f"s{k}", ra + dx / 3600, dec + dy / 3600, radius=2.0) for k, (dx, dy) in enumerate(
        [(0, 0), (3, -2), (-6, 4), (10, 10), (1, 1)])]
    base = Criteria(lambdas=[(5000.0, 8000.0)])
    forks = []
    real_fold = measuring.fold_forked
    monkeypatch.setattr(measuring, "fold_forked", lambda *a, **kw: forks.append(1) or real_fold(*a, **kw))
    with PixTable(table) as pt:
        forked = select_sources(pt, base, sources)
        assert forks == [1]
        monkeypatch.setattr(measuring, "FORK_MIN_SPANS", 10**9)
        threaded = select_sources(pt, base, sources)
    assert sum(s.count() for s in forked) > 0
    for f, t in zip(forked, threaded):
        assert np.array_equal(f.rows, t.rows)
        assert f.per_exposure == t.per_exposure
        assert [(c.start, c.stop, c.count) for c in f.chunks] == [(c.start, c.stop, c.count) for c in t.chunks]


def test_a_childs_error_is_raised_in_the_parent(table: Path) -> None:
    def fail(batch: RowBatch) -> tuple[float, int, int]:
        if batch.start >= 30_000:
            raise InputError("some.fits", "the chunk is bad", field="data")
        return _sum(batch)

    before = _children()
    with PixTable(table) as pt, pytest.raises(InputError) as err:
        Scan(pt, chunk_rows=4_000).fold(["data"], fail, Sums)
    assert str(err.value) == "some.fits: the chunk is bad"
    assert (err.value.path, err.value.reason, err.value.field) == ("some.fits", "the chunk is bad", "data")
    assert _children() == before


def test_a_killed_child_is_an_error_not_a_hang(table: Path) -> None:
    def die(batch: RowBatch) -> tuple[float, int, int]:
        if batch.start >= 30_000:
            os.kill(os.getpid(), signal.SIGKILL)
        return _sum(batch)

    with PixTable(table) as pt, pytest.raises(PixtabError, match=r"ended without its result \(killed by SIGKILL: out of memory\?\)"):
        Scan(pt, chunk_rows=4_000).fold(["data"], die, Sums)


def test_no_fork_outside_the_main_thread(table: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def run() -> Sums:
        with PixTable(table) as pt:
            return Scan(pt, chunk_rows=4_000).fold(["data"], _sum, Sums)

    with ThreadPoolExecutor(1) as pool:
        sums = pool.submit(run).result()
    assert sums.pids == {os.getpid()}


def test_the_children_die_with_their_parent(table: Path, tmp_path: Path) -> None:
    """A parent killed outright (SIGKILL: no clean-up of its own) takes its children with it."""
    import subprocess
    import sys
    import time

    script = tmp_path / "slow_fold.py"
    script.write_text(
        "import sys, time\n"
        "from pixtab.core.io.scan import Scan\n"
        "from pixtab.core.io.table import PixTable\n"
        "class Acc:\n"
        "    def add(self, part): pass\n"
        "    def merge(self, other): pass\n"
        "def slow(batch):\n"
        "    time.sleep(30)\n"
        "print('start', flush=True)\n"
        "with PixTable(sys.argv[1]) as pt:\n"
        "    Scan(pt, chunk_rows=2_000).fold(['data'], slow, Acc)\n"
    )
    proc = subprocess.Popen([sys.executable, str(script), str(table)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"start\n"
    deadline = time.monotonic() + 10
    kids: set[int] = set()
    while len(kids) < 2 and time.monotonic() < deadline:
        kids = _children_of(proc.pid)
        time.sleep(0.05)
    assert len(kids) == 2, kids
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 5  # a child outliving its parent would sleep 30 s more
    while time.monotonic() < deadline and any(_alive(k) for k in kids):
        time.sleep(0.05)
    assert not any(_alive(k) for k in kids)


def _children_of(pid: int) -> set[int]:
    out = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.add(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
