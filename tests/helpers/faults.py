"""Helpers for the fault-catalogue tests: small tables, broken variants, their checks.

Imported by the ``test_faults_*.py`` files and
``test_fuzz_headers.py`` (not a pytest conftest: nothing here is collected).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from astropy.io import fits

from pixtab.core.fits.structure import scan
from pixtab.core.ops.simulate.tables import SimulationSpec, simulate


def make_table(path: Path, **kw: object) -> Path:
    """Write a synthetic table with the core simulator (no CLI); return ``path``."""
    kw.setdefault("rows", 600)
    kw.setdefault("ifus", [1])
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        simulate(fd, SimulationSpec(**kw))  # type: ignore[arg-type]
    finally:
        os.close(fd)
    return path


def variant(src: Path, dst: Path, change: Callable[[fits.HDUList], None]) -> Path:
    """Copy ``src`` through astropy, apply ``change`` to the in-memory HDUList, write ``dst``."""
    with fits.open(src, memmap=False) as hdul:
        copy = fits.HDUList([h.copy() for h in hdul])
    change(copy)
    copy.writeto(dst, overwrite=True, output_verify="silentfix")
    return dst


def set_card(data: bytes, hdu: int, keyword: str, card: str | bytes | None) -> bytes:
    """Replace the first card of HDU ``hdu`` whose text starts with ``keyword``.

    ``card`` is the new 80-character card (padded or cut), or None to blank the
    card out (a blank card is legal FITS, so this deletes the keyword without
    moving any byte of the file).
    """
    hdus = _scan_bytes(data)
    start, stop = hdus[hdu]
    for pos in range(start, stop, 80):
        if data[pos : pos + 80].decode("ascii", "replace").startswith(keyword):
            new = b" " * 80 if card is None else (card.encode("ascii") if isinstance(card, str) else card)
            new = new[:80].ljust(80, b" ")
            return data[:pos] + new + data[pos + 80 :]
    raise KeyError(f"no card {keyword!r} in HDU {hdu}")


def card_positions(data: bytes, hdu: int) -> list[tuple[int, str]]:
    """(byte offset, keyword text before '=') of every card of HDU ``hdu`` before END."""
    start, stop = _scan_bytes(data)[hdu]
    out = []
    for pos in range(start, stop, 80):
        text = data[pos : pos + 80].decode("ascii", "replace")
        if text.startswith("END     "):
            break
        out.append((pos, text.split("=")[0].rstrip() if "=" in text else text[:8].rstrip()))
    return out


def _scan_bytes(data: bytes) -> list[tuple[int, int]]:
    """(header start, data start) of each HDU of a valid file held in memory."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".fits") as tmp:
        tmp.write(data)
        tmp.flush()
        return [(h.header_offset, h.data_offset) for h in scan(tmp.name)]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def temporaries(directory: Path) -> list[str]:
    """Leftover ``.NAME.tmp-*`` files of atomic_output in ``directory``."""
    return sorted(p.name for p in Path(directory).iterdir() if ".tmp-" in p.name)


def assert_one_line_error(stdout: str, stderr: str, path: object, *fragments: str) -> None:
    """Exactly one stderr line, ``Error: PATH: ...`` containing ``fragments``; empty stdout."""
    assert stdout == "", stdout
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"Error: {path}: "), stderr
    assert "Traceback" not in stderr
    for f in fragments:
        assert f in lines[0], (f, stderr)
