"""Fault catalogue, bad inputs: every broken file gives exit 1 and one ``Error:`` line.

The line names the file and the problem; stdout stays empty; no traceback.
Damage that does not matter for a description (odd dtypes, bad XOFFSET cards,
NaN coordinates, extra columns, 0 rows) is reported by ``info`` with exit 0,
and refused later by the commands that need it (output_columns, the
XOFFSET lookup).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from pixtab.cli import cli
from pixtab.core.errors import InputError
from pixtab.core.format.keywords import key
from pixtab.core.format.limits import LimitsAccumulator
from pixtab.core.format.columns import output_columns
from pixtab.core.format.origin import XOffsets, encode
from pixtab.core.io.table import PixTable

from helpers.cli import invoke, run_pixtab
from helpers.faults import assert_one_line_error, make_table, set_card, variant

ROWS = 600
TYPE_KEY = key("TYPE")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small valid tables: image and table layouts, single and combined (2 exposures)."""
    d = tmp_path_factory.mktemp("faultbase")
    return {
        "image": make_table(d / "image.fits", rows=ROWS),
        "table": make_table(d / "table.fits", rows=ROWS, layout="table"),
        "image2": make_table(d / "image2.fits", rows=ROWS, exposures=2),
        "table2": make_table(d / "table2.fits", rows=ROWS, exposures=2, layout="table"),
    }


def _rebuild_bintable(hdul: fits.HDUList, formats: dict[str, str] | None = None, extra: list[fits.Column] = ()) -> None:
    """Replace HDU 1 of a table-layout file by a BINTABLE with some formats changed."""
    old = hdul[1]
    cols = []
    for c in old.columns:
        fmt = (formats or {}).get(c.name, c.format)
        dtype = {"E": "f4", "D": "f8", "J": "i4", "K": "i8"}[fmt]
        cols.append(fits.Column(name=c.name, format=fmt, unit=c.unit, array=np.asarray(old.data[c.name]).astype(dtype)))
    hdul[1] = fits.BinTableHDU.from_columns(cols + list(extra), header=None)


def _header_edit(src: Path, dst: Path, hdu: int, keyword: str, card: str | None) -> Path:
    dst.write_bytes(set_card(src.read_bytes(), hdu, keyword, card))
    return dst


def _hdu(path: Path, index: int):
    from pixtab.core.fits.structure import scan

    return scan(path)[index]


# -- cases with exit 1 ---------------------------------------------------------------------------

Builder = Callable[[dict[str, Path], Path], Path]


def _missing(b: dict[str, Path], d: Path) -> Path:
    return d / "nothing-here.fits"


def _directory(b: dict[str, Path], d: Path) -> Path:
    (d / "adir.fits").mkdir()
    return d / "adir.fits"


def _empty(b: dict[str, Path], d: Path) -> Path:
    (d / "empty.fits").write_bytes(b"")
    return d / "empty.fits"


def _not_fits(b: dict[str, Path], d: Path) -> Path:
    (d / "notes.fits").write_text("xpos ypos lambda\n" * 400)
    return d / "notes.fits"


def _primary_only(b: dict[str, Path], d: Path) -> Path:
    fits.PrimaryHDU(np.zeros((4, 4), "f4")).writeto(d / "image.fits")
    return d / "image.fits"


def _some_image(b: dict[str, Path], d: Path) -> Path:
    """A FITS file with two image extensions (a cube and a mask): no pixtable."""
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((3, 4, 5), "f4"), name="DATA"), fits.ImageHDU(np.zeros((4, 5), "i2"), name="DQ")]).writeto(
        d / "cube.fits"
    )
    return d / "cube.fits"


def _no_type(b: dict[str, Path], d: Path) -> Path:
    return variant(b["image"], d / "notype.fits", lambda h: h[0].header.remove(TYPE_KEY))


def _bad_type(b: dict[str, Path], d: Path) -> Path:
    def change(h: fits.HDUList) -> None:
        h[0].header[TYPE_KEY] = "FULL"

    return variant(b["table"], d / "badtype.fits", change)


