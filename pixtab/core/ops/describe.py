"""What ``pixtab info`` reports: a header-only summary and an optional streaming pass."""

from __future__ import annotations


import numpy as np

from ..format import origin as org
from ..format.limits import LimitsAccumulator
from ..io.table import PixTable
from ..progress import SILENT, Progress


def summary(pt: PixTable) -> dict[str, object]:
    """Header-only description of a pixel table (the keys of ``info --json``)."""
    k = pt.keywords
    centre = pt.centre
    ff = pt.flat_field
    return {
        "path": pt.path,
        "size": pt.size,
        "layout": pt.layout,
        "rows": pt.nrows,
        "columns": {c.name: {"dtype": c.dtype.name, "unit": c.unit} for c in pt.columns.values()},
        "pipeline_type": k.pipeline_type,
        "wcs": pt.wcs,
        "wcs_keyword": k.wcs_keyword,
        "merged": k.merged,
        "combined": k.combined,
        "exposures": [{"exp": e.exp, "first": e.first, "last": e.last} for e in k.exposures],
        "fluxcal": k.fluxcal,
        "skysub": k.skysub,
        "weighted": k.weighted,
        "has_weight": pt.has_weight,
        "has_flat_field": ff is not None,
        "extra_extensions": [h.extname or f"HDU{h.index}" for h in pt.extra_hdus],
        "limits": dict(k.limits),
        "centre": None if centre is None else {"ra": centre[0], "dec": centre[1]},
    }


def stats(pt: PixTable, progress: Progress = SILENT) -> dict[str, object]:
    """One streaming pass: per-column finite min/max and NaN/inf counts, dq, IFUs, slices, exposures, limits."""
    from ..io.scan import Scan  # the engine (planner, index, criteria): not for the header-only summary

    names = list(pt.columns)
    acc: dict[str, dict[str, float]] = {n: {"min": np.inf, "max": -np.inf, "nan": 0, "inf": 0} for n in names}
    dq_nonzero = 0
    ifus = np.zeros(org.IFU_MASK + 1, dtype=np.int64)
    slices = np.zeros(org.SLICE_MASK + 1, dtype=np.int64)
    limits = LimitsAccumulator()
    progress.start("stats", pt.nrows)
    for _, chunk in Scan(pt, progress=progress).copy(None, names):
        for n in names:
            a = chunk[n]
            if n == "dq" and a.dtype == np.int32:
                a = a.view(np.uint32)  # the flag mask, unsigned as everywhere it is shown (bit 31 is no sign)
            if a.dtype.kind == "f":
                finite = np.isfinite(a)
                n_bad = a.size - int(np.count_nonzero(finite))
                if n_bad:  # rare: split NaN from +-inf and keep min/max finite (JSON has no inf)
                    n_nan = int(np.count_nonzero(np.isnan(a)))
                    acc[n]["nan"] += n_nan
                    acc[n]["inf"] += n_bad - n_nan
                    a = a[finite]
            if a.size:
                acc[n]["min"] = min(acc[n]["min"], a.min().item())
                acc[n]["max"] = max(acc[n]["max"], a.max().item())
        dq_nonzero += int(np.count_nonzero(chunk["dq"]))
        o = chunk["origin"]
        ifus += np.bincount(org.get_ifu(o), minlength=ifus.size)
        slices += np.bincount(org.get_slice(o), minlength=slices.size)
        limits.add(chunk["xpos"], chunk["ypos"], chunk["lambda"], o)
    columns = {
        n: {
            "min": None if acc[n]["min"] == np.inf else acc[n]["min"],
            "max": None if acc[n]["max"] == -np.inf else acc[n]["max"],
            "nan": int(acc[n]["nan"]),
            "inf": int(acc[n]["inf"]),
        }
        for n in names
    }
    exposures = [{"exp": e.exp, "rows": e.nrows} for e in pt.keywords.exposures]
    return {
        "columns": columns,
        "dq_nonzero_fraction": dq_nonzero / pt.nrows if pt.nrows else 0.0,
        "ifus": {int(i): int(c) for i, c in enumerate(ifus) if c},
        "slices": {int(i): int(c) for i, c in enumerate(slices) if c},
        "exposures": exposures or [{"exp": 0, "rows": pt.nrows}],
        "limits": limits.result(pt.wcs, pt.centre if pt.wcs == "positioned" else None),
    }
