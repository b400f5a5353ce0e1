"""The DRS's AUTOCAL_FACTORS table (MUSE pipeline 2.8.7, muse_autocalib.c).

One row per (wavelength bin ``quad``, IFU, slice), in the order the DRS indexes
them: row = 1152 (quad - 1) + 48 (ifu - 1) + (sli - 1). Columns ifu, sli, quad,
npts (int32), corr (float64, the factor the data are MULTIPLIED by: the IFU
level over the slice level) and corr_orig (the factor before the DRS replaced an
outlier by its neighbours' mean; NaN when kept). The primary header carries
the bin edges as ESO DRS MUSE LAMBDAq MIN/MAX (Angstrom). The DRS applies a
user table (``autocalib=user``) by row position, reading only corr and the
LAMBDA keywords.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

NIFUS, NSLICES = 24, 48
#: the DRS's wavelength bins for non-AO data (AO modes drop the 5850 edge)
DRS_EDGES = (0.0, 5000.0, 5265.0, 5466.0, 5658.0, 5850.0, 6120.0, 6440.0, 6678.0, 6931.0, 7211.0, 7450.0,
             7668.0, 7900.0, 8120.0, 8330.0, 8565.0, 8731.0, 9012.0, 9275.0, 10000.0)  # fmt: skip
TAG = "AUTOCAL_FACTORS"


@dataclass
class AutocalFactors:
    """Factors as a cube ``corr[quad-1, ifu-1, sli-1]`` with the bin edges (Angstrom)."""

    edges: np.ndarray
    corr: np.ndarray
    npts: np.ndarray
    corr_orig: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. a merge's std_corr, nkeep, nrej

    @property
    def nbins(self) -> int:
        return int(self.edges.size - 1)


def order(nbins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ifu, sli, quad) of each row of a table with ``nbins`` bins, in the DRS order."""
    q, i, s = np.meshgrid(np.arange(1, nbins + 1), np.arange(1, NIFUS + 1), np.arange(1, NSLICES + 1), indexing="ij")
    return i.ravel().astype(np.int32), s.ravel().astype(np.int32), q.ravel().astype(np.int32)


def read(path: str) -> AutocalFactors:
    """Read an AUTOCAL_FACTORS file (first table extension); rows placed by their
    ifu/sli/quad values, so a table in another order reads the same."""
    from astropy.io import fits

    try:
        with fits.open(path) as hl:
            hdu = next((h for h in hl[1:] if isinstance(h, fits.BinTableHDU)), None)
            if hdu is None:
                raise InputError(path, f"no table extension: not an {TAG} file")
            hdr = hdu.header.copy()
            hdr.extend(hl[0].header, unique=True)
            data = hdu.data
            names = {n.lower(): n for n in data.columns.names}
            missing = [c for c in ("ifu", "sli", "quad", "corr") if c not in names]
            if missing:
                raise InputError(path, f"{TAG} table lacks column(s) {', '.join(missing)}")
            cols = {k: np.asarray(data[v]) for k, v in names.items()}
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read as an {TAG} table: {exc}") from None
    lo = [hdr.get(f"ESO DRS MUSE LAMBDA{q} MIN") for q in range(1, 1000)]
    nb = next((q for q, v in enumerate(lo) if v is None), 0)
    if nb == 0:
        raise InputError(path, "no ESO DRS MUSE LAMBDAq MIN/MAX keywords: the wavelength bins are unknown")
    edges = np.array([float(v) for v in lo[:nb]] + [float(hdr[f"ESO DRS MUSE LAMBDA{nb} MAX"])])
    ifu, sli, quad = (cols[c].astype(np.int64) for c in ("ifu", "sli", "quad"))
    ok = (ifu >= 1) & (ifu <= NIFUS) & (sli >= 1) & (sli <= NSLICES) & (quad >= 1) & (quad <= nb)
    if not ok.all():
        raise InputError(path, f"{int((~ok).sum())} row(s) with ifu/sli/quad outside 1..{NIFUS}/1..{NSLICES}/1..{nb}")

    def cube(col: str, fill: float, dtype: str) -> np.ndarray:
        out = np.full((nb, NIFUS, NSLICES), fill, dtype=dtype)
        out[quad - 1, ifu - 1, sli - 1] = cols[col]
        return out

    npts = cube("npts", 0, "i8") if "npts" in cols else np.zeros((nb, NIFUS, NSLICES), "i8")
    orig = cube("corr_orig", np.nan, "f8") if "corr_orig" in cols else None
    known = {"ifu", "sli", "quad", "npts", "corr", "corr_orig"}
    extra = {k: cube(k, np.nan, "f8") for k, v in cols.items() if k not in known and v.ndim == 1 and v.dtype.kind in "iuf"}
    return AutocalFactors(edges, cube("corr", np.nan, "f8"), npts, orig, extra)


