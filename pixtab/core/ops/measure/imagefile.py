"""The sky image's FITS file, in MUSE's product layout, written without astropy.

An empty primary HDU (provenance), DATA (float32 values), STAT (variance) if made,
NROWS (int32 rows per spaxel); the extensions carry the WCS, the primary does not.
The bytes are those astropy's ``HDUList.writeto`` gives for the same HDUs (cards in
astropy's order, with its comments on the structural keywords), so MPDAF's
``Image(path)`` and DS9 open the file as it is; ``import astropy.io.fits`` (0.2-0.4 s)
is left to the API's :func:`to_hdulist` and the pictures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...fits.dtypes import bitpix_of
from ...fits.hdu import HDUFile
from ...fits.header import Header
from ...fits.structure import header_bytes

if TYPE_CHECKING:
    from .image import SkyImage

_WCS = ("WCSAXES", "CTYPE", "CUNIT", "CRVAL", "CRPIX", "CD1_", "CD2_")


def _is_wcs(keyword: str) -> bool:
    return keyword.startswith(_WCS)


def _extensions(im: SkyImage) -> list[tuple[str, np.ndarray, str | None, str | None]]:
    """(EXTNAME, pixels, BUNIT, BUNIT comment) of each extension, in file order."""
    out: list[tuple[str, np.ndarray, str | None, str | None]] = [("DATA", im.image.astype(np.float32), im.unit, None)]
    if im.variance is not None:
        out.append(("STAT", im.variance.astype(np.float32), f"({im.unit})**2" if im.unit else None, None))
    out.append(("NROWS", im.nrows.astype(np.int32), "", "rows per spaxel"))
    return out


def _primary(im: SkyImage) -> Header:
    h = Header([("SIMPLE", True, "conforms to FITS standard"), ("BITPIX", 8, "array data type"),
                ("NAXIS", 0, "number of array dimensions"), ("EXTEND", True)])
    h.extend(c for c in im.header.cards if not _is_wcs(c.keyword))
    return h


def _extension_header(im: SkyImage, name: str, pixels: np.ndarray, unit: str | None, comment: str | None) -> Header:
    h = Header([("XTENSION", "IMAGE", "Image extension"), ("BITPIX", bitpix_of(pixels.dtype), "array data type"),
                ("NAXIS", pixels.ndim, "number of array dimensions")])
    for i, n in enumerate(reversed(pixels.shape), 1):
        h[f"NAXIS{i}"] = n
    h["PCOUNT"] = (0, "number of parameters")
    h["GCOUNT"] = (1, "number of groups")
    h.extend(im.header.copy().cards)
    h["EXTNAME"] = (name, "extension name")
    if unit is not None:
        h["BUNIT"] = (unit, comment) if comment else unit
    return h


def write_image(im: SkyImage, fd: int) -> None:
    """Write the image file to the open file ``fd`` (positional writes from offset 0)."""
    out = HDUFile(fd, _primary(im))
    for name, pixels, unit, comment in _extensions(im):
        big = pixels.astype(pixels.dtype.newbyteorder(">"))
        offset = out.reserve(header_bytes(_extension_header(im, name, pixels, unit, comment)), big.nbytes)
        out.write_at(big, offset)
    out.seal()


def to_hdulist(im: SkyImage) -> Any:
    """The same file as an ``astropy.io.fits.HDUList`` (for the Python API)."""
    from astropy.io import fits

    hdus: list[Any] = [fits.PrimaryHDU(header=_primary(im).to_astropy())]
    for name, pixels, unit, comment in _extensions(im):
        hdus.append(fits.ImageHDU(pixels, header=_extension_header(im, name, pixels, unit, comment).to_astropy()))
    return fits.HDUList(hdus)
