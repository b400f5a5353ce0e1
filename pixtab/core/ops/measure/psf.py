"""Fit a circular PSF to scattered samples (rows), with honest 1-sigma errors.

The fit is a weighted least-squares fit with scipy's Levenberg-Marquardt
(``leastsq``) and the models' analytic derivatives, weights 1/sqrt(variance) from the stat column.
The errors are the square roots of the covariance diagonal computed from those
weights as they are (absolute, ``absolute_sigma`` in scipy's terms): they are
NOT rescaled by the reduced chi-square, which is reported next to them so that
a user whose variances are off by a factor can scale the errors by
sqrt(chi2_red) knowingly. With correct variances the errors are right (tests
check the scatter of fitted values over noise realisations against them).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..optional import require
from ...errors import PixtabError

MIN_ROWS = 20
#: rows per block of the model evaluations (small arrays stay in the CPU caches)
BLOCK_ROWS = 1 << 15
#: rows per piece of the covariance's sum J^T W J: fixed (not BLOCK_ROWS), so that the errors,
#: whose last bits depend on how that sum is cut, do not change with the evaluation blocks
COV_ROWS = 1 << 15
#: rows of the sample whose fit starts the fit of a table of more than 4x as many
WARM_ROWS = 1 << 16
MIN_SIGNIFICANCE = 5.0  # fitted peak / its error below which there is no source


class FitError(PixtabError):
    """A fit that cannot be made or did not converge (message says why)."""


@dataclass
class PsfFit:
    """Fitted parameters (offsets and FWHM in arcsec; pixels for pixel tables), errors, quality."""

    model: str
    values: dict[str, float]
    errors: dict[str, float]
    chi2_red: float
    rows: int
    extra: dict[str, float] = field(default_factory=dict)

    def get(self, name: str) -> float:
        return self.values.get(name, math.nan)

    def err(self, name: str) -> float:
        return self.errors.get(name, math.nan)


def initial_guess(dx: np.ndarray, dy: np.ndarray, v: np.ndarray, fwhm0: float) -> tuple[float, float, float, float]:
    """(x, y, amplitude, background): the brightest cell of a coarse map of the rows.

    Rows are averaged in cells of half the starting FWHM (cells with at least
    two rows count), which finds the source even when single bright rows
    (noise, other sources in other exposures) are scattered around.
    """
    bkg = float(np.median(v))
    cell = max(fwhm0 / 2.0, 1e-9)
    ix = np.floor((dx - dx.min()) / cell).astype(np.int64)
    iy = np.floor((dy - dy.min()) / cell).astype(np.int64)
    nx = int(ix.max()) + 1
    if nx * (int(iy.max()) + 1) > 4_000_000:  # absurd extent for the FWHM: fall back on the brightest rows
        k = max(5, min(len(v) // 50, 200))
        top = np.argpartition(v, -k)[-k:]
        return float(np.median(dx[top])), float(np.median(dy[top])), max(float(v[top].mean() - bkg), 1e-30), bkg
    flat = iy * nx + ix
    n = np.bincount(flat)
    s = np.bincount(flat, weights=v)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n >= 2, s / n, -np.inf)
    best = int(np.argmax(mean))
    if not np.isfinite(mean[best]):
        best = int(np.argmax(np.where(n > 0, s / np.maximum(n, 1), -np.inf)))
    members = flat == best
    x0, y0 = float(dx[members].mean()), float(dy[members].mean())
    amp = float(v[members].mean() - bkg)
    return x0, y0, max(amp, 1e-30), bkg


def fit_psf(
    dx: np.ndarray,
    dy: np.ndarray,
    value: np.ndarray,
    variance: np.ndarray,
    model: str = "gaussian",
    background: bool = True,
    fwhm0: float = 0.8,
    spaxel_area: float = 0.04,
) -> PsfFit:
    """Fit ``model`` to samples at offsets (dx, dy); ``fwhm0`` is the starting FWHM.

    Rows with non-finite values or non-positive variances are left out. The
    reported ``flux`` is the model's integral divided by ``spaxel_area``: the
    sum over spaxels a cube of that sampling would hold.
    """
    require("scipy")
    from .psfmodels import MODELS, SIGMA_TO_FWHM

    if model not in MODELS:
        raise PixtabError(f"unknown PSF model {model!r} (choose {', '.join(MODELS)})")
    dx, dy = np.asarray(dx, np.float64), np.asarray(dy, np.float64)
    v, var = np.asarray(value, np.float64), np.asarray(variance, np.float64)
    ok = np.isfinite(dx) & np.isfinite(dy) & np.isfinite(v) & np.isfinite(var) & (var > 0)
    if not ok.all():  # (no copies of a million rows when every one is usable)
        dx, dy, v, var = dx[ok], dy[ok], v[ok], var[ok]
    cls = MODELS[model]
    npar = len(cls.param_names) - (0 if background else 1)
    if len(v) < max(MIN_ROWS, 5 * npar):
        raise FitError(f"too few rows to fit ({len(v)}; need at least {max(MIN_ROWS, 5 * npar)})")
    x0, y0, amp, bkg = initial_guess(dx, dy, v, fwhm0)
    if model == "gaussian":
        start = [amp, x0, y0, fwhm0 / SIGMA_TO_FWHM, bkg if background else 0.0]
    else:
        beta0 = 2.5
        start = [amp, x0, y0, fwhm0 / (2 * math.sqrt(2 ** (1 / beta0) - 1)), beta0, bkg if background else 0.0]
    names = [n for n in cls.param_names if background or n != "background"]
    w = 1.0 / np.sqrt(var)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = _warm_start(cls, np.array(start, np.float64), names, dx, dy, v, w)
        params, info = _levmar(cls, start, names, dx, dy, v, w)
    if info["ierr"] not in (1, 2, 3, 4):  # MINPACK's success codes
        reason = str(info.get("message", "")).strip().splitlines()
        raise FitError("the fit did not converge" + (f" ({reason[0].rstrip('.')})" if reason else ""))
    values = {n: float(p) for n, p in zip(cls.param_names, params)}
    if not all(math.isfinite(x) for x in values.values()):
        raise FitError("the fit did not converge (non-finite parameters)")
    cov = _covariance(cls, params, dx, dy, var, names)
    if cov is None:
        raise FitError("the fit did not converge (singular covariance: the data do not constrain the model)")
    errors = {n: math.sqrt(max(cov[i, i], 0.0)) for i, n in enumerate(names)}
    if not background:
        errors["background"] = 0.0
    resid = (v - cls.evaluate(dx, dy, *params)) ** 2 / var
    chi2_red = float(resid.sum() / max(len(v) - len(names), 1))
    shape = cls.shape(values)
    jac = cls.shape_jacobian(values)
    for key, val in shape.items():
        g = np.array([jac[key].get(n, 0.0) for n in names])
        errors[key] = math.sqrt(max(float(g @ cov @ g), 0.0))
        values[key] = val
    values["flux"], errors["flux"] = values.pop("integral") / spaxel_area, errors.pop("integral") / spaxel_area
    values["peak"], errors["peak"] = values.pop("amplitude"), errors.pop("amplitude")
    values["x"], errors["x"] = values.pop("x_0"), errors.pop("x_0")
    values["y"], errors["y"] = values.pop("y_0"), errors.pop("y_0")
    if not values["fwhm"] > 0 or not values["peak"] > 0:
        raise FitError("the fit did not converge (no source: peak or FWHM <= 0)")
    if values["peak"] < MIN_SIGNIFICANCE * errors["peak"]:
        raise FitError(
            f"no significant source (fitted peak {values['peak']:.3g} +- {errors['peak']:.2g}, "
            f"below {MIN_SIGNIFICANCE:g} sigma)"
        )
    return PsfFit(model, values, errors, chi2_red, int(len(v)))


def _warm_start(cls, start, names, dx, dy, v, w):  # type: ignore[no-untyped-def]
    """A start near the solution for a fit of many rows: the fit of an even sample of them.

    Levenberg-Marquardt's iterations each cost a pass over every row (a million for a 4"
    cut of an exposure); from the sample's solution the fit of all rows converges in a few.
    The sample only moves the start: the result is the full fit's, to its tolerance.
    """
    step = len(v) // WARM_ROWS
    if step < 4:
        return start
    try:
        params, info = _levmar(cls, start, names, dx[::step], dy[::step], v[::step], w[::step])
    except FitError:
        return start
    ok = info["ierr"] in (1, 2, 3, 4) and np.all(np.isfinite(params))
    return params if ok else start


def _levmar(cls, start, names, dx, dy, v, w):  # type: ignore[no-untyped-def]
    """Weighted least squares by scipy's ``leastsq`` (MINPACK's Levenberg-Marquardt) with the
    model's analytic derivatives; parameters not in ``names`` stay at their start value.

    The same problem, step for step, as astropy's ``LevMarLSQFitter`` set it up (values
    clipped to the bounds before each evaluation; tolerance 1e-7, 200 evaluations).
    Returns the parameters (clipped) and leastsq's information with ``ierr`` and ``message``.
    """
    from scipy import optimize

    free = [cls.param_names.index(n) for n in names]
    fixed = len(free) < len(cls.param_names)
    bounds = [cls.bounds.get(cls.param_names[i], (None, None)) for i in free]

    def full(fps):  # type: ignore[no-untyped-def]
        p = start.copy()
        for k, (i, (lo, hi)) in enumerate(zip(free, bounds)):
            value = fps[k]
            if lo is not None:
                value = np.fmax(value, lo)
            if hi is not None:
                value = np.fmin(value, hi)
            p[i] = value
        return p

    # The model and its derivatives are computed block by block into buffers kept for the
    # whole fit: element-wise the same numbers, without a dozen arrays of every sample
    # (1e6 rows: 8 MB each) made and page-faulted at each of the ~20 evaluations.
    blocks = [slice(a, a + BLOCK_ROWS) for a in range(0, len(v), BLOCK_ROWS)]
    res = np.empty(len(v))
    jac = np.empty((len(free), len(v)))

    def residuals(fps):  # type: ignore[no-untyped-def]
        p = full(fps)
        for b in blocks:
            np.multiply(w[b], cls.evaluate(dx[b], dy[b], *p) - v[b], out=res[b])
        if not np.all(np.isfinite(res)):
            raise FitError("the fit did not converge (Objective function has encountered a non-finite value, "
                           "this will cause the fit to fail)")
        return res  # leastsq copies it

    def jacobian(fps):  # type: ignore[no-untyped-def]
        p = full(fps) if fixed else fps
        for b in blocks:
            derivs = cls.fit_deriv(dx[b], dy[b], *p)
            for k, i in enumerate(free):
                np.multiply(w[b], derivs[i], out=jac[k, b])
        return jac  # leastsq copies it

    eps = float(np.sqrt(np.finfo(float).eps))
    try:
        fitted, _, info, message, ierr = optimize.leastsq(
            residuals, start[free], Dfun=jacobian, col_deriv=True, maxfev=200, epsfcn=eps**2, xtol=1e-7, full_output=True
        )
    except FitError:
        raise
    except Exception as exc:  # scipy raises on degenerate or diverging problems
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise FitError(f"the fit did not converge ({reason.rstrip('!.')})") from None
    info.update(message=message, ierr=ierr)
    return full(fitted), info


def _covariance(cls, params, dx, dy, var, names) -> np.ndarray | None:  # type: ignore[no-untyped-def]
    """(J^T W J)^-1 at the solution, from the model's analytic derivatives (summed block by
    block: no matrix of every sample's derivatives)."""
    idx = [cls.param_names.index(n) for n in names]
    jtj = np.zeros((len(idx), len(idx)))
    for a in range(0, len(dx), COV_ROWS):
        b = slice(a, a + COV_ROWS)
        cols = cls.fit_deriv(dx[b], dy[b], *params)
        sd = np.sqrt(var[b])
        jac = np.empty((len(idx), sd.size))
        for k, i in enumerate(idx):
            np.divide(np.broadcast_to(cols[i], sd.shape), sd, out=jac[k])
        jtj += jac @ jac.T
    try:
        cov = np.linalg.inv(jtj)
    except np.linalg.LinAlgError:
        return None
    return cov if np.all(np.isfinite(cov)) and np.all(np.diag(cov) >= 0) else None
