"""pixtab.core.fits.hdu: HDUFile, the one HDU writer (checked against astropy's reading)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from pixtab.core.fits.hdu import ColumnSpec, HDUCopy, HDUFile, bintable_header, column_image_header, image_header
from pixtab.core.fits.structure import scan


def _fd(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)


def test_hdufile_lays_out_and_fills_in_any_order(tmp_path: Path) -> None:
    path = tmp_path / "f.fits"
    fd = _fd(path)
    try:
        f = HDUFile(fd, fits.Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True)]))
        a = np.arange(5, dtype=">f4")
        b = np.arange(3, dtype=">i4")
        off_a = f.reserve(column_image_header(ColumnSpec("a", np.dtype("f4"), "m"), 5), a.nbytes)
        off_b = f.reserve(bintable_header([ColumnSpec("b", np.dtype("i4"))], 3), b.nbytes)
        f.seal()
        f.write_at(b, off_b)  # out of order
        f.write_at(a, off_a)
        primary = fits.Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True), ("X", 1)])
        f.rewrite_primary(primary)
        # A final header of more blocks moves the data (issue 13 item 14).
        f.rewrite_primary(primary + fits.Header([(f"K{i}", i) for i in range(40)]))
    finally:
        os.close(fd)
    assert path.stat().st_size % 2880 == 0
    with fits.open(path) as hdul:
        assert hdul[0].header["X"] == 1 and hdul[0].header["K39"] == 39
        assert hdul[1].name.upper() == "A" and hdul[1].header["BUNIT"] == "m"
        assert np.array_equal(hdul[1].data.ravel(), a) and np.array_equal(hdul[2].data["b"], b)


def test_image_header_and_hdu_copy(tmp_path: Path) -> None:
    src = tmp_path / "src.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((2, 3), ">f8"), name="IM")]).writeto(src)
    h = image_header((2, 3), np.dtype("f8"), fits.Header([("EXTNAME", "IM")]))
    parsed = fits.Header.fromstring(h.decode())
    assert (parsed["NAXIS1"], parsed["NAXIS2"], parsed["BITPIX"]) == (3, 2, -64)
    # A copy of an HDU whose last block was cut short gets its padding back as zeros.
    cut = tmp_path / "cut.fits"
    cut.write_bytes(src.read_bytes()[:-100])
    info = scan(cut)[1]
    out = tmp_path / "out.fits"
    fd, sfd = _fd(out), os.open(cut, os.O_RDONLY)
    try:
        f = HDUFile(fd, fits.Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True)]))
        f.append(HDUCopy(sfd, info, str(cut)))
        f.seal()
    finally:
        os.close(fd)
        os.close(sfd)
    with fits.open(out) as hdul:
        assert np.array_equal(hdul["IM"].data, np.ones((2, 3)))
    assert out.stat().st_size == 2880 + src.stat().st_size - 2880
