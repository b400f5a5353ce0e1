"""Circular PSF models with a flat background: values, analytic derivatives, bounds.

Plain functions of the parameters (no astropy.modeling: importing it costs more
than a fit of 1e5 rows), fitted by :func:`pixtab.core.ops.measure.psf.fit_psf` with
scipy's Levenberg-Marquardt and these derivatives. Coordinates are sky offsets
in arcsec (pixels for pixel tables).
"""

from __future__ import annotations

import math

import numpy as np

SIGMA_TO_FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))
BETA_MAX = 50.0  # a Moffat with a larger beta is a Gaussian for any practical purpose


class CircularGaussian:
    """amplitude * exp(-r^2 / (2 sigma^2)) + background."""

    param_names = ("amplitude", "x_0", "y_0", "sigma", "background")
    bounds: dict[str, tuple[float | None, float | None]] = {"sigma": (1e-6, None)}

    @staticmethod
    def evaluate(x, y, amplitude, x_0, y_0, sigma, background):  # type: ignore[no-untyped-def]
        return amplitude * np.exp(-((x - x_0) ** 2 + (y - y_0) ** 2) / (2 * sigma**2)) + background

    @staticmethod
    def fit_deriv(x, y, amplitude, x_0, y_0, sigma, background):  # type: ignore[no-untyped-def]
        dx, dy = x - x_0, y - y_0
        r2 = dx**2 + dy**2
        g = np.exp(-r2 / (2 * sigma**2))
        ag = amplitude * g
        return [g, ag * dx / sigma**2, ag * dy / sigma**2, ag * r2 / sigma**3, np.ones_like(x)]

    @staticmethod
    def shape(params: dict[str, float]) -> dict[str, float]:
        """FWHM and the integral over the plane, from fitted parameters."""
        s, a = params["sigma"], params["amplitude"]
        return {"fwhm": SIGMA_TO_FWHM * abs(s), "integral": 2 * math.pi * a * s * s}

    @staticmethod
    def shape_jacobian(params: dict[str, float]) -> dict[str, dict[str, float]]:
        s, a = params["sigma"], params["amplitude"]
        return {
            "fwhm": {"sigma": SIGMA_TO_FWHM},
            "integral": {"amplitude": 2 * math.pi * s * s, "sigma": 4 * math.pi * a * s},
        }


class CircularMoffat:
    """amplitude * (1 + r^2 / gamma^2) ** -beta + background (beta > 1: finite flux)."""

    param_names = ("amplitude", "x_0", "y_0", "gamma", "beta", "background")
    bounds: dict[str, tuple[float | None, float | None]] = {"gamma": (1e-6, None), "beta": (1.01, BETA_MAX)}

    @staticmethod
    def evaluate(x, y, amplitude, x_0, y_0, gamma, beta, background):  # type: ignore[no-untyped-def]
        u = 1 + ((x - x_0) ** 2 + (y - y_0) ** 2) / gamma**2
        return amplitude * u**-beta + background

    @staticmethod
    def fit_deriv(x, y, amplitude, x_0, y_0, gamma, beta, background):  # type: ignore[no-untyped-def]
        dx, dy = x - x_0, y - y_0
        r2 = dx**2 + dy**2
        u = 1 + r2 / gamma**2
        m = u**-beta
        am_u = amplitude * beta * m / u
        return [
            m,
            am_u * 2 * dx / gamma**2,
            am_u * 2 * dy / gamma**2,
            am_u * 2 * r2 / gamma**3,
            -amplitude * m * np.log(u),
            np.ones_like(x),
        ]

    @staticmethod
    def shape(params: dict[str, float]) -> dict[str, float]:
        g, b, a = abs(params["gamma"]), params["beta"], params["amplitude"]
        return {"fwhm": 2 * g * math.sqrt(2 ** (1 / b) - 1), "integral": math.pi * a * g * g / (b - 1)}

    @staticmethod
    def shape_jacobian(params: dict[str, float]) -> dict[str, dict[str, float]]:
        g, b, a = abs(params["gamma"]), params["beta"], params["amplitude"]
        k = math.sqrt(2 ** (1 / b) - 1)
        dk_db = -(2 ** (1 / b)) * math.log(2) / (2 * b * b * k)
        return {
            "fwhm": {"gamma": 2 * k, "beta": 2 * g * dk_db},
            "integral": {
                "amplitude": math.pi * g * g / (b - 1),
                "gamma": 2 * math.pi * a * g / (b - 1),
                "beta": -math.pi * a * g * g / (b - 1) ** 2,
            },
        }


MODELS: dict[str, type[CircularGaussian] | type[CircularMoffat]] = {"gaussian": CircularGaussian, "moffat": CircularMoffat}
