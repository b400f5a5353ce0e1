"""Unit tests of the measuring core (pixtab.core.ops): growing canvases, the tangent plane,
the selected-row stream, the PSF models' derivatives, the initial guess, optional imports."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.sources import STAR_KW, conformance, radec, read_columns
from pixtab.core.ops.measure.canvas import Block, BinCanvas
from pixtab.core.errors import PixtabError
from pixtab.core.io.scan import Scan
from pixtab.core.io.criteria import Aperture, Criteria
from pixtab.core.io.table import PixTable


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(-300, 300), st.integers(-300, 300)), min_size=0, max_size=40), min_size=1, max_size=8))
def test_canvas_equals_one_bincount(chunks) -> None:
    canvas = BinCanvas(2)
    allpts = [p for c in chunks for p in c]
    for c in chunks:
        if c:
            r, q = np.array(c).T
            canvas.add(Block.of((r, q), {"n": None, "v": (r * 1000 + q).astype(float)}))
    if not allpts:
        assert canvas.origin is None
        return
    (r0, c0), sums = canvas.trimmed("n")
    r, q = np.array(allpts).T
    assert (r0, c0) == (r.min(), q.min())
    ref = np.zeros((r.max() - r0 + 1, q.max() - c0 + 1))
    np.add.at(ref, (r - r0, q - c0), 1)
    assert np.array_equal(sums["n"], ref)
    refv = np.zeros_like(ref)
    np.add.at(refv, (r - r0, q - c0), (r * 1000 + q).astype(float))
    assert np.allclose(sums["v"], refv)


def test_canvas_refuses_absurd_extent() -> None:
    with pytest.raises(PixtabError, match="bins"):
        Block.of((np.array([0, 10**6]),), {"n": None})


@pytest.mark.parametrize("name", ["pt_projected_image.fits", "pt_positioned.fits", "pt_drs_combined_image.fits"])
def test_tangent_plane_round_trip(name) -> None:
    from pixtab.core.io.tangent import Plane

    src = conformance(name)
    ra, dec = radec(src)
    _, cols = read_columns(src)
    with PixTable(str(src)) as pt:
        plane = Plane.of(pt)
    x, y = plane.from_table(cols["xpos"], cols["ypos"])
    x2, y2 = plane.from_sky(ra, dec)
    assert np.abs(x - x2).max() * 3600 < 1e-4 and np.abs(y - y2).max() * 3600 < 1e-4
    ra3, dec3 = plane.to_sky(x, y)
    assert np.abs(((ra3 - ra + 180) % 360 - 180) * np.cos(np.radians(dec))).max() * 3600 < 1e-4
    assert np.abs(dec3 - dec).max() * 3600 < 1e-4


@pytest.mark.parametrize("layout", ["image", "table"])
def test_stream_gives_the_selected_rows_less_the_flagged(simulated, layout) -> None:
    src = simulated(**STAR_KW, layout=layout, exposures=2)
    crit = Criteria(apertures=[Aperture("circle", 150.1163, 2.2058, 3.0)], lambdas=[(5000, 8000)], exps=[2])
    with PixTable(str(src)) as pt:
        want = Scan(pt, crit).select().rows
        _, cols = read_columns(src)
        got, flagged = [], 0
        for b in Scan(pt, crit).stream(["data", "lambda"]):
            rows = b.start + (np.arange(b.stop - b.start) if b.index is None else b.index)
            assert np.array_equal(b["data"], cols["data"][rows])
            got.append(rows)
            flagged += b.flagged
    got = np.concatenate(got)
    good = want[cols["dq"][want] == 0]
    assert np.array_equal(got, good) and flagged == len(want) - len(good) > 0


@pytest.mark.parametrize("model", ["gaussian", "moffat"])
def test_model_derivatives(model) -> None:
    from pixtab.core.ops.measure.psfmodels import MODELS

    cls = MODELS[model]
    params = {"amplitude": 3.0, "x_0": 0.1, "y_0": -0.2, "sigma": 0.4, "gamma": 0.5, "beta": 2.7, "background": 0.3}
    p = [params[n] for n in cls.param_names]
    x, y = np.meshgrid(np.linspace(-2, 2, 9), np.linspace(-2, 2, 9))
    analytic = cls.fit_deriv(x, y, *p)
    for i in range(len(p)):
        h = 1e-6 * max(1.0, abs(p[i]))
        up, dn = list(p), list(p)
        up[i] += h
        dn[i] -= h
        numeric = (cls.evaluate(x, y, *up) - cls.evaluate(x, y, *dn)) / (2 * h)
        assert np.allclose(np.broadcast_to(analytic[i], x.shape), numeric, rtol=1e-5, atol=1e-7), cls.param_names[i]


@pytest.mark.parametrize("model", ["gaussian", "moffat"])
def test_shape_jacobians(model) -> None:
    from pixtab.core.ops.measure.psfmodels import MODELS

    cls = MODELS[model]
    params = {"amplitude": 3.0, "x_0": 0.0, "y_0": 0.0, "sigma": 0.4, "gamma": 0.5, "beta": 2.7, "background": 0.0}
    jac = cls.shape_jacobian(params)
    for key, parts in jac.items():
        for name, d in parts.items():
            h = 1e-6
            up, dn = dict(params), dict(params)
            up[name] += h
            dn[name] -= h
            assert d == pytest.approx((cls.shape(up)[key] - cls.shape(dn)[key]) / (2 * h), rel=1e-5)


def test_initial_guess_finds_the_source_among_outliers() -> None:
    from pixtab.core.ops.measure.psf import initial_guess

    rng = np.random.default_rng(1)
    dx, dy = rng.uniform(-5, 5, 20000), rng.uniform(-5, 5, 20000)
    v = 100 * np.exp(-((dx - 1.5) ** 2 + (dy + 2) ** 2) / (2 * 0.34**2)) + rng.normal(0, 1, dx.size)
    v[rng.choice(dx.size, 30)] += 500  # cosmic-ray-like single rows
    x0, y0, amp, bkg = initial_guess(dx, dy, v, 0.8)
    assert math.hypot(x0 - 1.5, y0 + 2) < 0.3 and amp > 30 and abs(bkg) < 1


def test_records_text_quotes_and_nans() -> None:
    from pixtab.cli.output import records_text

    text = records_text([{"a": 1.0, "status": 'no, "really"', "n": float("nan")}], "csv").decode()
    assert text == 'a,status,n\n1,"no, ""really""",nan\n'
    assert records_text([{"n": float("nan")}], "json").decode() == '{"n": null}\n'
    assert records_text([], "csv", ["id", "ra"]).decode() == "id,ra\n"


def test_require_names_the_extra(monkeypatch) -> None:
    import sys

    from pixtab.core.ops.optional import MissingDependency, require

    monkeypatch.setitem(sys.modules, "scipy", None)
    with pytest.raises(MissingDependency, match=r"pip install 'pixtab\[fit\]'"):
        require("scipy")
