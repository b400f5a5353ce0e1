"""pixtab decode-origin: every column against an independent decode, on both layouts and on
single and combined tables; bases, slice numbering, sky, --with, --rows, FITS output,
--value, errors with their exit codes, and a closed pipe."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import pixtab
from pixtab.core.errors import InputError

from helpers.cli import invoke, pixtab_cmd
from helpers.decode import PFX, read_columns, reference_decode, subset

HEADER = "row,ifu,slice,xpix,ypix,exp"


def parse(text: str, sep: str = ",", dtype: type = np.int64) -> tuple[list[str], np.ndarray]:
    head, _, body = text.partition("\n")
    return head.split(sep), np.loadtxt(io.StringIO(body), delimiter=sep, dtype=dtype, ndmin=2)


@pytest.fixture(scope="module")
def single(simulated) -> Path:
    return simulated(rows=12_000, ifus=[5, 6], wcs="projected", seed=3)


@pytest.fixture(scope="module")
def single_table(simulated) -> Path:
    return simulated(rows=12_000, ifus=[5, 6], wcs="projected", seed=3, layout="table")


@pytest.fixture(scope="module")
def combined(simulated) -> Path:
    return simulated(rows=15_000, ifus=[10, 11], exposures=3, wcs="positioned", seed=4)


def _check_against_reference(path: Path, zero_based: bool) -> np.ndarray:
    result = invoke("decode-origin", path, *(["--zero-based"] if zero_based else []))
    assert result.stderr == ""
    names, got = parse(result.stdout)
    assert names == HEADER.split(",")
    ref = reference_decode(path, zero_based)
    assert got.shape == (len(ref["row"]), 6)
    for i, name in enumerate(names):
        assert np.array_equal(got[:, i], ref[name]), name
    return got


@pytest.mark.parametrize("zero_based", [False, True], ids=["1-based", "0-based"])
@pytest.mark.parametrize("which", ["single", "single_table", "combined"])
def test_every_row_matches_the_reference_decode(request, which: str, zero_based: bool) -> None:
    got = _check_against_reference(request.getfixturevalue(which), zero_based)
    if which == "combined":
        assert sorted(set(got[:, 5].tolist())) == [1, 2, 3]
    else:
        assert set(got[:, 5].tolist()) == {0}


def test_layouts_decode_identically(single: Path, single_table: Path) -> None:
    a, b = invoke("decode-origin", single, "--sky"), invoke("decode-origin", single_table, "--sky")
    assert a.exit_code == b.exit_code == 0
    assert a.stdout == b.stdout


def test_bases_differ_by_one_in_x_and_y_only(combined: Path) -> None:
    _, one = parse(invoke("decode-origin", combined).stdout)
    _, zero = parse(invoke("decode-origin", combined, "--zero-based").stdout)
    assert np.array_equal(one[:, [0, 1, 2, 5]], zero[:, [0, 1, 2, 5]])
    assert np.array_equal(one[:, 3:5] - 1, zero[:, 3:5])


def test_x_uses_the_rows_own_exposure_offsets(combined: Path) -> None:
    """Decoding exposure 3 with EXP1's offsets (MPDAF reads EXP0 only) would move some rows."""
    header, cols = read_columns(combined)
    _, got = parse(invoke("decode-origin", combined).stdout)
    o = cols["origin"].astype(np.int64)
    rows = np.flatnonzero(got[:, 5] == 3)
    own, first = [], []
    for r in rows.tolist():
        ifu, slc = int(o[r] >> 6 & 0x1F), int(o[r] & 0x3F)
        xslice = int(o[r] >> 24 & 0x7F)
        own.append(xslice + header[f"{PFX}EXP3 IFU{ifu:02d} SLICE{slc:02d} XOFFSET"])
        first.append(xslice + header[f"{PFX}EXP1 IFU{ifu:02d} SLICE{slc:02d} XOFFSET"])
    assert got[rows, 3].tolist() == own
    assert np.count_nonzero(np.array(own) != np.array(first)) > 100


