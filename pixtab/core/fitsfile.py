"""Low-level FITS structure: find HDUs and their data offsets without loading data.

astropy's ``fits.open`` is convenient but builds objects for every HDU and, for
tables, column machinery we do not need. Pixel tables are huge but have few
HDUs, so we walk the file header by header ourselves and keep only byte
offsets; the data are then read with positional reads (:mod:`pixtab.core.table`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from astropy.io import fits

from .errors import InputError

BLOCK = 2880
CARD = 80


@dataclass(frozen=True)
class HDUInfo:
    """Where one HDU lives in the file."""

    index: int
    header: fits.Header
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


def data_size(header: fits.Header) -> int:
    """Size in bytes of the data unit described by ``header`` (FITS standard 4.4.1)."""
    naxis = int(header.get("NAXIS", 0))
    if naxis == 0:
        return 0
    bitpix = abs(int(header["BITPIX"]))
    dims = [int(header[f"NAXIS{i}"]) for i in range(1, naxis + 1)]
    pcount = int(header.get("PCOUNT", 0))
    gcount = int(header.get("GCOUNT", 1))
    return bitpix // 8 * gcount * (pcount + math.prod(dims))


def _read_header(fd: int, offset: int, path: Path) -> tuple[fits.Header, int]:
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
        header = fits.Header.fromstring(text)
    except Exception as exc:  # astropy raises several types for bad cards
        raise InputError(path, f"unreadable FITS header at byte {offset}: {exc}") from None
    return header, pos


def scan(path: str | os.PathLike[str]) -> list[HDUInfo]:
    """List the HDUs of a FITS file with their offsets; validate sizes.

    Raises :class:`InputError` for a missing, empty, non-FITS or truncated file.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file")
    if p.is_dir():
        raise InputError(p, "is a directory, not a FITS file")
    try:
        fd = os.open(p, os.O_RDONLY)
    except OSError as exc:
        raise InputError(p, f"cannot open: {exc.strerror}") from None
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            raise InputError(p, "empty file")
        if os.pread(fd, 9, 0) != b"SIMPLE  =":
            raise InputError(p, "not a FITS file")
        hdus: list[HDUInfo] = []
        offset = 0
        while offset < size:
            if offset + BLOCK > size:
                raise InputError(p, f"truncated: {size - offset} stray bytes after HDU {len(hdus) - 1}")
            if hdus and not os.pread(fd, 8, offset).startswith(b"XTENSION"):
                # Trailing zero padding or junk after the last HDU: ignore it, as astropy does.
                break
            header, data_offset = _read_header(fd, offset, p)
            try:
                nbytes = data_size(header)
            except (KeyError, ValueError, TypeError) as exc:
                raise InputError(p, f"HDU {len(hdus)}: bad size keywords ({exc})") from None
            if data_offset + nbytes > size:
                raise InputError(
                    p,
                    f"truncated: HDU {len(hdus)} needs {data_offset + nbytes} bytes, file has {size}",
                )
            hdus.append(HDUInfo(len(hdus), header, offset, data_offset, nbytes))
            offset = data_offset + padded(nbytes)
        return hdus
    finally:
        os.close(fd)


def header_bytes(header: fits.Header) -> bytes:
    """Serialise a header with its END card, padded to whole blocks."""
    return header.tostring(sep="", endcard=True, padding=True).encode("ascii")


def pad_bytes(nbytes: int) -> bytes:
    """Zero bytes that pad a data unit of ``nbytes`` to a whole block."""
    return b"\0" * (padded(nbytes) - nbytes)
