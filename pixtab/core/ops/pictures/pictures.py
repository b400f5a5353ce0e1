"""Pictures (PNG, PDF or SVG by the file's extension; matplotlib's Agg backend).

Every figure is titled with the file it shows and its axes carry units. Each
``*_figure`` function returns a figure; :func:`save` writes it to an open file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .display import Display, colour_map, limits
from .display import norm as make_norm
from ..optional import require

DPI = 100
#: the sky image's default limits: from the faint end to the brightest spaxel (asinh)
IMAGE_PERCENTILES = (0.5, 100.0)


def pyplot() -> Any:
    require("matplotlib")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, fd: int, fmt: str = "png") -> None:
    """Write ``fig`` in ``fmt`` (png, pdf, svg) to the open file ``fd`` and free it."""
    plt = pyplot()
    meta = {"Creator": "pixtab"} if fmt in ("pdf", "svg") else {"Software": "pixtab"}
    if fmt == "svg":
        meta = {"Creator": "pixtab", "Date": None}  # no date: the same picture, the same bytes
    with os.fdopen(os.dup(fd), "wb") as f:
        fig.savefig(f, format=fmt, dpi=DPI, metadata=meta, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)


def unit_label(unit: str | None) -> str:
    return f" [{unit}]" if unit else ""


def image_figure(im: Any, title: str, peaks: Sequence[Any] = (), display: Display = Display()) -> Any:
    """A sky image: arcsinh stretch between robust limits (or the user's), WCS axes, peaks
    circled and numbered. Limits come from the spaxels that hold rows."""
    plt = pyplot()
    data = im.image
    # asinh keeps the faint end linear and the bright end compressed: show up to the maximum
    lo, hi = limits(data[im.nrows > 0], display, IMAGE_PERCENTILES)
    norm = make_norm(lo, hi, display.stretch or "asinh", asinh_a=0.02)
    ny, nx = data.shape
    wide = nx > 1.5 * ny
    size = (9.0, max(3.2, min(8.0, 8.0 * ny / nx + 2.0))) if wide else (8.0, 7.0)
    fig = plt.figure(figsize=size)
    if im.celestial:
        from astropy.wcs import WCS

        ax = fig.add_subplot(projection=WCS(im.header.to_astropy()))
        ax.coords[0].set_axislabel(f"RA ({im.header.get('RADESYS', 'ICRS')})")
        ax.coords[1].set_axislabel("Dec")
        ax.coords[0].set_major_formatter("hh:mm:ss.s")
    else:
        ax = fig.add_subplot()
        ax.set_xlabel("xpos [pix] (focal plane)")
        ax.set_ylabel("ypos [pix] (focal plane)")
    cmap = colour_map(plt, display.cmap or "viridis", "0.85")  # spaxels without rows: light grey
    extent = None
    if not im.celestial:  # axes in the table's own pixel coordinates
        (x0, x1), (y0, y1) = im.pixel_to_sky(np.array([-0.5, nx - 0.5]), np.array([-0.5, ny - 0.5]))
        extent = (x0, x1, y0, y1)
    shown = ax.imshow(data, origin="lower", cmap=cmap, norm=norm, interpolation="nearest", extent=extent)
    what = f"{im.header.get('HIERARCH PIXTAB IMAGE STAT', '')} of {im.header.get('HIERARCH PIXTAB IMAGE COLUMN', 'data')}"
    bar = fig.colorbar(shown, ax=ax, orientation="horizontal" if wide else "vertical", fraction=0.05, pad=0.18 if wide else 0.04,
                       aspect=40 if wide else 25)
    bar.set_label(f"{what}{unit_label(im.unit)}", fontsize=8)
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
    shown_as = display.describe(lo, hi, "asinh", IMAGE_PERCENTILES)
    ax.set_title(f"{title}{lam}, {im.spaxel:g}{'″' if im.celestial else ' pix'} spaxels{kind}\n{shown_as}", fontsize=10)
    fig.tight_layout()
    return fig


def spectrum_figure(spec: Any, title: str) -> Any:
    """Mean of data per row with its 1-sigma band against wavelength (gaps where a bin has
    no row); rows used and flagged per bin below. The mean, not the sum: a sum follows how
    many rows happen to fall in each bin. Partial bins (fewer than half the median rows,
    such as a last bin cut by the table's wavelength range) are left out of the curve and
    marked on the rows panel."""
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    lam = spec.wavelength
    partial = spec.rows < 0.5 * np.median(spec.rows[spec.rows > 0]) if (spec.rows > 0).any() else spec.rows < 0
    mean = np.where(partial, np.nan, spec.mean)
    err = np.sqrt(spec.mean_var)
    top.fill_between(lam, mean - err, mean + err, step="mid", color="tab:blue", alpha=0.3, lw=0, label="±1σ (from stat)")
    top.step(lam, mean, where="mid", color="tab:blue", lw=0.8, label="mean of data per row")
    top.set_ylabel(f"mean of data per row{unit_label(spec.data_unit)}", fontsize=9)
    top.legend(fontsize=8, loc="best")
    bottom.step(lam, spec.rows, where="mid", color="0.3", lw=0.8, label="rows used")
    if spec.flagged.any():
        bottom.step(lam, spec.flagged, where="mid", color="red", lw=0.8, label="flagged (left out)")
    if partial.any():
        bottom.plot(lam[partial], spec.rows[partial], "x", color="tab:orange", ms=6,
                    label=f"partial bin{'s' if partial.sum() > 1 else ''} (< half the median rows; not in the curve)")
    bottom.set_ylabel("rows / bin", fontsize=9)
    bottom.set_xlabel("wavelength [Å]")
    bottom.legend(fontsize=8, loc="best")
    top.set_title(f"{title}: spectrum in {spec.width:g} Å bins ({int(spec.rows.sum()):,} rows)", fontsize=10)
    fig.tight_layout()
    return fig


def fit_figure(rows: Any, results: Sequence[dict], model: Any, title: str, unit: str | None, name: str = "model") -> Any:
    """Radial profile of the rows and the fitted model (whole range); FWHM against wavelength."""
    plt = pyplot()
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
    ax.set_ylabel(f"data{unit_label(unit)}")
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


def _offset_axes(fig: Any, centre: tuple[float, float]) -> Any:
    """Axes in RA/Dec over a TAN plane whose pixel coordinates are offsets in arcsec
    (x to the WEST, so that east is left as on the sky)."""
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = list(centre)
    w.wcs.crpix = [1.0, 1.0]  # pixel 0 (0-based) is the centre
    w.wcs.cdelt = [-1 / 3600.0, 1 / 3600.0]
    ax = fig.add_subplot(projection=w)
    ax.coords[0].set_axislabel("RA")
    ax.coords[1].set_axislabel("Dec")
    ax.coords[0].set_major_formatter("hh:mm:ss.ss")
    ax.coords[1].set_major_formatter("dd:mm:ss.s")
    return ax


def sky_figure(s: Any, by: str, title: str) -> Any:
    """Scatter of row positions coloured by ``by`` (flagged rows red) with the selection's
    apertures drawn; RA/Dec axes (east left) when the table has celestial coordinates."""
    plt = pyplot()
    x, y, colour, flagged, celestial, unit = s.x, s.y, s.colour, s.flagged, s.celestial, s.unit
    shown, total = len(s.x), s.total
    if celestial:
        x = -x  # the WCS's pixel x runs to the west
    w = float(np.ptp(x)) if x.size else 1.0
    h = float(np.ptp(y)) if y.size else 1.0
    aspect = min(max(h / max(w, 1e-9), 0.12), 1.2)
    fig = plt.figure(figsize=(10, 1.8 + 7.0 * aspect))
    ax = _offset_axes(fig, s.centre) if celestial else fig.add_subplot()
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
        fig.colorbar(sc, ax=ax, label=by + (unit_label(unit) if by == "data" else ""), shrink=0.85)
    if flagged.any():
        ax.scatter(x[flagged], y[flagged], s=ms, color="red", lw=0, rasterized=True)
        handles.append(_dot("red", f"flagged (dq != 0): {int(flagged.sum()):,}"))
    from matplotlib.lines import Line2D
    from matplotlib.patches import Circle, Rectangle

    for shape, ax_x, ax_y, size in s.apertures:
        cx = -ax_x if celestial else ax_x
        patch = (Circle((cx, ax_y), size) if shape == "circle" else Rectangle((cx - size, ax_y - size), 2 * size, 2 * size))
        patch.set(fill=False, edgecolor="black", lw=1.2, ls="--")
        ax.add_patch(patch)
    if s.apertures:
        handles.append(Line2D([], [], color="black", ls="--", lw=1.2, label="aperture"))
    if handles and by in ("ifu", "exp", "dq"):
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
                  ncol=2 if len(handles) > 14 else 1)
    elif handles:  # a colour bar on the right: the legend goes inside
        ax.legend(handles=handles, fontsize=7, loc="best", framealpha=0.8)
    if not celestial:
        ax.set_xlabel("xpos [pix]")
        ax.set_ylabel("ypos [pix]")
    ax.set_aspect("equal", adjustable="box")
    note = f"{shown:,} of {total:,} rows" if shown < total else f"{total:,} rows"
    ax.set_title(f"{title}: sky positions by {by} ({note})", fontsize=10)
    fig.tight_layout()
    return fig
