"""Pictures (PNG, matplotlib's Agg backend): the only module that imports matplotlib.

Every figure is titled with the file it shows and its axes carry units. Each
``*_figure`` function returns a figure; :func:`save` writes it to an open file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .optional import require

DPI = 100


def _plt() -> Any:
    require("matplotlib")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, fd: int) -> None:
    """Write ``fig`` as PNG to the open file ``fd`` and free it."""
    plt = _plt()
    with os.fdopen(os.dup(fd), "wb") as f:
        fig.savefig(f, format="png", dpi=DPI, metadata={"Software": "pixtab"}, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)


def _unit(unit: str | None) -> str:
    return f" [{unit}]" if unit else ""


def image_figure(im: Any, title: str, peaks: Sequence[Any] = ()) -> Any:
    """A sky image: arcsinh stretch between robust limits, WCS axes, peaks circled and numbered."""
    plt = _plt()
    from astropy.visualization import AsinhStretch, ImageNormalize

    data = im.image
    finite = data[np.isfinite(data)]
    # asinh keeps the faint end linear and the bright end compressed: show up to the maximum
    vmin, vmax = (float(np.percentile(finite, 0.5)), float(finite.max())) if finite.size else (0.0, 1.0)
    norm = ImageNormalize(vmin=vmin, vmax=vmax, stretch=AsinhStretch(0.02))
    ny, nx = data.shape
    wide = nx > 1.5 * ny
    size = (9.0, max(3.2, min(8.0, 8.0 * ny / nx + 2.0))) if wide else (8.0, 7.0)
    fig = plt.figure(figsize=size)
    if im.celestial:
        from astropy.wcs import WCS

        ax = fig.add_subplot(projection=WCS(im.header))
        ax.coords[0].set_axislabel(f"RA ({im.header.get('RADESYS', 'ICRS')})")
        ax.coords[1].set_axislabel("Dec")
        ax.coords[0].set_major_formatter("hh:mm:ss.s")
    else:
        ax = fig.add_subplot()
        ax.set_xlabel("xpos [pix] (focal plane)")
        ax.set_ylabel("ypos [pix] (focal plane)")
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.85")  # spaxels without rows: light grey
    extent = None
    if not im.celestial:  # axes in the table's own pixel coordinates
        (x0, x1), (y0, y1) = im.pixel_to_sky(np.array([-0.5, nx - 0.5]), np.array([-0.5, ny - 0.5]))
        extent = (x0, x1, y0, y1)
    shown = ax.imshow(data, origin="lower", cmap=cmap, norm=norm, interpolation="nearest", extent=extent)
    what = f"{im.header.get('HIERARCH PIXTAB IMAGE STAT', '')} of {im.header.get('HIERARCH PIXTAB IMAGE COLUMN', 'data')}"
    bar = fig.colorbar(shown, ax=ax, orientation="horizontal" if wide else "vertical", fraction=0.05, pad=0.18 if wide else 0.04,
                       aspect=40 if wide else 25)
    bar.set_label(f"{what}{_unit(im.unit)}", fontsize=8)
    # ticks evenly spaced in the stretched scale (an asinh bar crowds linear ticks)
    bar.set_ticks([float(norm.inverse(t)) for t in np.linspace(0, 1, 6)])
    bar.ax.tick_params(labelsize=7)
    bar.formatter.set_powerlimits((-3, 4))
    for p in peaks:
        r = max(2.0, p.fwhm_guess / im.spaxel)
        ax.add_patch(plt.Circle((p.x, p.y), r, fill=False, color="red", lw=1.2))
        ax.annotate(str(p.id), (p.x + r, p.y + r), color="red", fontsize=9, weight="bold")
    lam = ", all wavelengths"
    if "HIERARCH PIXTAB IMAGE LAMBDA LO" in im.header:
        lam = f", {im.header['HIERARCH PIXTAB IMAGE LAMBDA LO']:g}-{im.header['HIERARCH PIXTAB IMAGE LAMBDA HI']:g} Å"
    kind = "" if im.celestial else " (pixel-unit table: no celestial WCS)"
    ax.set_title(f"{title}{lam}, {im.spaxel:g}{'″' if im.celestial else ' pix'} spaxels{kind}", fontsize=10)
    fig.tight_layout()
    return fig


def detector_figure(images: Sequence[tuple[str, np.ndarray, float, float, str | None, int]], title: str) -> Any:
    """Detector images (name, array, x0, y0 of the first pixel, unit, block size) with
    1-99 % limits; pixels without rows in light blue."""
    plt = _plt()
    n = len(images)
    cols = min(n, 6)
    rows = -(-n // cols)
    panel = 7.0 if n == 1 else 4.2
    fig, axes = plt.subplots(rows, cols, figsize=(min(18, panel * cols + 1), (panel + 0.4) * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    cmap = plt.get_cmap("gray").with_extremes(bad="#cfe0f5")
    for ax, (name, data, x0, y0, unit, k) in zip(axes.ravel(), images):
        finite = data[np.isfinite(data)]
        lo, hi = np.percentile(finite, [1, 99]) if finite.size else (0, 1)
        h, w = data.shape[0] * k, data.shape[1] * k
        shown = ax.imshow(data, origin="lower", cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest",
                          extent=(x0 - 0.5, x0 + w - 0.5, y0 - 0.5, y0 + h - 0.5), aspect="auto")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("detector x [pix]")
        ax.set_ylabel("detector y [pix]")
        fig.colorbar(shown, ax=ax, label=f"value{_unit(unit)}", shrink=0.85)
    fig.suptitle(f"{title} (1-99 % limits; no rows: light blue)", fontsize=10)
    fig.tight_layout()
    return fig


def spectrum_figure(spec: Any, title: str) -> Any:
    """Mean of data per row with its 1-sigma band against wavelength (gaps where a bin has
    no row); rows used and flagged per bin below. The mean, not the sum: a sum
    follows how many rows happen to fall in each bin."""
    plt = _plt()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    lam = spec.wavelength
    mean, err = spec.mean, np.sqrt(spec.mean_var)
    top.fill_between(lam, mean - err, mean + err, step="mid", color="tab:blue", alpha=0.3, lw=0, label="±1σ (from stat)")
    top.step(lam, mean, where="mid", color="tab:blue", lw=0.8, label="mean of data per row")
    top.set_ylabel(f"flux{_unit(spec.data_unit)}", fontsize=9)
    top.legend(fontsize=8, loc="best")
    bottom.step(lam, spec.rows, where="mid", color="0.3", lw=0.8, label="rows used")
    if spec.flagged.any():
        bottom.step(lam, spec.flagged, where="mid", color="red", lw=0.8, label="flagged (left out)")
    bottom.set_ylabel("rows / bin", fontsize=9)
    bottom.set_xlabel("wavelength [Å]")
    bottom.legend(fontsize=8, loc="best")
    top.set_title(f"{title}: spectrum in {spec.width:g} Å bins ({int(spec.rows.sum()):,} rows)", fontsize=10)
    fig.tight_layout()
    return fig


def fit_figure(rows: Any, results: Sequence[dict], model: Any, title: str, unit: str | None, name: str = "model") -> Any:
    """Radial profile of the rows and the fitted model (whole range); FWHM against wavelength."""
    plt = _plt()
    bins = [r for r in results if r["bin"] != "all"]
    whole = results[0]
    fig, axes = plt.subplots(1, 2 if bins else 1, figsize=(11 if bins else 6.5, 4.5), squeeze=False)
    ax = axes[0, 0]
    r = np.hypot(rows.dx - whole["dx"], rows.dy - whole["dy"])
    keep = np.random.default_rng(0).permutation(r.size)[:20000]
    ax.plot(r[keep], rows.data[keep], ".", ms=2, color="0.5", alpha=0.5, label="rows (data)")
    rr = np.linspace(0, r.max(), 300)
    ax.plot(rr, model(rr), color="red", lw=1.5, label=f"{name} fit, FWHM {whole['fwhm']:.3f}″")
    ax.axhline(whole["background"], color="tab:blue", lw=0.8, ls="dashed", label="background")
    ax.set_xlabel("distance from the fitted centre [arcsec]")
    ax.set_ylabel(f"data{_unit(unit)}")
    ax.legend(fontsize=8)
    ax.set_title(f"{title}: radial profile, {whole['lambda_lo']:.0f}-{whole['lambda_hi']:.0f} Å", fontsize=10)
    if bins:
        ax = axes[0, 1]
        lam = np.array([b["lambda"] for b in bins])
        fw = np.array([b["fwhm"] for b in bins], dtype=float)
        er = np.array([b["fwhm_err"] for b in bins], dtype=float)
        ax.errorbar(lam, fw, yerr=er, fmt="o", ms=4, capsize=2, color="tab:blue", label="per bin (±1σ)")
        ax.axhline(whole["fwhm"], color="red", lw=1, label="whole range")
        ax.set_xlabel("wavelength [Å]")
        ax.set_ylabel("FWHM [arcsec]")
        ax.legend(fontsize=8)
        ax.set_title("FWHM against wavelength", fontsize=10)
    fig.tight_layout()
    return fig


def _dot(colour: Any, label: str) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], ls="", marker="o", ms=6, color=colour, label=label)


def sky_figure(x: np.ndarray, y: np.ndarray, colour: np.ndarray, flagged: np.ndarray, by: str,
               title: str, celestial: bool, shown: int, total: int, unit: str | None = None) -> Any:
    """Scatter of row positions (tangent-plane arcsec, east left) coloured by ``by``; flagged rows red."""
    plt = _plt()
    w = float(np.ptp(x)) if x.size else 1.0
    h = float(np.ptp(y)) if y.size else 1.0
    aspect = min(max(h / max(w, 1e-9), 0.12), 1.2)
    fig, ax = plt.subplots(figsize=(10, 1.8 + 7.0 * aspect))
    handles: list[Any] = []
    good = ~flagged
    ms = max(0.2, min(16.0, 4e4 / max(shown, 1)))  # marker area (pt^2): bigger when few
    if by in ("ifu", "exp"):
        values = np.unique(colour[good])
        # categorical colours without reds: red marks flagged rows
        palette = [c for i, c in enumerate(plt.get_cmap("tab20").colors) if i not in (6, 7)]
        if len(values) <= 9:
            palette = [c for i, c in enumerate(plt.get_cmap("tab10").colors) if i != 3]
        for i, v in enumerate(values):
            m = good & (colour == v)
            ax.scatter(x[m], y[m], s=ms, color=palette[i % len(palette)], lw=0, rasterized=True)
            handles.append(_dot(palette[i % len(palette)], f"{by.upper()} {v}"))
    elif by == "dq":
        ax.scatter(x[good], y[good], s=ms, color="0.6", lw=0, rasterized=True)
        handles.append(_dot("0.6", "dq = 0"))
    else:
        c = colour[good].astype(float)
        lo, hi = np.nanpercentile(c, [1, 99]) if c.size else (0, 1)
        sc = ax.scatter(x[good], y[good], s=ms, c=c, cmap="viridis", vmin=lo, vmax=hi, lw=0, rasterized=True)
        fig.colorbar(sc, ax=ax, label=by + (_unit(unit) if by == "data" else ""), shrink=0.85)
    if flagged.any():
        ax.scatter(x[flagged], y[flagged], s=ms, color="red", lw=0, rasterized=True)
        handles.append(_dot("red", f"flagged (dq != 0): {int(flagged.sum()):,}"))
    if handles and by in ("ifu", "exp", "dq"):
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
                  ncol=2 if len(handles) > 14 else 1)
    elif handles:  # a colour bar on the right: the legend goes inside
        ax.legend(handles=handles, fontsize=7, loc="best", framealpha=0.8)
    if celestial:
        ax.set_xlabel("ΔRA cos δ [arcsec] (east left)")
        ax.set_ylabel("ΔDec [arcsec]")
        ax.invert_xaxis()
    else:
        ax.set_xlabel("xpos [pix]")
        ax.set_ylabel("ypos [pix]")
    ax.set_aspect("equal", adjustable="box")
    note = f"{shown:,} of {total:,} rows" if shown < total else f"{total:,} rows"
    ax.set_title(f"{title}: sky positions by {by} ({note})", fontsize=10)
    fig.tight_layout()
    return fig


def detector_images_from(path: str, max_side: int = 1400) -> list[tuple[str, np.ndarray, float, float, str | None, int]]:
    """The CHANnn images of a reconstruct-det output, each reduced to at most
    ``max_side`` pixels a side by the mean of k x k blocks (NaN-aware)."""
    import warnings

    from astropy.io import fits

    out = []
    with fits.open(path, memmap=True) as hdul:
        for hdu in hdul:
            if hdu.data is None or hdu.data.ndim != 2:
                continue
            k = max(1, -(-max(hdu.data.shape) // max_side))
            data = np.asarray(hdu.data, dtype=np.float32)
            if k > 1:
                ny, nx = (data.shape[0] // k) * k, (data.shape[1] // k) * k
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
                    data = np.nanmean(data[:ny, :nx].reshape(ny // k, k, nx // k, k), axis=(1, 3))
            h = hdu.header
            name = str(h.get("EXTNAME", "image")) + (f", mean of {k}x{k} pixels" if k > 1 else "")
            out.append((name, data, float(h.get("CRVAL1", 1)), float(h.get("CRVAL2", 1)), h.get("BUNIT"), k))
            del data
    return out
