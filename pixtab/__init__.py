"""pixtab: streaming tools for MUSE pixel tables.

The command-line tool is the product; this package also offers a small Python API::

    import pixtab
    with pixtab.open("PIXTABLE_OBJECT_0001.fits") as pt:
        print(pt.nrows, pt.layout, pt.keywords.wcs)
        for chunk in pt.iter_chunks(["lambda", "data"]):
            ...

Heavy modules (numpy, astropy) are imported lazily so that ``pixtab --help``
stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__date__ = "2026-11-24"  # fixed date used in generated man pages

if TYPE_CHECKING:  # pragma: no cover
    from .core.io.table import PixTable


def open(path: str) -> "PixTable":  # noqa: A001 - mirrors builtins.open on purpose
    """Open a pixel table for streaming reads (see :class:`pixtab.core.io.table.PixTable`)."""
    from .core.io.table import PixTable

    return PixTable(path)


__all__ = ["__version__", "open"]
