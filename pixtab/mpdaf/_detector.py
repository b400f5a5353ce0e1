"""Origin decoding, sky positions and detector images of the facade (MPDAF's conventions).

Detector pixels are 0-based as in MPDAF. Detector x uses the XOFFSET keyword of
each row's own exposure, as the pipeline does (MPDAF reads EXP0 only and fails
on combined tables).
"""

from __future__ import annotations

from typing import Any

import astropy.units as u
import numpy as np
from astropy.io import fits

from ..core.format import keywords as kwmod

DEG2RAD = np.pi / 180
RAD2DEG = 180 / np.pi


class DetectorMixin:
    """MPDAF's origin2*, get_pos_sky and reconstruct_det_* (mixed into the facade's PixTable)."""

    def origin2ifu(self, origin: Any) -> Any:
        """IFU number of origin values."""
        return (origin >> 6) & 0x1F

    def origin2slice(self, origin: Any) -> Any:
        """CCD slice number of origin values."""
        return origin & 0x3F

    def origin2ypix(self, origin: Any) -> Any:
        """Detector y of origin values, 0-based (as MPDAF; the pipeline's y minus 1)."""
        return ((origin >> 11) & 0x1FFF) - 1

    def origin2xoffset(self, origin: Any, ifu: Any = None, sli: Any = None) -> Any:
        """The XOFFSET keyword of each origin value's exposure, IFU and slice.

        Which exposure: the table's only one; on a combined table, each row's own
        when ``origin`` is the whole column (``len(origin) == nrows``), else the
        offset common to every exposure (ValueError when they differ). A missing
        keyword raises KeyError naming it, as MPDAF.
        """
        col_ifu = ifu if ifu is not None else self.origin2ifu(origin)
        col_sli = sli if sli is not None else self.origin2slice(origin)
        raw = kwmod.parse(self.primary_header).xoffsets
        exps = sorted({k[0] for k in raw}) or [0]
        table = np.full((max(exps) + 1, 32, 64), -1, dtype=np.int64)
        for (e, i, s), v in raw.items():
            if 0 <= i < 32 and 0 <= s < 64 and isinstance(v, int) and not isinstance(v, bool):
                table[e, i, s] = v
        scalar = np.ndim(origin) == 0
        col_ifu, col_sli = np.atleast_1d(col_ifu).astype(np.int64), np.atleast_1d(col_sli).astype(np.int64)
        exp_col = self.get_exp()
        if exp_col is not None and len(exps) > 1 and not scalar and len(col_ifu) == self.nrows:
            exp = exp_col.astype(np.int64)
        elif len(exps) == 1:
            exp = np.full(col_ifu.shape, exps[0])
        else:
            offs = table[exps][:, col_ifu & 31, col_sli & 63]
            if np.any(offs != offs[0]):
                raise ValueError("these origin values may come from any exposure of this combined table, and the "
                                 "exposures' XOFFSETs differ: decode the whole column (get_origin()) instead")
            exp = np.full(col_ifu.shape, exps[0])
        off = table[np.clip(exp, 0, table.shape[0] - 1), col_ifu & 31, col_sli & 63]
        off[(exp < 0) | (exp >= table.shape[0])] = -1
        if off.size and off.min() < 0:
            k = int(np.argmax(off < 0))
            raise KeyError(kwmod.key(f"EXP{int(exp[k])} IFU{int(col_ifu[k]):02d} SLICE{int(col_sli[k]):02d} XOFFSET"))
        return off[0] if scalar else off

    def origin2xpix(self, origin: Any, ifu: Any = None, sli: Any = None) -> Any:
        """Detector x of origin values, 0-based (as MPDAF; the pipeline's x minus 1)."""
        return self.origin2xoffset(origin, ifu=ifu, sli=sli) + ((origin >> 24) & 0x7F) - 1

    def origin2coords(self, origin: Any) -> tuple[Any, Any, Any, Any]:
        """(ifu, slice, ypix, xpix) of origin values, pixels 0-based."""
        ifu, sli = self.origin2ifu(origin), self.origin2slice(origin)
        return ifu, sli, self.origin2ypix(origin), self.origin2xpix(origin, ifu=ifu, sli=sli)

    def get_pos_sky(self, xpos: Any = None, ypos: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Absolute (x, y) on the sky: (RA, Dec) in degrees, or pixels for a pixel table."""
        xpos = self.get_xpos() if xpos is None else xpos
        ypos = self.get_ypos() if ypos is None else ypos
        if self.projection == "projected":  # gnomonic: xpos = phi, ypos = theta - pi/2
            theta = ypos + np.pi / 2
            dp = self.yc * DEG2RAD
            ra = np.arctan2(np.cos(theta) * np.sin(xpos), np.sin(theta) * np.cos(dp) + np.cos(theta) * np.sin(dp) * np.cos(xpos))
            dec = np.arcsin(np.sin(theta) * np.sin(dp) - np.cos(theta) * np.cos(dp) * np.cos(xpos))
            return self.xc + ra * RAD2DEG, dec * RAD2DEG
        if self.wcs == u.rad:
            return self.xc + xpos * RAD2DEG, self.yc + ypos * RAD2DEG
        return self.xc + xpos, self.yc + ypos

    # -- detector images ---------------------------------------------------------------

    def _det_coords(self) -> tuple[np.ndarray, np.ndarray]:
        """0-based (ypix, xpix) of every row of a one-IFU, one-exposure table."""
        origin = self.get_origin()
        if np.unique(self.origin2ifu(origin)).size != 1:
            raise ValueError("Pixtable contains multiple IFU")
        exp = self.get_exp()
        if exp is not None and np.unique(exp).size > 1:
            raise ValueError("Pixtable contains multiple exposures: extract one (exp=...) first")
        _, _, ypix, xpix = self.origin2coords(origin)
        return ypix, xpix

    def reconstruct_det_image(self, xstart: Any = None, ystart: Any = None, xstop: Any = None, ystop: Any = None) -> Any:
        """The data of a one-IFU table on its detector pixels (NaN, masked, where no row).

        Inclusive 0-based bounds default to the rows' extent. An ``mpdaf.obj.Image``
        when MPDAF is importable, else a :class:`DetectorImage`.
        """
        if self.nrows == 0:
            return None
        ypix, xpix = self._det_coords()
        xstart = xpix.min() if xstart is None else xstart
        xstop = xpix.max() if xstop is None else xstop
        ystart = ypix.min() if ystart is None else ystart
        ystop = ypix.max() if ystop is None else ystop
        image = np.full((ystop - ystart + 1, xstop - xstart + 1), np.nan)
        image[ypix - ystart, xpix - xstart] = self.get_data()
        return _image(image, int(ystart), int(xstart), self.unit_data)

    def reconstruct_det_waveimage(self) -> Any:
        """The wavelengths of a one-IFU table on its detector pixels (0 where no row, as MPDAF)."""
        if self.nrows == 0:
            return None
        ypix, xpix = self._det_coords()
        ystart, xstart = ypix.min(), xpix.min()
        image = np.zeros((ypix.max() - ystart + 1, xpix.max() - xstart + 1))
        image[ypix - ystart, xpix - xstart] = self.get_lambda()
        return _image(image, int(ystart), int(xstart), self.wave)


class DetectorImage:
    """A detector image when MPDAF is not installed: ``data`` (masked array), ``shape``,
    ``unit`` and ``header`` (linear WCS: world = 0-based detector pixel)."""

    def __init__(self, data: np.ndarray, ystart: int, xstart: int, unit: u.UnitBase) -> None:
        self.data = np.ma.masked_invalid(data)
        self.shape = data.shape
        self.unit = unit
        self.header = fits.Header()
        for i, start in ((1, xstart), (2, ystart)):
            self.header[f"CRPIX{i}"] = 1.0
            self.header[f"CRVAL{i}"] = float(start)
            self.header[f"CDELT{i}"] = 1.0
            self.header[f"CTYPE{i}"] = "LINEAR"
            self.header[f"CUNIT{i}"] = "pix"
        self.header["BUNIT"] = unit.to_string("fits")

    def __repr__(self) -> str:
        return f"<DetectorImage({self.shape[0]} x {self.shape[1]}, {self.unit})>"


def _image(data: np.ndarray, ystart: int, xstart: int, unit: u.UnitBase) -> Any:
    try:
        if not hasattr(np, "NaN"):
            np.NaN = np.nan  # type: ignore[attr-defined]  # MPDAF 3.6 needs it to import under numpy 2
        from mpdaf.obj import WCS, Image
    except ImportError:
        return DetectorImage(data, ystart, xstart, unit)
    return Image(data=data, wcs=WCS(crval=(ystart, xstart)), unit=unit, copy=False)
