"""Text that goes into a FITS card: only printable ASCII is legal there.

File names are the usual offenders (``données.fits``, a tab, Latin-1 bytes):
they are written with every other byte as ``\\xNN``, so the card is legal, the
name stays recognisable and the exact bytes can be recovered.
"""

from __future__ import annotations

import os


def printable(text: str, keep_last: int | None = None) -> str:
    """``text`` as printable ASCII (other bytes of its file-system encoding as ``\\xNN``).

    ``keep_last``: keep only that many characters of the end (of the escaped text).
    """
    raw = os.fsencode(text)
    out = "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in raw)
    return out[-keep_last:] if keep_last else out
