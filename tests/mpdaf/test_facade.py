"""pixtab.mpdaf.PixTable beyond MPDAF's own tests: files, overlays, writes, combined tables."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from pixtab.mpdaf import PixTable

from conftest import conformance_file
from helpers import drs
from helpers.cli import invoke
from helpers.skyimages import sky_mask

RA, DEC = 150.1163, 2.2058


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("facade") / "t.fits"
    invoke("simulate", path, "--nrows", "2e5", "--ifus", "12,13", "--wcs", "projected", "--source", RA, DEC, "0.8", "5000")
    return path


def test_file_backed_columns_are_read_on_demand(table: Path) -> None:
    pix = PixTable(str(table))
    assert pix.xpos is None and pix.data is None  # nothing in memory
    data = pix.get_data()
    assert data.dtype == np.float64 and pix.get_dq().dtype == np.int32  # MPDAF's types
    rows = np.array([5, 199_999, 17, 100_000])
    np.testing.assert_array_equal(pix.get_data(rows), data[rows])
    mask = data > np.median(data)
    np.testing.assert_array_equal(pix.get_lambda(mask), pix.get_lambda()[mask])
    np.testing.assert_array_equal(pix.get_origin(np.where(mask)), pix.get_origin()[mask])
    assert pix.get_row(3)["origin"] == pix.get_origin()[3]
    assert pix.data is None  # still nothing kept
    assert repr(pix) == "<PixTable(200000 rows, 2 ifus, projected, sky-subtracted, flux-calibrated)>"


def test_extract_with_filename_writes_what_pixtab_extract_writes(table: Path, tmp_path: Path) -> None:
    pix = PixTable(str(table))
    sub = pix.extract(filename=str(tmp_path / "f.fits"), sky=(DEC, RA, 2.0, "C"), lbda=(6000, 6100))
    invoke("extract", table, "-o", tmp_path / "c.fits", "--circle", RA, DEC, "2", "--lambda", "6000:6100")
    assert (tmp_path / "f.fits").read_bytes() == (tmp_path / "c.fits").read_bytes()
    again = pix.extract(sky=(DEC, RA, 2.0, "C"), lbda=(6000, 6100))
    np.testing.assert_array_equal(sub.get_data(), again.get_data())
    assert pix.extract(lbda=(3000, 4000)) is None and pix.extract(method="or") is None
    assert pix.extract(lbda=(3000, 4000), filename=str(tmp_path / "none.fits")) is None
    assert not (tmp_path / "none.fits").exists()


def test_bare_pairs_scalars_and_unknown_method(table: Path) -> None:
    pix = PixTable(str(table))
    a = pix.extract(xpix=(1000, 1100), ypix=[(2000, 2100)], ifu=12)  # MPDAF 3.6: TypeError on the bare pair
    b = pix.extract(xpix=[(1000, 1100)], ypix=[(2000, 2100)], ifu=[12])
    np.testing.assert_array_equal(a.get_origin(), b.get_origin())
    assert pix.extract(ifu=12, exp=3).nrows == pix.extract(ifu=12).nrows  # exp ignored on one exposure, as MPDAF
    with pytest.raises(ValueError, match="method"):
        pix.extract(ifu=12, method="xor")
    with pytest.raises(ValueError, match="Unknown shape"):
        pix.extract(sky=(DEC, RA, 2.0, "X"))


def test_set_overlay_and_write_round_trip(table: Path, tmp_path: Path) -> None:
    pix = PixTable(str(table))
    sub = pix.extract(ifu=13, lbda=(6000, 7000))
    sub.set_data(0.0, ksel=np.where(sub.get_dq() != 0))
    sub.set_lambda(sub.get_lambda() + 1)
    for ima in (True, False):
        out = tmp_path / f"w{ima}.fits"
        sub.write(str(out), save_as_ima=ima)
        with fits.open(out) as hdul:
            assert hdul[1].header["XTENSION"] == ("IMAGE" if ima else "BINTABLE")  # never an ASCII TABLE
        back = PixTable(str(out))
        for name in ("xpos", "ypos", "lambda", "data", "dq", "stat", "origin"):
            np.testing.assert_array_equal(back.get_column(name), sub.get_column(name).astype(back.get_column(name).dtype))
        lam = back.get_lambda()
        assert back.get_keyword("LIMITS LAMBDA LOW") == pytest.approx(lam.min())
        assert back.get_keyword("LIMITS IFU LOW") == 13 == back.get_keyword("LIMITS IFU HIGH")
        if ima:  # the input's unit strings, verbatim
            flux = "10**(-20)*erg/s/cm**2/Angstrom"
            units = [fits.getheader(out, i).get("BUNIT") for i in (1, 3, 4, 6)]
            assert units == ["rad", "Angstrom", flux, f"({flux})**2"]


def test_in_memory_tables_get_the_pipelines_unit_strings(tmp_path: Path) -> None:
    import astropy.units as u

    n = 10
    origin = (30 << 24) | (100 << 11) | (3 << 6) | 7
    hdr = fits.Header({"HIERARCH ESO DRS MUSE PIXTABLE TYPE": "GEOFULL"})
    pix = PixTable(None, np.zeros(n), np.zeros(n), np.linspace(5000, 6000, n), np.ones(n), np.zeros(n, int),
                   np.ones(n), np.full(n, origin), primary_header=hdr, unit_data=u.count)
    pix.write(str(tmp_path / "m.fits"))
    units = [fits.getheader(tmp_path / "m.fits", i).get("BUNIT") for i in (1, 3, 4, 6)]
    assert units == ["pix", "Angstrom", "count", "count**2"]  # MPDAF writes 'ct' and 'ct2'



def test_write_of_a_file_backed_table_streams_and_keeps_extensions(tmp_path: Path) -> None:
    src = tmp_path / "ff.fits"
    invoke("simulate", src, "--nrows", "5e4", "--ifus", "3", "--flat-field")
    pix = PixTable(str(src))
    pix.set_stat(pix.get_stat() * 4)
    pix.write(str(tmp_path / "out.fits"))
    with fits.open(tmp_path / "out.fits") as hdul:
        assert "PIXTABLE_FLAT_FIELD" in [h.name for h in hdul]
    np.testing.assert_array_equal(PixTable(str(tmp_path / "out.fits")).get_stat(), pix.get_stat().astype(np.float32))


@pytest.mark.interop
@pytest.mark.skipif(not drs.esorex_available(), reason=f"MUSE pipeline unavailable: {drs.unavailable_reason()}")
def test_written_tables_load_in_the_pipeline(table: Path, tmp_path: Path) -> None:
    sub = PixTable(str(table)).extract(ifu=12, lbda=(6000, 6500))
    sub.set_data(sub.get_data() * 2)
    for ima in (True, False):
        out = tmp_path / f"w{ima}.fits"
        sub.write(str(out), save_as_ima=ima)
        back = drs.read_columns(drs.roundtrip(out, tmp_path, as_table=not ima))
        np.testing.assert_array_equal(back["data"], sub.get_data().astype(np.float32))


def test_combined_tables_decode_x_per_exposure(tmp_path: Path) -> None:
    pix = PixTable(str(conformance_file("F7")))  # written by the DRS: EXP1..3 offsets, no EXP0
    origin = pix.get_origin()
    x = pix.origin2xpix(origin)  # MPDAF 3.6: KeyError on EXP0
    sub = pix.extract(exp=2, ifu=5)
    np.testing.assert_array_equal(sub.origin2xpix(sub.get_origin()), x[(pix.get_exp() == 2) & (pix.origin2ifu(origin) == 5)])
    assert sub.get_keyword("EXP2 FIRST") == 0  # exposure numbers kept, FIRST/LAST shifted
    np.testing.assert_array_equal(np.unique(sub.get_exp()), [2])
    with pytest.raises(ValueError, match="multiple exposures"):
        pix.extract(ifu=5).reconstruct_det_image()
    with pytest.raises(ValueError, match="XOFFSET"):
        pix.origin2xpix(origin[:10])  # which exposure? the offsets differ between them


def test_mask_column(table: Path, tmp_path: Path) -> None:
    from pixtab.mpdaf import PixTableMask

    mask = sky_mask(tmp_path / "mask.fits")
    pix = PixTable(str(table))
    m = pix.mask_column(str(mask))
    assert m.maskcol.dtype == bool and m.maskcol.shape == (pix.nrows,) and 0 < m.maskcol.sum() < pix.nrows
    mem = pix.extract(ifu=[12, 13])  # an in-memory copy: same answer
    np.testing.assert_array_equal(mem.mask_column(str(mask)).maskcol, m.maskcol)
    assert mem.filename is None
    m.write(str(tmp_path / "m.fits"))
    back = PixTableMask(str(tmp_path / "m.fits"))
    np.testing.assert_array_equal(back.maskcol, m.maskcol)
    assert (back.maskfile, back.pixtable) == ("mask.fits", "t.fits")
    sub = pix.extract_from_mask(m.maskcol)
    assert sub.nrows == m.maskcol.sum()
    try:
        if not hasattr(np, "NaN"):
            np.NaN = np.nan  # type: ignore[attr-defined]
        from mpdaf.drs import PixTable as MpdafPixTable
    except ImportError:
        return
    np.testing.assert_array_equal(MpdafPixTable(str(table)).mask_column(str(mask)).maskcol, m.maskcol)


def test_detector_image_without_mpdaf(table: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mpdaf", None)
    monkeypatch.setitem(sys.modules, "mpdaf.obj", None)
    sub = PixTable(str(table)).extract(ifu=12, lbda=(6000, 6100), sky=(DEC, RA, 2.0, "C"))
    im = sub.reconstruct_det_image()
    assert type(im).__name__ == "DetectorImage"
    assert isinstance(im.data, np.ma.MaskedArray) and im.data.shape == im.shape
    assert im.data.count() == len(np.unique(sub.get_origin()))
    _, _, y, x = sub.origin2coords(sub.get_origin())
    assert (im.header["CRVAL1"], im.header["CRVAL2"]) == (x.min(), y.min())


def test_info_logs_like_mpdaf(table: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="pixtab.mpdaf"):
        PixTable(str(table)).info()
    assert "2 merged IFUs went into this pixel table" in caplog.text


def test_file_objects_and_foreign_files(tmp_path: Path) -> None:
    src = conformance_file("F6")
    with open(src, "rb") as f:
        pix = PixTable(f)
        assert pix.nrows == 73765
        np.testing.assert_array_equal(pix.get_origin()[:5], PixTable(str(src)).get_origin()[:5])