def _missing_column_image(b: dict[str, Path], d: Path) -> Path:
    return variant(b["image"], d / "nodq.fits", lambda h: h.remove(h["DQ"]))


def _missing_column_table(b: dict[str, Path], d: Path) -> Path:
    def change(h: fits.HDUList) -> None:
        h[1] = fits.BinTableHDU.from_columns([c for c in h[1].columns if c.name not in ("stat", "origin")])

    return variant(b["table"], d / "nostat.fits", change)


def _no_extname(b: dict[str, Path], d: Path) -> Path:
    return variant(b["image"], d / "noextname.fits", lambda h: h[3].header.remove("EXTNAME"))


def _row_images(b: dict[str, Path], d: Path) -> Path:
    def change(h: fits.HDUList) -> None:
        for x in h[1:]:
            x.data = np.ascontiguousarray(x.data.reshape(1, -1))

    return variant(b["image"], d / "rowimages.fits", change)


def _one_d(b: dict[str, Path], d: Path) -> Path:
    def change(h: fits.HDUList) -> None:
        for x in h[1:]:
            x.data = np.ascontiguousarray(x.data.reshape(-1))

    return variant(b["image"], d / "oned.fits", change)


def _unequal(b: dict[str, Path], d: Path) -> Path:
    def change(h: fits.HDUList) -> None:
        h["STAT"].data = h["STAT"].data[:-1].copy()

    return variant(b["image"], d / "unequal.fits", change)


def _duplicate(b: dict[str, Path], d: Path) -> Path:
    def change(h: fits.HDUList) -> None:
        h.append(fits.ImageHDU(h["DATA"].data.copy(), name="Data"))
        h[-1].header["EXTNAME"] = "Data"

    return variant(b["image"], d / "duplicate.fits", change)


def _float_origin(b: dict[str, Path], d: Path) -> Path:
    def change(h: fits.HDUList) -> None:
        h["ORIGIN"].data = h["ORIGIN"].data.astype("f8")

    return variant(b["image"], d / "floatorigin.fits", change)


def _truncated_data(layout: str) -> Builder:
    def build(b: dict[str, Path], d: Path) -> Path:
        blob = b[layout].read_bytes()
        last = _hdu(b[layout], -1)
        (d / "trunc.fits").write_bytes(blob[: last.data_offset + 100])
        return d / "trunc.fits"

    return build


def _truncated_header(b: dict[str, Path], d: Path) -> Path:
    blob = b["image"].read_bytes()
    (d / "trunch.fits").write_bytes(blob[:2880])  # the primary header needs more than one block
    return d / "trunch.fits"


def _truncated_mid_extension(b: dict[str, Path], d: Path) -> Path:
    blob = b["image"].read_bytes()
    (d / "truncx.fits").write_bytes(blob[: _hdu(b["image"], 4).header_offset + 1000])
    return d / "truncx.fits"


def _exp_edit(field: str, value: str | None) -> Builder:
    def build(b: dict[str, Path], d: Path) -> Path:
        name = key(f"EXP{field}")
        card = None if value is None else f"{name} = {value}"
        return _header_edit(b["image2"], d / "exp.fits", 0, name, card)

    return build


def _scaled_image(b: dict[str, Path], d: Path) -> Path:
    return _header_edit(b["image"], d / "bzero.fits", 4, "BUNIT", "BZERO   =                 10.0")


def _scaled_table(b: dict[str, Path], d: Path) -> Path:
    def change(h: fits.HDUList) -> None:
        h[1].header["TZERO5"] = 2147483648

    return variant(b["table"], d / "tzero.fits", change)


def _naxis1(value: int) -> Builder:
    def build(b: dict[str, Path], d: Path) -> Path:
        return _header_edit(b["table"], d / "naxis1.fits", 1, "NAXIS1", f"NAXIS1  = {value:>20}")

    return build


def _size_card(keyword: str, text: str, layout: str = "image", hdu: int = 2) -> Builder:
    def build(b: dict[str, Path], d: Path) -> Path:
        return _header_edit(b[layout], d / "sizecard.fits", hdu, keyword, f"{keyword:<8}= {text:>20}")

    return build


