"""pixtab's Python API: open a pixel table, select rows lazily, read, write and measure them.

::

    import pixtab
    with pixtab.open("PIXTABLE_REDUCED_0001.fits") as pt:
        sel = pt.select(circle=(ra, dec, 2.0), lam=(6000, 6100))
        sel.count(), sel.rows                    # int, sorted int64 row indices
        sel.read(["lambda", "data", "dq"])       # numpy arrays; dq uint32
        sel.write("star.fits")                   # the bytes `pixtab extract` writes

Same criteria, rules and errors as the commands (:mod:`pixtab.core.errors`:
``InputError``, ``CriteriaError``, ``OutputError``, ``EmptySelectionError``, all
``PixtabError``). Results are numpy arrays and astropy objects.
"""

from __future__ import annotations

from ..core.errors import CriteriaError, EmptySelectionError, InputError, OutputError, PixtabError
from .selection import Selection
from .table import Table


def open(path: str) -> Table:  # noqa: A001 - mirrors builtins.open on purpose
    """Open the pixel table ``path`` (:class:`Table`); :class:`InputError` if it is not one."""
    return Table(path)


__all__ = ["CriteriaError", "EmptySelectionError", "InputError", "OutputError", "PixtabError", "Selection", "Table", "open"]
