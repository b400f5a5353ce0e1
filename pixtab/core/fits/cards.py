"""Text that goes into a FITS card: only printable ASCII is legal there.

File names are the usual offenders (``données.fits``, a tab, Latin-1 bytes):
they are written with every other byte as ``\\xNN``, so the card is legal, the
name stays recognisable and the exact bytes can be recovered.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any


def printable(text: str, keep_last: int | None = None) -> str:
    """``text`` as printable ASCII (other bytes of its file-system encoding as ``\\xNN``).

    ``keep_last``: keep only that many characters of the end (of the escaped text).
    """
    raw = os.fsencode(text)
    out = "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in raw)
    return out[-keep_last:] if keep_last else out


def copy_cards(source: Any, target: Any, names: Iterable[str]) -> None:
    """Copy to header ``target`` the cards ``names`` of header ``source`` that it has.

    A float value that is not finite (``EXPTIME = 1E999`` parses to inf, which astropy
    refuses to write) is copied as the card's own text; other values as astropy writes them.
    """
    import math

    for name in names:
        if name not in source:
            continue
        value = source[name]
        if isinstance(value, float) and not math.isfinite(value):
            cards = source.cards  # astropy's Header indexes them by name, pixtab's is a list
            card = cards[source._cardindex(name)] if isinstance(cards, list) else cards[name]
            from astropy.io import fits  # only here: such a card is rare, astropy's import is not cheap

            target.append(fits.Card.fromstring(card.image))
        else:
            target[name] = (value, source.comments[name])
