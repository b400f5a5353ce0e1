"""Start-up: the commands that move rows import only what the request needs.

``import astropy.io.fits`` alone (it loads astropy.units and astropy.constants)
costs more than a cut with an index; pixtab reads and writes headers itself
(core/fits/header.py). These runs, in fresh processes on a small table, keep
each command's import set from growing back.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_shell import _imported, clean_env

from helpers.cli import pixtab_cmd

#: never needed to move rows; astropy only for sexagesimal input, a sky WCS, ...
NOT_FOR_ROWS = {"astropy", "scipy", "photutils", "matplotlib", "pyarrow", "rich", "distributed", "dask"}

LAMBDA = ["--lambda", "6000:6100"]

COMMANDS = {
    "info": ["info", "{t}"],
    "info --json": ["info", "{t}", "--json"],
    "extract --count": ["extract", "{t}", "--count", *LAMBDA, "--ifu", "3"],
    "extract --count (index)": ["extract", "{i}", "--count", *LAMBDA],
    "extract -o": ["extract", "{t}", "-o", "{o}/cut.fits", *LAMBDA],
    "extract -o (index, table layout)": ["extract", "{i}", "-o", "{o}/cut2.fits", "--layout", "table", *LAMBDA],
    "index": ["index", "{o}/again.fits"],
    "decode-origin csv": ["decode-origin", "{t}", "--rows", "0:10"],
    "decode-origin --sky": ["decode-origin", "{t}", "--rows", "0:10", "--sky", "--with", "data"],
    "decode-origin fits": ["decode-origin", "{t}", "--format", "fits", "-o", "{o}/dec.fits"],
    "convert": ["convert", "{t}", "-o", "{o}/conv.fits"],
    "export csv": ["export", "{t}", "-o", "{o}/rows.csv", "--format", "csv", "--decode", *LAMBDA],
    "reconstruct-det": ["reconstruct-det", "{t}", "-o", "{o}/det.fits", "--ifu", "3"],
    "reconstruct-det --all-ifus": ["reconstruct-det", "{t}", "-o", "{o}/dets.fits", "--all-ifus"],
    # the image's FITS file (WCS included) is written by pixtab; --png and --peaks need more
    "image -o": ["image", "{t}", "-o", "{o}/white.fits"],
    "image -o --lambda --variance": ["image", "{t}", "-o", "{o}/band.fits", "--variance", "--stat", "wmean", *LAMBDA],
}


@pytest.fixture(scope="module")
def tables(simulated, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("startup")
    table = simulated(rows=3000, ifus=[3, 4], wcs="positioned")
    indexed = work / "indexed.fits"
    shutil.copyfile(table, indexed)
    shutil.copyfile(table, work / "again.fits")
    r = subprocess.run(pixtab_cmd("index", indexed), capture_output=True, text=True, env=clean_env())
    assert r.returncode == 0, r.stderr
    return {"t": table, "i": indexed, "o": work}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_row_moving_command_imports_no_heavy_module(name: str, tables: dict[str, Path]) -> None:
    args = [a.format(**{k: str(v) for k, v in tables.items()}) for a in COMMANDS[name]]
    r = subprocess.run(
        pixtab_cmd(*args), capture_output=True, text=True, env=clean_env(PYTHONPROFILEIMPORTTIME="1"), timeout=120
    )
    assert r.returncode == 0, r.stderr[-2000:]
    mods = _imported(r.stderr)
    assert "numpy" in mods  # the import log is really there
    assert NOT_FOR_ROWS & mods == set()


def test_sexagesimal_input_still_works(tables: dict[str, Path]) -> None:
    """astropy.coordinates parses it, imported only then."""
    r = subprocess.run(
        pixtab_cmd("extract", tables["t"], "--count", "--circle", "10:00:27.9", "+02:12:20.9", "10"),
        capture_output=True, text=True, env=clean_env(PYTHONPROFILEIMPORTTIME="1"), timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "astropy" in _imported(r.stderr)


def test_fit_imports_only_numpy_scipy_and_its_model(simulated, tmp_path: Path) -> None:
    """fit needs scipy.optimize and its model's formulas: not astropy.modeling (nor the rest of astropy)."""
    star = simulated(rows=20_000, ifus=[3])
    r = subprocess.run(
        pixtab_cmd("fit", star, "--model", "moffat"),
        capture_output=True, text=True, env=clean_env(PYTHONPROFILEIMPORTTIME="1"), timeout=120,
    )
    assert r.returncode in (0, 1), r.stderr[-2000:]  # a fit that fails is fine here
    mods = _imported(r.stderr)
    assert "scipy" in mods
    assert (NOT_FOR_ROWS - {"scipy"}) & mods == set()



#: run pixtab, then write the names of the modules loaded to the file named first
_MODULES_AT_EXIT = (
    "import atexit, runpy, sys\n"
    "out = sys.argv.pop(1)\n"
    "atexit.register(lambda: open(out, 'w').write('\\n'.join(sorted(sys.modules))))\n"
    "sys.argv[0] = 'pixtab'\n"
    "runpy.run_module('pixtab', run_name='__main__')\n"
)

#: what a run that only reads (no output file, no --jobs) never loads: the task servers
#: (subprocess), tempfile (with shutil, bz2, lzma, random)
_NOT_FOR_READING = {"pixtab.cli.taskserver", "subprocess", "tempfile"}


def _modules_loaded(args: list[str], tmp_path: Path) -> set[str]:
    out = tmp_path / "modules.txt"
    r = subprocess.run([sys.executable, "-c", _MODULES_AT_EXIT, str(out), *args], capture_output=True, text=True, env=clean_env(),
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return set(out.read_text().split())


@pytest.mark.parametrize(
    ("command", "args", "never"),
    [
        ("info", ["info", "{t}"], {"pixtab.core.io.scan", "pixtab.core.io.plan", "pixtab.core.io.index_store", "json"}),
        ("extract", ["extract", "{i}", "--count", *LAMBDA], set()),
        # a table without an index: no hashing of its headers, no index archive to open
        ("extract", ["extract", "{t}", "--count", *LAMBDA], {"hashlib", "zipfile"}),
    ],
)
def test_a_run_loads_its_own_command_only(command: str, args: list[str], never: set[str], tables: dict[str, Path],
                                          tmp_path: Path) -> None:
    """Command modules load when their command is looked up (``--help`` loads them all);
    info reads headers without the scan engine, the planner or the index."""
    from pixtab.cli import COMMAND_MODULES

    mods = _modules_loaded([a.format(**{k: str(v) for k, v in tables.items()}) for a in args], tmp_path)
    assert "numpy" in mods
    commands = {f"pixtab.cli.{m}" for m in COMMAND_MODULES}
    assert commands & mods == {f"pixtab.cli.{command}"}
    assert (_NOT_FOR_READING | never) & mods == set()


def test_help_still_lists_every_command(tmp_path: Path) -> None:
    from pixtab.cli import COMMAND_MODULES

    r = subprocess.run(pixtab_cmd("--help"), capture_output=True, text=True, env=clean_env(), timeout=120)
    assert r.returncode == 0
    listed = [line.split()[0] for line in r.stdout.split("Commands:")[1].splitlines() if line.startswith("  ") and line.split()]
    assert sorted(m.replace("_", "-") for m in COMMAND_MODULES) == [c for c in listed if not c[0].isdigit()][: len(COMMAND_MODULES)]