BAD = {
    # id: (builder, fragments the one error line must contain)
    "missing file": (_missing, ["no such file"]),
    "directory": (_directory, ["is a directory"]),
    "empty file": (_empty, ["empty file"]),
    "not FITS": (_not_fits, ["not a FITS file"]),
    "primary only": (_primary_only, ["no extensions: not a pixel table"]),
    "other FITS": (_some_image, ["not a pixel table: its image extensions are DATA 5x4x3"]),
    "no TYPE": (_no_type, ["'ESO DRS MUSE PIXTABLE TYPE' is missing", "not a pixel table"]),
    "bad TYPE": (_bad_type, ["'ESO DRS MUSE PIXTABLE TYPE' is 'FULL'", "expected GEOFULL or SIMPLE"]),
    "missing column (image)": (_missing_column_image, ["missing column(s): dq"]),
    "missing columns (table)": (_missing_column_table, ["missing column(s): stat, origin"]),
    "no EXTNAME": (_no_extname, ["image extension 3 has no EXTNAME"]),
    "shape (1, n)": (_row_images, [f"column 'xpos' has shape (1, {ROWS})", "NAXIS1 = 1"]),
    "1-D images": (_one_d, [f"column 'xpos' has shape ({ROWS},)"]),
    "unequal lengths": (_unequal, [f"column 'stat' has {ROWS - 1} rows, the first column has {ROWS}"]),
    "duplicate column": (_duplicate, ["column 'Data' appears twice"]),
    "float origin": (_float_origin, ["column 'origin' is float64: it must be an integer column"]),
    "truncated data (image)": (_truncated_data("image"), ["truncated: HDU 7 needs"]),
    "truncated data (table)": (_truncated_data("table"), ["truncated: HDU 1 needs"]),
    "truncated header": (_truncated_header, ["truncated header at byte 2880"]),
    "truncated extension header": (_truncated_mid_extension, ["truncated: 1000 stray bytes after HDU 3"]),
    "EXPn overlap": (_exp_edit("2 FIRST", "299"), ["EXP2 FIRST = 299 overlaps the previous one (expected 300)"]),
    "EXPn gap": (_exp_edit("2 FIRST", "301"), ["EXP2 FIRST = 301 leaves a gap before it (expected 300)"]),
    "EXPn short": (_exp_edit("2 LAST", f"{ROWS - 2}"), [f"cover rows 0..{ROWS - 2} but the table has {ROWS} rows"]),
    "EXPn too long": (_exp_edit("2 LAST", f"{ROWS}"), [f"cover rows 0..{ROWS} but the table has {ROWS} rows"]),
    "EXPn not integer": (_exp_edit("1 LAST", "299.0"), ["keyword 'ESO DRS MUSE PIXTABLE EXP1 LAST' is not an integer (299.0)"]),
    "EXPn missing": (_exp_edit("2 FIRST", None), ["keyword 'ESO DRS MUSE PIXTABLE EXP2 FIRST' is missing"]),
    "EXPn string": (_exp_edit("1 FIRST", "'0'"), ["keyword 'ESO DRS MUSE PIXTABLE EXP1 FIRST' is not an integer ('0')"]),
    "BZERO": (_scaled_image, ["column 'data' is scaled (BSCALE/BZERO): not supported"]),
    "TZERO": (_scaled_table, ["column 'dq' is scaled (TSCAL/TZERO): not supported"]),
    "NAXIS1 too small": (_naxis1(24), ["BINTABLE row is 24 bytes but its columns add up to 28"]),
    "NAXIS1 too large": (_naxis1(32), ["truncated: HDU 1 needs", "bytes, file has"]),
    "NAXIS2 float": (_size_card("NAXIS2", "600.0"), ["HDU 2: keyword NAXIS2 = 600.0 is not an integer"]),
    "NAXIS2 negative": (_size_card("NAXIS2", "-5"), ["HDU 2: keyword NAXIS2 = -5 is below 0"]),
    "NAXIS2 string": (_size_card("NAXIS2", "'600'", "table", 1), ["HDU 1: keyword NAXIS2 = '600' is not an integer"]),
    "BITPIX invalid": (_size_card("BITPIX", "17"), ["HDU 2: keyword BITPIX = 17 is not one of 8, 16, 32, 64, -32, -64"]),
    "GCOUNT zero": (_size_card("GCOUNT", "0"), ["HDU 2: keyword GCOUNT = 0 is below 1"]),
    "TFIELDS too large": (_size_card("TFIELDS", "8", "table", 1), ["HDU 1: keyword TFORM8 is missing (TFIELDS = 8)"]),
    "table NAXIS 1": (_size_card("NAXIS", "1", "table", 1), ["HDU 1: a table needs NAXIS = 2, not 1"]),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_is_one_error_line(case: str, base: dict[str, Path], tmp_path: Path) -> None:
    build, fragments = BAD[case]
    path = build(base, tmp_path)
    result = invoke("info", path, code=1)
    assert_one_line_error(result.stdout, result.stderr, path, *fragments)
    # --json and --stats fail the same way, before any output.
    for flags in (["--json"], ["--stats", "--json"], ["--get", "nrows"]):
        again = invoke("info", *flags, path, code=None)
        assert (again.exit_code, again.stdout, again.stderr) == (1, "", result.stderr), flags


@pytest.mark.parametrize("case", ["missing file", "not FITS", "no EXTNAME", "truncated data (table)", "EXPn overlap"])
def test_bad_input_in_a_real_process(case: str, base: dict[str, Path], tmp_path: Path) -> None:
    """The console entry point (main) gives the same single line and exit status."""
    build, fragments = BAD[case]
    path = build(base, tmp_path)
    proc = run_pixtab("info", path)
    assert proc.returncode == 1, proc.stderr
    assert_one_line_error(proc.stdout, proc.stderr, path, *fragments)


def test_unparsable_size_card_warns_then_fails(base: dict[str, Path], tmp_path: Path) -> None:
    path = _header_edit(base["image"], tmp_path / "unparsable.fits", 2, "NAXIS2", "NAXIS2  = 6x0")
    result = invoke("info", path, code=1)
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"pixtab: warning: {path}: card NAXIS2 has an unparsable value; read as the string '6x0'",
        f"Error: {path}: HDU 2: keyword NAXIS2 = '6x0' is not an integer",
    ]


