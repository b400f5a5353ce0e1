"""The PSF fit evaluates its model block by block (core/ops/measure/psf.py): the fitted
values and errors are bit for bit those of any other block size, one block included."""

from __future__ import annotations

import numpy as np
import pytest

from pixtab.core.ops.measure import psf


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
