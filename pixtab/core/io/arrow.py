"""Columnar files of pixel-table rows (Apache Parquet, Arrow IPC): metadata and reader.

``pixtab export`` writes the rows with a ``pixtab`` entry in the schema
metadata (:class:`ExportMeta`, JSON): the source layout, the whole primary
header as its FITS bytes, every column's FITS name, type and unit, and the
non-column extensions (``PIXTABLE_FLAT_FIELD``...) as base64 FITS bytes. With
it, and the columns themselves, the pixel table can be rebuilt bit for bit.
Units are also on each field (``unit``) for other tools.

Bit masks (``dq``) are stored as uint32, so that dataframe tools see the
flags, not a sign; the bits are those of the FITS int32 column.

pyarrow is optional: :func:`require_pyarrow` names the install command.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError, PixtabError
from ..format.expr import UNSIGNED32

INSTALL_HINT = "pip install 'pixtab[parquet]'"
METADATA_KEY = b"pixtab"
META_VERSION = 1
PARQUET_MAGIC = b"PAR1"
ARROW_MAGIC = b"ARROW1"
#: footer entry written after the rows: their count and a digest of the rows and the metadata
ROWS_KEY = b"pixtab_rows"


def require_pyarrow() -> Any:
    """The pyarrow module; a one-line :class:`PixtabError` naming the install command without it."""
    try:
        import pyarrow
        import pyarrow.ipc  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise PixtabError(f"Parquet and Arrow files need pyarrow, which is not installed: {INSTALL_HINT}") from None
    return pyarrow


def sniff(path: str | os.PathLike[str]) -> str | None:
    """'parquet' or 'arrow' when the file starts like one, else None (FITS, or anything else)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return None
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if head.startswith(ARROW_MAGIC):
        return "arrow"
    return None


def stored_dtype(name: str, dtype: np.dtype) -> np.dtype:
    """The dtype a column is written with: bit masks unsigned, the rest as they are."""
    if name in UNSIGNED32 and dtype == np.dtype(np.int32):
        return np.dtype(np.uint32)
    return np.dtype(dtype)


@dataclass
class ColumnMeta:
    """One pixel-table column: field name in the file, FITS name, FITS dtype, unit."""

    name: str
    fits_name: str
    dtype: str
    unit: str | None = None


@dataclass
class ExportMeta:
    """What a pixtab export records, to rebuild the pixel table (``rows`` rows of ``columns``)."""

    source: str
    layout: str
    rows: int
    primary_header: str  # the FITS bytes (ASCII), whole 2880-byte blocks
    columns: list[ColumnMeta]
    extra_hdus: list[str] = field(default_factory=list)  # base64 FITS bytes of whole HDUs
    extra_names: list[str] = field(default_factory=list)
    selected: bool = False  # rows were selected (header updated as extract does)
    decoded: dict[str, Any] = field(default_factory=dict)  # how decoded fields were made
    version: int = META_VERSION

    def encode(self) -> dict[bytes, bytes]:
        return {METADATA_KEY: json.dumps(asdict(self), sort_keys=True).encode("utf-8")}

    @classmethod
    def decode(cls, raw: bytes, path: str) -> ExportMeta:
        """Parse and check every field (types, dtypes, header, extensions): InputError otherwise."""
        from .arrow_meta import check_meta

        try:
            d = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise InputError(path, f"damaged pixtab metadata (not JSON: {str(exc)[:80]})") from None
        if isinstance(d, dict) and d.get("version") != META_VERSION:
            raise InputError(path, f"pixtab metadata version {repr(d.get('version'))[:40]} is not supported")
        problem = check_meta(d)
        if problem:
            raise InputError(path, f"damaged pixtab metadata: {problem}")
        d["columns"] = [ColumnMeta(**c) for c in d["columns"]]
        return cls(**d)

    def hdu_bytes(self) -> list[bytes]:
        return [base64.b64decode(b, validate=True) for b in self.extra_hdus]

    @staticmethod
    def pack_hdus(blobs: Sequence[bytes]) -> list[str]:
        return [base64.b64encode(b).decode("ascii") for b in blobs]


