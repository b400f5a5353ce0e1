"""PSF fits to the rows of a pixel table: over the whole wavelength range and per bin.

Rows are the selected ones (dq-flagged and non-finite rows left out). Their sky
offsets from the aperture centre are in arcsec in the aperture metric
(dx = dRA cos(dec_centre), dy = dDec), and fitted centres are turned back into
RA/Dec the same way. Without an aperture, the centre is the middle of the rows.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import numpy as np

from .neighbours import find_neighbours, mask_rows
from .psf import FitError, PsfFit, fit_psf
from .psfmodels import BETA_MAX
from ...errors import CriteriaError, InputError
from ...format.sky import SkyFrame
from ...io.plan import PlanOptions
from ...io.scan import Scan
from ...io.criteria import Criteria
from ...io.table import PixTable
from ...progress import SILENT, Progress
from ..explain import empty_selection

log = logging.getLogger(__name__)

#: most rows a fit keeps in memory (5 float64 columns: 200 MB)
MAX_ROWS = 5_000_000

UNITS = {
    "lambda_lo": "Angstrom", "lambda_hi": "Angstrom", "lambda": "Angstrom", "ra": "deg", "dec": "deg",
    "dx": "arcsec", "dy": "arcsec", "fwhm": "arcsec", "beta": "", "peak": "data", "flux": "data",
    "background": "data", "chi2_red": "", "rows": "",
}


#: most wavelength bins a fit makes (as many as --bins allows)
MAX_BINS = 10_000


@dataclass(frozen=True)
class FitRequest:
    model: str = "gaussian"
    background: bool = True
    bins: int | None = None
    bin_width: float | None = None
    fwhm0: float = 0.8  # starting FWHM, arcsec

    def __post_init__(self) -> None:
        if self.bins is not None and self.bin_width is not None:
            raise CriteriaError("give either a number of wavelength bins or a bin width, not both", field="bins")
        if self.bins is not None and self.bins < 1:
            raise CriteriaError(f"the number of bins must be at least 1, not {self.bins}", field="bins")
        if self.bin_width is not None and not (self.bin_width > 0 and math.isfinite(self.bin_width)):
            raise CriteriaError(f"the bin width must be a positive number of Angstrom, not {self.bin_width}", field="bin")


@dataclass
class FitRows:
    """The rows a fit uses, as offsets from the centre (arcsec)."""

    dx: np.ndarray
    dy: np.ndarray
    lam: np.ndarray
    data: np.ndarray
    stat: np.ndarray
    ra_c: float
    dec_c: float
    reach: float  # aperture radius / half side (arcsec), or the farthest row
    square: bool
    flagged: int
    #: offsets (arcsec) of other sources found in the aperture, whose rows were left out
    neighbours: tuple[tuple[float, float], ...] = ()


def sky_rows(
    pt: PixTable, criteria: Criteria, progress: Progress = SILENT, plan: PlanOptions | None = None
) -> tuple[dict[str, np.ndarray], int]:
    """The selected, unflagged rows as RA/Dec (deg), lambda, data, stat (float64), and the flagged count."""
    frame = SkyFrame.of(pt)
    if frame.is_pixel:
        raise InputError(pt.path, "pixel-unit table: no sky positions to fit (a fit needs a projected or positioned table)")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("ra", "dec", "lambda", "data", "stat")}
    n = flagged = 0
    for batch in Scan(pt, criteria, plan, progress).stream(["xpos", "ypos", "lambda", "data", "stat"], phase="fit"):
        flagged += batch.flagged  # type: ignore[attr-defined]
        if not len(batch):  # type: ignore[arg-type]
            continue
        ra, dec = frame.radec(batch["xpos"], batch["ypos"])  # type: ignore[index]
        for k, v in (("ra", ra), ("dec", dec), ("lambda", batch["lambda"]), ("data", batch["data"]), ("stat", batch["stat"])):  # type: ignore[index]
            parts[k].append(v)
        n += len(ra)
        if n > MAX_ROWS:
            raise InputError(pt.path, f"more than {MAX_ROWS:,} rows selected for a fit: choose an aperture and/or a wavelength range")
    if n == 0:
        raise empty_selection(pt, criteria, flagged)
    return {k: np.concatenate(v, dtype=np.float64) for k, v in parts.items()}, flagged  # one copy, cast on the way


def load_rows(pt: PixTable, criteria: Criteria, progress: Progress = SILENT, plan: PlanOptions | None = None) -> FitRows:
    """Stream the selected rows into memory as sky offsets about the aperture centre."""
    if len(criteria.apertures) > 1:
        raise CriteriaError("a fit takes at most one aperture", field="apertures")
    cols, flagged = sky_rows(pt, criteria, progress, plan)
    frame = SkyFrame.of(pt)
    if criteria.apertures:
        ap = criteria.apertures[0]
        ra_c, dec_c, reach, square = ap.ra, ap.dec, ap.size, ap.shape == "square"
    else:
        dec_c = float(np.median(cols["dec"]))
        ra_c = float((np.median(((cols["ra"] - cols["ra"][0] + 180) % 360) - 180) + cols["ra"][0]) % 360)
        reach, square = math.nan, False
    dx, dy = frame.offsets(cols["ra"], cols["dec"], ra_c, dec_c)
    if math.isnan(reach):
        reach = float(np.sqrt((dx**2 + dy**2).max()))
    return FitRows(dx, dy, cols["lambda"], cols["data"], cols["stat"], ra_c, dec_c, reach, square, flagged)


def spaxel_area(pt: PixTable) -> float:
    """arcsec^2 of one spaxel: 0.2" x 0.2" (WFM), 0.025" x 0.025" for NFM tables."""
    mode = str(pt.primary_header.get("HIERARCH ESO INS MODE", "WFM"))
    return 0.025**2 if mode.upper().startswith("NFM") else 0.2**2


def bin_edges(lam: np.ndarray, criteria: Criteria, req: FitRequest) -> np.ndarray | None:
    if req.bins is None and req.bin_width is None:
        return None
    span = criteria.lambda_span()
    lo, hi = span if span is not None and all(map(math.isfinite, span)) else (float(lam.min()), float(np.nextafter(lam.max(), np.inf)))
    if req.bins is not None:
        return np.linspace(lo, hi, req.bins + 1)
    assert req.bin_width is not None
    covered = (hi - lo) / req.bin_width
    if not covered <= MAX_BINS:
        raise CriteriaError(f"bins of {req.bin_width:g} Angstrom over {lo:g}-{hi:g} Angstrom make {covered:.3g} bins "
                            f"(at most {MAX_BINS:,}): use larger bins", field="bin_width")
    k = max(1, math.ceil(covered - 1e-9))
    return np.minimum(lo + req.bin_width * np.arange(k + 1), hi)


def _check_edge(fit: PsfFit, rows: FitRows) -> None:
    x, y, fwhm = fit.get("x"), fit.get("y"), fit.get("fwhm")
    r = max(abs(x), abs(y)) if rows.square else math.hypot(x, y)
    if r + 0.5 * fwhm > rows.reach:
        raise FitError(
            f"the source is at the aperture edge (centre {r:.2f} arcsec from the aperture centre, FWHM {fwhm:.2f}, "
            f"aperture {rows.reach:.2f}): centre a larger aperture on it"
        )
    if fwhm > 2 * rows.reach:
        raise FitError(f"the fitted FWHM ({fwhm:.2f} arcsec) is larger than the aperture: no source in it?")


def result_row(label: str, lo: float, hi: float, lam: np.ndarray, fit: PsfFit | None, rows: FitRows, status: str, model: str) -> dict:
    """One output row; NaN values (and the reason in ``status``) when ``fit`` is None."""
    out: dict[str, object] = {"bin": label, "lambda_lo": lo, "lambda_hi": hi, "lambda": float(lam.mean()) if lam.size else math.nan}
    g = (lambda k: fit.get(k)) if fit else (lambda k: math.nan)
    e = (lambda k: fit.err(k)) if fit else (lambda k: math.nan)
    dx, dy = g("x"), g("y")
    out["ra"] = (rows.ra_c + dx / (3600.0 * math.cos(math.radians(rows.dec_c)))) % 360.0
    out["dec"] = rows.dec_c + dy / 3600.0
    out.update({"dx": dx, "dx_err": e("x"), "dy": dy, "dy_err": e("y"), "fwhm": g("fwhm"), "fwhm_err": e("fwhm")})
    if model == "moffat":
        out.update({"beta": g("beta"), "beta_err": e("beta")})
    out.update({
        "peak": g("peak"), "peak_err": e("peak"), "flux": g("flux"), "flux_err": e("flux"),
        "background": g("background"), "background_err": e("background"),
        "chi2_red": fit.chi2_red if fit else math.nan, "rows": fit.rows if fit else int(lam.size), "status": status,
    })
    return out


def fit_table(
    pt: PixTable, criteria: Criteria, req: FitRequest, progress: Progress = SILENT, plan: PlanOptions | None = None
) -> tuple[list[dict], FitRows]:
    """Fit the whole range (an error if that fails), then each wavelength bin (failures reported per bin)."""
    rows = load_rows(pt, criteria, progress, plan)
    bin_edges(rows.lam, criteria, req)  # bins that cannot be made are refused before any fit
    area = spaxel_area(pt)

    def one(sel: np.ndarray | slice, fwhm0: float) -> PsfFit:
        fit = fit_psf(rows.dx[sel], rows.dy[sel], rows.data[sel], rows.stat[sel], req.model, req.background, fwhm0, area)
        _check_edge(fit, rows)
        return fit

    try:
        whole = one(slice(None), req.fwhm0)
    except FitError as exc:
        raise FitError(f"{pt.path}: {exc}") from None
    for _ in range(2):  # a fainter neighbour shows once a brighter one is out
        shape = {k: whole.get(k) for k in ("peak", "fwhm", "background", "beta")}
        cx, cy = whole.get("x"), whole.get("y")
        resid = rows.data - radial_profile(shape, req.model)(np.hypot(rows.dx - cx, rows.dy - cy))
        more = find_neighbours(rows.dx, rows.dy, resid, rows.stat, (cx, cy), whole.get("fwhm"))
        if not more:
            break
        rows = mask_rows(rows, more, whole.get("fwhm"))
        rows = replace(rows, neighbours=(*rows.neighbours, *more))
        try:
            whole = one(slice(None), whole.get("fwhm"))
        except FitError as exc:
            raise FitError(f"{pt.path}: with the rows of {len(rows.neighbours)} other source(s) left out: {exc}") from None
    if req.model == "moffat" and whole.get("beta") > 0.98 * BETA_MAX:
        log.warning("%s: the Moffat beta ran to its bound (%g): the profile is Gaussian-like; try the gaussian model", pt.path, BETA_MAX)
    lo, hi = float(rows.lam.min()), float(rows.lam.max())
    out = [result_row("all", lo, hi, rows.lam, whole, rows, "ok", req.model)]
    edges = bin_edges(rows.lam, criteria, req)  # of the rows fitted (neighbours' rows left out)
    if edges is None:
        return out, rows
    which = np.searchsorted(edges, rows.lam, side="right") - 1
    for i in range(len(edges) - 1):
        sel = np.flatnonzero(which == i)
        try:
            fit, status = one(sel, whole.get("fwhm")), "ok"
        except FitError as exc:
            fit, status = None, str(exc)
        out.append(result_row(str(i + 1), float(edges[i]), float(edges[i + 1]), rows.lam[sel], fit, rows, status, req.model))
    return out, rows


def radial_profile(result: dict, model: str):  # type: ignore[no-untyped-def]
    """The fitted profile as a function of the distance from its centre (arcsec)."""
    peak, fwhm, bkg = result["peak"], result["fwhm"], result["background"]
    if model == "moffat":
        beta = result["beta"]
        gamma = fwhm / (2 * math.sqrt(2 ** (1 / beta) - 1))
        return lambda r: peak * (1 + (np.asarray(r) / gamma) ** 2) ** -beta + bkg
    sigma = fwhm / (2 * math.sqrt(2 * math.log(2)))
    return lambda r: peak * np.exp(-(np.asarray(r) ** 2) / (2 * sigma**2)) + bkg