def test_tsv(single: Path) -> None:
    csv, tsv = invoke("decode-origin", single), invoke("decode-origin", single, "--format", "tsv")
    assert tsv.exit_code == 0
    assert tsv.stdout == csv.stdout.replace(",", "\t")


def test_slice_numbering_sky(single: Path) -> None:
    _, ccd = parse(invoke("decode-origin", single).stdout)
    _, sky = parse(invoke("decode-origin", single, "--slice-numbering", "sky").stdout)
    pairs = dict(zip(ccd[:, 2].tolist(), sky[:, 2].tolist()))
    assert len(pairs) == 48 and sorted(pairs.values()) == list(range(1, 49))
    # Format doc section 7.1: CCD 3 is SKY 1, CCD 46 is SKY 48, CCD 1 is SKY 9, CCD 13 is SKY 21.
    assert (pairs[3], pairs[46], pairs[1], pairs[13]) == (1, 48, 9, 21)
    assert np.array_equal(np.delete(ccd, 2, axis=1), np.delete(sky, 2, axis=1))


def test_rows_range(combined: Path) -> None:
    _, full = parse(invoke("decode-origin", combined).stdout)
    _, part = parse(invoke("decode-origin", combined, "--rows", "4990:5020").stdout)
    assert np.array_equal(part, full[4990:5020])
    _, tail = parse(invoke("decode-origin", combined, "--rows", "14990:").stdout)
    assert np.array_equal(tail, full[14990:])
    _, head = parse(invoke("decode-origin", combined, "--rows", ":3").stdout)
    assert np.array_equal(head, full[:3])
    beyond = invoke("decode-origin", combined, "--rows", "20000:30000")
    assert beyond.stdout == HEADER + "\n"


@pytest.mark.parametrize("bad", ["-5:10", "10:5", "a:b", "1.5:3"])
def test_bad_rows_is_a_usage_error(single: Path, bad: str) -> None:
    result = invoke("decode-origin", single, "--rows", bad, code=2)
    assert "--rows" in result.stderr and result.stdout == ""


def test_sky_columns(combined: Path) -> None:
    from pixtab.core.format.sky import SkyFrame

    result = invoke("decode-origin", combined, "--sky", "--rows", "0:3000")
    names, got = parse(result.stdout, dtype=np.float64)
    assert names == HEADER.split(",") + ["ra", "dec"]
    with pixtab.open(combined) as pt:
        cols = pt.read(["xpos", "ypos"], 0, 3000)
        ra, dec = SkyFrame.of(pt).radec(cols["xpos"], cols["ypos"])
        crval1, crval2 = pt.keywords.crval1, pt.keywords.crval2
    assert np.array_equal(got[:, 6], ra) and np.array_equal(got[:, 7], dec)  # full double precision
    assert np.all((got[:, 6] >= 0) & (got[:, 6] < 360))
    # Positioned: RA = CRVAL1 + xpos, Dec = CRVAL2 + ypos (no cos dec).
    assert np.allclose(got[:, 6], crval1 + cols["xpos"].astype(np.float64), rtol=0, atol=1e-12)
    assert np.allclose(got[:, 7], crval2 + cols["ypos"].astype(np.float64), rtol=0, atol=1e-12)


def test_sky_on_a_pixel_table_warns(simulated) -> None:
    path = simulated(rows=3000, ifus=[1], wcs="pixel")
    result = invoke("decode-origin", path, "--sky", "--rows", "0:5")
    assert "pixel" in result.stderr and "warning" in result.stderr
    _, got = parse(result.stdout, dtype=np.float64)
    _, cols = read_columns(path)
    assert np.array_equal(got[:, 6], cols["xpos"][:5].astype(np.float64))


def test_with_columns_are_copied_exactly(single: Path) -> None:
    result = invoke("decode-origin", single, "--with", "data,dq,lambda", "--rows", "100:2100")
    names, got = parse(result.stdout, dtype=np.float64)
    assert names == HEADER.split(",") + ["data", "dq", "lambda"]
    _, cols = read_columns(single)
    assert np.array_equal(got[:, 6].astype(np.float32), cols["data"][100:2100])  # shortest float32 repr
    # dq prints as the unsigned mask: bit 31 is a flag, not a sign
    assert np.array_equal(got[:, 7].astype(np.int64), cols["dq"][100:2100].view(np.uint32))
    assert np.array_equal(got[:, 8].astype(np.float32), cols["lambda"][100:2100])


