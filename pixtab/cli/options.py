"""Option decorators and the parsers of their values (ranges, integer lists, batch options).

Which options the commands share, and what each name means on all of them, is
the table of :mod:`.registry` (checked against the commands by a test); the
row-selection options are in :mod:`.criteria`, the measuring commands' output
options in :mod:`.common`.

Callbacks raise :class:`click.BadParameter`, so bad values exit with status 2
and a message naming the option.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE_RE = re.compile(rf"^\s*({_NUMBER})?\s*:\s*({_NUMBER})?\s*$")


def parse_range(text: str, integer: bool = False) -> tuple[float, float]:
    """Parse a half-open range ``LO:HI`` (either side may be omitted: open-ended)."""
    m = _RANGE_RE.match(text)
    if not m or (m[1] is None and m[2] is None):
        raise ValueError(f"{text!r} is not a range LO:HI")
    conv = int if integer else float
    try:
        lo = conv(m[1]) if m[1] is not None else float("-inf")
        hi = conv(m[2]) if m[2] is not None else float("inf")
    except ValueError:
        raise ValueError(f"{text!r}: bounds must be integers") from None
    if not lo < hi:
        raise ValueError(f"{text!r} is empty or inverted (need LO < HI)")
    return lo, hi


def parse_int_list(text: str, lo: int, hi: int) -> list[int]:
    """Parse ``5,6,7`` or ``5-7`` (or a mix) into sorted unique ints within ``lo..hi``."""
    values: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if m:
            a, b = int(m[1]), int(m[2])
            if a > b:
                raise ValueError(f"range {part!r} is inverted")
        elif re.fullmatch(r"\d+", part):
            a = b = int(part)
        else:
            raise ValueError(f"{part!r} is not a number or a range like 5-7")
        # Bounds first: a range is never expanded beyond lo..hi (1-99999999999999 fails at once).
        for v in (a, b):
            if not lo <= v <= hi:
                raise ValueError(f"{v} is outside {lo}..{hi}")
        values.update(range(a, b + 1))
    if not values:
        raise ValueError("empty list")
    return sorted(values)


def range_callback(integer: bool = False) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """Callback for repeatable ``LO:HI`` options; returns a list of (lo, hi)."""

    def cb(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        items = value if isinstance(value, tuple) else (value,)
        try:
            out = [parse_range(v, integer) for v in items]
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
        return out if isinstance(value, tuple) else out[0]

    return cb


def int_list_callback(lo: int, hi: int) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """Callback for ``LIST`` options (``5,6`` or ``5-7``, repeatable) within ``lo..hi``."""

    def cb(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if not value:
            return None
        items = value if isinstance(value, tuple) else (value,)
        try:
            merged: set[int] = set()
            for v in items:
                merged.update(parse_int_list(v, lo, hi))
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
        return sorted(merged)

    return cb


def inputs_arg(f: F) -> F:
    return click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))(f)


def input_arg(f: F) -> F:
    return click.argument("input", type=click.Path(path_type=str))(f)


def output_opt(required: bool = False, help: str = "Output file.", callback: Callable[..., Any] | None = None) -> Callable[[F], F]:
    return click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), required=required, help=help, callback=callback)


def overwrite_opt(f: F) -> F:
    return click.option("--overwrite", is_flag=True, help="Replace an existing output file.")(f)


def round_float32_opt(f: F) -> F:
    return click.option(
        "--round-float32",
        is_flag=True,
        help="ASCII (MPDAF text) inputs only: round values that are not exactly float32 to the nearest "
        "float32 (default: refuse them).",
    )(f)


def json_opt(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per input, one per line).")(f)


def zero_based_opt(f: F) -> F:
    return click.option(
        "--zero-based",
        is_flag=True,
        help="Detector pixels counted from 0, as MPDAF does (default: from 1, as the pipeline and FITS).",
    )(f)


def slice_numbering_opt(f: F) -> F:
    return click.option(
        "--slice-numbering",
        type=click.Choice(["ccd", "sky"]),
        default="ccd",
        show_default=True,
        help="Slice numbers as on the CCD (the origin field) or as in the field of view (sky).",
    )(f)


def layout_opt(default: str | None = "image", help: str = "On-disk layout of the output.") -> Callable[[F], F]:
    return click.option(
        "--layout",
        type=click.Choice(["image", "table"]),
        default=default,
        show_default=default is not None,
        help=help,
    )


def output_dir_opts(default_name: str, shown_default: str | None = None) -> Callable[[F], F]:
    """``--output-dir DIR`` and ``--name TEMPLATE`` for commands with many inputs
    (``shown_default``: the help's words for a default the command computes, ``default_name`` "")."""

    def deco(f: F) -> F:
        f = click.option(
            "--name",
            "name_template",
            default=default_name,
            show_default=shown_default or True,
            help="Output file name in --output-dir; {stem} is the input name without .fits.",
        )(f)
        return click.option(
            "--output-dir",
            type=click.Path(file_okay=False, path_type=str),
            help="Write one output per input into this directory.",
        )(f)

    return deco


def _batch_cb(field: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def cb(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        from .batch import META_KEY, Dispatch

        dispatch = ctx.meta.get(META_KEY, Dispatch())
        ctx.meta[META_KEY] = Dispatch(**{**dispatch.__dict__, field: value})

    return cb


def batch_opts(f: F) -> F:
    """``-j/--jobs N`` and ``--scheduler ADDRESS`` for commands that take many inputs."""
    f = click.option(
        "--scheduler",
        metavar="ADDRESS",
        envvar="PIXTAB_SCHEDULER",
        expose_value=False,
        callback=_batch_cb("scheduler"),
        help="Run one task per input on this Dask scheduler (e.g. tcp://head:8786; env PIXTAB_SCHEDULER); "
        "its workers must see the same files. Needs pixtab[cluster].",
    )(f)
    return click.option(
        "-j",
        "--jobs",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        expose_value=False,
        callback=_batch_cb("jobs"),
        help="Process up to N inputs at once, each in a process of its own (inputs under 128 MiB on average "
        "run one after the other here, which is faster for them; env PIXTAB_JOBS_MIN_MB).",
    )(f)
