"""Source catalogues: the positions (and aperture sizes) of many sources, one per line.

Accepted, so that what ``pixtab image --peaks`` prints can be read back as it is:

* CSV or TSV with a header line naming the columns: ``id``, ``ra``, ``dec`` are required,
  ``radius`` (a circle) or ``halfside`` (a square) are optional, in arcsec; other columns
  (``peak``, ``fwhm_guess``...) are ignored. The delimiter is a tab when the header has
  one, else a comma.
* JSON Lines: one object per line with the same keys.

RA and Dec are degrees, or sexagesimal (``12:36:54.7`` is hours of RA when it has a
colon or an ``h``). Blank lines and lines starting with ``#`` are skipped. A source
without its own size takes the default; ids are unique and usable in a file name.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from ..errors import CriteriaError

_SIZES = ("radius", "halfside")


@dataclass(frozen=True)
class Source:
    """One catalogue entry: an aperture around (ra, dec); sizes in arcsec."""

    id: str
    ra: float
    dec: float
    radius: float | None = None
    halfside: float | None = None

    @property
    def shape(self) -> str:
        return "circle" if self.radius is not None else "square"

    @property
    def size(self) -> float:
        return self.radius if self.radius is not None else self.halfside  # type: ignore[return-value]


class CatalogError(CriteriaError):
    """A catalogue line that cannot be read (a usage error: the command line named it)."""


def _number(value: object, what: str) -> float:
    """``float(value)`` of a JSON number; an integer too large for a float is a ValueError."""
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        raise ValueError(f"{what} {str(value)[:20]}... is too large") from None


def _angle(text: object, what: str, hours: bool) -> float:
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = _number(text, what)
    else:
        s = str(text).strip()
        try:
            value = float(s)
        except ValueError:
            from astropy import units as u
            from astropy.coordinates import Angle

            unit = u.hourangle if hours and (":" in s or "h" in s.lower()) else u.deg
            try:
                value = float(Angle(s, unit=unit).deg)
            except (ValueError, TypeError, OverflowError):
                raise ValueError(f"{what} {s!r} is not an angle") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} {text!r} is not finite")
    return value


def _size(text: object, what: str) -> float | None:
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if isinstance(text, int) and not isinstance(text, bool):
        value = _number(text, what)
    else:
        try:
            value = float(text)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"{what} {text!r} is not a number of arcsec") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{what} must be a positive number of arcsec, not {text!r}")
    return value


def _source(fields: dict[str, object], default_radius: float | None) -> Source:
    sid = str(fields.get("id", "")).strip()
    if not sid:
        raise ValueError("no id")
    if "/" in sid or "\0" in sid or sid in (".", ".."):
        raise ValueError(f"id {sid!r} cannot be part of a file name")
    for key in ("ra", "dec"):
        if fields.get(key) in (None, ""):
            raise ValueError(f"no {key}")
    ra = _angle(fields["ra"], "ra", hours=True) % 360.0
    dec = _angle(fields["dec"], "dec", hours=False)
    if not -90.0 <= dec <= 90.0:
        raise ValueError(f"dec {dec:g} is outside [-90, 90]")
    radius, halfside = (_size(fields.get(k), k) for k in _SIZES)
    if radius is not None and halfside is not None:
        raise ValueError("give a radius or a halfside, not both")
    if radius is None and halfside is None:
        if default_radius is None:
            raise ValueError("no radius or halfside, and no default radius")
        radius = default_radius
    return Source(sid, ra, dec, radius, halfside)


def _rows(lines: list[tuple[int, str]]) -> list[tuple[int, dict[str, object]]]:
    """(line number, fields) of every entry; the first line is the header unless JSON."""
    if lines[0][1].lstrip().startswith("{"):
        rows = []
        for n, line in lines:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CatalogError(f"line {n}: not JSON ({exc.msg})", "catalog") from None
            except (ValueError, RecursionError) as exc:  # an integer of 4300+ digits; nesting too deep
                raise CatalogError(f"line {n}: not a usable JSON object ({str(exc).split(';')[0][:80]})", "catalog") from None
            if not isinstance(obj, dict):
                raise CatalogError(f"line {n}: not a JSON object", "catalog")
            rows.append((n, {str(k).lower(): v for k, v in obj.items()}))
        return rows
    n0, header = lines[0]
    sep = "\t" if "\t" in header else ","
    names = [h.strip().lower() for h in header.split(sep)]
    missing = [k for k in ("id", "ra", "dec") if k not in names]
    if missing:
        raise CatalogError(f"line {n0}: the header names no {', '.join(missing)} column (it has: {header.strip()})", "catalog")
    rows = []
    for n, line in lines[1:]:
        values = line.split(sep)
        if len(values) != len(names):
            raise CatalogError(f"line {n}: {len(values)} fields where the header has {len(names)}", "catalog")
        rows.append((n, dict(zip(names, (v.strip() for v in values)))))
    return rows


def parse_catalog(text: str, default_radius: float | None = None) -> list[Source]:
    """The sources of a catalogue's text; :class:`CatalogError` names the first bad line.

    A leading byte-order mark (what spreadsheets save as "CSV UTF-8") is not part of the text.
    """
    text = text.removeprefix("\ufeff")
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise CatalogError("the catalogue is empty", "catalog")
    sources: list[Source] = []
    seen: dict[str, int] = {}
    for n, fields in _rows(lines):
        try:
            source = _source(fields, default_radius)
        except ValueError as exc:
            raise CatalogError(f"line {n}: {exc}", "catalog") from None
        if source.id in seen:
            raise CatalogError(f"line {n}: id {source.id!r} already on line {seen[source.id]}", "catalog")
        seen[source.id] = n
        sources.append(source)
    if not sources:
        raise CatalogError("the catalogue has a header but no source", "catalog")
    return sources