@pytest.mark.parametrize("bad", ["nosuch", "data,nosuch"])
def test_with_unknown_column_needs_the_table_so_exits_1(single: Path, bad: str) -> None:
    """A column the table lacks is exit 1 (as reconstruct-det --column weight on a table without one)."""
    result = invoke("decode-origin", single, "--with", bad, code=1)
    assert result.stderr.startswith("Error: --with: ") and "no column 'nosuch'" in result.stderr


@pytest.mark.parametrize("layout_fixture", ["single", "combined"])
def test_fits_output_has_the_same_columns(request, layout_fixture: str, tmp_path: Path) -> None:
    src = request.getfixturevalue(layout_fixture)
    out = tmp_path / "decoded.fits"
    result = invoke("decode-origin", src, "--format", "fits", "-o", out, "--zero-based", "--sky", "--with", "data")
    assert result.stdout == ""
    _, text = parse(invoke("decode-origin", src, "--zero-based", "--sky", "--with", "data").stdout, dtype=np.float64)
    _, cols = read_columns(src)
    with fits.open(out) as hdul:
        assert hdul[0].header["PIXBASE"] == 0
        t = hdul[1].data
        assert t.names == ["row", "ifu", "slice", "xpix", "ypix", "exp", "ra", "dec", "data"]
        for i, name in enumerate(t.names[:8]):
            assert np.array_equal(t[name].astype(np.float64), text[:, i]), name
        assert t["data"].dtype.kind == "f" and np.array_equal(t["data"], cols["data"])
        assert hdul[1].columns["ra"].unit == "deg"
        assert hdul[1].columns["xpix"].format == "I" and hdul[1].columns["row"].format == "K"
    assert [p.name for p in tmp_path.iterdir()] == ["decoded.fits"]


def test_fits_needs_an_output_file(single: Path) -> None:
    result = invoke("decode-origin", single, "--format", "fits", code=2)
    assert "-o/--output" in result.stderr


def test_csv_to_a_file_and_overwrite(single: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    first = invoke("decode-origin", single, "-o", out, "--rows", "0:10")
    assert first.stdout == ""
    assert out.read_text() == invoke("decode-origin", single, "--rows", "0:10").stdout
    again = invoke("decode-origin", single, "-o", out, code=1)
    assert "--overwrite" in again.stderr
    assert len(out.read_text().splitlines()) == 11
    invoke("decode-origin", single, "-o", out, "--overwrite")
    assert len(out.read_text().splitlines()) == 12_001


def test_several_inputs_each_get_a_file_in_the_output_dir(single: Path, combined: Path, tmp_path: Path) -> None:
    """A file per input, named {stem}_origin.FORMAT unless --name says otherwise, each the
    one-input run's output; --jobs 2 (each input in a process of its own) writes the same."""
    a, b = tmp_path / "a.fits", tmp_path / "b.fits"
    shutil.copyfile(single, a)
    shutil.copyfile(combined, b)
    for fmt in ("csv", "fits"):
        seq = tmp_path / f"seq_{fmt}"
        r = invoke("decode-origin", a, b, "--format", fmt, "--output-dir", seq, "--with", "dq")
        assert sorted(p.name for p in seq.iterdir()) == [f"a_origin.{fmt}", f"b_origin.{fmt}"]
        assert r.stderr.splitlines() == [f"wrote {seq / 'a_origin'}.{fmt} (12,000 rows)", f"wrote {seq / 'b_origin'}.{fmt} (15,000 rows)"]
        for src in (a, b):
            one = tmp_path / f"one.{fmt}"
            invoke("decode-origin", src, "--format", fmt, "-o", one, "--with", "dq", "--overwrite")
            assert (seq / f"{src.stem}_origin.{fmt}").read_bytes() == one.read_bytes()
        par = tmp_path / f"par_{fmt}"
        cmd = pixtab_cmd("-q", "decode-origin", a, b, "--format", fmt, "--output-dir", par, "--with", "dq", "--jobs", "2")
        assert subprocess.run(cmd, capture_output=True).returncode == 0
        assert {p.name: p.read_bytes() for p in par.iterdir()} == {p.name: p.read_bytes() for p in seq.iterdir()}
    invoke("decode-origin", a, "--rows", "0:3", "--output-dir", tmp_path / "named", "--name", "{stem}.txt")
    assert (tmp_path / "named" / "a.txt").read_text() == invoke("decode-origin", a, "--rows", "0:3").stdout


def test_several_inputs_errors(single: Path, tmp_path: Path) -> None:
    """Several inputs need --output-dir (not -o, not stdout); a bad input is named and the others are written."""
    assert "--output-dir for several inputs" in invoke("decode-origin", single, single, code=2).stderr
    r = invoke("decode-origin", single, single, "-o", tmp_path / "x.csv", code=2)
    assert "-o/--output takes one input" in r.stderr
    r = invoke("decode-origin", single, single, "--output-dir", tmp_path / "d", code=2)
    assert "several outputs get the same output name" in r.stderr
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"not a FITS file\n" * 10)
    r = invoke("decode-origin", bad, single, "--output-dir", tmp_path / "out", "--rows", "0:5", code=1)
    assert r.stderr.splitlines()[0] == f"Error: {bad}: not a FITS file"
    assert r.stderr.splitlines()[-1] == f"Error: 1 of 2 inputs failed: {bad}"
    assert [p.name for p in (tmp_path / "out").iterdir()] == [f"{single.stem}_origin.csv"]
    r = invoke("decode-origin", "--value", "0x14064041", "--output-dir", tmp_path / "v", code=2)
    assert "--value decodes literal values" in r.stderr


