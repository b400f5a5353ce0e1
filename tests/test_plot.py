"""Pictures: pixtab plot (every colouring, sampling, pixel tables) and --png on image,
spectrum, fit and reconstruct-det; atomic outputs; the missing-matplotlib message."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from conftest_sources import CONFORMANCE_FILES, STAR_KW, STARS, conformance, one_line_error, run

STAR = STARS[0]


def png_shape(path) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    import matplotlib.image as mpimg

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(path)
    assert img.ndim == 3 and img[..., :3].std() > 0.01  # not blank
    return img.shape


@pytest.mark.parametrize("by", ["ifu", "slice", "exp", "dq", "data"])
def test_plot_colourings(simulated, tmp_path, by) -> None:
    src = simulated(**STAR_KW, exposures=2)
    out = tmp_path / f"{by}.png"
    r = run("plot", src, "-o", out, "--color-by", by)
    assert r.exit_code == 0, r.output
    h, w, _ = png_shape(out)
    assert w >= 800 and h >= 200 and out.stat().st_size < 2_000_000


def test_plot_samples_large_selections(simulated, tmp_path) -> None:
    from pixtab.core.io.selection import Criteria
    from pixtab.core.io.table import PixTable
    from pixtab.core.ops.skyplot import sample_sky

    src = simulated(**STAR_KW)
    with PixTable(str(src)) as pt:
        s = sample_sky(pt, Criteria(), "ifu", max_points=5000)
        assert s.total == pt.nrows and len(s.x) == 5000
        assert set(np.unique(s.colour)) == {12, 13} and s.flagged.any()
        full = sample_sky(pt, Criteria(lambdas=[(6000, 6010)]), "dq", max_points=10**6)
        assert len(full.x) == full.total  # small selections are drawn whole
    r = run("plot", src, "-o", tmp_path / "s.png", "--max-points", "5000", "--lambda", "6000:7000", "--ifu", "13")
    assert r.exit_code == 0 and "5,000 of" in r.output


def test_plot_pixel_table(simulated, tmp_path) -> None:
    assert run("plot", simulated(rows=50_000, ifus=[1, 2], wcs="pixel"), "-o", tmp_path / "p.png").exit_code == 0
    png_shape(tmp_path / "p.png")


@pytest.mark.parametrize("name", CONFORMANCE_FILES)
def test_plot_conformance_tables(tmp_path, name) -> None:
    src = conformance(name)
    assert run("plot", src, "-o", tmp_path / "c.png", "--color-by", "exp").exit_code == 0
    png_shape(tmp_path / "c.png")


def test_png_options(simulated, tmp_path) -> None:
    src = simulated(**STAR_KW)
    c = ["--circle", STAR.ra, STAR.dec, "2"]
    assert run("image", src, "--png", tmp_path / "i.png", "--peaks", "3").exit_code == 0
    assert run("spectrum", src, *c, "--bin", "50", "--png", tmp_path / "s.png").exit_code == 0
    assert run("fit", src, *c, "--bins", "4", "--png", tmp_path / "f.png").exit_code == 0
    assert run("fit", src, *c, "--png", tmp_path / "f1.png", "--model", "moffat").exit_code == 0
    assert run("reconstruct-det", src, "-o", tmp_path / "d.fits", "--ifu", "13", "--png", tmp_path / "d.png").exit_code == 0
    assert run("image", simulated(rows=50_000, ifus=[1], wcs="pixel"), "--png", tmp_path / "p.png").exit_code == 0
    for name in ("i", "s", "f", "f1", "d", "p"):
        png_shape(tmp_path / f"{name}.png")


def test_png_is_an_output(simulated, tmp_path) -> None:
    src = simulated(**STAR_KW)
    out = tmp_path / "taken.png"
    out.write_text("x")
    one_line_error(run("plot", src, "-o", out), 1)
    assert out.read_text() == "x"
    assert run("plot", src, "-o", out, "--overwrite").exit_code == 0
    one_line_error(run("image", src, "--png", src), 1)  # never the input


def test_missing_matplotlib(simulated, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    line = one_line_error(run("plot", simulated(**STAR_KW), "-o", tmp_path / "x.png"), 1)
    assert "pip install 'pixtab[plot]'" in line and not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args", [["--color-by", "colour"], ["--max-points", "10"]])
def test_usage_errors(simulated, tmp_path, args) -> None:
    assert run("plot", simulated(rows=20_000), "-o", tmp_path / "x.png", *args).exit_code == 2
    assert run("plot", simulated(rows=20_000)).exit_code == 2  # -o is required
