"""Typed errors raised by the core; the CLI turns them into one-line messages."""

from __future__ import annotations


class PixtabError(Exception):
    """Base class of every error pixtab reports to the user without a traceback."""


class InputError(PixtabError):
    """An input file is missing, unreadable, not FITS or not a valid pixel table."""

    def __init__(self, path: object, message: str) -> None:
        self.path = str(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}")


class CriteriaError(PixtabError):
    """A selection or option value makes no sense (a usage error)."""


class OutputError(PixtabError):
    """The output cannot be written (exists, same as input, directory missing...)."""


class EmptySelectionError(PixtabError):
    """A selection kept no row, so no table was written."""
