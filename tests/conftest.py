"""Shared fixtures: the conformance set (read in place) and cached simulated tables."""

from __future__ import annotations

import json
import os
import signal
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterator

import pytest

# A suite started in the background by a non-interactive shell (`cmd &`: SIGINT and SIGQUIT
# ignored) or under nohup (SIGHUP ignored) passes that on to every pixtab it runs, and pixtab
# keeps an ignored signal ignored, as nohup'ed tools should: the signal tests need the
# default dispositions in their children.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
for _sig in (signal.SIGHUP, signal.SIGQUIT):
    if signal.getsignal(_sig) == signal.SIG_IGN:
        signal.signal(_sig, signal.SIG_DFL)

REPO = Path(__file__).resolve().parents[1]
CONFORMANCE = Path(os.environ.get("PIXTAB_CONFORMANCE", REPO.parent / "shared" / "conformance"))
#: CI must run the conformance cases: there a missing set fails instead of skipping.
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
#: why the conformance tests cannot run (None: the set is there)
CONFORMANCE_MISSING = (
    None
    if (CONFORMANCE / "cases.json").is_file()
    else f"conformance set not found at {CONFORMANCE}: it is the project's shared test data (pixel tables "
    "and expected answers, not part of the repository), read in place from ../shared/conformance beside the "
    "checkout; set PIXTAB_CONFORMANCE=DIR to point at a copy"
)
#: stands in for every case list when the set is missing, so that the tests are listed (and skipped)
_MISSING_CASE = {"id": "conformance-set-missing", "file": "F1"}


def require_conformance() -> None:
    """Skip the calling test when the set is missing; fail instead when CI=true."""
    if CONFORMANCE_MISSING is None:
        return
    if IN_CI:
        pytest.fail(f"{CONFORMANCE_MISSING} (CI=true: the conformance cases must run)", pytrace=False)
    pytest.skip(CONFORMANCE_MISSING)


def conformance_cases() -> dict:
    """cases.json of the conformance set; a placeholder case per section when it is missing.

    Module-level parametrisation uses this at collection, so it must not raise:
    the placeholder's test then skips (or fails in CI) in :func:`require_conformance`.
    """
    path = CONFORMANCE / "cases.json"
    if CONFORMANCE_MISSING is not None:
        return defaultdict(lambda: [dict(_MISSING_CASE)])
    return json.loads(path.read_text())


def conformance_path(name: str) -> Path:
    """A file of the conformance set (skips or fails the test when the set is missing)."""
    require_conformance()
    return CONFORMANCE / name


def conformance_file(key: str) -> Path:
    """Path of conformance table F1..F8."""
    require_conformance()
    return CONFORMANCE / conformance_cases()["files"][key]["path"]


def conformance_tables() -> list[Path]:
    """Every pixel table of the set (one placeholder path when the set is missing)."""
    if CONFORMANCE_MISSING is not None:
        return [CONFORMANCE / "conformance-set-missing.fits"]
    return sorted(CONFORMANCE.glob("pt_*.fits"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance: needs the conformance set (skipped without it, fails in CI)")


def _user_cache() -> set[str]:
    from pixtab.core.io.index_store import cache_dir

    where = cache_dir()
    return {p.name for p in where.iterdir()} if where.is_dir() else set()


@pytest.fixture(scope="session", autouse=True)
def _session_index_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module fixtures never write into the user's own index cache (~/.cache/pixtab); a
    test that does (a subprocess given an environment without PIXTAB_CACHE_DIR) fails the run."""
    before = _user_cache()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIXTAB_CACHE_DIR", str(tmp_path_factory.mktemp("index-cache")))
        # The tests' tables are small: --jobs would run them one after the other in the
        # process itself; here it uses its workers whatever the size (test_batch checks the rule).
        mp.setenv("PIXTAB_JOBS_MIN_MB", "0")
        yield
    added = sorted(_user_cache() - before)
    assert not added, f"the tests wrote into the user's index cache: {added}"


@pytest.fixture(autouse=True)
def _own_index_cache(_session_index_cache: None, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with an empty index cache: an index one test built for a file whose
    inode a later test's file reuses would otherwise be found (and warned about) there."""
    monkeypatch.setenv("PIXTAB_CACHE_DIR", str(tmp_path_factory.mktemp("index-cache")))


@pytest.fixture(autouse=True)
def _conformance_gate(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("conformance") is not None:
        require_conformance()


@pytest.fixture
def order_always(monkeypatch: pytest.MonkeyPatch) -> None:
    """The planner takes the row order whenever it can bound a cut, and keeps its ranges apart
    (on the small test tables the cost model would choose the full scan: nothing to test)."""
    from pixtab.core.io import costs

    monkeypatch.setattr(costs, "MARGIN", float("inf"))
    monkeypatch.setattr(costs, "RANGE_COST", 0.0)


@pytest.fixture(scope="session")
def cases() -> dict:
    return conformance_cases()


@pytest.fixture(scope="session")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``simulated(rows=..., layout=..., ...)`` -> path of a cached synthetic table.

    Tables are made once per session per parameter set; treat them as read-only.
    """
    from pixtab.core.ops.simulate.tables import SimulationSpec, simulate

    cache: dict[tuple, Path] = {}
    base = tmp_path_factory.mktemp("sim")

    def make(**kw: object) -> Path:
        kw.setdefault("rows", 20_000)
        if "ifus" in kw:
            kw["ifus"] = list(kw["ifus"])  # type: ignore[arg-type]
        key = tuple(sorted((k, str(v)) for k, v in kw.items()))
        if key not in cache:
            path = base / f"sim{len(cache)}.fits"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                simulate(fd, SimulationSpec(**kw))  # type: ignore[arg-type]
            finally:
                os.close(fd)
            os.chmod(path, 0o444)
            cache[key] = path
        return cache[key]

    return make


def _no_internal_error(stderr: object, what: object) -> None:
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else str(stderr or "")
    assert "internal error" not in text, f"{what}: internal error on stderr:\n{text}"


@pytest.fixture(autouse=True)
def _fault_suite_has_no_internal_error(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every CLI run of the fault suite (test_faults_*, test_fuzz_*) is checked: never 'internal error' on stderr.

    Subprocess runs are checked where their stderr is collected (``communicate``, hence
    ``subprocess.run``); in-process runs through click's ``CliRunner.invoke``.
    """
    name = request.module.__name__.rpartition(".")[2]
    if not name.startswith(("test_faults_", "test_fuzz_")):
        return
    import subprocess

    from click.testing import CliRunner

    communicate = subprocess.Popen.communicate
    invoke = CliRunner.invoke

    def checked_communicate(self: subprocess.Popen, *a: object, **kw: object) -> tuple:
        out, err = communicate(self, *a, **kw)
        _no_internal_error(err, self.args)
        return out, err

    def checked_invoke(self: CliRunner, *a: object, **kw: object) -> object:
        result = invoke(self, *a, **kw)
        try:
            err = result.stderr
        except ValueError:  # stderr mixed into output
            err = result.output
        _no_internal_error(err, a[1:2])
        return result

    monkeypatch.setattr(subprocess.Popen, "communicate", checked_communicate)
    monkeypatch.setattr(CliRunner, "invoke", checked_invoke)
