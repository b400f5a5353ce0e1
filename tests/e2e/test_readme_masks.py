"""The README's section "Masks, regions and the sky" prints what these runs print."""

from __future__ import annotations

import os
from pathlib import Path

from helpers.cli import invoke
from helpers.skyimages import mask_image

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def shown(command: str, output: str) -> None:
    block = f"$ {command}\n{output}"
    assert block in README, block


def test_readme_mask_outputs(simulated, tmp_path, monkeypatch) -> None:
    src = simulated(rows=200_000, ifus=[10, 11, 12, 13])
    os.symlink(src, tmp_path / "T.fits")
    mask_image(tmp_path / "sources.fits")
    monkeypatch.chdir(tmp_path)
    r = invoke("mask", "T.fits", "--mask", "sources.fits", "-o", "T.mask.fits")
    shown("pixtab mask T.fits --mask sources.fits -o T.mask.fits", r.output)
    for cmd in (["extract", "T.fits", "--rows", "T.mask.fits", "--count"],
                ["extract", "T.fits", "--mask", "sources.fits", "--mask-invert", "--count"]):
        shown("pixtab " + " ".join(cmd), invoke(*cmd).output)
    shown("pixtab extract T.fits --where 'row % 1000 == 0' --count", invoke("extract", "T.fits", "--where", "row % 1000 == 0", "--count").output)


def test_readme_slices_output(simulated) -> None:
    src = simulated(rows=2_000_000, ifus=[3, 4], keep_sky=True, slice_offsets=0.03)
    shown("pixtab slices T.fits --lambda-bins 4", invoke("slices", src, "--lambda-bins", "4").output)
