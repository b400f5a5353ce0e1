"""Optional dependencies: import them or say, in one line, how to install them."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import PixtabError

#: module -> (distribution, pixtab extra that installs it)
EXTRAS = {
    "scipy": ("scipy", "fit"),
    "photutils": ("photutils", "peaks"),
    "matplotlib": ("matplotlib", "plot"),
}


class MissingDependency(PixtabError):
    """An optional package a command needs is not installed."""


def require(module: str) -> ModuleType:
    """Import ``module`` (a top-level optional package) or raise :class:`MissingDependency`."""
    try:
        return importlib.import_module(module)
    except ImportError:
        dist, extra = EXTRAS.get(module.split(".")[0], (module, "all"))
        raise MissingDependency(
            f"this needs {dist}, which is not installed: pip install 'pixtab[{extra}]'"
        ) from None
