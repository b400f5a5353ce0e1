"""Typed errors raised by the core; the CLI turns them into one-line messages.

Messages speak the domain (fields and values: "exposure 4 is not in this table
(exposures 1-3)"), never command-line flags. ``field`` names the request field
an error is about (``exp``, ``ifu``, ``overwrite``...), so that the CLI can add
the option that sets it.

Exit status by class: :class:`CriteriaError` is a usage error (2: the request
makes no sense whatever the table); every other :class:`PixtabError` is 1
(a bad input, a request the table cannot satisfy, an output that cannot be
written).
"""

from __future__ import annotations


class PixtabError(Exception):
    """Base class of every error pixtab reports to the user without a traceback."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InputError(PixtabError):
    """An input file is missing, unreadable, not FITS or not a valid pixel table,
    or does not hold what the request needs."""

    def __init__(self, path: object, message: str, field: str | None = None) -> None:
        self.path = str(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}", field)


class CriteriaError(PixtabError):
    """A request that makes no sense whatever the table (a usage error)."""


class OutputError(PixtabError):
    """The output cannot be written (exists, is an input, directory missing...)."""


class EmptySelectionError(PixtabError):
    """A selection kept no row, so no table was written."""
