"""Writing FITS HDUs: headers built card by card, and a file laid out up front.

:class:`HDUFile` is the one HDU writer of pixtab: it writes the primary header,
reserves every HDU (header, data, padding) at a fixed offset, fixes the file
size (padding is the zeros of that extent) and then takes data at any offset
in any order, so streams of chunks land in place with positional writes.
Headers whose values are only known at the end (LIMITS, NFILLED) are written
again at the end, at the size they were reserved with.
"""

from __future__ import annotations

import errno
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .card import Card
from .dtypes import bitpix_of, tform_of
from .header import Header
from .structure import BLOCK, CARD, HDUInfo, header_bytes, padded
from .writeback import WriteBehind


@dataclass(frozen=True)
class ColumnSpec:
    """A column to write: name (written verbatim), native dtype and unit string (verbatim)."""

    name: str
    dtype: np.dtype
    unit: str | None = None


@dataclass(frozen=True)
class HDUCopy:
    """A whole HDU of an open input file, to be copied as it is (padding repaired)."""

    fd: int
    hdu: HDUInfo
    path: str

    @property
    def size(self) -> int:
        return self.hdu.end_offset - self.hdu.header_offset


def pwrite_all(fd: int, data: bytes | memoryview | np.ndarray, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (positional, thread-safe)."""
    view = memoryview(data).cast("B")
    done = 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], offset + done)


def pread_into(fd: int, buf: np.ndarray, offset: int, path: str) -> None:
    """Fill ``buf`` from ``offset`` with positional reads (thread-safe)."""
    if buf.size == 0:
        return  # (a memoryview of an empty strided view cannot be cast)
    view = memoryview(buf).cast("B")
    done = 0
    while done < len(view):
        try:
            n = os.preadv(fd, [view[done:]], offset + done)
        except OSError as exc:  # EIO from a failing disk or a network file system
            raise InputError(path, f"read failed at byte {offset + done}: {exc.strerror}") from None
        if n <= 0:
            raise InputError(path, f"unexpected end of file at byte {offset + done}")
        done += n


def copy_range(src: int, dst: int, count: int, src_off: int, dst_off: int, path: str) -> None:
    """Copy ``count`` bytes from ``src`` (the file ``path``) to ``dst``, in the kernel when it can."""
    while count > 0:
        try:
            n = os.copy_file_range(src, dst, min(count, 1 << 30), src_off, dst_off)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EPERM):
                raise
            n = 0
        if n <= 0:  # unsupported, or the input ended early: finish in user space
            buf = np.empty(min(count, 1 << 24), dtype=np.uint8)
            while count > 0:
                part = buf[: min(count, len(buf))]
                pread_into(src, part, src_off, path)
                pwrite_all(dst, part.data, dst_off)
                count, src_off, dst_off = count - len(part), src_off + len(part), dst_off + len(part)
            return
        count, src_off, dst_off = count - n, src_off + n, dst_off + n


def _card_value(value: str) -> str:
    """Quote a FITS string value exactly as given (no astropy re-rendering)."""
    return "'" + value.replace("'", "''").ljust(8) + "'"


def _raw_header(cards: list[tuple[str, str]]) -> bytes:
    """Build a header from (keyword, already formatted value) pairs.

    A string too long for one card (a long unit or EXTNAME) is written with the
    long-string convention (CONTINUE cards), as the file we read it from had it.
    """
    lines = []
    for k, v in cards:
        line = f"{k:<8}= {v:>20}" if not v.startswith("'") else f"{k:<8}= {v}"
        if len(line) > 80:
            if not v.startswith("'"):
                raise ValueError(f"header card too long: {line!r}")
            line = Card.create(k, v[1:-1].replace("''", "'")).image  # 80 x n characters
        lines.append(line)
    text = "".join(line.ljust(80) for line in lines) + "END".ljust(80)
    return text.ljust(padded(len(text)), " ").encode("ascii")


def column_image_header(spec: ColumnSpec, nrows: int) -> bytes:
    """Header of one column stored as an (nrows, 1) IMAGE extension, as the DRS writes it."""
    head, tail = _column_image_template(spec)  # made once per column (a catalogue writes a hundred)
    return head + f"{nrows:>20}".encode("ascii") + tail


@functools.lru_cache(maxsize=64)
def _column_image_template(spec: ColumnSpec) -> tuple[bytes, bytes]:
    """:func:`column_image_header` around the 20 columns of its NAXIS2 value."""
    cards = [
        ("XTENSION", "'IMAGE   '"),
        ("BITPIX", str(bitpix_of(spec.dtype))),
        ("NAXIS", "2"),
        ("NAXIS1", "1"),
        ("NAXIS2", "0"),
        ("PCOUNT", "0"),
        ("GCOUNT", "1"),
        ("EXTNAME", _card_value(spec.name)),
    ]
    if spec.unit is not None:
        cards.append(("BUNIT", _card_value(spec.unit)))
    raw = _raw_header(cards)
    at = 4 * 80 + 10  # the NAXIS2 card is the fifth; its value fills columns 11-30
    assert raw[4 * 80 : at] == b"NAXIS2  = "
    return raw[:at], raw[at + 20 :]


def bintable_header(specs: Sequence[ColumnSpec], nrows: int) -> bytes:
    """Header of a BINTABLE of scalar columns (no EXTNAME, as the DRS writes it)."""
    width = sum(s.dtype.itemsize for s in specs)
    cards = [
        ("XTENSION", "'BINTABLE'"),
        ("BITPIX", "8"),
        ("NAXIS", "2"),
        ("NAXIS1", str(width)),
        ("NAXIS2", str(nrows)),
        ("PCOUNT", "0"),
        ("GCOUNT", "1"),
        ("TFIELDS", str(len(specs))),
    ]
    for i, s in enumerate(specs, 1):
        cards.append((f"TTYPE{i}", _card_value(s.name)))
        cards.append((f"TFORM{i}", _card_value(tform_of(s.dtype))))
        if s.unit is not None:
            cards.append((f"TUNIT{i}", _card_value(s.unit)))
    return _raw_header(cards)


def image_header(shape: tuple[int, ...], dtype: np.dtype, cards: Header) -> bytes:
    """Header of an IMAGE extension of ``shape`` (numpy order) and ``dtype``, plus ``cards``."""
    header = Header([("XTENSION", "IMAGE", "Image extension"), ("BITPIX", bitpix_of(dtype)), ("NAXIS", len(shape))])
    for i, n in enumerate(reversed(shape), 1):
        header[f"NAXIS{i}"] = n
    header["PCOUNT"] = 0
    header["GCOUNT"] = 1
    header.extend(cards)
    return header_bytes(header)


class HDUFile:
    """An output FITS file laid out before any data is written.

    ``primary`` is the primary HDU's header (a :class:`Header`, or its
    exact bytes). :meth:`reserve` and :meth:`append` lay out the HDUs in file
    order; :meth:`seal` fixes the file size. Data go in with :meth:`write_at`.
    """

    def __init__(self, fd: int, primary: Header | bytes) -> None:
        self.fd = fd
        self.behind = WriteBehind(fd)  # the data's pages start for the disk as they are written
        blob = primary if isinstance(primary, bytes) else header_bytes(primary)
        pwrite_all(fd, blob, 0)
        self.primary_size = len(blob)
        self.size = len(blob)

    def reserve(self, header: bytes, data_bytes: int) -> int:
        """Write an HDU's header at the end of the layout; return the offset of its data."""
        pwrite_all(self.fd, header, self.size)
        data_offset = self.size + len(header)
        self.size = data_offset + padded(data_bytes)
        return data_offset

    def append(self, hdu: bytes | HDUCopy) -> None:
        """Append a complete HDU: padded bytes, or a copy of an input's HDU."""
        if isinstance(hdu, bytes):
            pwrite_all(self.fd, hdu, self.size)
            self.size += len(hdu)
            return
        h = hdu.hdu
        available = os.fstat(hdu.fd).st_size - h.header_offset  # a cut final padding: zeros
        copy_range(hdu.fd, self.fd, min(hdu.size, available), h.header_offset, self.size, hdu.path)
        self.size += hdu.size

    def seal(self) -> None:
        """Fix the final size now: padding is zeros, and a full disk or a file-size
        limit shows up here before any real work."""
        os.ftruncate(self.fd, self.size)

    def write_at(self, data: bytes | memoryview | np.ndarray, offset: int) -> None:
        pwrite_all(self.fd, data, offset)
        self.behind.wrote(memoryview(data).nbytes)

    def rewrite(self, offset: int, header: bytes, reserved: int, what: str) -> None:
        """Write a final header over the one reserved at ``offset`` (same size)."""
        if len(header) != reserved:
            raise ValueError(f"{what} grew from {reserved // BLOCK} to {len(header) // BLOCK} blocks")
        pwrite_all(self.fd, header, offset)

    def rewrite_primary(self, primary: Header | bytes) -> None:
        """Write the final primary header, whatever its size (call it after the last data).

        A header that needs more blocks than the one reserved moves everything
        after it (rare: a value rewritten as a longer string); one that needs
        fewer is filled up with blank cards, which FITS allows before END.
        """
        blob = primary if isinstance(primary, bytes) else header_bytes(primary)
        if len(blob) > self.primary_size:
            delta = len(blob) - self.primary_size
            move_tail(self.fd, self.primary_size, self.size, delta)
            self.size += delta
            self.primary_size = len(blob)
        elif len(blob) < self.primary_size:
            blob = _filled_with_blank_cards(blob, self.primary_size)
        self.rewrite(0, blob, self.primary_size, "primary header")


def _filled_with_blank_cards(blob: bytes, size: int) -> bytes:
    """A header's cards, blank cards up to ``size`` bytes, then END (``size``: whole blocks)."""
    end = next(i for i in range(0, len(blob), CARD) if blob[i : i + CARD].rstrip() == b"END")
    return blob[:end] + b" " * (size - end - CARD) + b"END".ljust(CARD)


def move_tail(fd: int, start: int, stop: int, delta: int, chunk: int = 1 << 22) -> None:
    """Move bytes ``start..stop-1`` of ``fd`` forward by ``delta`` (from the end, so nothing is
    overwritten before it is moved), leaving ``start..start+delta-1`` to be rewritten."""
    pos = stop
    while pos > start:
        a = max(start, pos - chunk)
        block = os.pread(fd, pos - a, a)
        if len(block) != pos - a:
            raise OSError(errno.EIO, f"short read moving the data ({len(block)} of {pos - a} bytes)")
        pwrite_all(fd, block, a + delta)
        pos = a
