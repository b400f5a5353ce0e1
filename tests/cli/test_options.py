"""The option callbacks and output-path rules, called directly (as rasterio tests its options)."""

from __future__ import annotations

import math
import os

import click
import pytest

from pixtab.cli.options import int_list_callback, parse_int_list, parse_range, range_callback
from pixtab.cli.writing import output_paths


@pytest.mark.parametrize(
    "text,integer,want",
    [
        ("5000:9000", False, (5000.0, 9000.0)),
        (":9000", False, (-math.inf, 9000.0)),
        ("1e3:", False, (1000.0, math.inf)),
        (" 10 : 20 ", True, (10, 20)),
        ("-5:5", True, (-5, 5)),
    ],
)
def test_parse_range(text: str, integer: bool, want: tuple[float, float]) -> None:
    assert parse_range(text, integer) == want


@pytest.mark.parametrize("text,integer", [("5", False), (":", False), ("9:5", False), ("5:5", False), ("1.5:3", True), ("a:b", False)])
def test_parse_range_refuses(text: str, integer: bool) -> None:
    with pytest.raises(ValueError):
        parse_range(text, integer)


def test_parse_int_list() -> None:
    assert parse_int_list("5,6,7", 1, 24) == [5, 6, 7]
    assert parse_int_list("7-9,1,8", 1, 24) == [1, 7, 8, 9]
    assert parse_int_list(" 3 , ,4", 1, 24) == [3, 4]
    for bad in ("", "25", "3-1", "x", "1.5"):
        with pytest.raises(ValueError):
            parse_int_list(bad, 1, 24)


def test_callbacks_raise_bad_parameter_naming_the_option() -> None:
    cmd = click.Command("x", params=[click.Option(["--lambda", "lambdas"], multiple=True), click.Option(["--ifu"])])
    ctx = click.Context(cmd)
    lam, ifu = cmd.params
    assert range_callback()(ctx, lam, ("1:2", "3:4")) == [(1.0, 2.0), (3.0, 4.0)]
    assert int_list_callback(1, 24)(ctx, ifu, ("5-6", "9")) == [5, 6, 9]
    assert int_list_callback(1, 24)(ctx, ifu, ()) is None
    with pytest.raises(click.BadParameter) as exc:
        range_callback()(ctx, lam, ("2:1",))
    assert "inverted" in str(exc.value) and exc.value.param is lam
    with pytest.raises(click.BadParameter):
        int_list_callback(1, 24)(ctx, ifu, ("30",))


def test_output_paths() -> None:
    assert output_paths(("a.fits",), "o.fits", None, "{stem}.fits") == ["o.fits"]
    assert output_paths(("d/a.fits", "b.FITS", "c.fz"), None, "out", "{stem}_x.fits") == [
        os.path.join("out", "a_x.fits"),
        os.path.join("out", "b_x.fits"),
        os.path.join("out", "c_x.fits"),
    ]
    assert output_paths(("a.fits",), None, "out", "{name}.bak") == [os.path.join("out", "a.fits.bak")]
    for args in ((("a.fits",), "o", "d", "{stem}"), (("a.fits", "b.fits"), "o", None, "{stem}"), (("a.fits",), None, None, "{stem}")):
        with pytest.raises(click.UsageError):
            output_paths(*args)
    with pytest.raises(click.UsageError, match="same output name"):
        output_paths(("x/a.fits", "y/a.fits"), None, "out", "{stem}.fits")
    for template in ("{nope}.fits", "{stem}/x.fits", ""):
        with pytest.raises(click.BadParameter):
            output_paths(("a.fits",), None, "out", template)
