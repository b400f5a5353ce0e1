"""Core reader, writer and atomic output, without the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import given, settings
from hypothesis import strategies as st

from pixtab.core.io.table import PixTable as CoreTable  # the core's table (pixtab.open gives the API's)
from pixtab.core.format import origin as org
from pixtab.core.fits.atomic import atomic_output, check_output
from pixtab.core.format.exposures import ExposureMap
from pixtab.core.errors import InputError, OutputError
from pixtab.core.format.keywords import Exposure, check_exposures
from pixtab.core.fits.structure import scan
from pixtab.core.io.writer import ColumnSpec, PixtableWriter

from conftest import conformance_path, conformance_tables

ALL_FILES = conformance_tables()


def _astropy_column(path: Path, name: str) -> np.ndarray:
    with fits.open(path) as hdul:
        if hdul[1].header["XTENSION"] == "IMAGE":
            hdu = next(h for h in hdul[1:] if h.name.lower() == name)
            return np.array(hdu.data).reshape(-1)
        return np.array(hdul[1].data[name])


@pytest.mark.conformance
@pytest.mark.parametrize("path", ALL_FILES, ids=[p.name for p in ALL_FILES])
def test_reader_matches_astropy_bit_for_bit(path: Path) -> None:
    with CoreTable(path) as pt:
        data = pt.read(None)
        for name, values in data.items():
            ref = _astropy_column(path, name).astype(values.dtype)
            assert values.dtype.isnative
            assert values.tobytes() == ref.tobytes(), name


def test_partial_range_and_column_name_case() -> None:
    with CoreTable(conformance_path("pt_projected_image.fits")) as pt:
        part = pt.read(["LAMBDA"], 100, 250)["lambda"]
        assert np.array_equal(part, pt.read(["lambda"])["lambda"][100:250])
        with pytest.raises(InputError, match="no column 'nope'"):
            pt.read(["nope"])


def test_keywords_of_a_drs_combined_table() -> None:
    with CoreTable(conformance_path("pt_drs_combined_image.fits")) as pt:
        k = pt.keywords
        assert k.exposures == [Exposure(1, 0, 11078), Exposure(2, 11079, 22142), Exposure(3, 22143, 29534)]
        assert k.combined == 3 and k.merged == 2 and k.weighted and k.fluxcal and k.skysub
        assert {e for e, _, _ in k.xoffsets} == {1, 2, 3}
        assert pt.wcs == "positioned" and pt.centre == (189.2281, 62.238)
        assert pt.flat_field is None and pt.has_weight


def test_check_exposures_rejects_gaps_and_overlaps() -> None:
    check_exposures([Exposure(1, 0, 9), Exposure(2, 10, 9), Exposure(3, 10, 19)], 20, "t")
    with pytest.raises(InputError, match="overlaps"):
        check_exposures([Exposure(1, 0, 9), Exposure(2, 5, 19)], 20, "t")
    with pytest.raises(InputError, match="gap"):
        check_exposures([Exposure(1, 0, 9), Exposure(2, 12, 19)], 20, "t")
    with pytest.raises(InputError, match="table has 21 rows"):
        check_exposures([Exposure(1, 0, 9), Exposure(2, 10, 19)], 21, "t")


def test_exposure_of_rows_follows_first_last() -> None:
    exps = [Exposure(1, 0, 2), Exposure(2, 3, 2), Exposure(3, 3, 5)]
    assert ExposureMap(exps, 6).of_rows(0, 6).tolist() == [1, 1, 1, 3, 3, 3]
    assert ExposureMap(exps, 6).of_rows(2, 4).tolist() == [1, 3]
    assert ExposureMap([], 3).of_rows(0, 3).tolist() == [0, 0, 0]


def test_origin_test_vectors_from_the_format_doc() -> None:
    assert int(org.encode(120 - 100, 200, 1, 1)) == 335953985
    assert org.decode_value(0x4A008848) == {"xslice": 74, "y": 17, "ifu": 1, "slice": 8}
    assert org.decode_value(1350600240) == {"xslice": 80, "y": 4112, "ifu": 24, "slice": 48}


def test_ascii_table_layout_is_read(tmp_path: Path) -> None:
    """MPDAF's save_as_ima=False writes an ASCII TABLE; it must be readable."""
    src = conformance_path("pt_single_ifu.fits")
    with CoreTable(src) as pt:
        data = pt.read(None, 0, 500)
        header = pt.primary_header.to_astropy()
        units = {c.name: c.unit for c in pt.columns.values()}
    cols = [
        fits.Column(name, "I11" if arr.dtype.kind == "i" else "E15.7", unit=units[name], array=arr)
        for name, arr in data.items()
    ]
    path = tmp_path / "ascii.fits"
    fits.HDUList([fits.PrimaryHDU(header=header), fits.TableHDU.from_columns(cols)]).writeto(path)
    with CoreTable(path) as pt:
        assert pt.layout == "ascii-table" and pt.nrows == 500
        back = pt.read(None)
        assert back["origin"].dtype == np.int64 and np.array_equal(back["origin"], data["origin"])
        assert back["lambda"].dtype == np.float64
        assert np.allclose(back["lambda"], data["lambda"], rtol=1e-6)


