"""The pixel table rebuilt from a Parquet/Arrow export loads in the real MUSE pipeline (esorex)."""

from __future__ import annotations

from pathlib import Path

import pytest
from astropy.io import fits

import pixtab

from helpers import drs
from helpers.cli import invoke

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not drs.esorex_available(), reason=f"MUSE pipeline unavailable: {drs.unavailable_reason()}"),
]
pytest.importorskip("pyarrow")


@pytest.mark.parametrize("suffix, layout", [(".parquet", "image"), (".arrow", "table")])
def test_rebuilt_export_makes_a_cube_and_round_trips(tmp_path: Path, suffix: str, layout: str) -> None:
    src = tmp_path / "sim.fits"
    invoke("simulate", src, "--nrows", "60000", "--ifus", "10,11", "--exposures", "2", "--flat-field")
    invoke("export", src, "-o", tmp_path / f"rows{suffix}", "--decode", "--good", "--lambda", "4600:9000")
    back = tmp_path / "back.fits"
    invoke("convert", tmp_path / f"rows{suffix}", "-o", back, "--to", layout)
    assert fits.getdata(drs.make_cube(back, tmp_path), 1).ndim == 3
    resaved = drs.roundtrip(back, tmp_path)
    with pixtab.open(back) as a, pixtab.open(resaved) as b:
        assert a.nrows == b.nrows
        da, db = a.read(None), b.read(None)
        for name in da:
            assert da[name].tobytes() == db[name].tobytes(), name