def test_dash_output_is_stdout(single: Path) -> None:
    result = invoke("decode-origin", single, "-o", "-", "--rows", "0:2")
    assert result.stdout.count("\n") == 3


# -- literal values ---------------------------------------------------------------


def test_value_hex_and_decimal() -> None:
    result = invoke("decode-origin", "--value", "0x14064041", "--value", "1241548872", "--value", "1350600240")
    # Format doc section 4.1 test vectors: (xslice 20, y 200, IFU 1, slice 1), (74, 17, 1, 8), (80, 4112, 24, 48).
    assert result.stdout == (
        "value,ifu,slice,ypix,xslice\n"
        "335953985,1,1,200,20\n"
        "1241548872,1,8,17,74\n"
        "1350600240,24,48,4112,80\n"
    )


def test_value_zero_based_and_sky_numbering() -> None:
    result = invoke("decode-origin", "--value", "0x14064043", "--zero-based", "--slice-numbering", "sky", "--format", "tsv")
    assert result.stdout == "value\tifu\tslice\typix\txslice\n335953987\t1\t1\t199\t20\n"  # CCD 3 = SKY 1


@pytest.mark.parametrize("bad", ["-1", "0x80000000", "12ab", ""])
def test_bad_value_is_a_usage_error(bad: str) -> None:
    result = invoke("decode-origin", "--value", bad, code=2)
    assert "--value" in result.stderr


def test_value_with_a_file_or_no_input_is_a_usage_error(single: Path) -> None:
    invoke("decode-origin", single, "--value", "5", code=2)
    invoke("decode-origin", "--value", "5", "--sky", code=2)
    result = invoke("decode-origin", code=2)
    assert "INPUT" in result.stderr


# -- errors -----------------------------------------------------------------------


def test_missing_input_is_exit_1(tmp_path: Path) -> None:
    result = invoke("decode-origin", tmp_path / "nope.fits", code=1)
    assert "no such file" in result.stderr and result.stdout == ""


def test_missing_xoffset_keyword_is_named(combined: Path, tmp_path: Path) -> None:
    name = f"{PFX}EXP2 IFU11 SLICE07 XOFFSET"
    path = subset(combined, tmp_path / "nokey.fits", np.ones(15_000, bool), {name: None})
    result = invoke("decode-origin", path, code=1)
    assert name in result.stderr and "missing" in result.stderr
    # Rows before the first one that needs the keyword are not affected.
    invoke("decode-origin", path, "--rows", "0:100")


