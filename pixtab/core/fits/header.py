"""FITS headers without astropy: parse, look up, update and serialise.

``import astropy.io.fits`` costs 0.3-0.4 s (it pulls in astropy.units and
astropy.constants), more than a cut of a pixel table with an index. :class:`Header`
has the semantics of ``astropy.io.fits.Header`` for the part of its API pixtab
uses (first card of a keyword wins, new keywords go before trailing commentary
cards and use up trailing blank cards, ...) and renders the same bytes
(tests/core/fits/test_header.py compares them with astropy's).

A header whose cards are not all plain (see :meth:`.card.Card.parse`) is parsed
by astropy, imported then, and keeps astropy's cards: whatever astropy would
read, repair or warn about stays exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .card import BLOCK, CARD, COMMENTARY, Card, NotPlain, _astropy_fits, normalize

_END = "END".ljust(CARD)


def _as_card(card: Any) -> Card:
    if isinstance(card, Card):
        return card
    if isinstance(card, tuple):
        return Card.create(*card)
    if isinstance(card, str):
        return Card.create(card, None)
    return Card.wrap(card)  # an astropy card


class _Comments:
    def __init__(self, header: Header) -> None:
        self.header = header

    def __getitem__(self, key: str | tuple[str, int]) -> str:
        return self.header.cards[self.header._cardindex(key)].comment


class Header:
    """An ordered list of cards, looked up by keyword as astropy does."""

    def __init__(self, cards: Iterable[Any] = ()) -> None:
        self._cards: list[Card] = []
        self._idx: dict[str, tuple[int, ...]] | None = {}
        # the card images of the last serialisation (shared by copies, never changed in
        # place) and the cards set since: a copy with a few new values serialises in
        # the time of a list copy and a join (a catalogue writes a hundred headers of
        # ~1,200 cards, twice each); None after any other change
        self._images: list[str] | None = None
        self._dirty: set[int] = set()
        if hasattr(cards, "cards"):  # a Header, ours or astropy's
            cards = cards.cards
        for card in cards:
            self.append(card, end=True)

    # -- reading ---------------------------------------------------------------------

    @classmethod
    def fromstring(cls, text: str) -> Header:
        """A header from whole 80-character cards (what follows the END card is ignored)."""
        images = []
        for i in range(0, len(text) - CARD + 1, CARD):
            image = text[i : i + CARD]
            if image == _END:
                break
            images.append(image)
        try:
            h = cls()
            h._cards = [Card.parse(image) for image in images]
            h._idx = None
            return h
        except NotPlain:
            return cls(_astropy_fits().Header.fromstring(text).cards)

    @property
    def cards(self) -> list[Card]:
        return self._cards

    @property
    def comments(self) -> _Comments:
        return _Comments(self)

    def _index(self) -> dict[str, tuple[int, ...]]:
        """Card positions by lookup key (tuples, so that copies share them)."""
        if self._idx is None:
            idx: dict[str, list[int]] = {}
            for i, card in enumerate(self._cards):
                idx.setdefault(card.key, []).append(i)
            self._idx = {k: tuple(v) for k, v in idx.items()}
        return self._idx

    def _cardindex(self, key: str | int | tuple[str, int]) -> int:
        if isinstance(key, int):
            if key < 0:
                key += len(self._cards)
            if not 0 <= key < len(self._cards):
                raise IndexError("Header index out of range.")
            return key
        keyword, n = key if isinstance(key, tuple) else (key, 0)
        indices = self._index().get(normalize(keyword))
        if not indices:
            raise KeyError(f"Keyword {normalize(keyword)!r} not found.")
        try:
            return indices[n]
        except IndexError:
            raise IndexError(f"There are only {len(indices)} {keyword!r} cards in the header.") from None

    def __len__(self) -> int:
        return len(self._cards)

    def __iter__(self) -> Iterator[str]:
        return (card.keyword for card in self._cards)

    def keys(self) -> Iterator[str]:
        return iter(self)

    def items(self) -> Iterator[tuple[str, object]]:
        return ((card.keyword, card.value) for card in self._cards)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        return normalize(key) in self._index()

    def __getitem__(self, key: str | int | tuple[str, int]) -> object:
        if isinstance(key, str) and key.strip().upper() in COMMENTARY:
            return [c.value for c in self._cards if c.keyword == key.strip().upper()]
        value = self._cards[self._cardindex(key)].value
        return None if type(value).__name__ == "Undefined" else value

    def get(self, key: str, default: object = None) -> object:
        try:
            return self[key]
        except (KeyError, IndexError):
            return default

    # -- writing ---------------------------------------------------------------------

    def __setitem__(self, key: str | int | tuple[str, int], value: object) -> None:
        comment = None
        if isinstance(value, tuple):
            value, comment = (value[0], None) if len(value) == 1 else (value[0], "" if value[1] is None else value[1])
        if isinstance(key, (int, tuple)):
            self._set(self._cardindex(key), value, comment)
            return
        keyword = normalize(key)
        if keyword in COMMENTARY:
            raise NotImplementedError("commentary cards: use astropy")
        indices = self._index().get(keyword)
        if indices:
            self._set(indices[0], value, comment)
        else:
            self.append((key, value, comment))

    def _set(self, i: int, value: object, comment: str | None) -> None:
        # copies share their cards (see copy): a card is copied before it changes
        card = self._cards[i] = self._cards[i].copy()
        card.set(value, comment)
        if self._images is not None:
            self._dirty.add(i)

    def __delitem__(self, key: str | int | tuple[str, int]) -> None:
        if isinstance(key, str):
            indices = self._index().get(normalize(key))
            if not indices:
                raise KeyError(f"Keyword '{normalize(key)}' not found.")
            for i in reversed(indices):
                self._delete(i)
        else:
            self._delete(self._cardindex(key))

    def _delete(self, i: int) -> None:
        """Delete card ``i``, keeping the index (only the cards after it move)."""
        card = self._cards.pop(i)
        self._images = None
        idx = self._idx
        if idx is None:
            return
        indices = tuple(j for j in idx[card.key] if j != i)
        if indices:
            idx[card.key] = indices
        else:
            del idx[card.key]
        for key in {c.key for c in self._cards[i:]}:
            idx[key] = tuple(j - 1 if j > i else j for j in idx[key])

    def append(self, card: Any = None, useblanks: bool = True, bottom: bool = False, end: bool = False) -> None:
        """Add a card after the last keyword card (before trailing commentary and blank cards),
        using up a trailing blank card; at the very end with ``end``."""
        card = Card.create("", "") if card is None else _as_card(card)
        if not end and card.is_blank:
            end = True
        if end:
            i = len(self._cards)
        else:
            i = len(self._cards) - 1
            while i >= 0 and self._cards[i].is_blank:
                i -= 1
            if not bottom and card.keyword not in COMMENTARY:
                while i >= 0 and self._cards[i].keyword in COMMENTARY:
                    i -= 1
            i += 1
        self._cards.insert(i, card)
        self._images = None
        if i == len(self._cards) - 1 and self._idx is not None:  # at the end: the index holds
            self._idx[card.key] = self._idx.get(card.key, ()) + (i,)
        else:
            self._idx = None
        if not end and useblanks and self._countblanks():
            self._useblanks(len(str(card)) // CARD)

    def insert(self, key: str | int | tuple[str, int], card: Any, useblanks: bool = True, after: bool = False) -> None:
        """Insert a card before (or ``after``) a keyword or index, exactly there."""
        i = key if isinstance(key, int) else self._cardindex(key)
        if after:
            i = len(self._cards) if i == -1 else i + 1
        if i >= len(self._cards):
            self.append(card, end=True)
            return
        card = _as_card(card)
        self._cards.insert(i, card)
        self._images = None
        if useblanks:
            self._useblanks(len(str(card)) // CARD)
        self._idx = None

    def extend(self, cards: Iterable[Any]) -> None:
        for card in list(Header(cards).cards):
            self.append(card)

    def _useblanks(self, count: int) -> None:
        for _ in range(count):
            if self._cards[-1].is_blank:
                self._delete(len(self._cards) - 1)
            else:
                break

    def _countblanks(self) -> int:
        for i in range(1, len(self._cards)):
            if not self._cards[-i].is_blank:
                return i - 1
        return 0

    def copy(self) -> Header:
        """A copy that shares the (plain) cards until one of them changes: a header of
        a thousand cards copied for each of a hundred outputs costs little."""
        h = Header()
        h._cards = [c if c.ap is None else c.copy() for c in self._cards]
        h._idx = None if self._idx is None else dict(self._idx)
        h._images, h._dirty = self._images, set(self._dirty)
        return h

    def tostring(self, sep: str = "", endcard: bool = True, padding: bool = True) -> str:
        if sep == "":
            text = "".join(self._card_images())  # long cards are whole cards too
        else:
            text = sep.join(self._lines())
        if endcard:
            text += sep + _END
        if padding:
            text += " " * (-len(text) % BLOCK)
        return text

    def _card_images(self) -> list[str]:
        """Every card's image, from the last serialisation where the card did not change."""
        images, cards = self._images, self._cards
        if images is None or len(images) != len(cards):
            images = [card.image for card in cards]
        elif self._dirty:
            images = list(images)
            for i in self._dirty:
                images[i] = cards[i].image
        self._images, self._dirty = images, set()
        return images

    def _lines(self) -> list[str]:
        lines = []
        for card in self._cards:
            s = card.image
            while s:
                lines.append(s[:CARD])
                s = s[CARD:]
        return lines

    def to_astropy(self) -> Any:
        """This header as an ``astropy.io.fits.Header`` (for astropy's HDUs and WCS)."""
        return _astropy_fits().Header.fromstring(self.tostring())
