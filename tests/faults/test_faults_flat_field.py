"""Issue 13 items 17 and 23: PIXTABLE_FLAT_FIELD extensions of another shape, or with a lying header.

17: a flat field that is a 2-D IMAGE, has a vector or text lambda column, or no lambda, is carried
    untrimmed with a warning, never a KeyError/IndexError/ValueError.
23: a header such as TFIELDS = 2147483648 never sizes an allocation (no 2**31 column objects).
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import pixtab

from helpers.cli import run_pixtab
from helpers.faults import make_table, set_card, variant

FF = "PIXTABLE_FLAT_FIELD"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_table(tmp_path_factory.mktemp("ff") / "base.fits", rows=6000, ifus=[3], flat_field=True)


def _replace_ff(hdu_factory):
    def change(h: fits.HDUList) -> None:
        i = h.index_of(FF)
        h[i] = hdu_factory()

    return change


def _image() -> fits.ImageHDU:
    return fits.ImageHDU(np.ones((20, 30), np.float32), name=FF)


def _vector_lambda() -> fits.BinTableHDU:
    return fits.BinTableHDU.from_columns(
        [fits.Column("lambda", "3D", array=np.ones((10, 3))), fits.Column("data", "D", array=np.ones(10))], name=FF
    )


def _text_lambda() -> fits.BinTableHDU:
    return fits.BinTableHDU.from_columns(
        [fits.Column("lambda", "8A", array=np.array(["6000"] * 10)), fits.Column("data", "D", array=np.ones(10))], name=FF
    )


def _no_lambda() -> fits.BinTableHDU:
    return fits.BinTableHDU.from_columns([fits.Column("data", "D", array=np.ones(10))], name=FF)


def _float32_lambda() -> fits.BinTableHDU:
    lam = np.arange(4600, 9400, 10, dtype=np.float32)
    return fits.BinTableHDU.from_columns(
        [fits.Column("data", "E", array=np.ones(lam.size, np.float32)), fits.Column("LAMBDA", "E", array=lam)], name=FF
    )


SHAPES = {"image": _image, "vector lambda": _vector_lambda, "text lambda": _text_lambda, "no lambda": _no_lambda}
COMMANDS = {
    "extract --lambda": ["extract", "--lambda", "6000:6100"],
    "extract --lambda table": ["extract", "--lambda", "6000:6100", "--layout", "table"],
    "extract --ifu": ["extract", "--ifu", "3"],
    "convert": ["convert"],
}


def _run(command: list[str], src: Path, out: Path):
    return run_pixtab(command[0], src, "-o", out, *command[1:])


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_flat_field_of_another_shape_is_carried(shape: str, command: str, base: Path, tmp_path: Path) -> None:
    src = variant(base, tmp_path / "in.fits", _replace_ff(SHAPES[shape]))
    out = tmp_path / "out.fits"
    run = _run(COMMANDS[command], src, out)
    assert "internal error" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 0, run.stderr
    if command.startswith("extract --lambda"):
        assert "copied untrimmed" in run.stderr
    with fits.open(out) as hdul:
        hdul.verify("exception")
        with fits.open(src) as inp:
            assert hdul[FF].header == inp[FF].header
    assert run_pixtab("info", out).returncode == 0


def test_float32_lambda_in_another_column_order_is_trimmed(base: Path, tmp_path: Path) -> None:
    src = variant(base, tmp_path / "in.fits", _replace_ff(_float32_lambda))
    out = tmp_path / "out.fits"
    run = _run(COMMANDS["extract --lambda"], src, out)
    assert run.returncode == 0, run.stderr
    with fits.open(out) as hdul:
        lam = hdul[FF].data["LAMBDA"]
        assert lam.min() >= 6000 - 2.5 and lam.max() <= 6100 + 2.5 and len(lam) == 11


def test_simulated_flat_field_is_still_trimmed(base: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.fits"
    run = _run(COMMANDS["extract --lambda"], base, out)
    assert run.returncode == 0 and "untrimmed" not in run.stderr, run.stderr
    with fits.open(out) as hdul, fits.open(base) as inp:
        lam = hdul[FF].data["lambda"]
        want = inp[FF].data["lambda"]
        assert np.array_equal(lam, want[(want >= 5997.5) & (want <= 6102.5)])


@pytest.mark.parametrize("tfields", ["2147483648", "1000", "-1", "'x'"])
def test_huge_tfields_never_sizes_an_allocation(tfields: str, base: Path, tmp_path: Path) -> None:
    with pixtab.open(base) as pt:
        index = pt.flat_field.index  # type: ignore[union-attr]
    src = tmp_path / "in.fits"
    src.write_bytes(set_card(base.read_bytes(), index, "TFIELDS ", f"TFIELDS = {tfields:>20}"))

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # 2 GiB: 2**31 objects would not fit

    for command in ("extract --lambda", "extract --ifu", "convert"):
        out = tmp_path / f"out-{command.replace(' ', '')}.fits"
        t0 = time.monotonic()
        run = run_pixtab(*COMMANDS[command][:1], src, "-o", out, *COMMANDS[command][1:], preexec_fn=limit)
        assert time.monotonic() - t0 < 30
        assert "internal error" not in run.stderr and "Traceback" not in run.stderr, run.stderr
        assert run.returncode == 0, run.stderr  # the flat field is carried, whatever its header says
        if command == "extract --lambda":
            assert "copied untrimmed" in run.stderr
