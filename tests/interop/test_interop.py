"""What pixtab writes, the real MUSE pipeline reads; what the pipeline writes, pixtab reads right.

Marked ``interop``; skipped (and listed as skipped) when esorex is not installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import pixtab
from pixtab.core.format import origin as org

from helpers import drs
from helpers.cli import invoke

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not drs.esorex_available(), reason=f"MUSE pipeline unavailable: {drs.unavailable_reason()}"),
]


def _simulate(path: Path, *args: str) -> Path:
    invoke("simulate", path, *args)
    return path


@pytest.mark.parametrize("layout", ["image", "table"])
@pytest.mark.parametrize("wcs", ["pixel", "projected", "positioned"])
def test_simulated_single_exposure_makes_a_cube(tmp_path: Path, wcs: str, layout: str) -> None:
    src = _simulate(tmp_path / "sim.fits", "--nrows", "40000", "--ifus", "5,6", "--wcs", wcs, "--layout", layout)
    cube = drs.make_cube(src, tmp_path)
    assert fits.getdata(cube, 1).ndim == 3


@pytest.mark.parametrize("layout", ["image", "table"])
def test_simulated_combined_table_makes_a_cube_and_round_trips(tmp_path: Path, layout: str) -> None:
    src = _simulate(tmp_path / "comb.fits", "--nrows", "30000", "--ifus", "10,11", "--exposures", "3", "--layout", layout)
    drs.make_cube(src, tmp_path)
    back = drs.roundtrip(src, tmp_path)
    with pixtab.open(src) as a, pixtab.open(back) as b:
        assert b.nrows == a.nrows
        da, db = a.read(None), b.read(None)
        for name in da:
            assert da[name].tobytes() == db[name].tobytes(), name


def test_flat_field_extension_is_accepted(tmp_path: Path) -> None:
    src = _simulate(tmp_path / "ff.fits", "--nrows", "20000", "--ifus", "3", "--flat-field")
    drs.make_cube(src, tmp_path)


@pytest.fixture(scope="module")
def drs_combined(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """Three simulated projected exposures combined by muse_scipost_combine_pixtables."""
    if not drs.esorex_available():
        pytest.skip("MUSE pipeline unavailable")
    base = tmp_path_factory.mktemp("drscomb")
    inputs = []
    pointings = [(150.1163, 2.2058), (150.1170, 2.2050), (150.1155, 2.2066)]
    for k, (ra, dec) in enumerate(pointings, 1):
        path = _simulate(
            base / f"exp{k}.fits", "--nrows", "15000", "--ifus", f"{k + 3},{k + 4}", "--wcs", "projected",
            "--ra", str(ra), "--dec", str(dec), "--seed", str(k),
        )
        # Distinct DATE-OBS and exposure times, as real exposures have.
        fits.setval(path, "DATE-OBS", value=f"2023-03-14T05:{10 + 15 * k}:00.000")
        fits.setval(path, "EXPTIME", value=[900.0, 900.0, 450.0][k - 1])
        inputs.append(path)
    return drs.combine_pixtables(inputs, base), inputs


def test_pixtab_reads_a_drs_combined_table(drs_combined: tuple[Path, list[Path]]) -> None:
    combined, inputs = drs_combined
    info = json.loads(invoke("info", "--json", combined).stdout)
    assert info["combined"] == 3 and info["wcs"] == "positioned" and info["has_weight"]
    assert [e["exp"] for e in info["exposures"]] == [1, 2, 3]
    sizes = [e["last"] - e["first"] + 1 for e in info["exposures"]]
    # Each input exposure's rows (within the default 4000-10000 A cut) are one exposure of the output.
    assert sorted(sizes) == sorted(pixtab.open(p).nrows for p in inputs)


def test_detector_coordinates_survive_drs_combination(drs_combined: tuple[Path, list[Path]]) -> None:
    """Every output row decodes (with its exposure's EXPn XOFFSET) to a pixel of its input exposure."""
    combined, inputs = drs_combined
    with pixtab.open(combined) as pt:
        o = pt.read(["origin"])["origin"]
        d = org.DetectorDecoder.of(pt).decode(o, 0)
        exp, x, y = d["exp"], d["x"], d["y"]
        ifu = org.get_ifu(o)
    seen_inputs = {}
    for path in inputs:
        with pixtab.open(path) as src:
            so = src.read(["origin"])["origin"]
            d = org.DetectorDecoder.of(src).decode(so, 0)
            sx, sy = d["x"], d["y"]
            seen_inputs[path] = set(zip(org.get_ifu(so).tolist(), sx.tolist(), sy.tolist()))
    for k in (1, 2, 3):
        rows = exp == k
        pixels = set(zip(ifu[rows].tolist(), x[rows].tolist(), y[rows].tolist()))
        assert any(pixels == s for s in seen_inputs.values()), f"exposure {k} decodes to no input's pixels"


@pytest.mark.parametrize("layout", ["image", "table"])
def test_extract_output_makes_a_cube(tmp_path: Path, layout: str) -> None:
    src = _simulate(tmp_path / "sim.fits", "--nrows", "200000", "--ifus", "11-14")
    out = tmp_path / "star.fits"
    args = ["extract", str(src), "-o", str(out), "--circle", "150.1163", "2.2058", "3arcsec",
            "--lambda", "6000:6600", "--layout", layout]
    invoke(*args)
    assert fits.getdata(drs.make_cube(out, tmp_path), 1).ndim == 3
    back = drs.roundtrip(out, tmp_path)
    assert pixtab.open(back).nrows == pixtab.open(out).nrows


def _decoded(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(exp, xpix 1-based) of every row, from pixtab decode-origin's CSV."""
    result = invoke("decode-origin", path)
    table = np.loadtxt(result.stdout.splitlines()[1:], delimiter=",", dtype=np.int64)
    assert result.stdout.splitlines()[0] == "row,ifu,slice,xpix,ypix,exp"
    return table[:, 5], table[:, 3]


def test_extract_exp_and_xpix_on_a_drs_combined_table(drs_combined: tuple[Path, list[Path]], tmp_path: Path) -> None:
    """extract --exp and --xpix on what the pipeline wrote select exactly the rows decode-origin says."""
    combined, _ = drs_combined
    exp, xpix = _decoded(combined)
    with pixtab.open(combined) as pt:
        data = pt.read(["data", "origin"])
    for args, keep in ((["--exp", "2"], exp == 2), (["--xpix", "1000:1400"], (xpix >= 1000) & (xpix < 1400))):
        out = tmp_path / f"x{len(args[1])}.fits"
        invoke("extract", combined, "-o", out, *args)
        with pixtab.open(out) as sub:
            got = sub.read(["data", "origin"])
        assert got["origin"].tobytes() == data["origin"][keep].tobytes()
        assert got["data"].tobytes() == data["data"][keep].tobytes()
        # The pipeline loads the extracted combined table, and decodes it like pixtab does.
        back = drs.roundtrip(out, tmp_path)
        sub_exp, sub_x = _decoded(back)
        assert np.array_equal(sub_exp, exp[keep]) and np.array_equal(sub_x, xpix[keep])
