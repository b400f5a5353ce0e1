"""Source catalogues: CSV, TSV and JSON Lines, with errors naming the line."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixtab.core.errors import CriteriaError
from pixtab.core.format.catalog import CatalogError, Source, parse_catalog


def test_peaks_output_reads_back() -> None:
    text = "id,ra,dec,peak,fwhm_guess\n1,150.1163,2.2058,812.5,0.71\n2,150.1201,2.2011,95.0,0.80\n"
    assert parse_catalog(text, default_radius=2.0) == [
        Source("1", 150.1163, 2.2058, 2.0), Source("2", 150.1201, 2.2011, 2.0)
    ]


def test_tsv_sizes_comments_sexagesimal() -> None:
    text = "# my targets\nid\tra\tdec\tradius\thalfside\n\nstar\t10:00:27.912\t+02:12:20.88\t1.5\t\nbox\t150.2\t-2.5\t\t3\n"
    star, box = parse_catalog(text)
    assert star.id == "star" and star.shape == "circle" and star.size == 1.5
    assert star.ra == pytest.approx(150.1163, abs=1e-9) and star.dec == pytest.approx(2.2058, abs=1e-9)
    assert box == Source("box", 150.2, -2.5, None, 3.0) and box.shape == "square"


def test_json_lines() -> None:
    text = '{"id": "a", "ra": 359.9999, "dec": -89.5, "radius": 0.5}\n{"id": 7, "ra": "-0.5", "dec": 0}\n'
    a, b = parse_catalog(text, default_radius=1.0)
    assert a == Source("a", 359.9999, -89.5, 0.5)
    assert b == Source("7", 359.5, 0.0, 1.0)  # RA wrapped into [0, 360)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "the catalogue is empty"),
        ("id,ra,dec\n", "has a header but no source"),
        ("name,ra,dec\nx,1,2\n", "line 1: the header names no id column"),
        ("id,ra,dec\nx,1,2,3\n", "line 2: 4 fields where the header has 3"),
        ("id,ra,dec\n\nx,1,2\n", "line 3: no radius or halfside, and no default radius"),
        ("id,ra,dec,radius\nx,abc,2,1\n", "line 2: ra 'abc' is not an angle"),
        ("id,ra,dec,radius\nx,1,95,1\n", "line 2: dec 95 is outside [-90, 90]"),
        ("id,ra,dec,radius\nx,1,nan,1\n", "line 2: dec 'nan' is not finite"),
        ("id,ra,dec,radius\nx,1,2,-1\n", "line 2: radius must be a positive number of arcsec, not '-1'"),
        ("id,ra,dec,radius,halfside\nx,1,2,1,1\n", "line 2: give a radius or a halfside, not both"),
        ("id,ra,dec,radius\na/b,1,2,1\n", "line 2: id 'a/b' cannot be part of a file name"),
        ("id,ra,dec,radius\nx,1,2,1\ny,1,2,1\nx,3,4,1\n", "line 4: id 'x' already on line 2"),
        ('{"id": "x", "ra": 1}\n', "line 1: no dec"),
        ('{"id": "x", "ra": 1, "dec": 2\n', "line 1: not JSON"),
        ("[1, 2]\n{}\n", "line 1: the header names no id, ra, dec column"),
    ],
)
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(CatalogError) as err:
        parse_catalog(text)
    assert message in str(err.value)
    assert isinstance(err.value, CriteriaError)  # a usage error (exit 2) in every command


ids = st.text(alphabet=st.characters(categories=["L", "N"], include_characters="_-."), min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..")
)
sources = st.lists(
    st.builds(
        Source,
        id=ids,
        ra=st.floats(0, 359.999, allow_nan=False),
        dec=st.floats(-90, 90, allow_nan=False),
        radius=st.floats(0.01, 600, allow_nan=False),
    ),
    min_size=1,
    max_size=20,
    unique_by=lambda s: s.id,
)


@given(sources, st.sampled_from([",", "\t", "json"]))
def test_round_trip(cat: list[Source], fmt: str) -> None:
    if fmt == "json":
        text = "".join(json.dumps(s.__dict__) + "\n" for s in cat)
    else:
        text = fmt.join(["id", "ra", "dec", "radius"]) + "\n"
        text += "".join(fmt.join([s.id, repr(s.ra), repr(s.dec), repr(s.radius)]) + "\n" for s in cat)
    assert parse_catalog(text) == cat
