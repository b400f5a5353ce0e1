"""FITS cards without astropy: parse, update and render one card (see :mod:`.header`).

``import astropy.io.fits`` costs 0.3-0.4 s (it pulls in astropy.units and
astropy.constants), more than a cut of a pixel table with an index. This
module reads and writes the headers pixtab moves, with the semantics of
``astropy.io.fits.Header`` for the part of its API pixtab uses, and bytes
identical to astropy's (tests/core/fits/test_header.py compares them).

Only cards that follow the standard strictly are handled here; everything
else is handed to astropy, imported then: a header with any card astropy
would parse or repair in its own way (CONTINUE, non-standard numbers,
lower-case keywords, record-valued keywords, unparsable values ...) is
parsed whole by astropy and its cards are kept as astropy cards, and a new
value this module cannot render exactly (long strings, complex, undefined)
is rendered by astropy's Card. So astropy's behaviour is kept everywhere,
and paid for only where it is needed.
"""

from __future__ import annotations

import re
from typing import Any

CARD = 80
BLOCK = 2880
COMMENTARY = frozenset({"", "COMMENT", "HISTORY"})

_FSC_KEY = re.compile(r"[A-Z0-9_-]{1,8}\Z")
_HIERARCH_KEY = re.compile(r"[A-Z0-9_-]+(?: [A-Z0-9_-]+)*\Z")
# value (strict FITS standard: upper-case exponent, no inner blanks), then an optional comment
_VALUE = re.compile(
    r" *(?:'(?P<str>[ -&(-~]*)'|(?P<bool>[TF])|(?P<num>[+-]?(?:\.\d+|\d+(?:\.\d*)?)(?:[DE][+-]?\d+)?))"
    r" *(?:/ *(?P<comm>[ -~]*))?\Z"
)
_PRINTABLE = re.compile(r"[ -~]*\Z")
_RVKC_LIKE = re.compile(r"[a-zA-Z_][\w.]*: ")


class NotPlain(Exception):
    """A card or value this module leaves to astropy."""


def _astropy_fits() -> Any:
    from astropy.io import fits  # noqa: PLC0415 - the rare path only

    return fits


def normalize(keyword: str) -> str:
    """The lookup form of a keyword (astropy's): upper case, without ``HIERARCH``."""
    k = keyword.strip()
    if k[:9].upper() == "HIERARCH ":
        k = k[9:].strip()
    return k.upper()


def _number(text: str) -> int | float:
    text = text.replace("D", "E")
    try:
        return int(text)
    except ValueError:
        return float(text)


def format_value(value: object) -> str:
    """A value as astropy writes it in a card (20 columns for numbers); NotPlain otherwise."""
    if isinstance(value, str):
        if not _PRINTABLE.match(value):
            raise NotPlain
        if value == "":
            return "''"
        quoted = "'" + f"{value.replace(chr(39), chr(39) * 2):8}" + "'"
        return f"{quoted:20}"
    kind = type(value).__module__
    if isinstance(value, bool) or (kind == "numpy" and type(value).__name__ == "bool"):
        return f"{repr(bool(value))[0]:>20}"
    if isinstance(value, int) or (kind == "numpy" and hasattr(value, "dtype") and value.dtype.kind in "iu"):
        return f"{value:>20d}"
    if isinstance(value, float) or (kind == "numpy" and hasattr(value, "dtype") and value.dtype.kind == "f"):
        if value != value or value in (float("inf"), float("-inf")):
            raise NotPlain  # astropy raises its own error for these
        text = str(value).replace("e", "E")
        if len(text) > 20:
            e = text.find("E")
            text = text[:20] if e < 0 else text[: 20 - (len(text) - e)] + text[e:]
        return f"{text:>20}"
    raise NotPlain


