"""pixtab.core.format.limits: LIMITS computed as the DRS does, reserved then finished in place."""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from pixtab.core.fits.structure import header_bytes
from pixtab.core.format.keywords import key
from pixtab.core.format.limits import LimitsAccumulator, finish_limits, reserve_limits
from pixtab.core.format.origin import encode


def test_reserve_then_finish_keeps_the_header_size() -> None:
    h = fits.Header([("SIMPLE", True), ("CRVAL1", 10.0), ("CRVAL2", -5.0)])
    reserve_limits(h, True)
    size = len(header_bytes(h))
    acc = LimitsAccumulator()
    acc.add(np.array([0.5, np.nan], np.float32), np.array([1.0, 2.0], np.float32),
            np.array([5000.0, np.inf], np.float32), encode([1, 2], [10, 20], [7, 9], [3, 40]))
    finish_limits(h, acc, "positioned", (10.0, -5.0))
    assert len(header_bytes(h)) == size
    assert h[key("LIMITS X LOW")] == h[key("LIMITS X HIGH")] == 10.5  # absolute in the positioned state
    assert (h[key("LIMITS Y LOW")], h[key("LIMITS Y HIGH")]) == (-4.0, -3.0)
    assert h[key("LIMITS LAMBDA HIGH")] == 5000.0  # inf and NaN ignored
    assert (h[key("LIMITS IFU LOW")], h[key("LIMITS IFU HIGH")], h[key("LIMITS SLICE HIGH")]) == (7, 9, 40)
    finish_limits(h, None, "positioned", None)  # no rows: no LIMITS
    assert key("LIMITS X LOW") not in h
