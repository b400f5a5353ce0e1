"""An in-memory reconstruct-det, for tests only: every image kept until the end.

It runs the package's own passes (survey, fill without early release) and
writes with its ImageFile, so that the streamed writer (which frees each
image as soon as it can) can be checked against it byte for byte.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from pixtab.core.io.table import DEFAULT_CHUNK_ROWS, PixTable
from pixtab.core.ops.reconstruct import DetectorImage, Request, fill, survey
from pixtab.core.ops.reconstruct.canvas import filled
from pixtab.core.ops.reconstruct.imagefile import ImageFile
from pixtab.core.progress import SILENT, Progress


@dataclass
class Held:
    """One image kept in memory: its metadata and its pixels."""

    meta: DetectorImage
    image: np.ndarray

    @property
    def ifu(self) -> int:
        return self.meta.ifu

    @property
    def shape(self) -> tuple[int, int]:
        return self.meta.shape

    @property
    def xstart(self) -> int:
        return self.meta.xstart


def reconstruct(pt: PixTable, req: Request, progress: Progress = SILENT, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> list[Held]:
    """Every image of ``req``, in output order, with ``npix`` counted."""
    plan = survey(pt, req, progress, chunk_rows)
    held: dict[int, Held] = {}

    def done(im: DetectorImage, pixels: np.ndarray) -> None:
        npix = sum(filled(pixels[a : a + 256], plan.fill) for a in range(0, pixels.shape[0], 256))
        held[im.ifu] = Held(replace(im, npix=npix), pixels)

    fill(pt, plan, done, False, progress, chunk_rows)
    return [held[i] for i in plan.ifus]


def write_images(fd: int, images: list[Held], req: Request, unit: str | None, source: PixTable) -> None:
    """Write the images as reconstruct-det does (the pixels are not changed)."""
    dtype = images[0].image.dtype if images else np.dtype(np.float32)
    out = ImageFile(fd, req, unit, source, [h.meta for h in images], dtype)
    for h in images:
        out.write(h.meta, h.image.copy())


__all__ = ["Held", "reconstruct", "write_images", "math"]