def merge(tables: list[AutocalFactors], sigma: float = 3.0, maxiters: int = 5) -> AutocalFactors:
    """Sigma-clipped mean of the factors, per (bin, IFU, slice), over the tables (a factor
    computed from no point, npts = 0, is left out). Extra cubes: std_corr, nkeep, nrej."""
    from astropy.stats import sigma_clip

    first = tables[0]
    for t in tables[1:]:
        if t.edges.shape != first.edges.shape or not np.allclose(t.edges, first.edges):
            raise ValueError("the tables have different wavelength bins")
    stack = np.ma.masked_invalid(np.array([np.where(t.npts > 0, t.corr, np.nan) for t in tables]))
    clipped = sigma_clip(stack, sigma=sigma, maxiters=maxiters, axis=0)
    nkeep = np.count_nonzero(~np.ma.getmaskarray(clipped), axis=0)
    mean = np.ma.mean(clipped, axis=0).filled(np.nan)
    std = np.ma.std(clipped, axis=0).filled(np.nan)
    npts = np.sum([t.npts for t in tables], axis=0)
    extra = {"std_corr": std, "nkeep": nkeep, "nrej": len(tables) - nkeep}
    return AutocalFactors(first.edges.copy(), mean, npts, None, extra)


def to_hdulist(f: AutocalFactors, cards: dict[str, object] | None = None) -> "object":
    """An HDUList in the DRS's layout (rows in its order; the LAMBDA keywords in the primary header).

    A merged table keeps npts (summed) and corr, so the DRS can apply it as a user table."""
    from astropy.io import fits

    ifu, sli, quad = order(f.nbins)
    cols = [fits.Column(name="ifu", format="J", array=ifu), fits.Column(name="sli", format="J", array=sli),
            fits.Column(name="quad", format="J", array=quad),
            fits.Column(name="npts", format="J", array=f.npts.ravel().astype(np.int32)),
            fits.Column(name="corr", format="D", array=f.corr.ravel())]
    if f.corr_orig is not None:
        cols.append(fits.Column(name="corr_orig", format="D", array=f.corr_orig.ravel()))
    for name, cube in f.extra.items():
        fmt = "J" if cube.dtype.kind in "iu" else "D"
        cols.append(fits.Column(name=name, format=fmt, array=cube.ravel()))
    hdu = fits.BinTableHDU.from_columns(cols)
    prim = fits.PrimaryHDU()
    for q in range(1, f.nbins + 1):  # the DRS reads them from the primary header
        prim.header[f"HIERARCH ESO DRS MUSE LAMBDA{q} MIN"] = (float(f.edges[q - 1]), "[Angstrom] band start")
        prim.header[f"HIERARCH ESO DRS MUSE LAMBDA{q} MAX"] = (float(f.edges[q]), "[Angstrom] band end")
    prim.header["HIERARCH ESO PRO CATG"] = TAG
    for k, v in (cards or {}).items():
        prim.header[k] = v
    return fits.HDUList([prim, hdu])
