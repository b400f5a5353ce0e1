"""Global options and the group's error handling, in process with CliRunner and ``main()``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from pixtab.cli import cli, main, output
from pixtab.core.errors import InputError

from helpers.cli import invoke


@pytest.fixture(scope="module")
def tables(simulated) -> tuple[Path, Path]:
    return simulated(rows=1500, ifus=[2]), simulated(rows=3000, ifus=[4, 5], layout="table", exposures=2)


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.fits"
    path.write_text("not a FITS file\n")
    return path


def _sorted_everywhere(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    assert keys == sorted(keys), keys
    return dict(pairs)


# -- -v / -q ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "verbose", "quiet"),
    [([], 0, 0), (["-v"], 1, 0), (["-vv"], 2, 0), (["-v", "--verbose"], 2, 0), (["-q"], 0, 1), (["-qq"], 0, 2), (["-q", "--quiet"], 0, 2)],
)
def test_verbose_and_quiet_are_counted(args: list[str], verbose: int, quiet: int) -> None:
    ctx = cli.make_context("pixtab", [*args, "info", "x.fits"])
    assert (ctx.params["verbose"], ctx.params["quiet"]) == (verbose, quiet)


@pytest.mark.parametrize(
    ("args", "level"),
    [([], logging.INFO), (["-v"], logging.DEBUG), (["-vv"], logging.DEBUG), (["-q"], logging.WARNING), (["-qq"], logging.ERROR), (["-v", "-q"], logging.WARNING)],
)
def test_verbosity_sets_the_log_level(args: list[str], level: int, tables: tuple[Path, Path]) -> None:
    result = invoke(*args, "info", "--get", "nrows", tables[0], code=None)
    assert (result.exit_code, result.stdout) == (0, "1500\n")
    assert logging.getLogger("pixtab").level == level


def test_quiet_silences_info_but_not_data(tmp_path: Path) -> None:
    out = tmp_path / "s.fits"
    loud = invoke("simulate", out, "--nrows", "500", "--ifus", "1", code=None)
    assert (loud.exit_code, loud.stdout, loud.stderr) == (0, "", f"wrote {out} (500 rows, image layout, positioned)\n")
    quiet = invoke("-q", "simulate", out, "--nrows", "500", "--ifus", "1", "--overwrite", code=None)
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    data = invoke("-qq", "info", "--get", "nrows", out, code=None)
    assert (data.exit_code, data.stdout, data.stderr) == (0, "500\n", "")


def test_quiet_from_the_environment(tmp_path: Path) -> None:
    out = tmp_path / "s.fits"
    result = invoke("simulate", out, "--nrows", "500", "--ifus", "1", env={"PIXTAB_QUIET": "1"}, code=None)
    assert (result.exit_code, result.stderr) == (0, "")


@pytest.mark.parametrize(("quiet", "shown"), [(0, True), (1, True), (2, False)])
def test_warnings_survive_one_quiet_but_not_two(quiet: int, shown: bool, capsys: pytest.CaptureFixture[str]) -> None:
    output.configure_logging(0, quiet)
    logging.getLogger("pixtab.core.test").warning("odd keyword")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("pixtab: warning: odd keyword\n" if shown else "")
    output.configure_logging(0, 0)


# -- errors, --traceback, PIXTAB_DEBUG ---------------------------------------------------


def test_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "missing.fits"
    result = invoke("info", missing, code=None)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", f"Error: {missing}: no such file\n")
    assert isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(("args", "env"), [(["--traceback"], {}), ([], {"PIXTAB_DEBUG": "1"})])
def test_traceback_reraises_the_original(tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
    missing = tmp_path / "missing.fits"
    result = invoke(*args, "info", missing, env=env, code=1, catch_exceptions=True)
    assert isinstance(result.exception, InputError)
    assert str(result.exception) == f"{missing}: no such file"


def test_criteria_error_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("simulate", tmp_path / "x.fits", "--nrows", "1e12", "--ifus", "1", code=None)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.endswith("Error: --nrows: 1000000000000 rows: exceeds what 1 IFU(s) x 1 exposure(s) hold (15000576)\n")
    assert not (tmp_path / "x.fits").exists()


@pytest.mark.parametrize("args", [["info"], ["info", "--bogus", "x.fits"], ["nosuchcommand"], ["simulate", "x.fits", "--layout", "cube"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = invoke(*args, prog_name="pixtab", code=None)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith("Usage: pixtab") and "\nError: " in result.stderr


def _crash(*args: object, **kw: object) -> None:
    raise RuntimeError("boom")


def _interrupt(*args: object, **kw: object) -> None:
    raise KeyboardInterrupt


def test_main_reports_a_bug_in_one_line(monkeypatch: pytest.MonkeyPatch, tables: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("pixtab.core.ops.describe.summary", _crash)
    with pytest.raises(SystemExit) as exc:
        main(["info", str(tables[0])])
    assert exc.value.code == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "Error: internal error: RuntimeError: boom (rerun with --traceback)\n")
    with pytest.raises(RuntimeError, match="boom"):
        main(["--traceback", "info", str(tables[0])])


def test_main_exits_130_on_ctrl_c(monkeypatch: pytest.MonkeyPatch, tables: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("pixtab.core.ops.describe.summary", _interrupt)
    with pytest.raises(SystemExit) as exc:
        main(["info", str(tables[0])])
    assert exc.value.code == 130
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.lstrip("\n") == "Interrupted.\n"


# -- JSON and many inputs ----------------------------------------------------------------


def test_info_json_has_sorted_keys_one_object_per_line(tables: tuple[Path, Path]) -> None:
    a, b = tables
    result = invoke("info", "--json", a, b, code=None)
    assert (result.exit_code, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    objs = [json.loads(line, object_pairs_hook=_sorted_everywhere) for line in lines]
    assert [o["path"] for o in objs] == [str(a), str(b)]
    assert [o["rows"] for o in objs] == [1500, 3000]
    assert objs[1]["combined"] == 2 and [e["exp"] for e in objs[1]["exposures"]] == [1, 2]


def test_many_inputs_carry_on_past_a_bad_one(tables: tuple[Path, Path], bad: Path) -> None:
    a, b = tables
    result = invoke("info", "--json", a, bad, b, code=1)
    assert [json.loads(line)["path"] for line in result.stdout.splitlines()] == [str(a), str(b)]
    assert result.stderr == f"Error: {bad}: not a FITS file\nError: 1 of 3 inputs failed: {bad}\n"


def test_many_inputs_all_bad(tmp_path: Path, bad: Path) -> None:
    missing = tmp_path / "missing.fits"
    result = invoke("info", "--get", "nrows", bad, missing, code=None)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.splitlines()[-1] == f"Error: 2 of 2 inputs failed: {bad}, {missing}"


def test_single_bad_input_is_one_line(bad: Path) -> None:
    result = invoke("info", bad, code=None)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", f"Error: {bad}: not a FITS file\n")


def test_core_usage_error_shows_the_commands_own_usage_line() -> None:
    """A CriteriaError raised in the core is a usage error of the subcommand, not of the group."""
    from conftest import conformance_path

    path = str(conformance_path("pt_pixel_units.fits"))
    result = invoke("extract", path, "--count", "--circle", "1", "2", "2arcsec", code=2)
    assert "Usage: cli extract [OPTIONS]" in result.stderr
    assert "pixel-unit table" in result.stderr


def test_main_exits_130_when_an_interrupt_was_swallowed(monkeypatch, tmp_path, capsys) -> None:
    import signal

    from pixtab.core.fits import atomic

    monkeypatch.setattr(atomic, "_INTERRUPTED", signal.SIGINT)
    out = tmp_path / "s.fits"
    with pytest.raises(SystemExit) as info:
        main(["simulate", str(out), "--nrows", "100"])
    assert info.value.code == 130
    assert capsys.readouterr().err.endswith("Interrupted.\n")
    assert list(tmp_path.iterdir()) == []
