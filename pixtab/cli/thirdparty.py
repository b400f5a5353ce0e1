"""Third-party warnings as pixtab's one-line warnings.

astropy, once imported, sends its own warnings (and those of packages built on it, such as
photutils' NoDetectionsWarning or a FITS VerifyWarning) to its logger, which prints
``WARNING: text [module]``. This hook lets astropy load, then hands its warnings back to
Python's warning machinery, where pixtab prints them as ``pixtab: warning: text``. It is
installed at start-up without importing astropy (``--help`` and completion stay light).
"""

from __future__ import annotations

import importlib.machinery
import sys
from types import ModuleType
from typing import Any


class _AfterAstropy:  # a meta path finder (importlib.abc, 2 ms to import, is not needed for one)
    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name != "astropy":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            load(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            logger = getattr(module, "log", None)
            try:
                logger.disable_warnings_logging()  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001 - another tool changed showwarning: leave it be
                pass

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Route astropy's warnings through Python's ``warnings.showwarning`` once it is imported."""
    if "astropy" not in sys.modules and not any(isinstance(f, _AfterAstropy) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterAstropy())
