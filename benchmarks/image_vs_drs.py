#!/usr/bin/env python3
"""pixtab image (drizzle and nearest) against the pipeline's drizzled cube, collapsed.

On the README tutorial's table (three injected stars; or --table FILE with SRCn keywords):
pixtab images the band, muse_scipost_make_cube (resample=drizzle, pixfrac 0.8, 0.2" spaxels)
makes a cube of the same rows, whose planes are averaged over the band. For each image:
empty spaxels inside the field, and per star the flux in a 1" radius aperture and the
centroid (a 2-D Gaussian fit) against the injected position.

    python benchmarks/image_vs_drs.py [--lambda 6000:6100] [--workdir DIR]

Prints a Markdown table. Needs esorex with the MUSE recipes, and photutils.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from helpers import drs  # noqa: E402

STARS = [(150.1163, 2.2058, 0.8, 5000), (150.1171, 2.2055, 0.9, 1500), (150.1146, 2.2061, 0.7, 800)]


def pixtab(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pixtab", "-q", *args], check=True)


def measure(image: np.ndarray, wcs: WCS, stars: list[tuple[float, float]]) -> dict:
    import astropy.units as u
    from astropy.modeling import fitting, models
    from photutils.aperture import SkyCircularAperture, aperture_photometry

    inside = np.zeros(image.shape, bool)
    inside[2:-2, 2:-2] = True  # the field, less a 2-spaxel border (edges differ by construction)
    out = {"empty": int((~np.isfinite(image) & inside).sum()), "spaxels": int(inside.sum()), "stars": []}
    filled = np.where(np.isfinite(image), image, 0.0)
    for ra, dec in stars:
        c = SkyCoord(ra, dec, unit="deg")
        ap = SkyCircularAperture(c, r=1.0 * u.arcsec).to_pixel(wcs)
        flux = float(aperture_photometry(filled, ap)["aperture_sum"][0])
        x0, y0 = wcs.world_to_pixel(c)
        i0, j0 = int(round(float(y0))), int(round(float(x0)))
        cut = filled[i0 - 6 : i0 + 7, j0 - 6 : j0 + 7]
        yy, xx = np.mgrid[i0 - 6 : i0 + 7, j0 - 6 : j0 + 7]
        g = models.Gaussian2D(cut.max(), j0, i0, 2, 2) + models.Const2D(0)
        fit = fitting.LevMarLSQFitter()(g, xx, yy, cut)
        fc = wcs.pixel_to_world(fit.x_mean_0.value, fit.y_mean_0.value)
        out["stars"].append((flux, float(fc.separation(c).arcsec)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lambda", dest="band", default="6000:6100")
    ap.add_argument("--workdir", type=Path)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="image-vs-drs-"))
    work.mkdir(parents=True, exist_ok=True)
    table = work / "stars.fits"
    if not table.exists():
        src = [a for s in STARS for a in ("--source", *map(str, s))]
        pixtab("simulate", str(table), "--nrows", "4e6", "--ifus", "11-14", "--seeing-slope", "-0.2", *src)
    lo, hi = (float(v) for v in args.band.split(":"))
    cut = work / "band.fits"
    pixtab("extract", str(table), "-o", str(cut), "--lambda", f"{lo - 5}:{hi + 5}", "--overwrite")
    images = {}
    for kernel in ("drizzle", "nearest"):
        out = work / f"pixtab-{kernel}.fits"
        pixtab("image", str(table), "-o", str(out), "--lambda", args.band, "--kernel", kernel, "--overwrite")
        images[f"pixtab image --kernel {kernel}"] = (fits.getdata(out, "DATA"), WCS(fits.getheader(out, "DATA")))
    params = {"resample": "drizzle", "pixfrac": "0.8,0.8", "dx": "0.2", "dy": "0.2", "dlambda": "1.25",
              "lambdamin": str(lo), "lambdamax": str(hi), "crsigma": "0", "filter": "none"}
    cube = drs.make_cube(cut, work, params, fast=False, timeout=900)
    with fits.open(cube) as h:
        data, hdr = h["DATA"].data, h["DATA"].header
        w3 = WCS(hdr)
        lam = w3.spectral.pixel_to_world(np.arange(data.shape[0])).to_value("Angstrom")
        planes = (lam >= lo) & (lam < hi)
        with np.errstate(all="ignore"):
            collapsed = np.nanmean(data[planes], axis=0)
        images["DRS make_cube drizzle, mean over the band"] = (collapsed, w3.celestial)
    stars = [(s[0], s[1]) for s in STARS]
    print(f"| image ({args.band} A) | empty spaxels in the field | " + " | ".join(f"star {i + 1}: 1\" flux, centroid offset" for i in range(len(stars))) + " |")
    print("|---|---|" + "---|" * len(stars))
    for name, (img, w) in images.items():
        m = measure(img, w, stars)
        cells = " | ".join(f"{f:,.0f}, {d:.3f}\"" for f, d in m["stars"])
        print(f"| {name} | {m['empty']} of {m['spaxels']} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