def test_non_integer_xoffset_keyword_is_named(single: Path, tmp_path: Path) -> None:
    name = f"{PFX}EXP0 IFU05 SLICE01 XOFFSET"
    path = subset(single, tmp_path / "badkey.fits", np.ones(12_000, bool), {name: 12.5})
    result = invoke("decode-origin", path, code=1)
    assert name in result.stderr and "not an integer" in result.stderr


def test_core_decoder_names_the_missing_keyword(single: Path, tmp_path: Path) -> None:
    from pixtab.core.format.origin import DetectorDecoder

    name = f"{PFX}EXP0 IFU06 SLICE48 XOFFSET"
    path = subset(single, tmp_path / "nokey.fits", np.ones(12_000, bool), {name: None})
    with pixtab.open(path) as pt:
        origin = pt.read(["origin"])["origin"]
        decoder = DetectorDecoder.of(pt)
        with pytest.raises(InputError, match=name):
            decoder.decode(origin, 0)
        ok = decoder.decode(origin[:10], 0)  # IFU 5 rows only
        assert ok["ifu"].tolist() == [5] * 10


def test_chunked_decode_equals_one_pass(combined: Path) -> None:
    from pixtab.core.io.table import PixTable
    from pixtab.core.ops.decode import DecodeOptions, iter_decoded

    with PixTable(combined) as pt:  # the core's table (pixtab.open gives the API's)
        opts = DecodeOptions(zero_based=True, sky=True, with_columns=("weight",))
        one = list(iter_decoded(pt, opts))
        many = list(iter_decoded(pt, opts, 3, 14_000, chunk_rows=997))
    assert len(one) == 1 and len(many) == 15
    for name in one[0]:
        assert np.array_equal(np.concatenate([c[name] for c in many]), one[0][name][3:14_000]), name


def test_format_text() -> None:
    from pixtab.core.ops.decode import format_text

    cols = [
        np.array([0, 7, -12, 123456789012], dtype=np.int64),
        np.array([1.5, np.nan, -0.0, 1e20]),
        np.array([0.1, 2, -3.25, np.inf], dtype=np.float32),
        np.array([-2147483648, 0, 1, 2147483647], dtype=np.int32),
    ]
    assert format_text(cols).decode() == (
        "0,1.5,0.1,-2147483648\n7,nan,2.0,0\n-12,-0.0,-3.25,1\n123456789012,1e+20,inf,2147483647\n"
    )
    assert format_text([np.array([], dtype=np.int16)]) == b""
    assert format_text([np.array([0.1 + 0.2])], "\t") == b"0.30000000000000004\n"


def test_closed_pipe_ends_quietly(single: Path) -> None:
    """`pixtab decode-origin big.fits | head -n 2`: no traceback, no message."""
    proc = subprocess.Popen(
        pixtab_cmd("decode-origin", single, "--sky"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = [proc.stdout.readline() for _ in range(2)]
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert first[0] == b"row,ifu,slice,xpix,ypix,exp,ra,dec\n"
    assert err == b"", err.decode()
    assert proc.returncode in (0, -13)  # done, or killed by SIGPIPE as Unix tools are (issue 22 item 10)


@pytest.mark.skipif(shutil.which("head") is None, reason="needs head(1)")
def test_shell_pipe_into_head(single: Path) -> None:
    result = subprocess.run(
        f"'{sys.executable}' -m pixtab decode-origin '{single}' | head -n 3",
        shell=True,
        capture_output=True,
        timeout=60,
    )
    assert result.stdout.decode().splitlines()[0] == HEADER
    assert len(result.stdout.splitlines()) == 3
    assert result.stderr == b""


def test_sky_without_a_centre_fails_before_any_output(single: Path, tmp_path: Path) -> None:
    src = subset(single, tmp_path / "nocentre.fits", np.ones(12_000, bool), {"RA": None})
    result = invoke("decode-origin", src, "--sky", code=1)
    assert result.stdout == ""
    assert "RA/DEC" in result.stderr
    invoke("decode-origin", src, "--rows", "0:1")
