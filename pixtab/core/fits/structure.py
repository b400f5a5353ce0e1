"""Low-level FITS structure: find HDUs and their data offsets without loading data.

astropy's ``fits.open`` is convenient but builds objects for every HDU and, for
tables, column machinery we do not need. Pixel tables are huge but have few
HDUs, so we walk the file header by header ourselves and keep only byte
offsets; the data are then read with positional reads (:mod:`pixtab.core.io.table`).
"""

from __future__ import annotations

import logging
import math
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .dtypes import BITPIXES
from .header import Header

log = logging.getLogger(__name__)

BLOCK = 2880
CARD = 80


@dataclass(frozen=True)
class HDUInfo:
    """Where one HDU lives in the file."""

    index: int
    header: Header
    header_offset: int
    data_offset: int
    data_size: int  # bytes of data, without padding

    @property
    def end_offset(self) -> int:
        """Offset just after the padded data (start of the next HDU)."""
        return self.data_offset + padded(self.data_size)

    @property
    def xtension(self) -> str:
        return str(self.header.get("XTENSION", "PRIMARY")).strip().upper()

    @property
    def extname(self) -> str | None:
        name = self.header.get("EXTNAME")
        return None if name is None else str(name).strip()


def padded(nbytes: int) -> int:
    """``nbytes`` rounded up to a whole number of 2880-byte FITS blocks."""
    return -(-nbytes // BLOCK) * BLOCK


def int_value(header: Header, name: str, default: int | None = None, minimum: int | None = None) -> int:
    """The integer value of keyword ``name``; ValueError naming it if missing or not an integer."""
    value = header.get(name, default)
    if value is None:
        raise ValueError(f"keyword {name} is missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"keyword {name} = {value!r} is not an integer")
    if minimum is not None and value < minimum:
        raise ValueError(f"keyword {name} = {value} is below {minimum}")
    return value


def data_size(header: Header) -> int:
    """Size in bytes of the data unit described by ``header`` (FITS standard 4.4.1).

    Raises ValueError naming the keyword when a size keyword is missing, not an
    integer or out of range (so a damaged header never shifts the next HDU).
    """
    naxis = int_value(header, "NAXIS", 0, minimum=0)
    if naxis > 999:
        raise ValueError(f"keyword NAXIS = {naxis} is above 999")
    bitpix = int_value(header, "BITPIX")
    if bitpix not in BITPIXES:
        raise ValueError(f"keyword BITPIX = {bitpix} is not one of {', '.join(map(str, BITPIXES))}")
    if naxis == 0:
        return 0
    dims = [int_value(header, f"NAXIS{i}", minimum=0) for i in range(1, naxis + 1)]
    pcount = int_value(header, "PCOUNT", 0, minimum=0)
    gcount = int_value(header, "GCOUNT", 1, minimum=1)
    return abs(bitpix) // 8 * gcount * (pcount + math.prod(dims))


def _repair_cards(header: Header, path: Path, offset: int) -> None:
    """Read every card's value once; an unparsable value becomes its raw text, with a warning.

    This is astropy's own ``verify('fix')`` for such cards, so later lookups
    see a string (e.g. NAXIS2 = '1x5') and fail with a message naming the
    keyword, and only where the keyword matters.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for card in header.cards:
            try:
                card.value
                continue
            except Exception:  # astropy raises VerifyError or ValueError for such cards
                pass
            try:
                card.image  # noqa: B018 - fixes the card in place
                value = card.value
            except Exception:
                raise InputError(path, f"unreadable card {card.keyword!r} in the header at byte {offset}") from None
            log.warning("%s: card %s has an unparsable value; read as the string %r", path, card.keyword, value)


def _read_header(fd: int, offset: int, path: Path) -> tuple[Header, int]:
    """Read the header starting at ``offset``; return it and the data offset."""
    chunks: list[bytes] = []
    pos = offset
    while True:
        block = os.pread(fd, BLOCK, pos)
        if len(block) < BLOCK:
            raise InputError(path, f"truncated header at byte {pos}")
        chunks.append(block)
        pos += BLOCK
        # The END card starts on a card boundary.
        if any(block[i : i + 8] == b"END     " for i in range(0, BLOCK, CARD)):
            break
    text = b"".join(chunks).decode("ascii", errors="replace")
    try:
        header = Header.fromstring(text)
    except Exception as exc:  # astropy raises several types for bad cards
        raise InputError(path, f"unreadable FITS header at byte {offset}: {exc}") from None
    _repair_cards(header, path, offset)
    return header, pos


#: leading bytes of compressed files, with how to decompress them
_COMPRESSED = (
    (b"\x1f\x8b", "gzip", "gunzip -k"),
    (b"BZh", "bzip2", "bunzip2 -k"),
    (b"\xfd7zXZ\x00", "xz", "unxz -k"),
    (b"\x28\xb5\x2f\xfd", "zstd", "unzstd"),
    (b"PK\x03\x04", "zip", "unzip"),
)


def _not_fits_reason(magic: bytes) -> str:
    for lead, kind, command in _COMPRESSED:
        if magic.startswith(lead):
            return f"{kind}-compressed, not a FITS file: decompress it first ({command} FILE)"
    return "not a FITS file"


def open_input(path: str | os.PathLike[str]) -> int:
    """Open a FITS input for reading; InputError for anything that is not a seekable regular file.

    pixtab reads a table by offset, through this one descriptor: if another process
    replaces the file by name meanwhile, the old file stays readable through it.
    """
    p = Path(path)
    if str(path) == "-":
        raise InputError(p, "cannot read a table from stdin: pixtab needs a seekable file (save the data to a file first)")
    try:
        # O_NONBLOCK: a FIFO put in place after any check must not block open().
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise InputError(p, "no such file") from None
    except IsADirectoryError:
        raise InputError(p, "is a directory, not a FITS file") from None
    except OSError as exc:
        raise InputError(p, f"cannot open: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise InputError(p, "is a directory, not a FITS file")
        # A pipe would give up its bytes once; pixtab reads by offset.
        what = "a pipe" if stat.S_ISFIFO(mode) else "not a regular file"
        raise InputError(p, f"is {what}: pixtab needs a seekable file (save the data to a file first)")
    os.set_blocking(fd, True)
    return fd


def scan(path: str | os.PathLike[str]) -> list[HDUInfo]:
    """List the HDUs of a FITS file with their offsets; validate sizes.

    Raises :class:`InputError` for a missing, empty, non-FITS or truncated file.
    """
    fd = open_input(path)
    try:
        return scan_fd(fd, path)
    finally:
        os.close(fd)


def scan_fd(fd: int, path: str | os.PathLike[str]) -> list[HDUInfo]:
    """:func:`scan` of the file open as ``fd`` (``path`` names it in messages)."""
    p = Path(path)
    size = os.fstat(fd).st_size
    if size == 0:
        raise InputError(p, "empty file")
    magic = os.pread(fd, 9, 0)
    if magic != b"SIMPLE  =":
        raise InputError(p, _not_fits_reason(magic))
    hdus: list[HDUInfo] = []
    offset = 0
    while offset < size:
        if offset + BLOCK > size:
            raise InputError(p, f"truncated: {size - offset} stray bytes after HDU {len(hdus) - 1}")
        if hdus and not os.pread(fd, 8, offset).startswith(b"XTENSION"):
            # Trailing zero padding or junk after the last HDU: ignore it, as astropy
            # does (debug note only: a wrong NAXISn also ends here, and the error that
            # follows, e.g. a missing column, must stay the one line the user sees).
            if os.pread(fd, BLOCK, offset).strip(b"\0 "):
                log.debug("%s: ignoring %d bytes after HDU %d that are not a FITS extension", p, size - offset, len(hdus) - 1)
            break
        header, data_offset = _read_header(fd, offset, p)
        try:
            nbytes = data_size(header)
        except ValueError as exc:
            raise InputError(p, f"HDU {len(hdus)}: {exc}") from None
        if data_offset + nbytes > size:
            raise InputError(
                p,
                f"truncated: HDU {len(hdus)} needs {data_offset + nbytes} bytes, file has {size}",
            )
        hdus.append(HDUInfo(len(hdus), header, offset, data_offset, nbytes))
        offset = data_offset + padded(nbytes)
    if offset > size:
        # The data are complete but the final padding is not: the FITS standard
        # wants whole blocks, and a cut copy looks like this (later HDUs may be lost).
        log.warning("%s: file ends %d bytes before the end of its last block (truncated copy?)", p, offset - size)
    return hdus


def header_bytes(header: Header) -> bytes:
    """Serialise a header with its END card, padded to whole blocks."""
    return header.tostring(sep="", endcard=True, padding=True).encode("ascii")


def pad_bytes(nbytes: int) -> bytes:
    """Zero bytes that pad a data unit of ``nbytes`` to a whole block."""
    return b"\0" * (padded(nbytes) - nbytes)