def test_non_ascii_card_is_one_error_line(base: dict[str, Path], tmp_path: Path) -> None:
    path = _header_edit(base["image"], tmp_path / "latin1.fits", 2, "EXTNAME", "EXTNAME = 'ypos\xe9'".encode("latin-1"))
    result = invoke("info", path, code=1)
    assert_one_line_error(result.stdout, result.stderr, path, "unreadable card 'EXTNAME'")


def test_several_inputs_keep_going(base: dict[str, Path], tmp_path: Path) -> None:
    """A bad input among good ones: the good ones are described, then exit 1 (fitscheck's rule)."""
    bad = _no_extname(base, tmp_path)
    result = invoke("info", "--get", "nrows", base["image"], bad, base["table"], code=1)
    assert result.stdout == f"{base['image']}: {ROWS}\n{base['table']}: {ROWS}\n"  # several inputs: named
    assert result.stderr.splitlines() == [
        f"Error: {bad}: image extension 3 has no EXTNAME (cannot tell which column it is)",
        f"Error: 1 of 3 inputs failed: {bad}",
    ]


# -- damage info reports with exit 0 ----------------------------------------------------------------


def test_unknown_image_column_is_carried(base: dict[str, Path], tmp_path: Path) -> None:
    def change(h: fits.HDUList) -> None:
        h.insert(5, fits.ImageHDU(np.arange(ROWS, dtype="f4").reshape(-1, 1), name="skyfrac"))
        h[5].header["EXTNAME"] = "skyfrac"
        h[5].header["BUNIT"] = "count"

    path = variant(base["image"], tmp_path / "extra.fits", change)
    result = invoke("info", "--json", "--stats", path, code=None)
    assert (result.exit_code, result.stderr) == (0, "")
    got = json.loads(result.stdout)
    assert invoke("info", "--get", "columns", path).stdout == "xpos,ypos,lambda,data,skyfrac,dq,stat,origin\n"
    assert got["columns"]["skyfrac"] == {"dtype": "float32", "unit": "count"}
    assert got["stats"]["columns"]["skyfrac"] == {"min": 0.0, "max": float(ROWS - 1), "nan": 0, "inf": 0}


