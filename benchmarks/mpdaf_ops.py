"""MPDAF 3.6 doing what pixtab's benchmarked commands do (run by benchmarks/run.py).

Usage: python mpdaf_ops.py OPERATION INPUT OUTPUT [ARGS...]

Each operation is what a user would write with ``mpdaf.drs.PixTable``.
MPDAF 3.6 uses ``np.NaN``, removed in numpy 2; we define it so that
reconstruction can be timed at all (the conformance README does the same).
"""

from __future__ import annotations

import sys

import numpy as np

if not hasattr(np, "NaN"):
    np.NaN = np.nan  # type: ignore[attr-defined]

from mpdaf.drs import PixTable  # noqa: E402

RA, DEC = 150.1163, 2.2058


def info(src: str, out: str) -> None:
    pt = PixTable(src)
    print(pt.nrows, pt.wcs)


def extract_star(src: str, out: str) -> None:
    pt = PixTable(src)
    sub = pt.extract(sky=(DEC, RA, 2.0, "C"), lbda=(6000.0, 6100.0))
    sub.write(out)


def extract_ifu(src: str, out: str) -> None:
    PixTable(src).extract(ifu=5).write(out)


def decode_origin(src: str, out: str) -> None:
    from astropy.table import Table

    pt = PixTable(src)
    origin = pt.get_origin()
    Table(
        {
            "ifu": pt.origin2ifu(origin),
            "slice": pt.origin2slice(origin),
            "xpix": pt.origin2xpix(origin),
            "ypix": pt.origin2ypix(origin),
        }
    ).write(out)


def reconstruct_ifu(src: str, out: str) -> None:
    PixTable(src).extract(ifu=5).reconstruct_det_image().write(out)


def reconstruct_all(src: str, out: str) -> None:
    from astropy.io import fits

    pt = PixTable(src)
    hdus = [fits.PrimaryHDU()]
    for ifu in np.unique(pt.origin2ifu(pt.get_origin())):
        im = pt.extract(ifu=int(ifu)).reconstruct_det_image()
        hdus.append(fits.ImageHDU(np.asarray(im.data.filled(np.nan), dtype=np.float32), name=f"CHAN{ifu:02d}"))
    fits.HDUList(hdus).writeto(out)


def to_table(src: str, out: str) -> None:
    PixTable(src).write(out, save_as_ima=False)


def to_image(src: str, out: str) -> None:
    PixTable(src).write(out, save_as_ima=True)


def _sky_image(pt: PixTable, lbda: tuple[float, float] | None) -> None:
    """MPDAF's own reconstruct_sky_image where it exists, else what a user writes."""
    if hasattr(pt, "reconstruct_sky_image"):
        pt.reconstruct_sky_image(lbda=lbda, step=(0.2, 0.2))
        return
    sub = pt.extract(lbda=lbda) if lbda else pt
    ra, dec = sub.get_pos_sky()  # (x, y) on the sky in degrees
    good = sub.get_dq() == 0
    step = 0.2 / 3600
    np.histogram2d(dec[good], ra[good], bins=(np.arange(dec.min(), dec.max() + step, step),
                   np.arange(ra.min(), ra.max() + step, step)), weights=sub.get_data()[good])


def sky_image(src: str, out: str) -> None:
    _sky_image(PixTable(src), None)


def sky_image_band(src: str, out: str) -> None:
    _sky_image(PixTable(src), (6000.0, 6100.0))


OPS = {
    f.__name__: f
    for f in (info, extract_star, extract_ifu, decode_origin, reconstruct_ifu, reconstruct_all, to_table, to_image, sky_image,
              sky_image_band)
}

if __name__ == "__main__":
    OPS[sys.argv[1]](sys.argv[2], sys.argv[3])
