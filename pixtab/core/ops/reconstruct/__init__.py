"""Detector images from a pixel table (``pixtab reconstruct-det``).

Each selected row goes to ``image[y - ystart, x - xstart]`` of its IFU's image
(the last row written wins, as in MPDAF); pixels without a row hold the fill
value. Images cover the bounding box of the rows present (MPDAF's default), a
half-open window, or the full 4096 x 4112 CCD (rows off the CCD are then left
out, as rows outside a window are).

The parts, in the order a run uses them::

    request.py    Request (checks that need no table), check_against, DetectorImage
    rows.py       RowParts: a chunk's rows cut by IFU and exposure, detector pixels
    survey.py     survey(): first pass over origin -> DetectorPlan (bounds, type, fill)
    canvas.py     DetectorCanvas: one IFU's image being filled, exposure clashes
    stream.py     write_streamed(): second pass, each image written and freed early
    imagefile.py  ImageFile: the output laid out up front (one IMAGE HDU per IFU)

Memory: the table is streamed twice in chunks (the first pass is skipped when
one IFU and a finite window are given); images are in the column's own type
(float32 for data/lambda/stat/weight): 67 MB for a full IFU. When several
exposures may meet in one image, a uint8 tag per pixel (25% more) records which
exposure wrote it, to detect overlaps.

Library use::

    plan = survey(pt, Request(ifu=5))
    with atomic_output(path) as fd:
        write_streamed(fd, pt, plan, pt.columns["data"].unit)
"""

from __future__ import annotations

from .request import IMAGE_COLUMNS, DetectorImage, Request, check_against
from .stream import Streamed, fill, write_streamed
from .survey import DetectorPlan, needs_survey, survey

__all__ = [
    "IMAGE_COLUMNS",
    "DetectorImage",
    "DetectorPlan",
    "Request",
    "Streamed",
    "check_against",
    "fill",
    "needs_survey",
    "survey",
    "write_streamed",
]
