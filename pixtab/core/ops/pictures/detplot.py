"""The picture of reconstruct-det's detector images.

Each image is cropped to the pixels that hold rows and drawn with the detector's aspect
(square pixels): a narrow box of rows stays a strip, stacked one IFU under the other,
not a square panel. When rows fill less than half the columns (a small aperture crosses
many slices, each a band of columns), the bands are drawn side by side, each tick naming
the detector x of its first column. Limits come from the pixels holding rows only (a ``--fill 0`` zero
counts as empty); pixels without rows are white.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .display import Display, colour_map, limits, norm
from .pictures import pyplot, unit_label

NO_ROWS = "white"


@dataclass
class DetectorImage:
    name: str
    data: np.ndarray  # NaN where no row
    x0: float  # detector x, y of data[0, 0]
    y0: float
    unit: str | None
    block: int  # each value is the mean of block x block detector pixels


def _crop(im: DetectorImage) -> DetectorImage:
    held = np.isfinite(im.data)
    if not held.any():
        return im
    ys, xs = np.flatnonzero(held.any(axis=1)), np.flatnonzero(held.any(axis=0))
    data = im.data[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1]
    return DetectorImage(im.name, data, im.x0 + xs[0] * im.block, im.y0 + ys[0] * im.block, im.unit, im.block)


@dataclass
class Bands:
    """Columns that hold rows, packed side by side (the empty columns between slices left out)."""

    data: np.ndarray
    starts: list[int]  # position of each band in ``data``
    xs: list[float]  # detector x of each band's first column


GAP = 3  # empty columns drawn between two packed bands


def _pack(im: DetectorImage) -> Bands | None:
    """The bands of columns holding rows, when they cover less than half the image's width."""
    held = np.isfinite(im.data).any(axis=0)
    if held.mean() >= 0.5:
        return None
    edges = np.flatnonzero(np.diff(np.concatenate([[0], held.astype(np.int8), [0]])))
    runs = list(zip(edges[::2], edges[1::2]))
    parts, starts, xs, pos = [], [], [], 0
    gap = np.full((im.data.shape[0], GAP), np.nan, dtype=im.data.dtype)
    for a, b in runs:
        if parts:
            parts.append(gap)
            pos += GAP
        parts.append(im.data[:, a:b])
        starts.append(pos)
        xs.append(im.x0 + a * im.block)
        pos += b - a
    return Bands(np.concatenate(parts, axis=1), starts, xs)


def detector_figure(images: Sequence[DetectorImage], title: str, display: Display,
                    default_stretch: str, default_pct: tuple[float, float], what: str) -> object:
    """One panel per image, with a shared colour scale (limits over every image's rows)."""
    plt = pyplot()
    images = [_crop(im) for im in images]
    packed = [_pack(im) for im in images]
    values = np.concatenate([im.data[np.isfinite(im.data)].ravel() for im in images])
    lo, hi = limits(values, display, default_pct)
    stretch = display.stretch or default_stretch
    nrm = norm(lo, hi, stretch)
    cmap = colour_map(plt, display.cmap or "viridis", NO_ROWS)
    shapes = [(p.data if p else im.data).shape for im, p in zip(images, packed)]
    wide = all(w > 1.5 * h for h, w in shapes)  # wider than tall: full-width strips read better than small panels
    n = len(images)
    cols = 1 if wide else min(n, 4)
    rows = -(-n // cols)
    if wide:  # strips: one under the other, as wide as the page allows
        width = 16.0
        heights = [max(0.6, (width - 2.5) * h / w) for h, w in shapes]
        fig, axes = plt.subplots(n, 1, figsize=(width, sum(heights) + 0.7 * n + 1.2), squeeze=False,
                                 gridspec_kw={"height_ratios": heights}, layout="constrained")
    else:
        panel = 7.0 if n == 1 else 4.2
        tall = max(h / w for h, w in shapes)  # panel height over width
        fig, axes = plt.subplots(rows, cols, figsize=(min(18, panel * cols + 1.5), (panel * min(tall, 1.2) + 1.3) * rows),
                                 squeeze=False, layout="constrained")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    shown = None
    for ax, im, p in zip(axes.ravel(), images, packed):
        data = p.data if p else im.data
        h, w = data.shape[0] * im.block, data.shape[1] * im.block
        x0 = 0 if p else im.x0
        extent = (x0 - 0.5, x0 + w - 0.5, im.y0 - 0.5, im.y0 + h - 0.5)
        shown = ax.imshow(data, origin="lower", cmap=cmap, norm=nrm, interpolation="nearest", extent=extent, aspect="equal")
        if p:  # ticks name the detector x where each band of columns starts
            ax.set_xticks([float(v) for v in p.starts], [f"{x:g}" for x in p.xs], rotation=90)
            ax.set_title(f"{im.name}: the {len(p.starts)} bands of columns that hold rows, side by side", fontsize=9, loc="left")
        else:
            ax.set_title(im.name, fontsize=9, loc="left")
        ax.set_xlabel("detector x [pix]" + (" (first column of each band)" if p else ""), fontsize=8)
        ax.set_ylabel("y [pix]", fontsize=8)
        ax.tick_params(labelsize=7)
    bar = fig.colorbar(shown, ax=list(axes.ravel()[:n]), orientation="horizontal" if wide else "vertical",
                       fraction=0.04 if wide else 0.05, aspect=60 if wide else 30)
    bar.set_label(f"{what}{unit_label(images[0].unit)}", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    fig.suptitle(f"{title} ({display.describe(lo, hi, default_stretch, default_pct)}; no rows: white)", fontsize=10)
    return fig


def detector_images_from(path: str, fill: float | None = None, max_side: int = 2100) -> list[DetectorImage]:
    """The CHANnn images of a reconstruct-det output, pixels equal to ``fill`` (the value
    given to pixels without a row, when not NaN) set to NaN, each reduced to at most
    ``max_side`` pixels a side by the mean of k x k blocks (NaN-aware)."""
    from astropy.io import fits

    out = []
    with fits.open(path, memmap=True) as hdul:
        for hdu in hdul:
            if hdu.data is None or hdu.data.ndim != 2:
                continue
            k = max(1, -(-max(hdu.data.shape) // max_side))
            data = np.asarray(hdu.data, dtype=np.float32)
            if fill is not None:
                data = np.where(data == fill, np.float32(np.nan), data)
            if k > 1:
                ny, nx = (data.shape[0] // k) * k, (data.shape[1] // k) * k
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
                    data = np.nanmean(data[:ny, :nx].reshape(ny // k, k, nx // k, k), axis=(1, 3))
            h = hdu.header
            name = str(h.get("EXTNAME", "image")) + (f", mean of {k}x{k} pixels" if k > 1 else "")
            out.append(DetectorImage(name, data, float(h.get("CRVAL1", 1)), float(h.get("CRVAL2", 1)), h.get("BUNIT"), k))
            del data
    return out
