"""Which exposure each row belongs to (DRS ``muse_pixtable_get_expnum``), in one place.

A combined table gives each exposure n a row range by ``EXPn FIRST``/``LAST``
(0-based, inclusive); a table without them is a single exposure, numbered 0
as the pipeline numbers it. :class:`ExposureMap` answers every question the
operations ask about it: the exposure of rows, runs of one exposure, the rows
of an exposure, counts of selected rows, and the FIRST/LAST left after rows
are removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .keywords import Exposure


def number_ranges(numbers: Sequence[int], sep: str = ", ") -> str:
    """Sorted numbers as ranges: 1,2,3,5 -> '1-3, 5' (for messages and listings)."""
    parts: list[str] = []
    for n in numbers:
        if parts and parts[-1].split("-")[-1] == str(n - 1):
            parts[-1] = parts[-1].split("-")[0] + f"-{n}"
        else:
            parts.append(str(n))
    return sep.join(parts)


class ExposureMap:
    """The exposures of a table of ``nrows`` rows (``exposures`` empty: one exposure, 0)."""

    def __init__(self, exposures: Sequence[Exposure], nrows: int) -> None:
        self.exposures = list(exposures)
        self.nrows = nrows

    @property
    def combined(self) -> bool:
        return bool(self.exposures)

    @property
    def numbers(self) -> list[int]:
        """Exposure numbers present: ``[0]`` for a single exposure."""
        return [e.exp for e in self.exposures] or [0]

    def check(self, wanted: Iterable[int]) -> str | None:
        """What is wrong with asking for exposures ``wanted`` here (None: nothing).

        On a single-exposure table only exposure 0 exists (every row).
        """
        bad = sorted(set(wanted) - set(self.numbers))
        if not bad:
            return None
        what = f"exposure {bad[0]} is" if len(bad) == 1 else f"exposures {number_ranges(bad)} are"
        if not self.combined:
            return f"{what} not in this table: a single-exposure table has only exposure 0 (every row)"
        return f"{what} not in this table (exposures {number_ranges(self.numbers)})"

    def of_rows(self, start: int, stop: int) -> np.ndarray:
        """Exposure number of rows ``start..stop-1`` (int16; 0 outside any EXPn range)."""
        out = np.zeros(stop - start, dtype=np.int16)
        for e in self.exposures:
            lo, hi = max(e.first, start), min(e.last + 1, stop)
            if lo < hi:
                out[lo - start : hi - start] = e.exp
        return out

    def runs(self, start: int, stop: int) -> list[tuple[int, int, int]]:
        """(first, stop, exposure) runs covering rows ``start..stop-1``, numbered as :meth:`of_rows`."""
        cuts = sorted({start, stop} | {c for e in self.exposures for c in (e.first, e.last + 1) if start < c < stop})
        runs: list[tuple[int, int, int]] = []
        for a, b in zip(cuts, cuts[1:]):
            exp = 0
            for e in self.exposures:
                if e.first <= a <= e.last:
                    exp = e.exp
            if runs and runs[-1][2] == exp:
                runs[-1] = (runs[-1][0], b, exp)
            else:
                runs.append((a, b, exp))
        return runs

    def rows_of(self, exp: int | None) -> tuple[int, int]:
        """Half-open row range of exposure ``exp`` (None, or 0 on a single exposure: every row)."""
        for e in self.exposures:
            if e.exp == exp:
                return e.first, e.last + 1
        return 0, self.nrows

    def touches(self, wanted: Iterable[int], start: int, stop: int) -> bool:
        """Can rows ``start..stop-1`` belong to one of the ``wanted`` exposures?"""
        if not self.exposures:
            return 0 in set(wanted)
        wanted = set(wanted)
        return any(e.exp in wanted and e.first < stop and e.last >= start for e in self.exposures)

    def count(self, start: int, idx: np.ndarray, into: dict[int, int]) -> None:
        """Add the rows ``start + idx`` (sorted) to the per-exposure counts ``into``."""
        if not self.exposures:
            into[0] = into.get(0, 0) + int(idx.size)
            return
        for e in self.exposures:
            lo, hi = np.searchsorted(idx, [e.first - start, e.last + 1 - start])
            if hi > lo:
                into[e.exp] = into.get(e.exp, 0) + int(hi - lo)

    def shifted(self, kept: dict[int, int]) -> list[tuple[int, int, int]]:
        """(exp, FIRST, LAST) after removing rows, the DRS way (``muse_pixtable_fix_exp_headers``).

        ``kept``: rows left per exposure. Every exposure is shifted by the rows
        removed before it; its LAST also by the rows removed from it, so an
        emptied exposure ends with LAST = FIRST - 1.
        """
        out = []
        removed_before = 0
        for e in self.exposures:
            removed_inside = e.nrows - kept.get(e.exp, 0)
            out.append((e.exp, e.first - removed_before, e.last - removed_before - removed_inside))
            removed_before += removed_inside
        return out
