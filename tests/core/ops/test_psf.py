"""The PSF fit (core/ops/measure/psf.py).

It evaluates its model block by block: the fitted values and errors are bit for bit those
of any other block size, one block included (the covariance sums its pieces of a fixed
COV_ROWS rows whatever the block size). A fit of many rows starts from the fit of an even
sample of them: that moves the result by far less than its errors."""

from __future__ import annotations

import numpy as np
import pytest

from pixtab.core.ops.measure import psf, psfmodels


def _star(n: int, seed: int = 3) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    dx, dy = rng.uniform(-3, 3, n), rng.uniform(-3, 3, n)
    var = rng.uniform(0.5, 2.0, n)
    v = 50 * np.exp(-((dx - 0.2) ** 2 + (dy + 0.1) ** 2) / (2 * 0.35**2)) + 0.3 + rng.normal(0, np.sqrt(var))
    return dx, dy, v, var


@pytest.mark.parametrize("model", ["gaussian", "moffat"])
@pytest.mark.parametrize("background", [True, False])
def test_block_size_changes_no_bit(model: str, background: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    dx, dy, v, var = _star(20_000)
    fits = []
    for rows in (1 << 40, 1 << 15, 999):  # one block, the default, blocks ending anywhere
        monkeypatch.setattr(psf, "BLOCK_ROWS", rows)
        fits.append(psf.fit_psf(dx, dy, v, var, model, background))
    for f in fits[1:]:
        assert f.values == fits[0].values
        assert f.errors == fits[0].errors
        assert f.chi2_red == fits[0].chi2_red


def test_covariance_pieces_are_the_whole_matrix() -> None:
    """Summing J^T W J piece by piece is the covariance of the whole matrix, to rounding."""
    dx, dy, v, var = _star(70_000)
    cls = psfmodels.CircularGaussian
    params = np.array([50.0, 0.2, -0.1, 0.35, 0.3])
    names = list(cls.param_names)
    pieces = psf._covariance(cls, params, dx, dy, var, names)
    jac = np.column_stack([np.broadcast_to(c, dx.shape) for c in cls.fit_deriv(dx, dy, *params)]) / np.sqrt(var)[:, None]
    whole = np.linalg.inv(jac.T @ jac)
    np.testing.assert_allclose(pieces, whole, rtol=1e-9, atol=0)


@pytest.mark.parametrize("model", ["gaussian", "moffat"])
@pytest.mark.parametrize("background", [True, False])
def test_warm_start_moves_the_fit_far_less_than_its_errors(model: str, background: bool,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    dx, dy, v, var = _star(40_000, seed=7)
    starts = []
    real = psf._levmar

    def levmar(cls, start, names, *rows):  # type: ignore[no-untyped-def]
        starts.append((len(rows[0]), start.copy()))
        return real(cls, start, names, *rows)

    monkeypatch.setattr(psf, "_levmar", levmar)
    monkeypatch.setattr(psf, "WARM_ROWS", 1 << 12)  # 40,000 rows: a sample of every 9th
    warm = psf.fit_psf(dx, dy, v, var, model, background)
    assert [n for n, _ in starts] == [len(range(0, 40_000, 9)), 40_000]
    assert not np.array_equal(starts[0][1], starts[1][1])  # the full fit started from the sample's
    monkeypatch.setattr(psf, "WARM_ROWS", 1 << 40)  # no sample: from the initial guess
    starts.clear()
    cold = psf.fit_psf(dx, dy, v, var, model, background)
    assert [n for n, _ in starts] == [40_000]
    assert warm.values.keys() == cold.values.keys()
    for name, value in cold.values.items():
        assert abs(warm.values[name] - value) <= 0.01 * cold.errors[name] or name == "background" and not background
        assert warm.errors[name] == pytest.approx(cold.errors[name], rel=1e-3)
    assert warm.chi2_red == pytest.approx(cold.chi2_red, rel=1e-7)
