"""Issue 13 items 6 and 7: FITS files that are not pixel tables, and compressed inputs.

6: pixtab's own outputs (reconstruct-det images, decode-origin tables) and other FITS files are
   "not a pixel table", saying what they are where pixtab can tell, not "column has shape".
7: gzip/bzip2/xz/zstd files and tile-compressed FITS say so and how to decompress them.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from helpers.cli import run_pixtab
from helpers.faults import assert_one_line_error, make_table

COMMANDS = [["info"], ["info", "--json"], ["extract", "--count", "--ifu", "3"], ["decode-origin"], ["convert", "-o", "OUT"]]


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_table(tmp_path_factory.mktemp("kinds") / "in.fits", rows=3000, ifus=[3])


def _run(args: list[str], src: Path, tmp_path: Path):
    return run_pixtab(args[0], src, *[str(tmp_path / "o.fits") if a == "OUT" else a for a in args[1:]])


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_reconstruct_det_output_is_not_a_pixel_table(args: list[str], table: Path, tmp_path: Path) -> None:
    img = tmp_path / "det.fits"
    assert run_pixtab("reconstruct-det", table, "-o", img).returncode == 0
    run = _run(args, img, tmp_path)
    assert run.returncode == 1
    assert_one_line_error(run.stdout, run.stderr, img, "not a pixel table", "CHAN03", "reconstruct-det output")
    assert "shape" not in run.stderr


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_decode_origin_output_is_not_a_pixel_table(args: list[str], table: Path, tmp_path: Path) -> None:
    out = tmp_path / "dec.fits"
    assert run_pixtab("decode-origin", table, "--format", "fits", "-o", out).returncode == 0
    run = _run(args, out, tmp_path)
    assert_one_line_error(run.stdout, run.stderr, out, "not a pixel table", "row, ifu, slice", "decode-origin output")


def test_a_plain_image_is_not_a_pixel_table(tmp_path: Path) -> None:
    path = tmp_path / "cube.fits"
    hdr = fits.Header({"HIERARCH ESO PRO CATG": "DATACUBE_FINAL"})
    fits.HDUList([fits.PrimaryHDU(header=hdr), fits.ImageHDU(np.zeros((4, 5, 6), np.float32), name="DATA")]).writeto(path)
    run = run_pixtab("info", path)
    assert_one_line_error(run.stdout, run.stderr, path, "not a pixel table", "DATA 6x5x4", "DATACUBE_FINAL")


@pytest.mark.parametrize(
    "kind, compress, hint",
    [("gzip", gzip.compress, "gunzip"), ("bzip2", bz2.compress, "bunzip2"), ("xz", lzma.compress, "unxz")],
)
@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_compressed_file_says_how_to_decompress(kind, compress, hint, args: list[str], table: Path, tmp_path: Path) -> None:
    path = tmp_path / "in.fits.gz"
    path.write_bytes(compress(table.read_bytes()))
    run = _run(args, path, tmp_path)
    assert run.returncode == 1
    assert_one_line_error(run.stdout, run.stderr, path, f"{kind}-compressed", hint)


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_tile_compressed_fits_says_funpack(args: list[str], table: Path, tmp_path: Path) -> None:
    path = tmp_path / "tile.fits"
    with fits.open(table) as hdul:
        comp = [fits.PrimaryHDU(header=hdul[0].header)]
        comp += [fits.CompImageHDU(h.data, header=h.header, name=h.name) for h in hdul[1:]]
        fits.HDUList(comp).writeto(path)
    run = _run(args, path, tmp_path)
    assert run.returncode == 1
    assert_one_line_error(run.stdout, run.stderr, path, "tile-compressed", "funpack")