class RowDigest:
    """An order-sensitive digest of the columns' bytes, whatever the batch sizes, and of the metadata.

    Written by export after the rows, checked by convert while it rebuilds: rows
    reordered, dropped or edited since the export (or metadata edited) do not match.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self._h = {n: hashlib.blake2b(digest_size=16) for n in self.names}
        self.rows = 0

    def update(self, cols: dict[str, np.ndarray]) -> None:
        for n in self.names:
            self._h[n].update(np.ascontiguousarray(cols[n]).view(np.uint8).data)
        self.rows += len(cols[self.names[0]]) if self.names else 0

    def record(self, meta_raw: bytes) -> bytes:
        total = hashlib.blake2b(meta_raw, digest_size=16)
        for n in self.names:
            total.update(self._h[n].digest())
        return json.dumps({"rows": self.rows, "digest": total.hexdigest()}).encode()


class ArrowInput:
    """A Parquet or Arrow IPC file opened for streaming reads of its record batches."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        kind = sniff(path)
        if kind is None:
            raise InputError(self.path, "not a Parquet or Arrow IPC file")
        pa = require_pyarrow()
        self.kind = kind
        try:
            if kind == "parquet":
                import pyarrow.parquet as pq

                self._pq = pq.ParquetFile(self.path, memory_map=False)
                self.schema = self._pq.schema_arrow
                self.nrows = self._pq.metadata.num_rows
            else:
                self._ipc = pa.ipc.open_file(pa.memory_map(self.path, "r"))
                self.schema = self._ipc.schema
                self.nrows = sum(self._ipc.get_batch(i).num_rows for i in range(self._ipc.num_record_batches))
        except (pa.ArrowException, OSError) as exc:
            raise InputError(self.path, f"unreadable {kind} file: {exc}") from None
        raw = (self.schema.metadata or {}).get(METADATA_KEY)
        self.meta_raw: bytes | None = raw
        self.meta: ExportMeta | None = ExportMeta.decode(raw, self.path) if raw is not None else None
        #: the footer record written after the rows (None: not a pixtab export as written)
        self.rows_record: bytes | None = self._rows_record(pa)

    def _rows_record(self, pa: Any) -> bytes | None:
        try:
            if self.kind == "parquet":
                return (self._pq.metadata.metadata or {}).get(ROWS_KEY)
            n = self._ipc.num_record_batches
            return ((self._ipc.get_batch_with_custom_metadata(n - 1)[1] or {}).get(ROWS_KEY) if n else None)  # type: ignore[no-any-return]
        except (pa.ArrowException, OSError):
            return None

    @property
    def names(self) -> list[str]:
        return list(self.schema.names)

    def field_dtype(self, name: str) -> np.dtype | None:
        """numpy dtype of a field, None when it is not a plain number type."""
        try:
            return np.dtype(self.schema.field(name).type.to_pandas_dtype())
        except (NotImplementedError, TypeError, KeyError):
            return None

    def iter_batches(self, names: Sequence[str], batch_rows: int = 1 << 20) -> Iterator[dict[str, np.ndarray]]:
        """Yield dicts of numpy arrays of the named fields, in row order.

        The next batch is read and decompressed in a background thread while the
        caller works on the current one (pyarrow releases the GIL).
        """
        from concurrent.futures import ThreadPoolExecutor

        if self.kind == "parquet":
            batches: Iterator[Any] = self._pq.iter_batches(batch_size=batch_rows, columns=list(names))
        else:
            batches = (self._ipc.get_batch(i).select(list(names)) for i in range(self._ipc.num_record_batches))
        with ThreadPoolExecutor(1, thread_name_prefix="pixtab-arrow") as pool:
            ahead = pool.submit(next, batches, None)
            while True:
                batch = ahead.result()
                if batch is None:
                    return
                ahead = pool.submit(next, batches, None)
                yield self._arrays(names, batch)

    def _arrays(self, names: Sequence[str], batch: Any) -> dict[str, np.ndarray]:
        out = {}
        for name, col in zip(names, batch.columns):
            if col.null_count:
                raise InputError(self.path, f"column '{name}' has null values: a pixel table has none")
            out[name] = col.to_numpy(zero_copy_only=False)
        return out