def _write(path: Path, arrays: dict[str, np.ndarray], layout: str, header: fits.Header | None = None) -> None:
    header = header or fits.Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True)])
    specs = [ColumnSpec(n, a.dtype, None if a.dtype.kind == "i" else "u**2") for n, a in arrays.items()]
    n = len(next(iter(arrays.values())))
    with atomic_output(path) as fd:
        w = PixtableWriter(fd, header, specs, n, layout)
        step = max(1, n // 3)
        for a in range(0, n, step):
            w.write({k: v[a : a + step] for k, v in arrays.items()})
        w.finish(header)


float32_bits = st.integers(0, 2**32 - 1).map(lambda v: np.uint32(v).view(np.float32))


@settings(max_examples=40, deadline=None)
@given(
    xs=st.lists(st.tuples(float32_bits, st.integers(-(2**31), 2**31 - 1)), min_size=1, max_size=300),
    layout=st.sampled_from(["image", "table"]),
)
def test_writer_round_trip_is_bit_exact(tmp_path_factory: pytest.TempPathFactory, xs: list, layout: str) -> None:
    arrays = {
        "fcol": np.array([x for x, _ in xs], dtype=np.float32),
        "icol": np.array([i for _, i in xs], dtype=np.int32),
    }
    path = tmp_path_factory.mktemp("rt") / "t.fits"
    _write(path, arrays, layout)
    with fits.open(path) as hdul:  # astropy agrees on structure and values
        hdul.verify("exception")
    hdus = scan(path)  # no TYPE keyword: not a pixtable, so check the structure directly
    assert hdus[-1].end_offset == os.path.getsize(path)
    ref_f = _astropy_column(path, "fcol")
    assert ref_f.astype(np.float32).tobytes() == arrays["fcol"].tobytes()
    assert _astropy_column(path, "icol").astype(np.int32).tobytes() == arrays["icol"].tobytes()


def test_writer_keeps_unit_strings_and_lowercase_extnames(tmp_path: Path) -> None:
    path = tmp_path / "u.fits"
    _write(path, {"stat": np.ones(3, np.float32), "dq": np.zeros(3, np.int32)}, "image")
    with fits.open(path) as hdul:
        assert hdul[1].header["EXTNAME"] == "stat" and hdul[1].header["BUNIT"] == "u**2"
        assert "BUNIT" not in hdul[2].header


def test_atomic_output_leaves_nothing_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out.fits"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as fd:
            os.write(fd, b"partial")
            assert [p.name for p in tmp_path.iterdir()][0].startswith(".out.fits.tmp-")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_refuses_to_clobber_and_respects_umask(tmp_path: Path) -> None:
    target = tmp_path / "out.fits"
    target.write_bytes(b"old")
    with pytest.raises(OutputError, match="already exists") as exc:
        with atomic_output(target) as fd:
            os.write(fd, b"new")
    assert exc.value.field == "overwrite"  # the CLI adds: use --overwrite to replace it
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.fits"]
    old = os.umask(0o022)
    try:
        with atomic_output(target, overwrite=True) as fd:
            os.write(fd, b"new")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o644


def test_check_output_rejects_input_as_output(tmp_path: Path) -> None:
    src = tmp_path / "in.fits"
    src.write_bytes(b"x")
    with pytest.raises(OutputError, match="same file as the input"):
        check_output(tmp_path / "." / "in.fits", [str(src)], overwrite=True)
    with pytest.raises(OutputError, match="does not exist"):
        check_output(tmp_path / "nodir" / "o.fits", [], overwrite=False)


def test_a_swallowed_interrupt_still_prevents_the_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A KeyboardInterrupt lost in a finaliser must not let a run commit its output."""
    import signal

    from pixtab.core.fits import atomic

    monkeypatch.setattr(atomic, "_INTERRUPTED", 0)
    target = tmp_path / "out.fits"
    with pytest.raises(atomic.Interrupted) as info:
        with atomic_output(target) as fd:
            os.write(fd, b"data")
            atomic.note_interrupt(signal.SIGINT)  # the handler ran; its exception vanished
    assert info.value.signum == signal.SIGINT
    assert list(tmp_path.iterdir()) == []
