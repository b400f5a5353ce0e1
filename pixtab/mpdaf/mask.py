"""MPDAF's ``PixTableMask``: a row mask of a pixel table (``mask_column``'s result), as a file.

The file is MPDAF's (a ``MASKCOL`` image of int32, one per row, and the names of the
pixel table and the sky mask in the primary header), written by pixtab's
:mod:`pixtab.core.format.pixmask` (atomic) and readable by ``pixtab --rows FILE``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..core.fits.atomic import atomic_output
from ..core.format import pixmask


class PixTableMask:
    """``PixTableMask(filename)`` reads a mask file; ``PixTableMask(maskfile=, maskcol=,
    pixtable=)`` holds one (``maskcol``: one boolean per row)."""

    def __init__(self, filename: Any = None, maskfile: str | None = None, maskcol: Any = None, pixtable: Any = None) -> None:
        if filename is None:
            self.maskfile, self.maskcol, self.pixtable = maskfile, maskcol, pixtable
            return
        info, values = pixmask.open_mask(str(filename))
        self.maskfile, self.pixtable = info.maskfile, info.pixtable
        self.maskcol = np.asarray(values[:] != 0)

    def write(self, filename: Any) -> None:
        """Save as MPDAF's mask file (replaced atomically)."""
        col = np.asarray(self.maskcol, dtype=bool)
        with atomic_output(filename, overwrite=True) as fd:
            pixmask.write_mask(fd, col.size, [col], os.path.basename(str(self.pixtable or "")), str(self.maskfile or ""))
