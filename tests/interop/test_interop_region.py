"""A region cube from many exposures: cut the region out of each with pixtab, combine the cuts
with the real pipeline's ``muse_exp_combine``, and find the injected source where it was put.

Marked ``interop``; skipped (and listed as skipped) when esorex is not installed.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from helpers import drs
from helpers.cli import invoke

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not drs.esorex_available(), reason=f"MUSE pipeline unavailable: {drs.unavailable_reason()}"),
]

SOURCE = (150.1170, 2.2052)  # deg, inside all three pointings
POINTINGS = [(150.1163, 2.2058), (150.1167, 2.2055), (150.1171, 2.2052)]  # offsets of a few arcsec
DATES = ["2023-03-14T05:12:08.118", "2023-03-14T05:28:48.118", "2023-03-14T05:45:28.118"]


def test_region_cube_from_cuts(tmp_path: Path) -> None:
    exposures = []
    for k, ((ra, dec), date) in enumerate(zip(POINTINGS, DATES)):
        path = tmp_path / f"PIXTABLE_REDUCED_{k:04d}.fits"
        invoke("simulate", path, "--nrows", "3e6", "--ifus", "9-16", "--wcs", "projected", "--seed", k, "--ra", repr(ra), "--dec", repr(dec), "--date-obs", date, "--source", *map(repr, SOURCE), "0.8", "500")
        exposures.append(path)
    region = tmp_path / "region"
    invoke("extract", *map(str, exposures), "--square", *map(repr, SOURCE), "3arcsec", "--output-dir", region)
    cuts = sorted(region.glob("*.fits"))
    assert len(cuts) == 3 and sum(c.stat().st_size for c in cuts) < sum(e.stat().st_size for e in exposures) / 20

    result = drs.run_recipe(
        "muse_exp_combine", [(c, "PIXTABLE_REDUCED") for c in cuts], tmp_path / "drs",
        {"resample": "nearest", "crsigma": "0", "dlambda": "50", "filter": "none"}, timeout=300,
    )
    result.check("DATACUBE_FINAL")
    cube = result.product("DATACUBE_FINAL")
    with fits.open(cube) as hdul:
        data, wcs = hdul["DATA"].data, WCS(hdul["DATA"].header).celestial
    image = np.nansum(data, axis=0)
    j, i = np.unravel_index(np.nanargmax(image), image.shape)
    box = image[j - 3 : j + 4, i - 3 : i + 4] - np.nanmedian(image)
    y, x = np.mgrid[j - 3 : j + 4, i - 3 : i + 4]
    ra, dec = wcs.pixel_to_world_values((box * x).sum() / box.sum(), (box * y).sum() / box.sum())
    spaxel = float(wcs.proj_plane_pixel_scales()[0].to_value("arcsec"))
    miss = math.hypot((ra - SOURCE[0]) * math.cos(math.radians(SOURCE[1])), dec - SOURCE[1]) * 3600
    assert miss < spaxel, f"source found {miss:.3f} arcsec from where it was injected (spaxel {spaxel:.2f})"
