"""pixtab's own FITS header (core/fits/header.py) against astropy's: same values, same bytes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import given, settings
from hypothesis import strategies as st

from pixtab.core.fits.header import Header

def _text(*cards: str, blanks: int = 0) -> str:
    body = "".join(c.ljust(80) for c in cards) + " " * 80 * blanks + "END".ljust(80)
    return body.ljust(-(-len(body) // 2880) * 2880)


CARDS = (
    "SIMPLE  =                    T / conforms to FITS standard",
    "BITPIX  =                    8 / array data type",
    "NAXIS   =                    0",
    "EXTEND  =                    T",
    "OBJECT  = 'NGC 1234'           / target",
    "EMPTY   = ''",
    "EXPTIME =              1200.05 / [s]",
    "SMALL   =            1.234E-05",
    "DVAL    =              1.5D+03",
    "NEG     =                  -42 /comment without space",
    "HIERARCH ESO DRS MUSE PIXTABLE TYPE = 'SIMPLE' / pixel table type",
    "HIERARCH ESO DRS MUSE PIXTABLE EXP1 FIRST = 0",
    "HIERARCH ESO DRS MUSE PIXTABLE LIMITS LAMBDA LOW = 4650.02825927734",
    "HIERARCH ESO INS MODE = 'WFM-NOAO-N' / instrument mode",
    "OBJECT  = 'duplicate'",
    "COMMENT a comment card",
    "HISTORY a history card",
)

ODD = (
    "CONT    = 'a long string &'",
    "lower   = 1",
    "NUM     =            1.5e+03",
    "RVKC    = 'AXIS.1: 1'",
    "QUOTE   = 'it''s'",
    "UNDEF   =",
    "BAD     = 1x5",
)


def both(text: str) -> tuple[Header, fits.Header]:
    return Header.fromstring(text), fits.Header.fromstring(text)


@pytest.mark.parametrize("blanks", [0, 2])
def test_plain_header_reads_and_writes_as_astropy(blanks: int) -> None:
    ours, theirs = both(_text(*CARDS, blanks=blanks))
    assert all(c.ap is None for c in ours.cards)  # the fast path
    assert list(ours) == list(theirs)
    assert [c.value for c in ours.cards] == [c.value for c in theirs.cards]
    assert [c.comment for c in ours.cards] == [c.comment for c in theirs.cards]
    for key in ("OBJECT", "HIERARCH ESO DRS MUSE PIXTABLE EXP1 FIRST", "ESO INS MODE", ("OBJECT", 1), "SMALL"):
        assert ours[key] == theirs[key]
        assert type(ours[key]) is type(theirs[key])
    assert ours.comments["EXPTIME"] == theirs.comments["EXPTIME"]
    assert ours.tostring() == theirs.tostring()


@pytest.mark.parametrize("odd", ODD)
def test_other_cards_are_astropy_s(odd: str) -> None:
    cards = (*CARDS[:4], *([odd, "CONTINUE  'x'"] if odd.startswith("CONT ") else [odd]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = both(_text(*cards))
        assert all(c.ap is not None for c in ours.cards)
        assert list(ours) == list(theirs)
        assert ours.tostring() == theirs.tostring()


def _edit(h: Header | fits.Header) -> None:
    h["EXPTIME"] = 30.0
    h["OBJECT"] = ("M 42", "new comment")
    h["HIERARCH ESO DRS MUSE PIXTABLE EXP1 FIRST"] = np.int64(12)
    h["HIERARCH ESO DRS MUSE PIXTABLE LIMITS LAMBDA LOW"] = 4650.02825927734  # same value: text kept
    h["HIERARCH ESO DRS MUSE PIXTABLE LIMITS LAMBDA HIGH"] = 9350.5
    h["NEWINT"] = 7
    h["NEWSTR"] = ("a string with 'quotes'", "and a comment")
    h["NEWBOOL"] = np.bool_(False)
    h["SMALL"] = (1.234e-05, "same value, new comment")
    h.append(("HIERARCH ESO DRS MUSE PIXTABLE LIMITS IFU LOW", 1), end=True)
    h.insert("NAXIS", ("EXTRA", True), after=True)
    del h["NEG"]
    del h[("OBJECT", 1)]
    h["LONGSTR"] = "x" * 100  # CONTINUE cards: astropy renders them


@pytest.mark.parametrize("blanks", [0, 1, 3])
def test_edits_give_astropy_s_bytes(blanks: int) -> None:
    ours, theirs = both(_text(*CARDS, blanks=blanks))
    _edit(ours)
    _edit(theirs)
    assert ours.tostring() == theirs.tostring()
    assert [ours.get(k) for k in theirs if k not in ("COMMENT", "HISTORY", "")] == [
        theirs.get(k) for k in theirs if k not in ("COMMENT", "HISTORY", "")
    ]
    copy = ours.copy()
    copy["EXPTIME"] = 1.0
    assert ours["EXPTIME"] == 30.0


def test_new_header_from_tuples() -> None:
    cards = [("XTENSION", "IMAGE", "Image extension"), ("BITPIX", -32), ("NAXIS", 2), ("EXTNAME", "CHAN01")]
    ours, theirs = Header(cards), fits.Header(cards)
    for h in (ours, theirs):
        h["CRVAL1"] = (1.0, "detector x")
        h.extend(Header([("A", 1), ("B", 2.5)]) if h is ours else fits.Header([("A", 1), ("B", 2.5)]))
    assert ours.tostring() == theirs.tostring()


@pytest.mark.parametrize("comment", [" ", "   ", "x  ", " a "])
def test_trailing_blanks_of_a_comment_are_padding(comment: str) -> None:
    """astropy keeps no trailing blank of a comment: a blank one writes no ' / ' (hypothesis found it)."""
    ours, theirs = Header(), fits.Header()
    for h in (ours, theirs):
        h["KEY"] = (False, comment)
    assert ours.tostring() == theirs.tostring()
    assert ours.comments["KEY"] == theirs.comments["KEY"] == comment.rstrip()


finite = st.floats(allow_nan=False, allow_infinity=False)
values = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), finite, st.floats(-3e38, 3e38).map(np.float32),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
)
keys = st.sampled_from(["KEY", "HIERARCH ESO DRS MUSE PIXTABLE LIMITS X LOW", "HIERARCH ESO A VERY LONG KEYWORD NAME THAT FILLS"])
comments = st.none() | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=50)


@settings(max_examples=300, deadline=None)
@given(keys, values, comments, values)
def test_any_value_renders_as_astropy(key: str, value: object, comment: str | None, again: object) -> None:
    ours, theirs = Header(), fits.Header()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for h in (ours, theirs):
            h[key] = (value, comment)
        assert ours.tostring() == theirs.tostring()
        back, theirs_back = both(theirs.tostring())
        assert back.tostring() == theirs.tostring()
        assert back[key] == theirs_back[key]
        for h in (ours, theirs, back, theirs_back):
            h[key] = again
        assert ours.tostring() == theirs.tostring()
        assert back.tostring() == theirs_back.tostring()


edits = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.sampled_from(["EXPTIME", "OBJECT", "HIERARCH ESO DRS MUSE PIXTABLE EXP1 FIRST", "NEWKEY"]), values),
        st.tuples(st.just("del"), st.sampled_from(["NEG", "SMALL", "DVAL"]), st.none()),
        st.tuples(st.just("insert"), st.sampled_from(["NAXIS", "EXTEND"]), values),
        st.tuples(st.just("tostring"), st.none(), st.none()),
        st.tuples(st.sampled_from(["copy", "copy and go on"]), st.none(), st.none()),
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(edits)
def test_serialisations_between_edits_and_copies_give_astropy_s_bytes(steps: list[tuple[str, str | None, object]]) -> None:
    """A header keeps the card images of its last serialisation (and shares them with its
    copies) for the cards that did not change: every serialisation is still the whole truth."""
    ours, theirs = both(_text(*CARDS, blanks=2))
    ours.tostring()
    older: list[tuple[Header, fits.Header]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for op, key, value in steps:
            if op == "set":
                ours[key] = value
                theirs[key] = value
            elif op == "del" and key in theirs:
                del ours[key]
                del theirs[key]
            elif op == "insert":
                ours.insert(key, ("INSERTED", value), after=True)
                theirs.insert(key, ("INSERTED", value), after=True)
            elif op == "tostring":
                assert ours.tostring() == theirs.tostring()
            elif op == "copy":  # edit the copy from now on
                older.append((ours, theirs))
                ours, theirs = ours.copy(), theirs.copy()
            else:  # go on with the original
                older.append((ours.copy(), theirs.copy()))
        # the edits of a copy never reach its original, nor the reverse
        for h, h_theirs in [*older, (ours, theirs)]:
            assert h.tostring() == h_theirs.tostring()
