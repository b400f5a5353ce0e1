"""The one progress protocol of the core: phases, each with a total, advanced by rows done.

An operation calls ``progress.start(phase, total)`` when a pass begins
(``'select'``, ``'copy'``, ``'survey'``...) and ``progress.advance(n)`` as it
goes. :data:`SILENT` ignores both; the CLI draws one bar per phase on a
terminal. Nothing here prints.
"""

from __future__ import annotations


class Progress:
    """Progress of one operation; this base class reports nothing."""

    def start(self, phase: str, total: int) -> None:
        """A new phase of ``total`` units (rows) begins; the previous one is over."""

    def advance(self, n: int) -> None:
        """``n`` more units of the current phase are done."""


#: the progress of nobody watching
SILENT = Progress()


class Recorder(Progress):
    """Keeps (phase, total, done) of every phase (for tests and library callers)."""

    def __init__(self) -> None:
        self.phases: list[list] = []

    def start(self, phase: str, total: int) -> None:
        self.phases.append([phase, total, 0])

    def advance(self, n: int) -> None:
        self.phases[-1][2] += n
