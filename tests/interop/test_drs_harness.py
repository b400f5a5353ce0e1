"""Self-tests of the MUSE DRS harness in tests/helpers/drs.py (needs esorex + cpl-plugin-muse)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from helpers import drs

CONF = Path("/work/shared/conformance")
F = {
    "F1": CONF / "pt_projected_image.fits",
    "F2": CONF / "pt_projected_bintable.fits",
    "F3": CONF / "pt_positioned.fits",
    "F4": CONF / "pt_single_ifu.fits",
    "F5": CONF / "pt_combined_weighted.fits",
    "F6": CONF / "pt_pixel_units.fits",
    "F7": CONF / "pt_drs_combined_image.fits",
    "F8": CONF / "pt_drs_combined_bintable.fits",
}

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not drs.esorex_available(),
                       reason="MUSE pipeline unavailable: " + drs.unavailable_reason()),
    pytest.mark.skipif(not CONF.is_dir(), reason=f"conformance set {CONF} not present"),
]


def _broken_copy(src: Path, dst: Path, edit) -> Path:
    with fits.open(src) as h:
        h = fits.HDUList([x.copy() for x in h])
        edit(h)
        h.writeto(dst)
    return dst


def _xpos_float64(h):
    old = h["xpos"]
    new = fits.ImageHDU(old.data.astype(np.float64))
    new.header["EXTNAME"] = "xpos"      # not name="xpos": astropy upper-cases it
    new.header["BUNIT"] = old.header["BUNIT"]
    h[h.index_of("xpos")] = new


def _no_type(h):
    del h[0].header["ESO DRS MUSE PIXTABLE TYPE"]


# ---------------------------------------------------------------- acceptance
@pytest.mark.parametrize("key", ["F3", "F5", "F6", "F7", "F8"])
def test_make_cube_accepts(key, tmp_path):
    cube = drs.make_cube(F[key], tmp_path)
    with fits.open(cube) as h:
        assert h["DATA"].data.ndim == 3
        assert np.isfinite(h["DATA"].data).any()


@pytest.mark.parametrize("key", sorted(F))
def test_roundtrip_reads_every_column_unchanged(key, tmp_path):
    out = drs.roundtrip(F[key], tmp_path)
    a, b = drs.read_columns(F[key]), drs.read_columns(out)
    assert sorted(a) == sorted(b)
    for name in a:
        assert np.array_equal(a[name], b[name], equal_nan=True), name


def test_combine_as_table_reproduces_f8(tmp_path):
    out = drs.combine_pixtables([F["F7"]], tmp_path, as_table=True)
    with fits.open(out) as h:
        assert h[1].header["XTENSION"] == "BINTABLE"
    a, b = drs.read_columns(out), drs.read_columns(F["F8"])
    assert all(np.array_equal(a[k], b[k]) for k in b)


def test_projected_table_without_tan_wcs_is_refused_by_make_cube(tmp_path):
    # F1 has no CTYPE1/2: the DRS cannot position it (documented quirk)
    with pytest.raises(AssertionError, match="Data not found: CTYPE1"):
        drs.make_cube(F["F1"], tmp_path)


# ---------------------------------------------------------------- rejection
def test_make_cube_rejects_float64_column(tmp_path):
    bad = _broken_copy(F["F7"], tmp_path / "xpos_f64.fits", _xpos_float64)
    with pytest.raises(AssertionError, match=r'type "double" \(of column xpos\)'):
        drs.make_cube(bad, tmp_path)


def test_make_cube_rejects_missing_type_keyword(tmp_path):
    bad = _broken_copy(F["F7"], tmp_path / "no_type.fits", _no_type)
    with pytest.raises(AssertionError, match="unknown pixel table type"):
        drs.make_cube(bad, tmp_path)


def test_combine_rejects_float64_column_despite_exit_status_0(tmp_path):
    bad = _broken_copy(F["F7"], tmp_path / "xpos_f64.fits", _xpos_float64)
    res = drs.run_combine([bad], tmp_path)
    assert res.returncode == 0          # esorex does not report the failure...
    assert res.has_errors()             # ...but the log does
    with pytest.raises(AssertionError, match="Failed to load table part"):
        drs.combine_pixtables([bad], tmp_path)


def test_roundtrip_detects_silent_truncation(tmp_path):
    def short_data(h):
        d = h["data"]
        h[h.index_of("data")] = fits.ImageHDU(d.data[:-10], header=d.header)
    bad = _broken_copy(F["F7"], tmp_path / "short.fits", short_data)
    drs.make_cube(bad, tmp_path)        # the DRS itself does not notice
    with pytest.raises(AssertionError, match="output has 29525 rows"):
        drs.roundtrip(bad, tmp_path)
