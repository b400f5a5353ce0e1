"""SAOImage DS9 opens pixtab's images as they are: the DATA extension with its celestial WCS
(MUSE's DATA/STAT convention), with no extension to name. Runs DS9 headless under Xvfb;
skipped when either is missing (.ci/run installs both)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from helpers.cli import invoke

pytestmark = pytest.mark.skipif(shutil.which("ds9") is None or shutil.which("xvfb-run") is None,
                                reason="SAOImage DS9 or xvfb-run is not installed (apt-get install saods9 xvfb xauth)")


def _ds9_loads(image: Path, saved: Path) -> fits.HDUList:
    """What DS9 shows when given ``image`` alone (saved back with -savefits)."""
    r = subprocess.run(["xvfb-run", "-a", "ds9", str(image), "-savefits", str(saved), "-exit"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and saved.exists(), r.stderr
    return fits.open(saved)


@pytest.mark.parametrize("kernel", ["drizzle", "nearest"])
def test_ds9_shows_the_data_extension_with_its_wcs(simulated, tmp_path: Path, kernel: str) -> None:
    src = simulated(rows=200_000, ifus=[12, 13], wcs="positioned", seed=3)
    out = tmp_path / "white.fits"
    invoke("image", src, "-o", out, "--kernel", kernel)
    with fits.open(out) as ours, _ds9_loads(out, tmp_path / "ds9.fits") as shown:
        assert np.array_equal(shown[0].data, ours["DATA"].data, equal_nan=True)
        theirs, mine = WCS(shown[0].header), WCS(ours["DATA"].header)
        assert theirs.celestial.wcs.ctype[0] == "RA---TAN"
        assert np.allclose(theirs.wcs.crval, mine.wcs.crval) and np.allclose(theirs.pixel_scale_matrix, mine.pixel_scale_matrix)