def test_unknown_table_columns_carried_or_warned(base: dict[str, Path], tmp_path: Path) -> None:
    extra = [
        fits.Column(name="skyfrac", format="E", array=np.full(ROWS, 0.5, "f4")),
        fits.Column(name="spectrum", format="3E", array=np.zeros((ROWS, 3), "f4")),
    ]
    path = variant(base["table"], tmp_path / "extra.fits", lambda h: _rebuild_bintable(h, extra=extra))
    result = invoke("info", "--json", path)
    assert result.stderr == f"pixtab: warning: {path}: column 'spectrum' (TFORM 3E) is not a scalar number; it is ignored\n"
    got = json.loads(result.stdout)
    assert invoke("info", "--get", "columns", path).stdout == "xpos,ypos,lambda,data,dq,stat,origin,skyfrac\n"
    assert got["columns"]["skyfrac"] == {"dtype": "float32", "unit": None}


def test_unknown_extension_is_listed(base: dict[str, Path], tmp_path: Path) -> None:
    def change(h: fits.HDUList) -> None:
        h.append(fits.BinTableHDU.from_columns([fits.Column(name="note", format="10A", array=np.array(["x"]))], name="NOTES"))

    path = variant(base["image"], tmp_path / "notes.fits", change)
    result = invoke("info", "--json", path, code=None)
    assert (result.exit_code, result.stderr) == (0, "")
    assert json.loads(result.stdout)["extra_extensions"] == ["NOTES"]


@pytest.mark.parametrize("layout", ["image", "table"])
def test_float64_int64_columns_are_shown_and_refused_for_writing(layout: str, base: dict[str, Path], tmp_path: Path) -> None:
    if layout == "image":

        def change(h: fits.HDUList) -> None:
            h["XPOS"].data = h["XPOS"].data.astype("f8")
            h["ORIGIN"].data = h["ORIGIN"].data.astype("i8")

    else:

        def change(h: fits.HDUList) -> None:
            _rebuild_bintable(h, formats={"xpos": "D", "origin": "K"})

    path = variant(base[layout], tmp_path / "wide.fits", change)
    result = invoke("info", "--json", "--stats", path, code=None)
    assert (result.exit_code, result.stderr) == (0, "")
    got = json.loads(result.stdout)
    assert got["columns"]["xpos"]["dtype"] == "float64"
    assert got["columns"]["origin"]["dtype"] == "int64"
    assert got["columns"]["ypos"]["dtype"] == "float32"
    assert got["stats"]["ifus"] == {"1": ROWS}
    human = invoke("info", path)
    assert [line for line in human.stdout.splitlines() if line.startswith("column xpos")] == ["column xpos      float64  deg"]
    with PixTable(path) as pt:
        with pytest.raises(InputError) as exc:
            output_columns(pt.columns.values(), False, pt.path)
    assert str(exc.value) == f"{path}: column 'xpos' is float64; the MUSE pipeline requires float32"


