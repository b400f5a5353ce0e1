"""``pixtab convert``: image <-> table layouts, bit-exact; ASCII inputs; CLI behaviour; DRS interop."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pixtab
import pixtab.core.errors
from pixtab.core.fits.atomic import atomic_output
from pixtab.core.ops.convert import convert
from pixtab.core.fits.structure import scan
from pixtab.core.io.table import PixTable
from pixtab.core.io.writer import ColumnSpec, PixtableWriter

from conftest import conformance_file
from helpers.cli import invoke

from helpers import drs

F4, I4 = np.dtype("float32"), np.dtype("int32")
FLUX = "10**(-20)*erg/s/cm**2/Angstrom"
PIPELINE_SPECS = [
    ColumnSpec("xpos", F4, "deg"),
    ColumnSpec("ypos", F4, "deg"),
    ColumnSpec("lambda", F4, "Angstrom"),
    ColumnSpec("data", F4, FLUX),
    ColumnSpec("dq", I4, None),
    ColumnSpec("stat", F4, f"({FLUX})**2"),
    ColumnSpec("origin", I4, None),
]


# -- helpers ----------------------------------------------------------------------


def _primary() -> fits.Header:
    h = fits.Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True)])
    h["HIERARCH ESO DRS MUSE PIXTABLE TYPE"] = "GEOFULL"
    h["HIERARCH ESO DRS MUSE PIXTABLE WCS"] = "positioned (final)"
    h["OBJECT"] = "convert test"
    return h


def _write(path: Path, specs: list[ColumnSpec], arrays: dict[str, np.ndarray], layout: str, extra=()) -> None:
    n = len(next(iter(arrays.values())))
    with atomic_output(path) as fd:
        w = PixtableWriter(fd, _primary(), specs, n, layout, list(extra))
        w.write(arrays)
        w.finish(_primary())


def _hdus(path: Path) -> list[tuple[fits.Header, bytes]]:
    """(header, raw data bytes without padding) of every extension."""
    raw = path.read_bytes()
    return [(h.header, raw[h.data_offset : h.data_offset + h.data_size]) for h in scan(path)[1:]]


def _primary_bytes(path: Path) -> bytes:
    return path.read_bytes()[: scan(path)[0].data_offset]


def _raw_hdu(path: Path, extname: str) -> bytes:
    raw = path.read_bytes()
    for h in scan(path)[1:]:
        if h.extname == extname:
            return raw[h.header_offset : h.end_offset]
    raise AssertionError(f"no {extname} in {path}")


def _convert_file(src: Path, dst: Path, layout: str | None = None, **kw: object):
    with PixTable(src) as pt, atomic_output(dst) as fd:
        return convert(pt, fd, layout, **kw)


# -- bit-exactness on the conformance set --------------------------------------------


@pytest.mark.parametrize(("image", "table"), [("F1", "F2"), ("F7", "F8")])
def test_conformance_pairs_convert_to_each_other(tmp_path: Path, image: str, table: str) -> None:
    """F2/F8 hold the same data as F1/F7 in the table layout (F8 written by the DRS itself)."""
    img, tab = conformance_file(image), conformance_file(table)
    r = _convert_file(img, tmp_path / "t.fits")
    assert (r.source_layout, r.layout) == ("image", "table")
    assert _hdus(tmp_path / "t.fits")[0][1] == _hdus(tab)[0][1]
    assert _primary_bytes(tmp_path / "t.fits") == _primary_bytes(img)
    _convert_file(tab, tmp_path / "i.fits")
    assert [d for _, d in _hdus(tmp_path / "i.fits")] == [d for _, d in _hdus(img)]
    assert _primary_bytes(tmp_path / "i.fits") == _primary_bytes(tab)


def test_drs_table_gets_the_drs_image_headers(tmp_path: Path) -> None:
    """F8 -> image: lower-case EXTNAMEs, BUNIT verbatim (none for dq/origin/weight), as the DRS writes F7."""
    _convert_file(conformance_file("F8"), tmp_path / "i.fits")
    got = [h for h, _ in _hdus(tmp_path / "i.fits")]
    want = [h for h, _ in _hdus(conformance_file("F7"))]
    assert [h["EXTNAME"] for h in got] == ["xpos", "ypos", "lambda", "data", "dq", "stat", "origin", "weight"]
    for g, w in zip(got, want):
        for key in ("BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTNAME", "BUNIT"):
            assert g.get(key) == w.get(key), (g["EXTNAME"], key)
    assert got[5]["BUNIT"] == f"({FLUX})**2"


def test_image_table_image_reproduces_the_whole_file(simulated, tmp_path: Path) -> None:
    """Weighted, flat-fielded, combined table: every byte comes back."""
    src = simulated(rows=30_000, exposures=3, flat_field=True, ifus=[3, 4])
    _convert_file(src, tmp_path / "t.fits")
    with pixtab.open(tmp_path / "t.fits") as pt:
        assert pt.layout == "table" and "weight" in pt.columns
        assert pt.flat_field is not None
    _convert_file(tmp_path / "t.fits", tmp_path / "i.fits")
    assert (tmp_path / "i.fits").read_bytes() == src.read_bytes()


def test_table_image_table_reproduces_the_whole_file(simulated, tmp_path: Path) -> None:
    src = simulated(rows=25_000, layout="table", wcs="projected", flat_field=True)
    _convert_file(src, tmp_path / "i.fits")
    _convert_file(tmp_path / "i.fits", tmp_path / "t.fits")
    assert (tmp_path / "t.fits").read_bytes() == src.read_bytes()


def test_flat_field_extension_is_copied_byte_for_byte(simulated, tmp_path: Path) -> None:
    src = simulated(rows=20_000, flat_field=True, ifus=[7])
    _convert_file(src, tmp_path / "t.fits")
    assert _raw_hdu(tmp_path / "t.fits", "PIXTABLE_FLAT_FIELD") == _raw_hdu(src, "PIXTABLE_FLAT_FIELD")
    assert [h.extname for h in scan(tmp_path / "t.fits")[1:]] == [None, "PIXTABLE_FLAT_FIELD"]


def test_missing_final_padding_is_restored(simulated, tmp_path: Path) -> None:
    src = simulated(rows=3000, flat_field=True, layout="table")
    last = scan(src)[-1]
    cut = tmp_path / "cut.fits"
    cut.write_bytes(src.read_bytes()[: last.data_offset + last.data_size])  # no padding after the flat field
    _convert_file(cut, tmp_path / "i.fits")
    _convert_file(src, tmp_path / "i_ref.fits")
    assert (tmp_path / "i.fits").read_bytes() == (tmp_path / "i_ref.fits").read_bytes()


def test_chunking_and_blocking_do_not_change_the_result(simulated, tmp_path: Path) -> None:
    """Odd chunk and block sizes (partial last chunk and block) give the same bytes."""
    for layout in ("image", "table"):
        src = simulated(rows=10_007, layout=layout, exposures=2, ifus=[1])
        _convert_file(src, tmp_path / f"{layout}_ref.fits")
        _convert_file(src, tmp_path / f"{layout}_odd.fits", chunk_rows=999, block_rows=37)
        assert (tmp_path / f"{layout}_odd.fits").read_bytes() == (tmp_path / f"{layout}_ref.fits").read_bytes()


@pytest.mark.parametrize("stage", ["read_raw", "write_raw"])
def test_a_failure_inside_the_pipeline_leaves_nothing(simulated, tmp_path: Path, monkeypatch, stage: str) -> None:
    """An error in the reader or writer thread reaches the caller; no output, no temporary file."""
    from pixtab.core.io import layouts, writer

    src = simulated(rows=10_007, layout="table")
    cv = layouts.BinTableLayout if stage == "read_raw" else writer.ImagePlacement
    real, calls = getattr(cv, stage), []

    def flaky(*args):
        calls.append(1)
        if len(calls) == 3:
            raise pixtab.core.errors.InputError(src, "simulated read failure")
        return real(*args)

    monkeypatch.setattr(cv, stage, flaky)
    with pytest.raises(pixtab.core.errors.InputError, match="simulated read failure"):
        _convert_file(src, tmp_path / "o.fits", chunk_rows=1000)
    assert os.listdir(tmp_path) == []


def test_unknown_columns_and_extensions_are_carried(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 1000
    specs = PIPELINE_SPECS + [
        ColumnSpec("weight", F4, None),
        ColumnSpec("SkyFrac", np.dtype("float64"), "1/(s*arcsec**2)"),
        ColumnSpec("flags16", np.dtype("int16"), None),
        ColumnSpec("id64", np.dtype("int64"), "ct"),
    ]
    arrays = {
        s.name: rng.integers(np.iinfo(s.dtype).min, np.iinfo(s.dtype).max, n, dtype=s.dtype, endpoint=True)
        if s.dtype.kind == "i"
        else rng.normal(size=n).astype(s.dtype)
        for s in specs
    }
    notes = fits.BinTableHDU.from_columns([fits.Column("note", "20A", array=np.array([b"hello", b"world"]))], name="NOTES")
    notes.header["COMMENT"] = "an unknown extension"
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), notes]).writeto(buf)
    extra = buf.getvalue()[2880:]
    _write(tmp_path / "src.fits", specs, arrays, "image", [extra])
    r = _convert_file(tmp_path / "src.fits", tmp_path / "t.fits")
    assert r.columns == ["xpos", "ypos", "lambda", "data", "dq", "stat", "origin", "weight", "SkyFrac", "flags16", "id64"]
    assert r.extensions == ["NOTES"]
    h = fits.getheader(tmp_path / "t.fits", 1)
    assert [h[f"TFORM{i}"] for i in range(9, 12)] == ["1D", "1I", "1K"]
    assert (h["TTYPE9"], h["TUNIT9"], h["TUNIT11"]) == ("SkyFrac", "1/(s*arcsec**2)", "ct")
    assert _raw_hdu(tmp_path / "t.fits", "NOTES") == extra
    _convert_file(tmp_path / "t.fits", tmp_path / "i.fits")
    assert (tmp_path / "i.fits").read_bytes() == (tmp_path / "src.fits").read_bytes()
    with pixtab.open(tmp_path / "t.fits") as pt:
        back = pt.read(None)
    for s in specs:
        # the API hands dq out unsigned (its bits are flags): same bytes, uint32
        want = np.dtype(np.uint32) if s.name.lower() == "dq" else s.dtype
        assert back[s.name.lower()].dtype == want
        assert back[s.name.lower()].tobytes() == arrays[s.name].astype(s.dtype).tobytes(), s.name


def test_upper_case_extnames_become_lower_case(tmp_path: Path) -> None:
    """Old MPDAF wrote XPOS...; the pipeline needs xpos (CPL names are case-sensitive)."""
    n = 100
    specs = [ColumnSpec(s.name.upper(), s.dtype, s.unit) for s in PIPELINE_SPECS]
    arrays = {s.name: np.arange(n).astype(s.dtype) for s in specs}
    _write(tmp_path / "up.fits", specs, arrays, "image")
    _convert_file(tmp_path / "up.fits", tmp_path / "t.fits")
    _convert_file(tmp_path / "t.fits", tmp_path / "i.fits")
    assert [h["EXTNAME"] for h, _ in _hdus(tmp_path / "i.fits")] == [s.name for s in PIPELINE_SPECS]
    assert [d for _, d in _hdus(tmp_path / "i.fits")] == [d for _, d in _hdus(tmp_path / "up.fits")]


def test_primary_header_is_byte_identical_even_when_astropy_would_rewrite_it(tmp_path: Path) -> None:
    """A card astropy re-renders (lower-case 'T', odd spacing) stays exactly as it was."""
    n = 10
    arrays = {s.name: np.arange(n).astype(s.dtype) for s in PIPELINE_SPECS}
    _write(tmp_path / "a.fits", PIPELINE_SPECS, arrays, "image")
    raw = bytearray((tmp_path / "a.fits").read_bytes())
    pos = raw.index(b"OBJECT  = ")
    card = b"OBJECT  =   'convert test'   / odd spacing".ljust(80)
    raw[pos : pos + 80] = card
    (tmp_path / "a.fits").write_bytes(bytes(raw))
    _convert_file(tmp_path / "a.fits", tmp_path / "t.fits")
    assert _primary_bytes(tmp_path / "t.fits") == _primary_bytes(tmp_path / "a.fits")
    assert card in _primary_bytes(tmp_path / "t.fits")


def test_same_layout_rewrites_canonically(simulated, tmp_path: Path) -> None:
    src = simulated(rows=5000, flat_field=True)
    r = _convert_file(src, tmp_path / "same.fits", "image")
    assert (r.source_layout, r.layout) == ("image", "image")
    assert (tmp_path / "same.fits").read_bytes() == src.read_bytes()


def test_non_scalar_field_is_refused(tmp_path: Path) -> None:
    n = 20
    cols = [fits.Column(s.name, "E" if s.dtype.kind == "f" else "J", unit=s.unit, array=np.zeros(n)) for s in PIPELINE_SPECS]
    cols.append(fits.Column("vec", "3E", array=np.zeros((n, 3))))
    fits.HDUList([fits.PrimaryHDU(header=_primary()), fits.BinTableHDU.from_columns(cols)]).writeto(tmp_path / "v.fits")
    r = invoke("convert", tmp_path / "v.fits", "-o", tmp_path / "o.fits", code=1)
    assert "cannot convert non-scalar or text field(s): vec (TFORM 3E)" in r.stderr
    assert not (tmp_path / "o.fits").exists() and os.listdir(tmp_path) == ["v.fits"]


def test_image_extension_cannot_go_into_the_image_layout(tmp_path: Path) -> None:
    """An extra IMAGE HDU of a table-layout file would be read as a column in the image layout."""
    arrays = {s.name: np.arange(10).astype(s.dtype) for s in PIPELINE_SPECS}
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 4), np.float32), name="MASK")]).writeto(buf)
    _write(tmp_path / "t.fits", PIPELINE_SPECS, arrays, "table", [buf.getvalue()[2880:]])
    r = invoke("convert", tmp_path / "t.fits", "-o", tmp_path / "i.fits", code=1)
    assert r.stderr == (
        f"Error: {tmp_path / 't.fits'}: extension(s) MASK are images: in the image layout they would be read as columns\n"
    )
    invoke("convert", tmp_path / "t.fits", "-o", tmp_path / "t2.fits", "--to", "table")
    assert (tmp_path / "t2.fits").read_bytes() == (tmp_path / "t.fits").read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["t.fits", "t2.fits"]


# -- property tests ---------------------------------------------------------------

SPECIAL_F32 = [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0xFFFFFFFF, 0x00000001,
               0x807FFFFF, 0x7F7FFFFF, 0x7FA5A5A5]
SPECIAL_I32 = [-(2**31), 2**31 - 1, 0, -1, 1]


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[ColumnSpec], dict[str, np.ndarray]]:
    n = draw(st.integers(1, 40))
    weight = draw(st.booleans())
    specs = PIPELINE_SPECS + ([ColumnSpec("weight", F4, None)] if weight else [])
    arrays = {}
    for s in specs:
        pool = SPECIAL_F32 if s.dtype.kind == "f" else [v & 0xFFFFFFFF for v in SPECIAL_I32]
        bits = draw(st.lists(st.one_of(st.sampled_from(pool), st.integers(0, 2**32 - 1)), min_size=n, max_size=n))
        arrays[s.name] = np.array(bits, dtype=">u4").view(s.dtype.newbyteorder(">"))
    return specs, arrays


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables(), start=st.sampled_from(["image", "table"]), chunk=st.integers(1, 17), block=st.integers(1, 9))
def test_property_round_trip_is_bit_exact(table, start: str, chunk: int, block: int) -> None:
    """Random bit patterns (NaN payloads, inf, -0.0, subnormals, int32 extremes) survive both ways."""
    specs, arrays = table
    other = "table" if start == "image" else "image"
    with tempfile.TemporaryDirectory() as d:
        a, b, c = Path(d, "a.fits"), Path(d, "b.fits"), Path(d, "c.fits")
        _write(a, specs, arrays, start)
        _convert_file(a, b, chunk_rows=chunk, block_rows=block)
        with pixtab.open(b) as pt:
            assert pt.layout == other
            got = pt.read(None, native=False)
            assert {k: c.dtype.name for k, c in pt.columns.items()} == {s.name: s.dtype.name for s in specs}  # stored types
        for s in specs:
            assert got[s.name].tobytes() == arrays[s.name].tobytes(), s.name
        _convert_file(b, c, chunk_rows=chunk, block_rows=block)
        assert c.read_bytes() == a.read_bytes()


# -- ASCII tables (MPDAF save_as_ima=False) ------------------------------------------


def _ascii(path: Path, arrays: dict[str, np.ndarray], float_format: str = "E16.9") -> None:
    """An ASCII TABLE as MPDAF's save_as_ima=False writes it (MPDAF uses E15.7), with F4's header."""
    with pixtab.open(conformance_file("F4")) as pt:
        header = pt.primary_header  # the API hands out an astropy Header
        units = {c.name: c.unit for c in pt.columns.values()}
    cols = [
        fits.Column(name, "I11" if arr.dtype.kind == "i" else float_format, unit=units.get(name), array=arr)
        for name, arr in arrays.items()
    ]
    fits.HDUList([fits.PrimaryHDU(header=header), fits.TableHDU.from_columns(cols)]).writeto(path)


@pytest.fixture(scope="module")
def f4_sample() -> dict[str, np.ndarray]:
    """500 rows of F4, the float32/int32 values a real table holds."""
    with pixtab.open(conformance_file("F4")) as pt:
        rows = pt.read(None, 0, 500)
    rows["dq"] = rows["dq"].view(np.int32)  # as stored (the API hands dq out as uint32)
    return rows


def _f4_units() -> dict[str, str | None]:
    with pixtab.open(conformance_file("F4")) as pt:
        return {c.name: c.unit for c in pt.columns.values()}


def test_ascii_with_full_precision_converts_exactly(tmp_path: Path, f4_sample) -> None:
    _ascii(tmp_path / "a.fits", f4_sample)  # E16.9: 10 digits identify every float32
    r = invoke("convert", tmp_path / "a.fits", "-o", tmp_path / "i.fits", "--json")
    summary = json.loads(r.stdout)
    assert (summary["from"], summary["to"], summary["rows"], summary["rounded_values"]) == ("ascii-table", "image", 500, 0)
    with pixtab.open(tmp_path / "i.fits") as pt:
        assert pt.layout == "image"
        back = {n: a.view(pt.columns[n].dtype) for n, a in pt.read(None).items()}  # stored types (dq is handed out uint32)
        assert {c.name: c.unit for c in pt.columns.values()} == _f4_units()
    for name, arr in f4_sample.items():
        assert back[name].dtype == arr.dtype and back[name].tobytes() == arr.tobytes(), name
    assert _primary_bytes(tmp_path / "i.fits") == _primary_bytes(tmp_path / "a.fits")
    invoke("convert", tmp_path / "a.fits", "-o", tmp_path / "t.fits", "--to", "table")
    assert fits.getheader(tmp_path / "t.fits", 1)["XTENSION"] == "BINTABLE"


def test_ascii_mpdaf_precision_converts_to_the_nearest_float32(tmp_path: Path, f4_sample) -> None:
    """MPDAF writes E15.7 (8 digits): each text value is taken as the nearest float32, which
    reproduces the text; values the 8 digits could not tell apart may differ by one float32 step."""
    _ascii(tmp_path / "m.fits", f4_sample, "E15.7")
    r = invoke("convert", tmp_path / "m.fits", "-o", tmp_path / "i.fits", "--json")
    assert json.loads(r.stdout)["rounded_values"] == 0
    with pixtab.open(tmp_path / "i.fits") as pt:
        back = {n: a.view(pt.columns[n].dtype) for n, a in pt.read(None).items()}  # stored types (dq is handed out uint32)
    for name, arr in f4_sample.items():
        assert back[name].dtype == arr.dtype
        text = np.char.mod("%15.7E", arr.astype(np.float64))
        assert np.array_equal(np.char.mod("%15.7E", back[name].astype(np.float64)), text), name
        steps = np.abs(back[name].view(np.int32).astype(np.int64) - arr.view(np.int32))
        assert steps.max() <= 1, name


def test_ascii_with_more_precision_than_float32_is_refused_unless_rounding(tmp_path: Path, f4_sample) -> None:
    arrays = dict(f4_sample)
    arrays["lambda"] = f4_sample["lambda"].astype(np.float64) + 1e-4  # a float64 column: 17 digits matter
    _ascii(tmp_path / "d.fits", arrays, "E24.16")
    r = invoke("convert", tmp_path / "d.fits", "-o", tmp_path / "i.fits", code=1)
    assert r.stdout == ""
    want = f"Error: {tmp_path / 'd.fits'}: column 'lambda': value {float(arrays['lambda'][0])!r} at row 0 (E24.16)"
    assert r.stderr == want + " is not exactly representable as float32 (--round-float32 accepts the nearest float32)\n"
    assert sorted(os.listdir(tmp_path)) == ["d.fits"]
    r = invoke("convert", tmp_path / "d.fits", "-o", tmp_path / "i.fits", "--round-float32", "--json")
    assert json.loads(r.stdout)["rounded_values"] == 500
    assert "500 values rounded to float32" in r.stderr
    with pixtab.open(tmp_path / "i.fits") as pt:
        back = pt.read(None)
    assert back["lambda"].tobytes() == arrays["lambda"].astype(np.float32).tobytes()
    assert back["xpos"].tobytes() == f4_sample["xpos"].tobytes()


def test_ascii_special_values_and_refusals(tmp_path: Path) -> None:
    n = 4
    arrays = {s.name: np.zeros(n, dtype=s.dtype) for s in PIPELINE_SPECS}
    arrays["data"] = np.array([np.nan, np.inf, -0.0, 1.5e-45], dtype=F4)  # -0.0 and a subnormal
    arrays["dq"] = np.array([-(2**31), 2**31 - 1, 0, 1], dtype=I4)
    _ascii(tmp_path / "ok.fits", arrays)
    invoke("convert", tmp_path / "ok.fits", "-o", tmp_path / "ok_i.fits")
    with pixtab.open(tmp_path / "ok_i.fits") as pt:
        back = pt.read(None)
    assert back["data"].tobytes() == arrays["data"].tobytes() and back["dq"].tobytes() == arrays["dq"].tobytes()

    big = {k: v.astype(np.int64) if v.dtype.kind == "i" else v for k, v in arrays.items()}
    big["origin"] = np.array([0, 0, 2**31, 0], dtype=np.int64)
    _ascii(tmp_path / "big.fits", big)
    r = invoke("convert", tmp_path / "big.fits", "-o", tmp_path / "x.fits", "--round-float32", code=1)
    assert r.stderr == f"Error: {tmp_path / 'big.fits'}: column 'origin': value 2147483648 at row 2 does not fit in int32\n"

    cols = [fits.Column(n, "I11" if a.dtype.kind == "i" else "E16.9", array=a) for n, a in arrays.items()]
    cols.append(fits.Column("label", "A8", array=np.array([b"a", b"b", b"c", b"d"])))
    fits.HDUList([fits.PrimaryHDU(header=_primary()), fits.TableHDU.from_columns(cols)]).writeto(tmp_path / "text.fits")
    r = invoke("convert", tmp_path / "text.fits", "-o", tmp_path / "x.fits", code=1)
    assert r.stderr.endswith(f"Error: {tmp_path / 'text.fits'}: column 'label' holds text: a pixel table stores only numbers\n")

    huge = dict(arrays, **{"lambda": np.array([0, 0, 0, 1e39])})
    _ascii(tmp_path / "huge.fits", huge, "E24.16")
    r = invoke("convert", tmp_path / "huge.fits", "-o", tmp_path / "x.fits", "--round-float32", code=1)
    assert "column 'lambda': value 1e+39 at row 3 (E24.16) is not exactly representable" in r.stderr
    assert not (tmp_path / "x.fits").exists()


# -- command line -----------------------------------------------------------------


def test_cli_defaults_to_the_other_layout_and_prints_json(simulated, tmp_path: Path) -> None:
    src = simulated(rows=8000, layout="table")
    r = invoke("convert", src, "-o", tmp_path / "o.fits", "--json")
    d = json.loads(r.stdout)
    assert (d["from"], d["to"], d["rows"], d["input"], d["output"]) == ("table", "image", 8000, str(src), str(tmp_path / "o.fits"))
    assert d["columns"] == ["xpos", "ypos", "lambda", "data", "dq", "stat", "origin"]
    assert r.stderr == f"wrote {tmp_path / 'o.fits'} (8,000 rows, table -> image layout)\n"
    assert fits.getheader(tmp_path / "o.fits", 1)["XTENSION"] == "IMAGE"


def test_cli_refuses_existing_output_and_same_file(simulated, tmp_path: Path) -> None:
    src = simulated(rows=3000)
    out = tmp_path / "o.fits"
    out.write_bytes(b"keep me")
    r = invoke("convert", src, "-o", out, code=1)
    assert r.stderr == f"Error: {out}: already exists (use --overwrite to replace it)\n"
    assert out.read_bytes() == b"keep me"
    r = invoke("-q", "convert", src, "-o", out, "--overwrite")
    assert r.stderr == "" and r.stdout == ""
    assert fits.getheader(out, 1)["XTENSION"] == "BINTABLE"
    r = invoke("convert", out, "-o", out, "--overwrite", code=1)
    assert r.stderr == f"Error: {out}: output is the same file as the input\n"
    assert sorted(os.listdir(tmp_path)) == ["o.fits"]


def test_cli_many_inputs_continue_past_a_bad_one(simulated, tmp_path: Path) -> None:
    good1, good2 = simulated(rows=2000, seed=1), simulated(rows=2000, seed=2, layout="table")
    bad = tmp_path / "bad.fits"
    fits.PrimaryHDU().writeto(bad)  # valid FITS, no extensions
    outdir = tmp_path / "out"
    outdir.mkdir()
    r = invoke("convert", good1, bad, good2, "--output-dir", outdir, "--name", "{stem}_conv.fits", "--json", code=1)
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["input"], x["to"]) for x in lines] == [(str(good1), "table"), (str(good2), "image")]
    assert f"Error: {bad}: no extensions: not a pixel table" in r.stderr
    assert r.stderr.rstrip().endswith(f"Error: 1 of 3 inputs failed: {bad}")
    assert sorted(os.listdir(outdir)) == sorted([f"{good1.stem}_conv.fits", f"{good2.stem}_conv.fits"])


def test_cli_output_dir_must_not_clobber_an_input(simulated, tmp_path: Path) -> None:
    src = tmp_path / "a.fits"
    src.write_bytes(simulated(rows=1000).read_bytes())
    r = invoke("convert", src, "--output-dir", tmp_path, code=1)
    assert "output is the same file as the input" in r.stderr
    assert sorted(os.listdir(tmp_path)) == ["a.fits"]


def test_cli_usage_errors(simulated, tmp_path: Path) -> None:
    src = simulated(rows=1000)
    r = invoke("convert", src, src, "-o", tmp_path / "o.fits", code=2)
    assert "-o/--output takes one input" in r.stderr
    r = invoke("convert", src, code=2)
    assert "missing -o/--output" in r.stderr
    r = invoke("convert", src, "-o", tmp_path / "o.fits", "--to", "ascii", code=2)
    assert "'ascii' is not one of 'image', 'table'" in r.stderr


def test_cli_missing_input(tmp_path: Path) -> None:
    r = invoke("convert", tmp_path / "nope.fits", "-o", tmp_path / "o.fits", code=1)
    assert r.stderr == f"Error: {tmp_path / 'nope.fits'}: no such file\n"


# -- the real pipeline loads what convert writes ---------------------------------------

needs_drs = pytest.mark.skipif(not drs.esorex_available(), reason=f"MUSE pipeline unavailable: {drs.unavailable_reason()}")


@pytest.mark.interop
@needs_drs
@pytest.mark.parametrize("start", ["image", "table"])
@pytest.mark.parametrize("wcs", ["positioned", "projected"])
def test_converted_tables_make_a_cube_in_the_pipeline(simulated, tmp_path: Path, start: str, wcs: str) -> None:
    src = simulated(rows=30_000, layout=start, wcs=wcs, ifus=[5, 6], flat_field=True)
    out = tmp_path / "converted.fits"
    invoke("convert", src, "-o", out)
    cube = drs.make_cube(out, tmp_path)
    assert fits.getdata(cube, 1).ndim == 3
    back = drs.roundtrip(out, tmp_path)  # the DRS loads it and saves what it read
    with pixtab.open(src) as a, pixtab.open(back) as b:
        da, db = a.read(None), b.read(None)
    assert set(db) == set(da)
    for name in da:
        assert db[name].tobytes() == da[name].tobytes(), name


@pytest.mark.interop
@needs_drs
def test_converted_ascii_table_loads_in_the_pipeline(tmp_path: Path, f4_sample) -> None:
    _ascii(tmp_path / "a.fits", f4_sample)
    for layout in ("image", "table"):
        out = tmp_path / f"{layout}.fits"
        invoke("convert", tmp_path / "a.fits", "-o", out, "--to", layout)
        back = drs.roundtrip(out, tmp_path)
        got = drs.read_columns(back)
        keep = (f4_sample["lambda"] >= 4000) & (f4_sample["lambda"] <= 10000)
        for name, arr in f4_sample.items():
            assert got[name].astype(arr.dtype).tobytes() == arr[keep].tobytes(), (layout, name)


def test_extract_narrows_ascii_tables_by_convert_rule(tmp_path: Path, f4_sample) -> None:
    """extract accepts an MPDAF ASCII table exactly when convert does, with the same values,
    and refuses with the same message otherwise (issue 12: one narrowing rule)."""
    _ascii(tmp_path / "m.fits", f4_sample, "E15.7")
    invoke("extract", tmp_path / "m.fits", "-o", tmp_path / "x.fits", "--lambda", "0:")
    invoke("convert", tmp_path / "m.fits", "-o", tmp_path / "c.fits")
    with pixtab.open(tmp_path / "x.fits") as a, pixtab.open(tmp_path / "c.fits") as b:
        got, want = a.read(None), b.read(None)
    assert all(got[n].dtype == want[n].dtype and got[n].tobytes() == want[n].tobytes() for n in want)

    arrays = dict(f4_sample)
    arrays["lambda"] = f4_sample["lambda"].astype(np.float64) + 1e-4
    _ascii(tmp_path / "d.fits", arrays, "E24.16")
    c = invoke("convert", tmp_path / "d.fits", "-o", tmp_path / "c2.fits", code=None)
    x = invoke("extract", tmp_path / "d.fits", "-o", tmp_path / "x2.fits", "--lambda", "0:", code=None)
    assert (x.exit_code, x.stderr) == (c.exit_code, c.stderr) == (1, c.stderr)
    assert "(--round-float32 accepts the nearest float32)" in x.stderr
    invoke("extract", tmp_path / "d.fits", "-o", tmp_path / "x2.fits", "--lambda", "0:", "--round-float32")
    with pixtab.open(tmp_path / "x2.fits") as pt:
        assert pt.read(["lambda"])["lambda"].tobytes() == arrays["lambda"].astype(np.float32).tobytes()
