"""Core pieces of the mask criteria: streamed medians against numpy, row sets, the PixTableMask
file, sky masks and shapes (no CLI)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from hypothesis import given, settings
from hypothesis import strategies as st

from pixtab.core.errors import CriteriaError, InputError
from pixtab.core.format import pixmask
from pixtab.core.format.rowset import RowSet
from pixtab.core.format.skymask import SkyMask, split_ext
from pixtab.core.format.skyshapes import Discs, Outside
from pixtab.core.ops.sky.binstats import keyed_stats


def _passes(keys: np.ndarray, values: np.ndarray, chunk: int):  # type: ignore[no-untyped-def]
    return lambda: ((keys[a : a + chunk], values[a : a + chunk]) for a in range(0, keys.size, chunk))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(-1e4, 1e4), st.floats(1e-3, 1e3), st.integers(1, 8))
def test_keyed_median_matches_numpy_within_a_bin(seed: int, ratio: float, sigma: float, nkeys: int) -> None:
    """Levels up to 1e4 spreads (float32 data hold 7 digits), outliers on one side."""
    rng = np.random.default_rng(seed)
    level = ratio * sigma
    keys = rng.integers(-3, -3 + nkeys, 5000)
    values = level + sigma * rng.standard_normal(keys.size) * (1 + (keys + 3))
    values[rng.random(keys.size) < 0.05] += 1e3 * sigma  # outliers (sources) on one side
    s = keyed_stats(_passes(keys, values, 777))
    for k, n, med, spread in zip(s.keys, s.n, s.median, s.spread):
        v = values[keys == k]
        assert n == v.size
        if n:
            lo, hi = np.percentile(v, [15.865525393145707, 84.13447460685429])
            assert abs(med - np.median(v)) <= 0.05 * max(spread, 1e-12) + 1e-9 * abs(level)
            assert abs(spread - (hi - lo) / 2) <= 0.05 * spread + 1e-9 * abs(level)
    assert s.fallbacks == 0


def test_rowset_ranges_and_lists(tmp_path) -> None:
    r = RowSet.parse("10:20")
    assert r.is_range and r.spans(15) == [(10, 15)] and list(np.flatnonzero(r.test(0, 30))) == list(range(10, 20))
    assert RowSet.parse(":5").spans(100) == [(0, 5)] and RowSet.parse("95:").spans(100) == [(95, 100)]
    with pytest.raises(CriteriaError):
        RowSet.parse("5:5")
    np.save(tmp_path / "i.npy", np.array([9, 3, 4, 5, 3]))
    s = RowSet.parse(str(tmp_path / "i.npy"))
    assert s.spans(10) == [(3, 6), (9, 10)] and list(np.flatnonzero(s.test(4, 10))) == [0, 1, 5]
    assert list(s.test(0, 10, np.array([3, 9, 7]))) == [True, True, False]
    s.check(10, "t.fits")
    with pytest.raises(InputError, match="outside"):
        s.check(9, "t.fits")
    np.save(tmp_path / "neg.npy", np.array([-1]))
    with pytest.raises(InputError, match="negative"):
        RowSet.parse(str(tmp_path / "neg.npy"))
    (tmp_path / "bad.txt").write_text("1 2 x\n")
    with pytest.raises(InputError, match="line 1"):
        RowSet.parse(str(tmp_path / "bad.txt"))


def test_pixtablemask_round_trip(tmp_path) -> None:
    flags = np.random.default_rng(0).random(7001) < 0.3
    path = tmp_path / "m.fits"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        n = pixmask.write_mask(fd, flags.size, [flags[:3000], flags[3000:]], "/d/table.fits", "/d/sky.fits")
    finally:
        os.close(fd)
    assert n == flags.sum() and path.stat().st_size % 2880 == 0
    with fits.open(path) as h:
        h.verify("exception")
        assert h[0].header["PIXTABLE"] == "table.fits" and h[0].header["MASK"] == "sky.fits"
        assert h["MASKCOL"].data.shape == (7001, 1)
    info, values = pixmask.open_mask(str(path))
    assert info.nrows == 7001 and np.array_equal(values != 0, flags) and pixmask.is_mask_file(str(path))
    s = RowSet.parse(str(path))
    assert np.array_equal(s.test(100, 200), flags[100:200])


def test_sky_mask_lookup_and_shapes(tmp_path) -> None:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [10.0, -30.0]
    w.wcs.crpix = [3.0, 2.0]
    w.wcs.cdelt = [-1 / 3600, 1 / 3600]
    data = np.zeros((3, 5), dtype=np.float32)
    data[1, 2] = 1.0  # the reference pixel (0-based column 2, row 1)
    data[0, 0] = np.nan
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, w.to_header(), name="M")]).writeto(tmp_path / "m.fits")
    assert split_ext("a.fits[M]") == ("a.fits", "M") and split_ext("a.fits[2]") == ("a.fits", 2)
    m = SkyMask(str(tmp_path / "m.fits") + "[M]")
    ra, dec = w.wcs_pix2world(np.array([2.0, 2.49, 2.51, 0.0, 10.0]), np.array([1.0, 1.0, 1.0, 0.0, 1.0]), 0)
    assert list(m.contains(ra, dec)) == [True, True, False, False, False]
    inv = SkyMask(str(tmp_path / "m.fits"), invert=True)
    assert list(inv.contains(ra, dec)) == [False, False, True, True, False]  # off the image: neither
    box = m.box()
    assert box.dec_lo < -30.0 < box.dec_hi and box.ra_half < 0.01
    d = Discs([(10.0, -30.0)], 2.0)
    assert list(d.contains(np.array([10.0, 10.0 + 1.9 / 3600 / np.cos(np.radians(30))]), np.array([-30.0, -30.0]))) == [True, True]
    assert list(Outside([d, m]).contains(np.array([10.0, 11.0, np.nan]), np.array([-30.0, -30.0, 0.0]))) == [False, True, False]
