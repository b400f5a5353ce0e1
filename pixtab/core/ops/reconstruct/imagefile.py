"""The output of reconstruct-det: a header-only primary HDU, then one IMAGE HDU per IFU
(EXTNAME ``CHANnn``), laid out up front in an :class:`~pixtab.core.fits.hdu.HDUFile`.

Each image's size is known from the plan, so every HDU's offset is known before
any pixel is written, and images are written in any order as they are
finished. Headers are written again with the final ``NFILLED``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ...fits.cards import copy_cards, printable
from ...fits.hdu import HDUFile, image_header
from ...fits.header import Header
from ...io.table import PixTable
from .canvas import filled
from .request import DetectorImage, Request

#: identity keywords copied from the table's primary header to the output's
_COPIED_KEYWORDS = ("OBJECT", "TELESCOP", "INSTRUME", "DATE-OBS", "MJD-OBS", "EXPTIME", "RA", "DEC")
_WRITE_BYTES = 1 << 20  # image bytes written at a time


def image_cards(im: DetectorImage, req: Request, unit: str | None) -> Header:
    """Cards of one image HDU: linear WCS whose world coordinates are detector pixels."""
    h = Header()
    h["EXTNAME"] = (f"CHAN{im.ifu:02d}", "IFU number, as raw MUSE files name it")
    if unit is not None:
        h["BUNIT"] = (unit, f"unit of the {req.column} column")
    for axis, start in ((1, im.xstart), (2, im.ystart)):
        h[f"CTYPE{axis}"] = "LINEAR"
        h[f"CUNIT{axis}"] = "pix"
        h[f"CRPIX{axis}"] = 1.0
        h[f"CRVAL{axis}"] = (float(start), f"detector {'xy'[axis - 1]} of the first pixel")
        h[f"CDELT{axis}"] = 1.0
    h["PIXBASE"] = (req.base, "first detector pixel (1: DRS, FITS; 0: MPDAF)")
    h["IFU"] = (im.ifu, "IFU of the rows")
    h["EXPOSURE"] = (",".join(map(str, im.exposures)), "exposure number(s) of the rows (0: single)")
    h["COLUMN"] = (req.column, "pixel-table column imaged")
    h["FILL"] = (req.fill, "value of pixels without a row")
    h["NROWS"] = (im.nrows, "table rows written into this image")
    h["NFILLED"] = (im.npix, "pixels holding a value other than the fill")
    return h


class ImageFile:
    """The output, laid out for ``layout`` (the images' metadata in file order: ``npix``
    may change later, nothing that sizes a header may), images of ``dtype``."""

    def __init__(
        self, fd: int, req: Request, unit: str | None, source: PixTable, layout: Sequence[DetectorImage], dtype: np.dtype
    ) -> None:
        self.req, self.unit, self.dtype = req, unit, np.dtype(dtype)
        primary = Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True)])
        copy_cards(source.primary_header, primary, _COPIED_KEYWORDS)
        primary["PIXTABLE"] = (printable(os.path.basename(source.path)), "source pixel table")
        primary["PIXBASE"] = (req.base, "first detector pixel (1: DRS, FITS; 0: MPDAF)")
        self.file = HDUFile(fd, primary)
        self.slots: dict[int, tuple[int, int]] = {}  # ifu -> (header offset, header bytes)
        for im in layout:
            header = self._header(im)
            offset = self.file.size
            self.file.reserve(header, im.shape[0] * im.shape[1] * self.dtype.itemsize)
            self.slots[im.ifu] = (offset, len(header))
        self.file.seal()

    def _header(self, im: DetectorImage) -> bytes:
        return image_header(im.shape, self.dtype, image_cards(im, self.req, self.unit))

    def write(self, im: DetectorImage, pixels: np.ndarray) -> int:
        """Write one image at its slot and return its ``npix``.

        ``pixels`` are byte-swapped to big-endian in place (they are not needed
        afterwards) and ``npix`` counted on the way.
        """
        offset, size = self.slots[im.ifu]
        pos = offset + size
        rows = max(1, _WRITE_BYTES // max(1, pixels.strides[0]))
        big = pixels.dtype.newbyteorder(">")
        fill = np.nan if self.req.fill == "nan" else 0
        npix = 0
        for a in range(0, pixels.shape[0], rows):
            block = pixels[a : a + rows]
            npix += filled(block, fill)
            if big != block.dtype:
                block.byteswap(inplace=True)
            self.file.write_at(block, pos + a * pixels.strides[0])
        final = DetectorImage(im.ifu, im.exposures, im.xstart, im.ystart, im.shape, im.nrows, npix)
        self.file.rewrite(offset, self._header(final), size, f"CHAN{im.ifu:02d} header")
        return npix