def test_bad_xoffset_cards_only_fail_where_needed(base: dict[str, Path], tmp_path: Path) -> None:
    """info does not need XOFFSET: exit 0. The lookup names the keyword for the rows that need it."""
    name_bad = key("EXP0 IFU01 SLICE03 XOFFSET")
    name_gone = key("EXP0 IFU01 SLICE07 XOFFSET")
    blob = set_card(base["image"].read_bytes(), 0, name_bad, f"{name_bad} = 12.5")
    blob = set_card(blob, 0, name_gone, None)
    path = tmp_path / "xoffset.fits"
    path.write_bytes(blob)
    for flags in ([], ["--json"], ["--stats", "--json"]):
        result = invoke("info", *flags, path, code=None)
        assert (result.exit_code, result.stderr) == (0, ""), flags
    with PixTable(path) as pt:
        xo = XOffsets(pt.keywords.xoffsets, pt.path)
    ok = xo.lookup(np.array([0]), np.array([1]), np.array([1]))
    assert ok.tolist() == [pt.keywords.xoffsets[(0, 1, 1)]]
    with pytest.raises(InputError) as exc:
        xo.lookup(np.zeros(3, int), np.ones(3, int), np.array([1, 3, 7]))
    assert str(exc.value) == f"{path}: keyword 'ESO DRS MUSE PIXTABLE EXP0 IFU01 SLICE03 XOFFSET' is not an integer in 0..8191 (12.5)"
    with pytest.raises(InputError) as exc:
        xo.lookup(np.zeros(2, int), np.ones(2, int), np.array([1, 7]))
    assert str(exc.value) == f"{path}: keyword 'ESO DRS MUSE PIXTABLE EXP0 IFU01 SLICE07 XOFFSET' is missing (needed to decode detector x)"


def _with_bad_coordinates(src: Path, dst: Path, values: float) -> tuple[Path, dict[str, np.ndarray]]:
    cols: dict[str, np.ndarray] = {}

    def change(h: fits.HDUList) -> None:
        for name, rows in (("XPOS", [0, 5, 17]), ("YPOS", [3]), ("LAMBDA", [ROWS - 1])):
            h[name].data[rows] = values
            cols[name.lower()] = h[name].data.reshape(-1).copy()

    return variant(src, dst, change), cols


def test_nan_coordinates_are_ignored_by_limits(base: dict[str, Path], tmp_path: Path) -> None:
    path, cols = _with_bad_coordinates(base["image"], tmp_path / "nan.fits", np.nan)
    result = invoke("info", "--json", "--stats", path, code=None)
    assert (result.exit_code, result.stderr) == (0, "")
    st = json.loads(result.stdout)["stats"]
    assert {n: st["columns"][n]["nan"] for n in ("xpos", "ypos", "lambda", "data")} == {"xpos": 3, "ypos": 1, "lambda": 1, "data": 0}
    crval = (150.1163, 2.2058)
    assert st["limits"]["x_low"] == float(np.nanmin(cols["xpos"])) + crval[0]
    assert st["limits"]["x_high"] == float(np.nanmax(cols["xpos"])) + crval[0]
    assert st["limits"]["y_low"] == float(np.nanmin(cols["ypos"])) + crval[1]
    assert st["limits"]["lambda_high"] == float(np.nanmax(cols["lambda"]))
    assert st["columns"]["lambda"]["max"] == float(np.nanmax(cols["lambda"]))


def test_limits_ignore_nan_and_inf() -> None:
    acc = LimitsAccumulator()
    origin = encode(np.array([5, 6, 7]), np.array([10, 11, 12]), np.array([3, 3, 4]), np.array([9, 8, 9])).astype(np.int32)
    acc.add(
        np.array([np.nan, 1.5, np.inf], "f4"),
        np.array([-np.inf, np.nan, -2.0], "f4"),
        np.array([np.nan, np.nan, np.nan], "f4"),
        origin,
    )
    acc.add(np.array([0.5], "f4"), np.array([np.inf], "f4"), np.array([5000.0], "f4"), origin[:1])
    got = acc.result("projected", None)
    assert got == {
        "x_low": 0.5,
        "x_high": 1.5,
        "y_low": -2.0,
        "y_high": -2.0,
        "lambda_low": 5000.0,
        "lambda_high": 5000.0,
        "ifu_low": 3,
        "ifu_high": 4,
        "slice_low": 8,
        "slice_high": 9,
    }


def test_inf_coordinates_info_stats_json(base: dict[str, Path], tmp_path: Path) -> None:
    path, cols = _with_bad_coordinates(base["image"], tmp_path / "inf.fits", np.inf)
    result = invoke("info", "--json", "--stats", path, code=None)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert (result.exit_code, result.stderr) == (0, "")
    st = json.loads(result.stdout)["stats"]
    assert sum(c["inf"] for c in st["columns"].values()) > 0  # counted, not hidden
    finite = cols["lambda"][np.isfinite(cols["lambda"])]
    assert st["limits"]["lambda_high"] == float(finite.max())


