"""pixtab.core.format.columns: the output-column rule and the one ASCII-narrowing rule."""

from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np
import pytest

from pixtab.core.errors import InputError
from pixtab.core.format.columns import narrow, output_columns


def col(name: str, dtype: str, fmt: str = "E15.7", stored: str | None = None, unit: str | None = None) -> NS:
    return NS(name=name, stored_name=stored or name, dtype=np.dtype(dtype), fits_format=fmt, unit=unit)


def test_names_types_units() -> None:
    specs = output_columns([col("xpos", "f4", stored="XPOS", unit="deg"), col("extra", "f8", stored="Extra")], False, "p")
    assert [(s.name, s.dtype.name, s.unit) for s in specs] == [("xpos", "float32", "deg"), ("Extra", "float64", None)]
    text = output_columns([col("xpos", "f8"), col("dq", "i8"), col("other", "f8")], True, "p")
    assert [s.dtype.name for s in text] == ["float32", "int32", "float32"]


def test_refusals() -> None:
    with pytest.raises(InputError, match="holds text"):
        output_columns([col("name", "S8")], True, "p")
    with pytest.raises(InputError, match="column 'xpos' is float64; the MUSE pipeline requires float32"):
        output_columns([col("xpos", "f8")], False, "p")


def test_narrow_accepts_text_precision_and_refuses_more() -> None:
    c = col("data", "f8", "E15.7")
    exact = np.array([1250.0, np.nan, -0.5, 0.1], dtype=np.float64)  # float32 gives the text back
    out, rounded = narrow("p", c, exact, 0, False)
    assert out.dtype == np.float32 and rounded == 0
    precise = np.array([0.5, 1.0000000001], dtype=np.float64)  # 0.5 is a float32; the other is not
    with pytest.raises(InputError) as exc:
        narrow("p", col("data", "f8", "D25.17"), precise, 10, False)
    assert "value 1.0000000001 at row 11" in str(exc.value) and exc.value.field == "round_float32"
    out, rounded = narrow("p", col("data", "f8", "D25.17"), precise, 10, True)
    assert rounded == 1 and out[1] == np.float32(1.0)
    rows = np.array([7, 42])
    with pytest.raises(InputError, match="at row 42 does not fit in int32"):
        narrow("p", col("dq", "i8", "I11"), np.array([1, 2**40]), rows, False)
