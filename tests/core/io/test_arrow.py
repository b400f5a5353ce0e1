"""io/arrow.py: recognising Parquet/Arrow files, the export metadata, the reader's refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixtab.core.errors import InputError, PixtabError
from pixtab.core.io.arrow import ArrowInput, ColumnMeta, ExportMeta, require_pyarrow, sniff, stored_dtype

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


PRIMARY = ("SIMPLE  =                    T".ljust(80) + "END".ljust(80)).ljust(2880)


def _extension() -> bytes:
    """A whole FITS image extension (header blocks, then its padded data)."""
    from astropy.io import fits

    hdu = fits.ImageHDU(np.arange(256, dtype=np.uint8).repeat(11), name="FF")
    return hdu.header.tostring().encode("ascii") + hdu.data.tobytes().ljust(2880, b"\0")


def _meta(**kw) -> ExportMeta:
    base = dict(source="t.fits", layout="image", rows=2, primary_header=PRIMARY,
                columns=[ColumnMeta("dq", "dq", "int32", None)])  # fmt: skip
    base.update(kw)
    return ExportMeta(**base)


def test_sniff(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1]}), tmp_path / "x.parquet")
    with pa.ipc.new_file(tmp_path / "x.arrow", pa.schema([("a", pa.int64())])) as w:
        w.write_table(pa.table({"a": [1]}))
    (tmp_path / "x.fits").write_bytes(b"SIMPLE  =" + b" " * 100)
    assert sniff(tmp_path / "x.parquet") == "parquet" and sniff(tmp_path / "x.arrow") == "arrow"
    assert sniff(tmp_path / "x.fits") is None and sniff(tmp_path / "missing") is None


def test_metadata_round_trip_and_hdus() -> None:
    m = _meta(extra_hdus=ExportMeta.pack_hdus([_extension()]), extra_names=["FF"])
    back = ExportMeta.decode(m.encode()[b"pixtab"], "x")
    assert back == m and back.hdu_bytes()[0].startswith(b"XTENSION")


def test_dq_is_stored_unsigned() -> None:
    assert stored_dtype("dq", np.dtype(np.int32)) == np.uint32
    assert stored_dtype("origin", np.dtype(np.int32)) == np.int32
    assert stored_dtype("dq", np.dtype(np.int64)) == np.int64  # MPDAF text tables: as parsed


def test_reader_refuses_nulls(tmp_path: Path) -> None:
    t = pa.table({"dq": pa.array([1, None], pa.uint32())}).replace_schema_metadata(_meta().encode())
    pq.write_table(t, tmp_path / "n.parquet")
    with pytest.raises(InputError, match="null values"):
        list(ArrowInput(tmp_path / "n.parquet").iter_batches(["dq"]))


def test_require_pyarrow_names_the_extra(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(PixtabError, match=r"pip install 'pixtab\[parquet\]'"):
        require_pyarrow()


def test_damaged_metadata(tmp_path: Path) -> None:
    t = pa.table({"dq": pa.array([1, 2], pa.uint32())})
    pq.write_table(t.replace_schema_metadata({b"pixtab": b"{not json"}), tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="damaged pixtab metadata"):
        ArrowInput(tmp_path / "bad.parquet")
    pq.write_table(t.replace_schema_metadata({b"pixtab": b'{"version": 99}'}), tmp_path / "v.parquet")
    with pytest.raises(InputError, match="version 99"):
        ArrowInput(tmp_path / "v.parquet")
