"""The skeleton of the commands that write (pixtab/cli/writing.py): output paths, inputs never
replaced (compared by file identity), a missing --output-dir created once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helpers.cli import invoke


def _run(*args: object, cwd: Path | None = None):
    """``pixtab ARGS`` in ``cwd`` (any exit status: the tests check it)."""
    old = os.getcwd()
    try:
        if cwd:
            os.chdir(cwd)
        return invoke(*args, code=None)
    finally:
        os.chdir(old)


@pytest.fixture
def two(simulated, tmp_path: Path) -> tuple[Path, Path]:
    """a.fits and a_x.fits, writable copies of small simulated tables."""
    a, ax = tmp_path / "a.fits", tmp_path / "a_x.fits"
    shutil.copyfile(simulated(rows=30_000), a)
    shutil.copyfile(simulated(rows=20_000, seed=3), ax)
    return a, ax


def test_issue12_data_loss_repro_refuses_and_leaves_the_input_untouched(two, tmp_path: Path) -> None:
    """`extract a.fits a_x.fits --output-dir . --name '{stem}_x.fits' --overwrite`: a's output would
    be the input a_x.fits. Refused before any work, exit 1, every file as it was."""
    a, ax = two
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = _run("extract", "a.fits", "a_x.fits", "--output-dir", ".", "--name", "{stem}_x.fits",
                  "--overwrite", "--lambda", "5000:9000", cwd=tmp_path)
    assert result.exit_code == 1, result.output
    assert "is the same file as the input a_x.fits" in result.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("command", [["extract", "--lambda", "5000:9000"], ["convert"]])
def test_an_output_that_is_a_hard_link_to_an_input_is_refused(two, tmp_path: Path, command: list[str]) -> None:
    a, _ = two
    link = tmp_path / "link.fits"
    os.link(a, link)
    result = _run(command[0], a, "-o", link, "--overwrite", *command[1:])
    assert result.exit_code == 1 and "same file as the input" in result.stderr
    assert link.read_bytes() == a.read_bytes()


def test_reconstruct_and_decode_refuse_their_input_as_output(two) -> None:
    a, _ = two
    for args in (["reconstruct-det", a, "-o", a, "--all-ifus", "--overwrite"],
                 ["decode-origin", a, "-o", a, "--overwrite"],
                 ["decode-origin", a, "--format", "fits", "-o", a, "--overwrite"]):
        result = _run(*args)
        assert result.exit_code == 1 and "same file" in result.stderr, args


def test_missing_output_dir_is_created_like_mkdir_p(two, tmp_path: Path) -> None:
    a, ax = two
    out = tmp_path / "new" / "deeper"
    result = _run("convert", a, ax, "--output-dir", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a.fits", "a_x.fits"]


def test_two_inputs_one_output_name_is_a_usage_error(two, tmp_path: Path) -> None:
    a, _ = two
    (tmp_path / "d").mkdir()
    other = tmp_path / "d" / "a.fits"
    shutil.copyfile(a, other)
    result = _run("convert", a, other, "--output-dir", tmp_path / "out")
    assert result.exit_code == 2 and "same output name" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_usage_error_is_2_with_one_input_or_several(two) -> None:
    a, ax = two
    for inputs in ([a], [a, ax]):
        result = _run("extract", *inputs, "--count", "--circle", "150", "95", "2")
        assert result.exit_code == 2, inputs
