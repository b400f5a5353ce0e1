"""pixtab.core.fits.atomic: output checks by file identity."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pixtab.core.errors import OutputError
from pixtab.core.fits.atomic import check_output, same_file


def test_same_file_by_identity(tmp_path: Path) -> None:
    a = tmp_path / "a.fits"
    a.write_bytes(b"x")
    os.link(a, tmp_path / "hard.fits")
    os.symlink(a, tmp_path / "soft.fits")
    assert same_file(a, tmp_path / "hard.fits") and same_file(a, tmp_path / "soft.fits")
    assert same_file(a, tmp_path / "." / "a.fits")
    assert not same_file(a, tmp_path / "missing.fits")
    assert same_file(tmp_path / "missing.fits", tmp_path / "x" / ".." / "missing.fits")


def test_check_output(tmp_path: Path) -> None:
    a, b = tmp_path / "a.fits", tmp_path / "b.fits"
    a.write_bytes(b"x")
    b.write_bytes(b"y")
    os.link(a, tmp_path / "hard.fits")
    with pytest.raises(OutputError, match=r"same file as the input .*a\.fits"):
        check_output(tmp_path / "hard.fits", [str(b), str(a)], overwrite=True)
    with pytest.raises(OutputError, match="already exists") as exc:
        check_output(b, [str(a)], overwrite=False)
    assert exc.value.field == "overwrite"
    assert check_output(b, [str(a)], overwrite=True) == b
    with pytest.raises(OutputError, match="does not exist"):
        check_output(tmp_path / "no" / "o.fits", [], overwrite=False)
    with pytest.raises(OutputError, match="is a directory"):
        check_output(tmp_path, [], overwrite=True)
