"""pixtab: streaming tools for MUSE pixel tables, and their Python API.

::

    import pixtab
    with pixtab.open("PIXTABLE_REDUCED_0001.fits") as pt:      # pixtab.Table
        print(pt)                                              # file, rows, layout, state, exposures
        sel = pt.select(circle=(150.1163, 2.2058, 2.0), lam=(6000, 6100))
        print(sel.count(), sel.read(["data", "dq"]))           # dq as uint32
        sel.write("star.fits")                                 # as `pixtab extract`

See :mod:`pixtab.api`; ``pixtab.mpdaf.PixTable`` is a drop-in for MPDAF's.
Everything heavy (numpy, astropy) is imported on first use, so that
``import pixtab`` and ``pixtab --help`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__date__ = "2026-11-24"  # fixed date used in generated man pages

if TYPE_CHECKING:  # pragma: no cover
    from .api import Table

_LAZY = ("Table", "Selection", "PixtabError", "InputError", "CriteriaError", "OutputError", "EmptySelectionError")


def open(path: str) -> "Table":  # noqa: A001 - mirrors builtins.open on purpose
    """Open a pixel table (:class:`pixtab.api.Table`): ``repr`` describes it, ``select(...)``
    selects rows lazily, ``read``/``iter_chunks`` stream columns."""
    from .api import Table

    return Table(path)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'pixtab' has no attribute {name!r}")


__all__ = ["__version__", "open", *_LAZY]
