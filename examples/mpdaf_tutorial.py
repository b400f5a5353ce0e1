"""MPDAF's PixTable tutorial (doc/pixtable.rst, MPDAF 3.6) as a script, on any pixel table.

Every step of the tutorial that touches the pixel table, in its order: open and
describe, extract 2" around a star at 6000-6100 Angstrom, the getters, the
flagged rows, origin decoding, one extract per IFU and its detector image, the
sky positions and the Gaussian fit on the rows. The tutorial's star comes from
an image peak; here it is given (RA, Dec in degrees).

    python examples/mpdaf_tutorial.py TABLE RA DEC [--mpdaf]

runs it with ``pixtab.mpdaf`` (or MPDAF's own ``PixTable`` with ``--mpdaf``) and
prints the numbers. ``run(PixTable, ...)`` returns them, so that a test can run
both implementations and compare every value (tests/e2e/test_mpdaf_tutorial.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np


def gauss2D(p: np.ndarray, arglist: list[np.ndarray]) -> np.ndarray:
    x, y, data = arglist
    peak, x0, y0, sigma = p
    return data - peak * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma**2))


def fitgauss(x: np.ndarray, y: np.ndarray, data: np.ndarray, peak: float, center: tuple[float, float], fwhm: float) -> Any:
    from scipy.optimize import leastsq

    p0 = np.array([peak, center[0], center[1], fwhm / 2.355])
    return leastsq(gauss2D, p0, args=[x, y, data])


def run(PixTable: Any, path: str, ra: float, dec: float, workdir: str) -> dict[str, Any]:
    """The tutorial's steps with ``PixTable`` (MPDAF's or pixtab's); every value it shows."""
    out: dict[str, Any] = {}
    pix = PixTable(path)                                                     # In [4]
    pix.info()                                                               # In [5]
    out["nrows"] = pix.nrows                                                 # In [6]
    star = os.path.join(workdir, "Star_pixtable.fits")
    objpix = pix.extract(filename=star, sky=(dec, ra, 2.0, "C"), lbda=(6000, 6100))  # In [13]
    out["objpix.nrows"] = objpix.nrows                                       # In [14]
    x, y = objpix.get_xpos(), objpix.get_ypos()                              # In [15-16]
    out["x"], out["y"] = x, y
    out["lambda"], out["stat"] = objpix.get_lambda(), objpix.get_stat()
    dq = objpix.get_dq()                                                     # In [19]
    out["dq"] = dq
    out["k = where(dq > 0)"] = np.where(dq > 0)[0]                           # In [20-21]
    origin = objpix.get_origin()                                             # In [23]
    ifu = objpix.origin2ifu(origin)                                          # In [24]
    out["unique(ifu)"] = np.unique(ifu)                                      # In [25]
    out["origin2coords"] = objpix.origin2coords(origin)
    out["get_row(0)"] = objpix.get_row(0)
    for n in np.unique(ifu):                                                 # In [32-43]
        one = pix.extract(filename=star, sky=(dec, ra, 2.0, "C"), lbda=(6000, 6100), ifu=int(n))
        out[f"ifu {n} nrows"] = one.nrows
        ima = one.reconstruct_det_image()
        out[f"ifu {n} image shape"] = ima.shape
        out[f"ifu {n} image"] = np.ma.filled(ima.data.astype(float), np.nan)
        wave = one.reconstruct_det_waveimage()
        out[f"ifu {n} waveimage"] = np.ma.filled(wave.data.astype(float), np.nan)
    data = objpix.get_data()                                                 # In [54-56]
    out["data"] = data
    res = fitgauss(y, x, data, data.max(), (0, 0), 0.7 / 3600.0)             # In [57-58]
    out["fit (relative)"] = res[0]
    ysky, xsky = objpix.get_pos_sky()                                        # In [60]
    out["get_pos_sky"] = (ysky, xsky)
    res = fitgauss(ysky, xsky, data, data.max(), (dec, ra), 0.7 / 3600.0)   # In [61-62]
    out["fit (sky)"] = res[0]
    return out


def _short(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    if isinstance(value, np.ndarray) and value.size > 6:
        return f"array{value.shape} {value.dtype} [{value.ravel()[0]} ... {value.ravel()[-1]}]"
    return str(value)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("table")
    ap.add_argument("ra", type=float)
    ap.add_argument("dec", type=float)
    ap.add_argument("--mpdaf", action="store_true", help="use MPDAF's own PixTable")
    args = ap.parse_args(argv)
    if args.mpdaf:
        np.NaN = np.nan  # type: ignore[attr-defined]  # MPDAF 3.6 imports need it under numpy 2
        from mpdaf.drs import PixTable
    else:
        from pixtab.mpdaf import PixTable
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        for key, value in run(PixTable, args.table, args.ra, args.dec, work).items():
            print(f"{key}: {_short(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
