"""Issue 13 items 18 and 19: output names: templates checked once, file names that are too long.

19: a bad ``--name`` template is a usage error (exit 2) before any work, and a name that is not
    a plain file name is refused. 18: any OSError from the file system (a name of 256+ bytes,
    as output or input) is one line naming the path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.cli import run_pixtab
from helpers.faults import assert_one_line_error, make_table


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_table(tmp_path_factory.mktemp("names") / "in.fits", rows=3000, ifus=[3])


@pytest.mark.parametrize(
    "template",
    ["{stem.x}", "{stem:>5000}", "{stem[0]}", "{stem!r}", "{0}", "{}", "{other}", "{stem", "a}b", "{stem.__class__}"],
)
@pytest.mark.parametrize("command", ["extract", "convert"])
def test_bad_template_is_a_usage_error(command: str, template: str, table: Path, tmp_path: Path) -> None:
    extra = ["--ifu", "3"] if command == "extract" else []
    run = run_pixtab(command, table, "--output-dir", tmp_path, "--name", template, *extra)
    assert run.returncode == 2, run.stderr
    assert "'--name'" in run.stderr and "internal error" not in run.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("template", ["sub/{stem}.fits", "..", ".", "{stem}/x.fits", "x" * 300 + "{stem}"])
def test_template_giving_no_plain_file_name_is_refused(template: str, table: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    run = run_pixtab("convert", table, "--output-dir", tmp_path / "out", "--name", template)
    assert run.returncode == 2, run.stderr
    assert "'--name'" in run.stderr and "internal error" not in run.stderr
    assert list((tmp_path / "out").iterdir()) == []


def test_good_templates_still_work(table: Path, tmp_path: Path) -> None:
    run = run_pixtab("convert", table, "--output-dir", tmp_path, "--name", "{stem}_{name}.t.fits")
    assert run.returncode == 0, run.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["in_in.fits.t.fits"]


WRITERS = {
    "simulate": lambda src, out: ["simulate", out, "--nrows", "200"],
    "extract": lambda src, out: ["extract", src, "-o", out, "--ifu", "3"],
    "convert": lambda src, out: ["convert", src, "-o", out],
    "decode-origin": lambda src, out: ["decode-origin", src, "-o", out],
    "decode-origin fits": lambda src, out: ["decode-origin", src, "--format", "fits", "-o", out],
    "reconstruct-det": lambda src, out: ["reconstruct-det", src, "-o", out],
}


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_output_name_too_long_is_one_line(command: str, table: Path, tmp_path: Path) -> None:
    out = tmp_path / ("x" * 300 + ".fits")
    run = run_pixtab(*WRITERS[command](str(table), str(out)))
    assert run.returncode == 1, run.stderr
    assert_one_line_error(run.stdout, run.stderr, out, "name too long")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["info"], ["info", "--stats"], ["extract", "--count", "--ifu", "1"], ["convert", "-o", "OUT"],
                                  ["decode-origin"], ["reconstruct-det", "-o", "OUT"]])
def test_input_name_too_long_is_one_line(args: list[str], tmp_path: Path) -> None:
    src = tmp_path / ("y" * 300 + ".fits")
    run = run_pixtab(args[0], src, *[str(tmp_path / "o.fits") if a == "OUT" else a for a in args[1:]])
    assert run.returncode == 1, run.stderr
    assert_one_line_error(run.stdout, run.stderr, src, "name too long")


def test_path_through_a_file_is_one_line(table: Path, tmp_path: Path) -> None:
    """ENOTDIR: an input or output 'inside' a regular file."""
    run = run_pixtab("info", table / "x.fits")
    assert_one_line_error(run.stdout, run.stderr, table / "x.fits", "Not a directory")
    run = run_pixtab("convert", table, "-o", table / "x.fits")
    assert run.returncode == 1
    assert "internal error" not in run.stderr and len(run.stderr.splitlines()) == 1, run.stderr
