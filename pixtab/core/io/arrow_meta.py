"""Checks of the ``pixtab`` metadata of an export, field by field, before anything is built from it.

The metadata is JSON anyone can edit: every field must have its type, every dtype
must be a native number type (a big-endian string would reinterpret the bytes),
the primary header must be whole FITS header blocks, and every extra HDU valid
base64 of a whole FITS extension. :func:`check_meta` says what is wrong, in one
short phrase, or None.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

BLOCK = 2880
_LAYOUTS = ("image", "table", "ascii-table")
_FIELDS: dict[str, tuple[type, ...]] = {
    "source": (str,), "layout": (str,), "rows": (int,), "primary_header": (str,), "columns": (list,),
    "extra_hdus": (list,), "extra_names": (list,), "selected": (bool,), "decoded": (dict,), "version": (int,),
}  # fmt: skip
_COLUMN_FIELDS: dict[str, tuple[type, ...]] = {"name": (str,), "fits_name": (str,), "dtype": (str,), "unit": (str, type(None))}


def _typed(d: dict[str, Any], spec: dict[str, tuple[type, ...]], where: str) -> str | None:
    unknown = sorted(set(d) - set(spec))
    if unknown:
        return f"{where}unknown field {unknown[0][:40]!r}"
    for key, types in spec.items():
        if key not in d:
            return f"{where}field {key!r} missing"
        v = d[key]
        if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
            return f"{where}field {key!r} is {type(v).__name__}, not {types[0].__name__}"
    return None


def _dtype(text: str) -> str | None:
    try:
        dt = np.dtype(text)
    except (TypeError, ValueError, SyntaxError):
        return f"dtype {text[:40]!r} is not a number type"
    if dt.kind not in "iuf" or not dt.isnative or dt.itemsize not in (1, 2, 4, 8) or dt.name != text:
        return f"dtype {text[:40]!r} is not a plain native number type (e.g. float32, int32)"
    return None


def header_problem(text: str, what: str = "primary header") -> str | None:
    """Why ``text`` is not whole FITS header blocks ending with END (None: it is)."""
    if not text.isascii() or not all(" " <= c <= "~" for c in text):
        return f"the {what} is not printable ASCII"
    if not text or len(text) % BLOCK:
        return f"the {what} is not whole blocks of {BLOCK} characters"
    cards = [text[i : i + 80] for i in range(0, len(text), 80)]
    if not any(c.startswith("END     ") or c.rstrip() == "END" for c in cards):
        return f"the {what} has no END card"
    first = "SIMPLE  =" if what == "primary header" else "XTENSION="
    if not cards[0].startswith(first):
        return f"the {what} does not start with {first.split()[0]}"
    return None


def hdu_problem(blob: bytes) -> str | None:
    """Why ``blob`` is not one whole FITS extension (header blocks, then the data it announces)."""
    from astropy.io import fits

    text = blob.decode("ascii", "replace")
    end = next((i for i in range(0, len(text), 80) if text[i : i + 8] == "END     " or text[i : i + 80].rstrip() == "END"), None)
    if end is None:
        return "no END card"
    hlen = (end // BLOCK + 1) * BLOCK
    problem = header_problem(text[:hlen], "extension header")
    if problem:
        return problem
    try:
        h = fits.Header.fromstring(text[:hlen])
        naxis = int(h["NAXIS"])
        size = abs(int(h["BITPIX"])) // 8 * int(np.prod([int(h[f"NAXIS{i}"]) for i in range(1, naxis + 1)], dtype=object))
        size = int(h.get("GCOUNT", 1)) * (int(h.get("PCOUNT", 0)) + size) if naxis else 0
    except Exception as exc:  # astropy's parser: anything it raises means a damaged card
        return f"unreadable header ({type(exc).__name__})"
    want = hlen + -(-size // BLOCK) * BLOCK
    if len(blob) != want:
        return f"{len(blob)} bytes where its header announces {want}"
    return None


def check_meta(d: object) -> str | None:
    """What is wrong with the decoded metadata ``d`` (None: every field is usable)."""
    if not isinstance(d, dict):
        return f"a JSON {type(d).__name__}, not an object"
    problem = _typed(d, _FIELDS, "")
    if problem:
        return problem
    if d["layout"] not in _LAYOUTS:
        return f"layout {d['layout'][:40]!r} is not one of {', '.join(_LAYOUTS)}"
    if d["rows"] < 0:
        return f"rows {d['rows']} is negative"
    if not d["columns"]:
        return "no columns"
    for i, c in enumerate(d["columns"]):
        if not isinstance(c, dict):
            return f"column {i} is a JSON {type(c).__name__}, not an object"
        problem = _typed(c, _COLUMN_FIELDS, f"column {i}: ") or _dtype(c["dtype"])
        if problem:
            return problem
    names = [c["name"] for c in d["columns"]]
    if len(set(names)) != len(names):
        return "a column is listed twice"
    problem = header_problem(d["primary_header"])
    if problem:
        return problem
    if not all(isinstance(x, str) for x in d["extra_hdus"] + d["extra_names"]) or len(d["extra_hdus"]) != len(d["extra_names"]):
        return "extra_hdus and extra_names must be two lists of as many strings"
    for name, b64 in zip(d["extra_names"], d["extra_hdus"]):
        try:
            blob = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            return f"extension {name[:40]!r} is not base64"
        problem = hdu_problem(blob)
        if problem:
            return f"extension {name[:40]!r}: {problem}"
    return None