@pytest.mark.parametrize("layout", ["image", "table"])
def test_zero_row_table_is_described(layout: str, base: dict[str, Path], tmp_path: Path) -> None:
    """A 0-row table (written by pixtab's own writer) is a valid, empty description."""
    from pixtab.core.io.writer import ColumnSpec, PixtableWriter

    with PixTable(base[layout]) as pt:
        header = pt.primary_header.copy()
        specs = [ColumnSpec(c.stored_name, c.dtype, c.unit) for c in pt.columns.values()]
    path = tmp_path / "zero.fits"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        w = PixtableWriter(fd, header, specs, 0, layout)
        w.write({s.name: np.zeros(0, s.dtype) for s in specs})
        w.finish(header)
    finally:
        os.close(fd)
    result = invoke("info", "--json", "--stats", path, code=None)
    assert (result.exit_code, result.stderr) == (0, "")
    got = json.loads(result.stdout)
    assert got["rows"] == 0
    assert got["layout"] == layout
    st = got["stats"]
    assert st["columns"]["xpos"] == {"min": None, "max": None, "nan": 0, "inf": 0}
    assert set(st["limits"].values()) == {None}
    assert st["ifus"] == {} and st["dq_nonzero_fraction"] == 0.0
    assert invoke("info", "--get", "nrows", path).stdout == "0\n"
    with fits.open(path) as hdul:  # astropy agrees the file is valid
        hdul.verify("exception")
        assert hdul[1].header["NAXIS2"] == 0


# -- the same faults through the commands that read tables and write files ---------------------------

COMMANDS = {
    "extract": lambda src, out: ["extract", str(src), "-o", str(out), "--slice", "1-3"],
    "convert": lambda src, out: ["convert", str(src), "-o", str(out)],
    "decode-origin": lambda src, out: ["decode-origin", str(src), "--format", "fits", "-o", str(out)],
    "reconstruct-det": lambda src, out: ["reconstruct-det", str(src), "-o", str(out)],
}


def _command(name: str) -> None:
    if name not in cli.commands:
        pytest.skip(f"pixtab {name} is not registered")


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", ["missing file", "not FITS", "no EXTNAME", "shape (1, n)", "truncated data (image)", "EXPn gap", "NAXIS2 negative"])
def test_bad_input_through_writing_commands(command: str, case: str, base: dict[str, Path], tmp_path: Path) -> None:
    _command(command)
    build, fragments = BAD[case]
    path = build(base, tmp_path)
    out = tmp_path / "out" / "result.fits"
    out.parent.mkdir()
    result = invoke(*COMMANDS[command](path, out), code=1)
    assert_one_line_error(result.stdout, result.stderr, path, *fragments)
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("command", list(COMMANDS))
def test_bad_xoffset_fails_only_commands_that_need_it(command: str, base: dict[str, Path], tmp_path: Path) -> None:
    """extract by slice and convert never decode x: they work. decode-origin and reconstruct-det name the keyword."""
    _command(command)
    name = key("EXP0 IFU01 SLICE02 XOFFSET")
    path = tmp_path / "xoffset.fits"
    path.write_bytes(set_card(base["image"].read_bytes(), 0, name, f"{name} = 'wide'"))
    out = tmp_path / "out.fits"
    result = invoke(*COMMANDS[command](path, out), code=None)
    if command in ("extract", "convert"):
        assert result.exit_code == 0, result.stderr
        assert out.exists()
        return
    assert result.exit_code == 1
    assert_one_line_error(result.stdout, result.stderr, path, "keyword 'ESO DRS MUSE PIXTABLE EXP0 IFU01 SLICE02 XOFFSET' is not an integer in 0..8191 ('wide')")
    assert not out.exists()


