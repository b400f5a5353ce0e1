"""A drop-in for MPDAF's ``mpdaf.drs.PixTable``, on pixtab's core.

Change ``from mpdaf.drs import PixTable`` into ``from pixtab.mpdaf import PixTable``
and an MPDAF script runs unchanged, reading only what it needs. The differences,
where pixtab follows the MUSE pipeline rather than MPDAF, are listed in the
README ("Coming from MPDAF").
"""

from . import pixtable
from .mask import PixTableMask
from .pixtable import PixTable

__all__ = ["PixTable", "PixTableMask", "pixtable"]
