"""A typed view of the ``ESO DRS MUSE PIXTABLE`` keywords of a primary header."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from ..errors import InputError
from ..fits.header import Header

log = logging.getLogger(__name__)

PREFIX = "ESO DRS MUSE PIXTABLE "
LEGACY_PREFIX = "ESO PRO MUSE PIXTABLE "

_XOFFSET = re.compile(r"EXP(\d+) IFU(\d+) SLICE(\d+) XOFFSET$")
_EXPRANGE = re.compile(r"EXP(\d+) (FIRST|LAST)$")

#: The ten LIMITS keywords, by the key pixtab uses for them.
LIMIT_KEYS: dict[str, str] = {
    "x_low": "LIMITS X LOW",
    "x_high": "LIMITS X HIGH",
    "y_low": "LIMITS Y LOW",
    "y_high": "LIMITS Y HIGH",
    "lambda_low": "LIMITS LAMBDA LOW",
    "lambda_high": "LIMITS LAMBDA HIGH",
    "ifu_low": "LIMITS IFU LOW",
    "ifu_high": "LIMITS IFU HIGH",
    "slice_low": "LIMITS SLICE LOW",
    "slice_high": "LIMITS SLICE HIGH",
}


def key(suffix: str) -> str:
    """Keyword name for a pixtable keyword suffix, e.g. ``key('MERGED')``.

    Returned in the explicit ``HIERARCH`` form, which astropy accepts for
    lookups and assignments without a warning.
    """
    return "HIERARCH " + PREFIX + suffix


def xoffset_key(exp: int, ifu: int, slc: int) -> str:
    """Keyword name of one XOFFSET card (HIERARCH form)."""
    return key(f"EXP{exp} IFU{ifu:02d} SLICE{slc:02d} XOFFSET")


def plain(name: str) -> str:
    """A keyword name without the ``HIERARCH`` marker, for messages."""
    return name[len("HIERARCH ") :] if name.startswith("HIERARCH ") else name


@dataclass(frozen=True)
class Exposure:
    """Row range of one exposure of a combined table (0-based, inclusive)."""

    exp: int
    first: int
    last: int

    @property
    def nrows(self) -> int:
        return self.last - self.first + 1


@dataclass
class PixtableKeywords:
    """Parsed pixtable keywords. Absent keywords are ``None`` (or empty)."""

    pipeline_type: str | None = None
    wcs_keyword: str | None = None
    merged: int | None = None
    combined: int | None = None
    fluxcal: bool = False
    skysub: bool = False
    weighted: bool = False
    exposures: list[Exposure] = field(default_factory=list)
    limits: dict[str, float | int | None] = field(default_factory=dict)
    #: raw XOFFSET values by (exp, ifu, slice); validated where they are used
    xoffsets: dict[tuple[int, int, int], object] = field(default_factory=dict)
    ra: float | None = None
    dec: float | None = None
    crval1: float | None = None
    crval2: float | None = None

    @property
    def exposure_numbers(self) -> list[int]:
        """Exposure numbers present: ``[0]`` for a single exposure."""
        return [e.exp for e in self.exposures] or [0]


def _as_int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return int(value)


#: keywords that may appear any number of times
COMMENTARY = ("", "COMMENT", "HISTORY")


# Duplicate cards: the pipeline reads headers with cpl_propertylist_load (CFITSIO underneath),
# which keeps every card, and a lookup by name (cpl_propertylist_get_*, i.e.
# cpl_propertylist_get_property) returns the FIRST property of that name; astropy's
# header[name] does the same. So everywhere in pixtab the first card of a keyword wins,
# a later one with another value is reported, and outputs hold one card per keyword.


def warn_duplicates(header: Header, path: str, what: str = "the primary header") -> None:
    """Warn once per keyword that appears again with a different value (the first one is used)."""
    seen: dict[str, object] = {}
    reported: set[str] = set()
    for card in header.cards:
        name = card.keyword
        if name in COMMENTARY:
            continue
        if name not in seen:
            seen[name] = card.value
        elif name not in reported and card.value != seen[name]:
            reported.add(name)
            log.warning(
                "%s: keyword %r appears more than once in %s with different values (%r, then %r); "
                "using the first, as the pipeline does",
                path, name, what, seen[name], card.value,
            )


def without_duplicates(header: Header) -> Header:
    """A copy of ``header`` with only the first card of each keyword (commentary cards all kept)."""
    out = header.copy()
    counts: dict[str, int] = {}
    for card in header.cards:
        if card.keyword not in COMMENTARY:
            counts[card.keyword] = counts.get(card.keyword, 0) + 1
    for name, n in counts.items():
        for k in range(n - 1, 0, -1):
            del out[(name, k)]
    return out


def parse(header: Header, path: str = "") -> PixtableKeywords:
    """Read the pixtable keywords of ``header`` in one pass over its cards (first card wins)."""
    kw = PixtableKeywords()
    ranges: dict[int, dict[str, object]] = {}
    limits: dict[str, object] = {}
    seen: set[str] = set()
    for card in header.cards:
        name = card.keyword
        if name in seen:
            continue
        seen.add(name)
        if name.startswith(PREFIX):
            suffix = name[len(PREFIX) :]
        elif name.startswith(LEGACY_PREFIX):
            suffix = name[len(LEGACY_PREFIX) :]
        else:
            continue
        value = card.value
        m = _XOFFSET.match(suffix)
        if m:
            kw.xoffsets[(int(m[1]), int(m[2]), int(m[3]))] = value
            continue
        m = _EXPRANGE.match(suffix)
        if m:
            ranges.setdefault(int(m[1]), {})[m[2]] = value
            continue
        if suffix == "TYPE":
            kw.pipeline_type = str(value).strip()
        elif suffix == "WCS":
            kw.wcs_keyword = str(value).strip()
        elif suffix in ("MERGED", "COMBINED"):
            setattr(kw, suffix.lower(), _as_int(value))
        elif suffix in ("FLUXCAL", "SKYSUB", "WEIGHTED"):
            setattr(kw, suffix.lower(), value is True)
        elif suffix.startswith("LIMITS "):
            limits[suffix] = value
    for short, suffix in LIMIT_KEYS.items():
        value = limits.get(suffix)
        kw.limits[short] = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    kw.exposures = _exposures(ranges, path)
    for name in ("RA", "DEC", "CRVAL1", "CRVAL2"):
        value = header.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            setattr(kw, name.lower(), float(value))
    return kw


def _exposures(ranges: dict[int, dict[str, object]], path: str) -> list[Exposure]:
    exposures = []
    for exp in sorted(ranges):
        first, last = ranges[exp].get("FIRST"), ranges[exp].get("LAST")
        for which, value in (("FIRST", first), ("LAST", last)):
            if _as_int(value) is None:
                state = "missing" if value is None else f"not an integer ({value!r})"
                raise InputError(path, f"keyword '{PREFIX}EXP{exp} {which}' is {state}")
        exposures.append(Exposure(exp, int(first), int(last)))  # type: ignore[arg-type]
    return exposures


def check_exposures(exposures: list[Exposure], nrows: int, path: str) -> None:
    """Check that EXPn FIRST/LAST tile rows 0..nrows-1 in order, without overlap or gap."""
    expected_first = 0
    for e in exposures:
        if e.exp < 1:
            raise InputError(path, f"exposure number {e.exp} in EXPn FIRST/LAST keywords (must be >= 1)")
        if e.first != expected_first:
            what = "overlaps the previous one" if e.first < expected_first else "leaves a gap before it"
            raise InputError(
                path,
                f"EXP{e.exp} FIRST = {e.first} {what} (expected {expected_first})",
            )
        if e.last < e.first - 1:
            raise InputError(path, f"EXP{e.exp} LAST = {e.last} is before FIRST = {e.first}")
        expected_first = e.last + 1
    if exposures and expected_first != nrows:
        raise InputError(
            path,
            f"EXPn FIRST/LAST cover rows 0..{expected_first - 1} but the table has {nrows} rows",
        )
