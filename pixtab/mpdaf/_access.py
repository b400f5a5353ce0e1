"""MPDAF's column accessors (``get_*``/``set_*``, ``get_column``/``set_column``, ``get_row``),
mixed into :class:`pixtab.mpdaf.PixTable`.

In-memory columns (``self._cols``: built in memory, or changed by ``set_*``, an
overlay over the file) come back as they are; file columns are read on demand
through ``self._source``, only the rows asked for, floats widened to float64 as
MPDAF does.
"""

from __future__ import annotations

from typing import Any

import astropy.units as u
import numpy as np


class ColumnsMixin:
    """get_*/set_* of every column, with ``ksel`` (np.where tuple, boolean mask, indices) and ``unit``."""


    def get_column(self, name: str, ksel: Any = None) -> np.ndarray | None:
        """Column ``name`` (rows ``ksel``: an ``np.where`` tuple, a boolean mask or indices).

        In-memory columns come back as they are; file columns are read on demand,
        floats as float64 (MPDAF's types). ``dq`` is the stored int32: bit 31 makes
        it negative (test bits on ``dq.view(np.uint32)``).
        """
        name = name.lower()
        if name in self._cols:
            col = self._cols[name]
            return col if ksel is None else col[ksel]
        if self._source is None or not self._source.has(name):
            return None
        if isinstance(ksel, tuple):
            ksel = ksel[0]
        col = self._source.read(name, ksel)
        if np.issubdtype(np.asarray(col).dtype, np.floating):
            col = np.asarray(col).astype(np.float64) if np.ndim(col) else np.float64(col)
        return col

    def set_column(self, name: str, data: Any, ksel: Any = None) -> None:
        """Replace column ``name`` (or its rows ``ksel``), in memory until :meth:`write`."""
        name = name.lower()
        data = np.asarray(data)
        if ksel is None:
            assert data.shape[0] == self.nrows, "Wrong dimension number"
            self._cols[name] = data
        else:
            if name not in self._cols:
                self._cols[name] = np.array(self.get_column(name))
            self._cols[name][ksel] = data

    def get_row(self, idx: Any) -> dict[str, Any]:
        """One row (or rows) as a dict of column values (MPDAF's keys: lambda is 'lbda')."""
        return {
            "xpos": self.get_xpos(idx),
            "ypos": self.get_ypos(idx),
            "lbda": self.get_lambda(idx),
            "data": self.get_data(idx),
            "stat": self.get_stat(idx),
            "dq": self.get_dq(idx),
            "origin": self.get_origin(idx),
        }

    def _get(self, name: str, ksel: Any, own: u.UnitBase | None, unit: u.UnitBase | None) -> Any:
        col = self.get_column(name, ksel)
        return col if unit is None or col is None else (col * own).to(unit).value

    def _set(self, name: str, values: Any, ksel: Any, own: u.UnitBase | None, unit: u.UnitBase | None) -> None:
        if unit is not None:
            values = (values * unit).to(own).value
        self.set_column(name, values, ksel)

    def get_xpos(self, ksel: Any = None, unit: u.UnitBase | None = None) -> Any:
        return self._get("xpos", ksel, self.wcs, unit)

    def get_ypos(self, ksel: Any = None, unit: u.UnitBase | None = None) -> Any:
        return self._get("ypos", ksel, self.wcs, unit)

    def get_lambda(self, ksel: Any = None, unit: u.UnitBase | None = None) -> Any:
        return self._get("lambda", ksel, self.wave, unit)

    def get_data(self, ksel: Any = None, unit: u.UnitBase | None = None) -> Any:
        return self._get("data", ksel, self.unit_data, unit)

    def get_stat(self, ksel: Any = None, unit: u.UnitBase | None = None) -> Any:
        return self._get("stat", ksel, self.unit_data**2, unit)

    def get_dq(self, ksel: Any = None) -> Any:
        return self.get_column("dq", ksel)

    def get_origin(self, ksel: Any = None) -> Any:
        return self.get_column("origin", ksel)

    def get_weight(self, ksel: Any = None) -> Any:
        """The weight column when the table has one (whatever the WEIGHTED keyword), else None."""
        return self.get_column("weight", ksel) if self._has("weight") else None

    def _limits(self, axis: str, name: str) -> None:
        col = self._cols[name]
        self.set_keyword(f"LIMITS {axis} LOW", float(col.min()))
        self.set_keyword(f"LIMITS {axis} HIGH", float(col.max()))

    def set_xpos(self, xpos: Any, ksel: Any = None, unit: u.UnitBase | None = None) -> None:
        self._set("xpos", xpos, ksel, self.wcs, unit)
        self._limits("X", "xpos")

    def set_ypos(self, ypos: Any, ksel: Any = None, unit: u.UnitBase | None = None) -> None:
        self._set("ypos", ypos, ksel, self.wcs, unit)
        self._limits("Y", "ypos")

    def set_lambda(self, lbda: Any, ksel: Any = None, unit: u.UnitBase | None = None) -> None:
        self._set("lambda", lbda, ksel, self.wave, unit)
        self._limits("LAMBDA", "lambda")

    def set_data(self, data: Any, ksel: Any = None, unit: u.UnitBase | None = None) -> None:
        self._set("data", data, ksel, self.unit_data, unit)

    def set_stat(self, stat: Any, ksel: Any = None, unit: u.UnitBase | None = None) -> None:
        self._set("stat", stat, ksel, self.unit_data**2, unit)

    def set_dq(self, dq: Any, ksel: Any = None) -> None:
        self.set_column("dq", dq, ksel)

    def set_weight(self, weight: Any, ksel: Any = None) -> None:
        self.set_column("weight", weight, ksel)

    def set_origin(self, origin: Any, ksel: Any = None) -> None:
        self.set_column("origin", origin, ksel)
        col = self._cols["origin"]
        ifu, sli = self.origin2ifu(col), self.origin2slice(col)
        self.set_keyword("LIMITS IFU LOW", int(ifu.min()))
        self.set_keyword("LIMITS IFU HIGH", int(ifu.max()))
        self.set_keyword("LIMITS SLICE LOW", int(sli.min()))
        self.set_keyword("LIMITS SLICE HIGH", int(sli.max()))
        if self.nifu > 1:
            self.set_keyword("MERGED", int(np.unique(ifu).size))
