"""Realistic synthetic pixel tables, written in bounded memory.

Structure follows the pipeline (format doc sections 2.7 and 9): rows ordered by
exposure, IFU, CCD slice, CCD row y, then x; slices about 77 px wide with an
integer XOFFSET per exposure/IFU/slice; lambda rising along y from about 4650
to 9350 Angstrom; positions tiled over the 1 arcmin field (24 IFUs in strips,
4 stacks of 12 slices side by side); a few Gaussian sources; stat > 0; a
sprinkling of dq flags. Combined tables get EXPk keywords, COMBINED, dithered
pointings and a weight column.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits

from ...format import origin as org
from ...errors import CriteriaError
from ...fits.hdu import ColumnSpec
from ...format.keywords import key, xoffset_key
from ...format.limits import LimitsAccumulator, finish_limits, reserve_limits
from ...format.slicer import CCD_TO_SKY
from ...io.writer import PixtableWriter, RowBatcher
from ...progress import SILENT, Progress
from .skymodel import LAMBDA_REF, SPAXEL, SkyModel, SimSource, sky_parts, slice_factors, source_cards

LAMBDA0, DISPERSION = 4650.0, 1.1433  # Angstrom at y = 1, Angstrom per CCD row
FLUX_UNIT = "10**(-20)*erg/s/cm**2/Angstrom"
DQ_FLAGS = np.array([0x20, 0x40, 0x100, 0x200, 0x1000, 0x4000, 0x4000000, -0x80000000], dtype=np.int32)
EXPTIMES = (900.0, 900.0, 450.0, 600.0)
MAX_WIDTH = 78


DATE_OBS = "2023-03-14T05:12:08.118"


@dataclass
class SimulationSpec:
    """What to simulate. ``rows`` is the total over all exposures."""

    rows: int = 1_000_000
    layout: str = "image"
    ifus: list[int] = field(default_factory=lambda: list(range(1, 25)))
    exposures: int = 1
    wcs: str = "positioned"
    seed: int = 0
    flat_field: bool = False
    ra: float = 150.1163
    dec: float = 2.2058
    #: injected sources; when given they replace the default random ones
    sources: list[SimSource] = field(default_factory=list)
    profile: str = "gaussian"  # or 'moffat'
    beta: float = 2.8  # Moffat power index
    seeing_slope: float = 0.0  # FWHM(lambda) = FWHM * (lambda / LAMBDA_REF) ** slope
    #: start of the (first) exposure, UTC ISO 8601; exposures of one field need distinct ones
    date_obs: str = DATE_OBS
    #: lambda tilt across each slice (Angstrom from its left to its right edge), as the
    #: pipeline's wavelength solution has; 0: lambda follows the CCD row only
    lambda_tilt: float = 0.0
    #: leave the sky (continuum and lines, :func:`~.simsky.sky_spectrum`) in data (SKYSUB false)
    keep_sky: bool = False
    #: spread (sigma) of per-slice level factors multiplying data (:func:`~.simsky.slice_factors`)
    slice_offsets: float = 0.0
    #: only the CCD rows whose wavelength falls in [lo, hi) Angstrom (None: the whole range)
    lambda_range: tuple[float, float] | None = None
    #: every pixel of every slice in the window holds a row, as in a real exposure
    #: (about 1.3e7 rows per IFU over the whole range); ``rows`` is then computed
    full_density: bool = False

    def ccd_rows(self) -> tuple[int, int]:
        """First and last CCD row (1-based) simulated."""
        if self.lambda_range is None:
            return 1, org.CCD_NY
        lo, hi = (min(max(v, 0.0), 1e5) for v in self.lambda_range)  # open ends: the whole range
        first = max(1, math.ceil((lo - LAMBDA0) / DISPERSION + 1))
        last = min(org.CCD_NY, math.ceil((hi - LAMBDA0) / DISPERSION + 1) - 1)
        return first, last

    def __post_init__(self) -> None:
        if self.full_density:
            first, last = self.ccd_rows()
            per_slice = [_slice_geometry(i, s, k)[2] for k in range(1, self.exposures + 1) for i in self.ifus for s in range(1, 49)]
            self.rows = max(0, last - first + 1) * sum(per_slice)


def _slice_geometry(ifu: int, slc: int, exp: int) -> tuple[int, int, int]:
    """(XOFFSET, first CCD x, width) of one slice; offsets move a little per exposure."""
    x1 = 24.0 + 84.6 * (slc - 1) + 0.37 * (ifu % 5) + 0.45 * (exp - 1)
    width = 76 + (slc + ifu) % 3
    return math.floor(x1) - 20, math.ceil(x1), width


def _max_rows(spec: SimulationSpec) -> int:
    first, last = spec.ccd_rows()
    return spec.exposures * len(spec.ifus) * 48 * max(0, last - first + 1) * 76


def _exp_number(spec: SimulationSpec, k: int) -> int:
    """Keyword exposure number: EXP0 for a single exposure, 1..N when combined."""
    return 0 if spec.exposures == 1 else k


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _mjd(date_obs: str) -> float:
    if date_obs == DATE_OBS:
        return 60017.2167606  # the default's, as written since the first version
    from astropy.time import Time

    return round(float(Time(date_obs, format="isot", scale="utc").mjd), 7)


def build_header(spec: SimulationSpec) -> fits.Header:
    """The primary header, with placeholder LIMITS (filled in after the data pass)."""
    h = fits.Header()
    h["SIMPLE"] = True
    h["BITPIX"] = 8
    h["NAXIS"] = 0
    h["EXTEND"] = True
    h["DATE"] = ("2026-01-01T00:00:00", "file creation date (synthetic)")
    h["TELESCOP"] = ("ESO-VLT-U4", "ESO <TEL>")
    h["INSTRUME"] = ("MUSE", "Instrument used.")
    h["RA"] = (spec.ra, "[deg] telescope pointing")
    h["DEC"] = (spec.dec, "[deg] telescope pointing")
    h["EQUINOX"] = 2000.0
    h["RADESYS"] = "FK5"
    h["EXPTIME"] = (EXPTIMES[0], "Integration time")
    h["MJD-OBS"] = (_mjd(spec.date_obs), "Obs start")
    h["DATE-OBS"] = spec.date_obs
    h["OBJECT"] = ("PIXTAB-SIM", "Original target.")
    if spec.wcs != "pixel":
        h["WCSAXES"] = 2
        h["CTYPE1"] = "RA---TAN"
        h["CTYPE2"] = "DEC--TAN"
        h["CUNIT1"] = "deg"
        h["CUNIT2"] = "deg"
        h["CRPIX1"] = 1.0
        h["CRPIX2"] = 1.0
        h["CD1_1"] = -SPAXEL / 3600
        h["CD1_2"] = 0.0
        h["CD2_1"] = 0.0
        h["CD2_2"] = SPAXEL / 3600
        if spec.wcs == "positioned":
            h["CRVAL1"] = spec.ra
            h["CRVAL2"] = spec.dec
    h["HIERARCH ESO INS MODE"] = ("WFM-NOAO-N", "instrument mode")
    catg = "PIXTABLE_COMBINED" if spec.exposures > 1 else {"pixel": "PIXTABLE_OBJECT"}.get(spec.wcs, "PIXTABLE_REDUCED")
    h["HIERARCH ESO PRO CATG"] = (catg, "product category")
    h[key("TYPE")] = ("GEOFULL", "full geometry")
    if spec.wcs != "pixel":
        h[key("WCS")] = ("projected (intermediate)" if spec.wcs == "projected" else "positioned (final)", "")
    fluxcal = spec.wcs != "pixel"
    h[key("FLUXCAL")] = (fluxcal, "Pixel table was flux-calibrated")
    h[key("SKYSUB")] = (fluxcal and not spec.keep_sky, "Pixel table was sky-subtracted")
    if len(spec.ifus) > 1:
        h[key("MERGED")] = (len(spec.ifus), "merged IFUs")
    if spec.exposures > 1:
        h[key("WEIGHTED")] = (True, "weighted")
        first = 0
        for k, n in enumerate(_split(spec.rows, spec.exposures), 1):
            h[key(f"EXP{k} FIRST")] = (first, "first row index")
            h[key(f"EXP{k} LAST")] = (first + n - 1, "last row index")
            first += n
        h[key("COMBINED")] = (spec.exposures, "combined exposures")
    h.extend(source_cards(spec))
    if spec.lambda_tilt:
        h["HIERARCH PIXTAB SIM LAMBDA TILT"] = (spec.lambda_tilt, "[Angstrom] across each slice")
    reserve_limits(h, spec.rows > 0)
    # Appended as cards: assigning h[name] looks the name up first, quadratic in the card count
    # (40 exposures x 24 IFUs x 48 slices = 46080 cards).
    h.extend(
        (
            fits.Card(xoffset_key(_exp_number(spec, k), ifu, slc), _slice_geometry(ifu, slc, k)[0])
            for k in range(1, spec.exposures + 1)
            for ifu in spec.ifus
            for slc in range(1, 49)
        ),
        unique=False,
        end=True,
    )
    return h


#: CCD rows sampled per slice at least (when it has that many rows): a spacing of at most
#: 4112/128 rows (~37 Angstrom), so every slice spans the whole wavelength range at any size
MIN_CCD_ROWS = 128
_GOLDEN = 0.6180339887498949


def _ccd_pixels(
    n: int, x_left: int, width: int, anchor: int, phase_seed: int, y_range: tuple[int, int] = (1, org.CCD_NY)
) -> tuple[np.ndarray, np.ndarray]:
    """(y, x) of ``n`` distinct pixels of one slice, ordered by y then x.

    CCD rows are spread evenly over 1..4112 with a phase of their own per slice (so
    that together the slices fill every wavelength), and each sampled row takes the
    same number of pixels spread over the slice width, with a phase per row. A large
    ``n`` takes whole rows, as the pipeline's tables have them. Sparse rows pick the
    same detector columns (counted from ``anchor``) in every exposure, wrapped into
    this exposure's columns ``x_left .. x_left+width-1``, so exposures overlap on the
    detector as real ones do.
    """
    first, last = y_range
    span = last - first + 1
    n_y = min(span, n, max(-(-n // width), MIN_CCD_ROWS))
    phase = (phase_seed * _GOLDEN) % 1.0
    ys = first + np.floor((np.arange(n_y) + phase) * (span / n_y)).astype(np.int32)
    counts = np.array(_split(n, n_y))  # pixels per sampled row (differ by at most one)
    row = np.repeat(np.arange(n_y), counts)
    within = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    row_phase = (row * _GOLDEN) % 1.0
    col = np.floor((within + row_phase) * (width / counts[row])).astype(np.int64)
    if x_left != anchor and counts.max() < width:
        col = (col + anchor - x_left) % width
        key = row.astype(np.int64) * width + col
        key.sort()  # rows stay in order; x rises within each row again
        col = key % width
    return ys[row], (x_left + col).astype(np.int32)


def _block(
    spec: SimulationSpec, sky: SkyModel, rng: np.random.Generator, k: int, ifu: int, slc: int, n: int
) -> dict[str, np.ndarray]:
    """The ``n`` rows of one slice of one IFU of exposure ``k``."""
    off, x_left, width = _slice_geometry(ifu, slc, k)
    y, x = _ccd_pixels(n, x_left, width, _slice_geometry(ifu, slc, 1)[1], ifu * 49 + slc, spec.ccd_rows())
    # Position in the field: IFUs are strips in y, stacks sit side by side in x.
    sky_slice = CCD_TO_SKY[slc]
    stack, row = divmod(sky_slice - 1, 12)
    frac = (x - x_left + 0.5) / width
    fx = stack * 75 + frac * 75 - 150.0
    fy = (ifu - 1) * 12 + row + 0.5 - 144.0 + 0.002 * fx
    # Dither and rotate later exposures, as a combined table would have them.
    pa = math.radians(90.0 * (k - 1))
    ox = (fx * math.cos(pa) - fy * math.sin(pa)) * SPAXEL + 1.3 * (k - 1)
    oy = (fx * math.sin(pa) + fy * math.cos(pa)) * SPAXEL - 0.9 * (k - 1)
    xpos, ypos = sky.to_table(ox, oy)
    curvature = 0.0004 * (x - (x_left + width / 2)) ** 2
    lam = LAMBDA0 + DISPERSION * (y - 1) + 0.3 * math.sin(slc + ifu) + curvature
    if spec.lambda_tilt:
        lam = lam + spec.lambda_tilt * (frac - 0.5)
    lam = lam.astype(np.float32)
    continuum, skyline = sky_parts(lam)
    if spec.sources:
        signal = sky.injected_flux(ox, oy, lam)
    else:
        signal = sky.source_flux(ox, oy) * (1.0 + 0.3 * np.cos(lam / 900.0))
    variance = (np.abs(continuum + skyline + signal) + 9.0).astype(np.float32)
    noise = rng.standard_normal(n).astype(np.float32) * np.sqrt(variance)
    if spec.wcs == "pixel" or spec.keep_sky:
        data = continuum + skyline + signal + noise
    else:
        data = (signal + noise) * 1.0
    if spec.slice_offsets:
        level = np.float32(slice_factors(spec.seed, spec.slice_offsets)[ifu - 1, slc - 1])
        data, variance = data * level, variance * level * level
    dq = np.zeros(n, dtype=np.int32)
    flagged = rng.random(n) < 0.005
    dq[flagged] = rng.choice(DQ_FLAGS, int(flagged.sum()))
    arrays = {
        "xpos": xpos,
        "ypos": ypos,
        "lambda": lam,
        "data": data.astype(np.float32),
        "dq": dq,
        "stat": variance,
        "origin": org.encode(x - off, y, ifu, slc),
    }
    if spec.exposures > 1:
        arrays["weight"] = np.full(n, EXPTIMES[(k - 1) % 4] / EXPTIMES[0], dtype=np.float32)
    return arrays


def _blocks(spec: SimulationSpec) -> Iterator[dict[str, np.ndarray]]:
    rng = np.random.default_rng(spec.seed)
    sky = SkyModel(spec)
    for k, n_exp in enumerate(_split(spec.rows, spec.exposures), 1):
        pairs = [(ifu, slc) for ifu in spec.ifus for slc in range(1, 49)]
        if spec.full_density:  # every pixel of each slice's rows
            first, last = spec.ccd_rows()
            counts = [(last - first + 1) * _slice_geometry(ifu, slc, k)[2] for ifu, slc in pairs]
        else:
            counts = _split(n_exp, len(pairs))
        for (ifu, slc), n in zip(pairs, counts):
            if n:
                yield _block(spec, sky, rng, k, ifu, slc, n)


def column_specs(spec: SimulationSpec) -> list[ColumnSpec]:
    pos_unit = {"pixel": "pix", "projected": "rad", "positioned": "deg"}[spec.wcs]
    data_unit = "count" if spec.wcs == "pixel" else FLUX_UNIT
    cols = [
        ColumnSpec("xpos", np.dtype("float32"), pos_unit),
        ColumnSpec("ypos", np.dtype("float32"), pos_unit),
        ColumnSpec("lambda", np.dtype("float32"), "Angstrom"),
        ColumnSpec("data", np.dtype("float32"), data_unit),
        ColumnSpec("dq", np.dtype("int32"), None),
        ColumnSpec("stat", np.dtype("float32"), "count**2" if spec.wcs == "pixel" else f"({FLUX_UNIT})**2"),
        ColumnSpec("origin", np.dtype("int32"), None),
    ]
    if spec.exposures > 1:
        cols.append(ColumnSpec("weight", np.dtype("float32"), None))
    return cols


def flat_field_hdu() -> bytes:
    """A PIXTABLE_FLAT_FIELD extension (lambda, data as float64), as padded bytes."""
    import io

    lam = np.arange(4600.0, 9400.0, 1.25)
    data = 1.0 + 0.05 * np.sin(lam / 300.0)
    hdu = fits.BinTableHDU.from_columns(
        [fits.Column("lambda", "D", unit="Angstrom", array=lam), fits.Column("data", "D", array=data)],
        name="PIXTABLE_FLAT_FIELD",
    )
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf)
    return buf.getvalue()[2880:]


def validate(spec: SimulationSpec) -> None:
    first, last = spec.ccd_rows()
    if first > last:
        top = LAMBDA0 + DISPERSION * (org.CCD_NY - 1)
        raise CriteriaError(f"no detector row has a wavelength in {spec.lambda_range} (the range is {LAMBDA0:g}-{top:.0f} Angstrom)", field="lambda_range")
    if spec.rows < 1:
        raise CriteriaError(f"{spec.rows} rows: a table needs at least 1", field="nrows")
    if spec.exposures < 1:
        raise CriteriaError(f"{spec.exposures} exposures: a table needs at least 1", field="exposures")
    if spec.wcs not in ("pixel", "projected", "positioned"):
        raise CriteriaError(f"unknown coordinate state {spec.wcs!r} (pixel, projected or positioned)", field="wcs")
    if not spec.ifus or any(not 1 <= i <= 24 for i in spec.ifus):
        raise CriteriaError("IFUs must be in 1..24", field="ifus")
    try:
        _mjd(spec.date_obs)
    except ValueError:
        raise CriteriaError(f"DATE-OBS {spec.date_obs!r} is not an ISO date (e.g. 2023-03-14T05:12:08.118)", field="date_obs") from None
    if not (math.isfinite(spec.lambda_tilt) and abs(spec.lambda_tilt) <= 100):
        raise CriteriaError(f"lambda tilt {spec.lambda_tilt}: give -100..100 Angstrom", field="lambda_tilt")
    if not (0 <= spec.slice_offsets < 0.5):
        raise CriteriaError(f"slice offsets {spec.slice_offsets}: give a spread in [0, 0.5)", field="slice_offsets")
    if spec.profile not in ("gaussian", "moffat"):
        raise CriteriaError(f"unknown source profile {spec.profile!r} (gaussian or moffat)", field="profile")
    if spec.profile == "moffat" and not spec.beta > 1:
        raise CriteriaError(f"Moffat beta {spec.beta}: it must be > 1 (finite flux)", field="beta")
    for src in spec.sources:
        if not (src.fwhm > 0 and math.isfinite(src.fwhm) and math.isfinite(src.peak)):
            raise CriteriaError(f"source at {src.ra} {src.dec}: its FWHM must be > 0 and its peak finite", field="sources")
        if not -90 <= src.dec <= 90:
            raise CriteriaError(f"source at {src.ra} {src.dec}: declination outside -90..90", field="sources")
    limit = _max_rows(spec)
    if spec.rows > limit and not spec.full_density:  # full density: exactly each slice's pixels
        raise CriteriaError(
            f"{spec.rows} rows: exceeds what {len(spec.ifus)} IFU(s) x {spec.exposures} exposure(s) hold ({limit})",
            field="nrows",
        )


def simulate(
    fd: int,
    spec: SimulationSpec,
    chunk_rows: int = 2**21,
    progress: Progress = SILENT,
) -> fits.Header:
    """Write a synthetic pixel table to the open file ``fd`` (phase ``simulate``); return its primary header."""
    validate(spec)
    header = build_header(spec)
    specs = column_specs(spec)
    extra = [flat_field_hdu()] if spec.flat_field else []
    writer = PixtableWriter(fd, header, specs, spec.rows, spec.layout, extra)
    limits = LimitsAccumulator()
    progress.start("simulate", spec.rows)

    def write(chunk: dict[str, np.ndarray]) -> None:
        limits.add(chunk["xpos"], chunk["ypos"], chunk["lambda"], chunk["origin"])
        writer.write(chunk)
        progress.advance(len(chunk["xpos"]))

    batcher = RowBatcher([c.name for c in specs], chunk_rows, write)
    for block in _blocks(spec):
        batcher.add(block)
    batcher.flush()
    finish_limits(header, limits, spec.wcs, (spec.ra, spec.dec))
    writer.finish(header)
    return header
