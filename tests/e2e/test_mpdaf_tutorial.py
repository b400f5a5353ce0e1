"""MPDAF's PixTable tutorial (examples/mpdaf_tutorial.py) with MPDAF and with pixtab.mpdaf,
on the same simulated tables: every value the tutorial shows must agree.

Needs MPDAF (in the ``test`` and ``bench`` extras) and scipy; skipped with that reason without.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers.cli import invoke

ROOT = Path(__file__).resolve().parents[2]
RA, DEC = 150.1163, 2.2058


def _mpdaf_pixtable():  # type: ignore[no-untyped-def]
    pytest.importorskip("scipy", reason="the tutorial's fit needs scipy")
    if importlib.util.find_spec("mpdaf") is None:
        pytest.skip("MPDAF is not installed (pip install mpdaf, or pixtab[test]): nothing to compare with")
    if not hasattr(np, "NaN"):
        np.NaN = np.nan  # type: ignore[attr-defined]  # MPDAF 3.6 imports need it under numpy 2
    from mpdaf.drs import PixTable

    return PixTable


def _tutorial():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("mpdaf_tutorial", ROOT / "examples" / "mpdaf_tutorial.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["mpdaf_tutorial"] = mod
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def _same(key: str, ours: object, theirs: object) -> None:
    if isinstance(theirs, dict):
        assert ours.keys() == theirs.keys(), key  # type: ignore[attr-defined]
        for k in theirs:
            _same(f"{key}[{k}]", ours[k], theirs[k])  # type: ignore[index]
    elif isinstance(theirs, tuple):
        assert len(ours) == len(theirs), key  # type: ignore[arg-type]
        for i, (a, b) in enumerate(zip(ours, theirs)):  # type: ignore[call-overload]
            _same(f"{key}[{i}]", a, b)
    else:
        a, b = np.asarray(ours), np.asarray(theirs)
        assert a.shape == b.shape, key
        np.testing.assert_array_equal(a, b, err_msg=key)


@pytest.mark.parametrize("wcs", ["projected", "positioned"])
def test_the_tutorial_gives_mpdafs_numbers(tmp_path: Path, wcs: str) -> None:
    MpdafPixTable = _mpdaf_pixtable()
    from pixtab.cli import cli
    from pixtab.mpdaf import PixTable

    table = tmp_path / "t.fits"
    args = ["simulate", str(table), "--nrows", "4e5", "--ifus", "12,13", "--wcs", wcs, "--source", str(RA), str(DEC), "0.8", "5000"]
    invoke(*args)
    tut = _tutorial()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ours = tut.run(PixTable, str(table), RA, DEC, str(tmp_path / "a"))
    theirs = tut.run(MpdafPixTable, str(table), RA, DEC, str(tmp_path / "b"))
    assert ours.keys() == theirs.keys()
    assert ours["objpix.nrows"] > 300 and len(ours["unique(ifu)"]) == 2
    for key in theirs:
        _same(key, ours[key], theirs[key])
