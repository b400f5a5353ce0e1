"""Pictures: pixtab plot (every colouring, sampling, pixel tables) and --png on image,
spectrum, fit and reconstruct-det; atomic outputs; the missing-matplotlib message."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from helpers.cli import invoke
from helpers.sources import CONFORMANCE_FILES, STAR_KW, STARS, conformance, one_line_error

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
    invoke("plot", src, "-o", out, "--color-by", by)
    h, w, _ = png_shape(out)
    assert w >= 800 and h >= 200 and out.stat().st_size < 2_000_000


def test_plot_samples_large_selections(simulated, tmp_path) -> None:
    from pixtab.core.io.criteria import Criteria
    from pixtab.core.io.table import PixTable
    from pixtab.core.ops.pictures.skyplot import sample_sky

    src = simulated(**STAR_KW)
    with PixTable(str(src)) as pt:
        s = sample_sky(pt, Criteria(), "ifu", max_points=5000)
        assert s.total == pt.nrows and len(s.x) == 5000
        assert set(np.unique(s.colour)) == {12, 13} and s.flagged.any()
        full = sample_sky(pt, Criteria(lambdas=[(6000, 6010)]), "dq", max_points=10**6)
        assert len(full.x) == full.total  # small selections are drawn whole
    r = invoke("plot", src, "-o", tmp_path / "s.png", "--max-points", "5000", "--lambda", "6000:7000", "--ifu", "13")
    assert "5,000 of" in r.output


def test_plot_pixel_table(simulated, tmp_path) -> None:
    invoke("plot", simulated(rows=50_000, ifus=[1, 2], wcs="pixel"), "-o", tmp_path / "p.png")
    png_shape(tmp_path / "p.png")


@pytest.mark.parametrize("name", CONFORMANCE_FILES)
def test_plot_conformance_tables(tmp_path, name) -> None:
    src = conformance(name)
    invoke("plot", src, "-o", tmp_path / "c.png", "--color-by", "exp")
    png_shape(tmp_path / "c.png")


def test_png_options(simulated, tmp_path) -> None:
    src = simulated(**STAR_KW)
    c = ["--circle", STAR.ra, STAR.dec, "2"]
    invoke("image", src, "--png", tmp_path / "i.png", "--peaks", "3")
    invoke("spectrum", src, *c, "--bin", "50", "--png", tmp_path / "s.png")
    invoke("fit", src, *c, "--bins", "4", "--png", tmp_path / "f.png")
    invoke("fit", src, *c, "--png", tmp_path / "f1.png", "--model", "moffat")
    invoke("reconstruct-det", src, "-o", tmp_path / "d.fits", "--ifu", "13", "--png", tmp_path / "d.png")
    invoke("image", simulated(rows=50_000, ifus=[1], wcs="pixel"), "--png", tmp_path / "p.png")
    for name in ("i", "s", "f", "f1", "d", "p"):
        png_shape(tmp_path / f"{name}.png")


def test_png_is_an_output(simulated, tmp_path) -> None:
    src = simulated(**STAR_KW)
    out = tmp_path / "taken.png"
    out.write_text("x")
    one_line_error(invoke("plot", src, "-o", out, code=1), 1)
    assert out.read_text() == "x"
    invoke("plot", src, "-o", out, "--overwrite")
    alias = tmp_path / "input.png"  # another name for the input, with a picture's extension
    alias.symlink_to(src)
    one_line_error(invoke("image", src, "--png", alias, code=1), 1)  # never the input


@pytest.mark.parametrize(("name", "magic"), [("p.png", b"\x89PNG"), ("p.pdf", b"%PDF"), ("p.svg", b"<?xml")])
def test_picture_format_follows_the_extension(simulated, tmp_path, name, magic) -> None:
    src = simulated(**STAR_KW)
    invoke("plot", src, "-o", tmp_path / name)
    assert (tmp_path / name).read_bytes().startswith(magic)


@pytest.mark.parametrize("cmd", [["plot", "-o"], ["image", "--png"], ["spectrum", "--png"]])
def test_unknown_picture_extension_is_refused(simulated, tmp_path, cmd) -> None:
    r = invoke(cmd[0], simulated(rows=20_000), cmd[1], tmp_path / "w.jpg", code=2)
    assert ".png, .pdf or .svg" in r.output and not (tmp_path / "w.jpg").exists()


@pytest.mark.parametrize("args", [["--vmin", "0", "--vmax", "200", "--stretch", "linear"], ["--zscale", "--cmap", "gray"],
                                  ["--percentiles", "1:99", "--stretch", "log"], ["--stretch", "sqrt"]])
def test_display_options(simulated, tmp_path, args) -> None:
    src = simulated(**STAR_KW)
    invoke("reconstruct-det", src, "-o", tmp_path / "d.fits", "--ifu", "13", "--png", tmp_path / "d.png", *args)
    invoke("image", src, "--png", tmp_path / "i.png", *args)
    png_shape(tmp_path / "d.png")


@pytest.mark.parametrize("args", [["--cmap", "nocolours"], ["--percentiles", "50:10"], ["--stretch", "cubic"]])
def test_display_usage_errors(simulated, tmp_path, args) -> None:
    invoke("image", simulated(rows=20_000), "--png", tmp_path / "i.png", *args, code=2)
    assert not (tmp_path / "i.png").exists()


def test_detector_limits_come_from_pixels_with_rows(tmp_path) -> None:
    """--fill 0 leaves most pixels at 0: the limits must still span the rows' wavelengths."""
    import numpy as np

    from pixtab.core.ops.pictures.detplot import DetectorImage, detector_figure
    from pixtab.core.ops.pictures.display import Display

    data = np.zeros((50, 400), np.float32)
    data[:, 100:120] = np.linspace(6000, 6100, 50)[:, None]
    images = [DetectorImage("CHAN12", np.where(data == 0, np.nan, data), 1, 1, "Angstrom", 1)]
    fig = detector_figure(images, "t", Display(), "linear", (0.0, 100.0), "lambda")
    lo, hi = fig.axes[0].images[0].norm.vmin, fig.axes[0].images[0].norm.vmax
    assert (lo, hi) == (6000.0, 6100.0)
    assert fig.axes[0].images[0].get_array().shape == (50, 20)  # cropped to the columns with rows


def test_missing_matplotlib(simulated, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    line = one_line_error(invoke("plot", simulated(**STAR_KW), "-o", tmp_path / "x.png", code=1), 1)
    assert "pip install 'pixtab[plot]'" in line and not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args", [["--color-by", "colour"], ["--max-points", "10"]])
def test_usage_errors(simulated, tmp_path, args) -> None:
    invoke("plot", simulated(rows=20_000), "-o", tmp_path / "x.png", *args, code=2)
    invoke("plot", simulated(rows=20_000), code=2)  # -o is required
