"""Write-behind: writeback is requested every STEP bytes, through the real libc call on Linux;
a pipe (no page cache) is no error; the file written is the same."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from pixtab.core.fits import writeback
from pixtab.core.fits.hdu import HDUFile
from pixtab.core.fits.header import Header
from pixtab.core.fits.structure import header_bytes


def test_a_request_every_step_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int, int, int]] = []
    monkeypatch.setattr(writeback, "_call", lambda *a: calls.append(a) or 0)
    wb = writeback.WriteBehind(7)
    for _ in range(5):
        wb.wrote(writeback.STEP // 2)
    assert calls == [(7, 0, 0, 2), (7, 0, 0, 2)] and wb.pending == writeback.STEP // 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_the_libc_call_on_a_file_and_on_a_pipe(tmp_path: Path) -> None:
    fn = writeback._sync_file_range()
    assert fn
    with open(tmp_path / "f", "wb") as f:
        f.write(b"x" * 8192)
        f.flush()
        assert fn(f.fileno(), 0, 0, writeback._SYNC_FILE_RANGE_WRITE) == 0
    r, w = os.pipe()
    try:
        assert fn(w, 0, 0, writeback._SYNC_FILE_RANGE_WRITE) == -1  # ESPIPE: skipped, not raised
        wb = writeback.WriteBehind(w)
        wb.wrote(writeback.STEP)  # no exception
    finally:
        os.close(r)
        os.close(w)


def test_an_hdu_file_written_with_requests_is_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = np.arange(1 << 20, dtype=">f4")
    out = {}
    calls: list[int] = []
    real = writeback._sync_file_range()
    monkeypatch.setattr(writeback, "_call", lambda *a: calls.append(a[0]) or (real(*a) if real else 0))
    for step in (writeback.STEP, 4096):
        monkeypatch.setattr(writeback, "STEP", step)
        path = tmp_path / f"{step}.fits"
        fd = os.open(path, os.O_CREAT | os.O_WRONLY)
        try:
            f = HDUFile(fd, Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True)]))
            offset = f.reserve(header_bytes(Header([("XTENSION", "IMAGE"), ("BITPIX", -32), ("NAXIS", 1),
                                                    ("NAXIS1", data.size), ("PCOUNT", 0), ("GCOUNT", 1)])), data.nbytes)
            for a in range(0, data.size, 1 << 16):
                f.write_at(data[a : a + (1 << 16)], offset + a * 4)
            f.seal()
        finally:
            os.close(fd)
        out[step] = path.read_bytes()
    assert out[writeback.STEP] == out[4096]
    assert len(calls) == data.nbytes // (1 << 18)  # the small step: a request after each 256 KiB write
