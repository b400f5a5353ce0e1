"""Pictures of the sky spectrum and of slice levels (24 IFU panels, one line per slice)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .pictures import pyplot as _plt
from .pictures import unit_label as _unit


def sky_figure(sky: Any, title: str) -> Any:
    """The sky median with its spread band, and the rows per bin."""
    plt = _plt()
    fig, (ax, axn) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    lam = 0.5 * (sky.lambda_lo + sky.lambda_hi)
    ax.fill_between(lam, sky.median - sky.spread, sky.median + sky.spread, color="0.8", label="spread (1 sigma)", step="mid")
    ax.plot(lam, sky.median, lw=0.7, color="C0", label="median", drawstyle="steps-mid")
    ax.set_ylabel(f"sky{_unit(sky.unit)}")
    ax.legend(loc="upper left")
    ax.set_title(f"{title}: sky spectrum ({int(sky.rows.sum()):,} rows, bins of {sky.width:g} Angstrom)")
    axn.plot(lam, sky.rows, lw=0.7, color="C1", drawstyle="steps-mid")
    axn.set_ylabel("rows")
    axn.set_xlabel("wavelength [Angstrom]")
    return fig


def levels_figure(cube: np.ndarray, edges: np.ndarray, title: str, ylabel: str, marks: np.ndarray | None = None) -> Any:
    """``cube[band, ifu - 1, slice - 1]`` drawn as MPDAF's plot_autocal_factors draws factors: one panel
    per IFU (6 x 4), the value against the wavelength band, one colour per slice (1..48); ``marks``
    (same shape, NaN: none) are drawn as dots (e.g. factors the DRS replaced)."""
    plt = _plt()
    import matplotlib as mpl

    nb = cube.shape[0]
    x = np.arange(1, nb + 1)
    cmap = mpl.colormaps["viridis"].resampled(48)
    fig, axes = plt.subplots(6, 4, figsize=(12, 13.5), sharex=True, sharey=True)
    finite = cube[np.isfinite(cube)]
    lo, hi = (np.percentile(finite, [0.5, 99.5]) if finite.size else (0.9, 1.1))
    pad = 0.1 * (hi - lo) + 1e-3
    for ifu in range(24):
        ax = axes.flat[ifu]
        for s in range(48):
            y = cube[:, ifu, s]
            if np.isfinite(y).any():
                ax.plot(x, y, color=cmap(s), lw=0.8, marker="." if nb == 1 else None)
            if marks is not None and np.isfinite(marks[:, ifu, s]).any():
                ax.scatter(x, marks[:, ifu, s], s=12, color=cmap(s))
        ax.set_title(f"IFU {ifu + 1}", fontsize=10)
        ax.grid(True, lw=0.3)
        ax.set_ylim(lo - pad, hi + pad)
    for ax in axes[-1]:
        ax.set_xlabel("wavelength band")
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    fig.suptitle(f"{title}\n{ylabel} per wavelength band ({edges[0]:.0f}-{edges[-1]:.0f} Angstrom, {nb} bands), "
                 "one line per slice (colour: CCD slice 1-48)", fontsize=11)
    norm = mpl.colors.BoundaryNorm(np.arange(0.5, 49.5), 48)
    cax = fig.add_axes([0.15, 0.945, 0.7, 0.008])
    fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), cax=cax, orientation="horizontal", ticks=[1, 12, 24, 36, 48])
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.04, top=0.91, hspace=0.3, wspace=0.08)
    return fig