class Card:
    """One card: a plain card of this module, or an astropy card (``ap``) for the rest."""

    __slots__ = ("keyword", "key", "hierarch", "_image", "_raw", "_rawtext", "_comment", "ap")

    def __init__(self) -> None:
        self.ap: Any = None
        self.keyword = ""
        self.key = ""  # the lookup form (see normalize)
        self.hierarch = False
        self._image: str | None = None  # None: to be formatted
        self._raw: object = ""  # the value as stored (strings keep trailing blanks)
        self._rawtext: str | None = None  # a float's text as read, kept until the value changes
        self._comment = ""

    # -- construction --------------------------------------------------------------

    @classmethod
    def parse(cls, image: str) -> Card:
        """A plain card from its 80 characters; NotPlain if astropy might read it otherwise."""
        c = cls()
        c._image = image
        head = image[:8]
        if head in ("COMMENT ", "HISTORY ", "        "):
            if not _PRINTABLE.match(image):
                raise NotPlain
            c.keyword, c._raw = head.strip(), image[8:].rstrip()
            c.key = c.keyword
            return c
        if head == "HIERARCH" and image[8] == " " and "=" in image:
            keyword, rest = image[9:].split("=", 1)
            keyword = keyword.strip()
            if len(keyword) <= 8 or not _HIERARCH_KEY.match(keyword):
                raise NotPlain
            c.keyword, c.hierarch = keyword, True
            rest = rest.strip()
        else:
            keyword = head.rstrip()
            if image[8:10] != "= " or not _FSC_KEY.match(keyword) or keyword in ("END", "CONTINUE", "HIERARCH"):
                raise NotPlain
            c.keyword, rest = keyword, image[10:]
        m = _VALUE.match(rest)
        if m is None:
            raise NotPlain
        if m["str"] is not None:
            if not c.hierarch and _RVKC_LIKE.match(m["str"]):
                raise NotPlain  # a record-valued keyword card
            c._raw = m["str"]
        elif m["bool"] is not None:
            c._raw = m["bool"] == "T"
        else:
            c._raw = _number(m["num"])
            if isinstance(c._raw, float):
                c._rawtext = m["num"]
        c._comment = (m["comm"] or "").rstrip()
        c.key = c.keyword.upper()
        return c

    @classmethod
    def create(cls, keyword: str, value: object, comment: str | None = None) -> Card:
        """A new card, as ``astropy.io.fits.Card(keyword, value, comment)`` makes it."""
        k = keyword.rstrip()
        c = cls()
        if k.upper() in COMMENTARY or k.upper() == "CONTINUE":
            return cls.wrap(_astropy_fits().Card(keyword, value, comment))
        if len(k) <= 8 and _FSC_KEY.match(k.upper()) and k.upper() != "END":
            c.keyword = k.upper()
        elif k[:9].upper() == "HIERARCH " and _HIERARCH_KEY.match(k[9:].strip()) and len(k[9:].strip()) > 8:
            c.keyword, c.hierarch = k[9:].strip(), True
        else:
            return cls.wrap(_astropy_fits().Card(keyword, value, comment))
        c.key = c.keyword.upper()
        try:
            c._set_value(value)
            c._set_comment(comment)
            c._format()
        except NotPlain:
            return cls.wrap(_astropy_fits().Card(keyword, value, comment))
        return c

    @classmethod
    def wrap(cls, ap: Any) -> Card:
        c = cls()
        c.ap = ap
        c.keyword = ap.keyword
        c.key = normalize(ap.keyword)
        return c

    def copy(self) -> Card:
        c = Card()
        for name in Card.__slots__:
            setattr(c, name, getattr(self, name))
        if self.ap is not None:
            import copy as _copy  # noqa: PLC0415

            c.ap = _copy.copy(self.ap)
        return c

    # -- values ---------------------------------------------------------------------

    @property
    def value(self) -> object:
        if self.ap is not None:
            return self.ap.value
        return self._raw.rstrip() if isinstance(self._raw, str) else self._raw

    @property
    def comment(self) -> str:
        return self.ap.comment if self.ap is not None else self._comment

    @property
    def is_blank(self) -> bool:
        if self.ap is not None:
            return self.ap.is_blank
        return not self.keyword and self._raw == "" and not self._comment

    @property
    def image(self) -> str:
        if self.ap is not None:
            return self.ap.image
        if self._image is None:
            self._format()
        return self._image  # type: ignore[return-value]

    def __str__(self) -> str:
        return self.image

    def set(self, value: object, comment: str | None = None) -> None:
        """Set the value (and the comment unless None), as astropy's ``header[k] = ...`` does."""
        if self.ap is not None:
            self.ap.value = value
            if comment is not None:
                self.ap.comment = comment
            return
        if self.keyword in COMMENTARY:
            self._to_astropy()
            return self.set(value, comment)
        old, image, raw, text, comm = self.value, self._image, self._raw, self._rawtext, self._comment
        try:
            new = value
            if isinstance(old, str) and isinstance(new, str):
                different = old.rstrip() != new.rstrip()
            elif isinstance(old, bool) or isinstance(new, bool):
                different = old is not (bool(new) if type(new).__name__ == "bool" else new)
            else:
                different = old != new or not isinstance(new, type(old))
            if different:
                self._set_value(value)
                self._rawtext = None
                self._image = None
            if comment is not None and comment != self._comment:
                self._set_comment(comment)
                self._image = None
            if self._image is None:
                self._format()
        except NotPlain:
            self._image, self._raw, self._rawtext, self._comment = image, raw, text, comm
            self._to_astropy()
            self.set(value, comment)

    def _set_value(self, value: object) -> None:
        format_value(value)  # NotPlain for what astropy renders (or refuses) itself
        self._raw = bool(value) if type(value).__name__ == "bool" else value

    def _set_comment(self, comment: str | None) -> None:
        comment = "" if comment is None else comment
        if not _PRINTABLE.match(comment):
            raise NotPlain
        self._comment = comment.rstrip()  # as astropy: trailing blanks are padding ('F / ' never)

    def _format(self) -> None:
        if self._rawtext is not None:
            value = f"{self._rawtext:>20}"  # a float read from a file keeps its text
        else:
            value = format_value(self._raw)
        if self.hierarch:
            keyword = f"HIERARCH {self.keyword} "
            value = value.strip()
        else:
            keyword = f"{self.keyword:8}"
        comment = f" / {self._comment}" if self._comment else ""
        out = f"{keyword}= {value}{comment}"
        if self.hierarch and len(keyword) + 2 + len(value) == CARD + 1:
            out = f"{keyword[:-1]}= {value}{comment}"
        if len(out) > CARD:
            raise NotPlain  # CONTINUE cards or a truncated comment: astropy's
        self._image = f"{out:80}"

    def _to_astropy(self) -> None:
        fits = _astropy_fits()
        self.ap = fits.Card.fromstring(self.image) if self._image is not None else fits.Card(self.keyword, self._raw, self._comment)