def test_extract_by_detector_x_needs_xoffset(base: dict[str, Path], tmp_path: Path) -> None:
    _command("extract")
    name = key("EXP0 IFU01 SLICE02 XOFFSET")
    path = tmp_path / "xoffset.fits"
    path.write_bytes(set_card(base["image"].read_bytes(), 0, name, None))
    out = tmp_path / "out.fits"
    result = invoke("extract", path, "-o", out, "--xpix", "1:200", code=1)
    assert_one_line_error(result.stdout, result.stderr, path, "keyword 'ESO DRS MUSE PIXTABLE EXP0 IFU01 SLICE02 XOFFSET' is missing")
    assert not out.exists()


@pytest.mark.parametrize("command", ["extract", "convert"])
def test_writing_commands_refuse_non_pipeline_dtypes(command: str, base: dict[str, Path], tmp_path: Path) -> None:
    _command(command)

    def change(h: fits.HDUList) -> None:
        h["LAMBDA"].data = h["LAMBDA"].data.astype("f8")

    path = variant(base["image"], tmp_path / "wide.fits", change)
    out = tmp_path / "out.fits"
    result = invoke(*COMMANDS[command](path, out), code=1)
    assert_one_line_error(result.stdout, result.stderr, path, "column 'lambda' is float64; the MUSE pipeline requires float32")
    assert not out.exists()


def test_cut_in_final_padding_is_read_with_a_warning(base: dict[str, Path], tmp_path: Path) -> None:
    """Data complete, padding (and a trailing extension) cut off: read, but say so."""
    blob = base["image"].read_bytes()
    last = _hdu(base["image"], -1)
    path = tmp_path / "shortpad.fits"
    path.write_bytes(blob[: last.data_offset + last.data_size + 10])
    result = invoke("info", "--get", "nrows", path)
    assert result.stdout == f"{ROWS}\n"
    missing = 2880 - (last.data_size + 10) % 2880
    assert result.stderr == f"pixtab: warning: {path}: file ends {missing} bytes before the end of its last block (truncated copy?)\n"


def test_weighted_table_without_weight_column_warns(base: dict[str, Path], tmp_path: Path) -> None:
    """A combined table cut just before its weight extension: still a table, but not silently."""
    blob = base["image2"].read_bytes()
    weight = next(h for h in (_hdu(base["image2"], i) for i in range(1, 9)) if h.extname == "weight")
    path = tmp_path / "noweight.fits"
    path.write_bytes(blob[: weight.header_offset])
    result = invoke("info", "--get", "columns", path)
    assert result.stdout == "xpos,ypos,lambda,data,dq,stat,origin\n"
    assert result.stderr == f"pixtab: warning: {path}: keyword 'ESO DRS MUSE PIXTABLE WEIGHTED' is T but there is no weight column\n"


@pytest.mark.parametrize("command", ["extract", "convert"])
def test_unknown_column_is_carried_by_writing_commands(command: str, base: dict[str, Path], tmp_path: Path) -> None:
    """An unknown column survives extract and convert, row for row (it holds the row index)."""
    _command(command)

    def change(h: fits.HDUList) -> None:
        h.insert(5, fits.ImageHDU(np.arange(ROWS, dtype="f4").reshape(-1, 1), name="rowid"))
        h[5].header["EXTNAME"] = "rowid"
        h[5].header["BUNIT"] = "count**2"

    src = variant(base["image"], tmp_path / "extra.fits", change)
    out = tmp_path / "out.fits"
    result = invoke(*COMMANDS[command](src, out), code=None)
    assert (result.exit_code, result.stdout) == (0, "")
    with PixTable(src) as a, PixTable(out) as b:
        assert b.columns["rowid"].unit == "count**2" and b.columns["rowid"].dtype == np.dtype("f4")
        got = b.read(["rowid", "xpos", "origin"])
        rows = got["rowid"].astype(int)
        if command == "convert":
            assert rows.tolist() == list(range(ROWS))
        else:
            assert 0 < len(rows) < ROWS and np.all(np.diff(rows) > 0)
        want = a.read(["xpos", "origin"])
        assert np.array_equal(got["xpos"], want["xpos"][rows])
        assert np.array_equal(got["origin"], want["origin"][rows])
