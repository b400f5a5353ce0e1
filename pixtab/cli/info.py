"""``pixtab info``: what a pixel table holds, from its headers (``--stats``: one pass)."""

from __future__ import annotations

import click

from . import output
from .errors import PixtabCommand
from .options import batch_opts, inputs_arg, json_opt
from .registry import deprecated
from .writing import for_each_input, phases

_SINGLE = {
    "nrows": "rows",
    "layout": "layout",
    "wcs": "wcs",
    "combined": "combined",
    "columns": "columns",
}


@click.command("info", cls=PixtabCommand)
@inputs_arg
@json_opt
@batch_opts
@click.option("--stats", is_flag=True, help="Also stream the data once: min/max/NaN per column, dq, IFUs, slices.")
@click.option(
    "--get",
    "single",
    type=click.Choice(list(_SINGLE)),
    metavar="FIELD",
    help="Print only this field, bare, for scripts: nrows, layout (image, table, ascii-table), wcs (pixel, "
    "projected, positioned), combined, columns (comma-separated).",
)
@deprecated("--nrows", "--get nrows", "single", "nrows")
@deprecated("--layout", "--get layout", "single", "layout")
@deprecated("--wcs", "--get wcs", "single", "wcs")
@deprecated("--columns", "--get columns", "single", "columns")
def command(inputs: tuple[str, ...], as_json: bool, stats: bool, single: str | None) -> None:
    """Describe pixel tables: layout, rows, columns, state, exposures, limits.

    Reads headers only (well under a second on a 9 GB file) unless --stats is
    given. With --json, prints one JSON object per input, one per line.

    \b
    Examples:
      pixtab info PIXTABLE_REDUCED_0001.fits
      pixtab info --json *.fits | jq .rows
      n=$(pixtab info --get nrows table.fits)
    """

    def one(path: str) -> None:
        from ..core.ops.describe import stats as stream_stats
        from ..core.ops.describe import summary
        from ..core.io.table import PixTable

        with PixTable(path) as pt:
            desc = summary(pt)
            if stats:
                with phases(path) as progress:
                    desc["stats"] = stream_stats(pt, progress)
        if single:
            value = ",".join(desc["columns"]) if single == "columns" else desc[_SINGLE[single]]
            text = "" if value is None else str(value)
            # Several inputs: name each, as extract --count does (one input: the bare value).
            output.echo(f"{path}: {text}" if len(inputs) > 1 else text)
        elif as_json:
            output.print_json(desc, path)
        else:
            _print_human(desc, prefix=len(inputs) > 1)

    for_each_input(inputs, one)


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def _print_human(d: dict, prefix: bool) -> None:
    """Plain aligned text (stable for grep); on a terminal, a rich rendering of the same."""
    lines: list[tuple[str, str]] = [
        ("path", d["path"]),
        ("size", f"{d['size']:,} bytes"),
        ("layout", d["layout"]),
        ("rows", f"{d['rows']:,}"),
        ("type", _fmt(d["pipeline_type"])),
        ("wcs", f"{d['wcs']} (keyword: {_fmt(d['wcs_keyword'])})"),
        ("merged IFUs", _fmt(d["merged"])),
        ("combined", _fmt(d["combined"])),
        ("flux-calibrated", _fmt(d["fluxcal"])),
        ("sky-subtracted", _fmt(d["skysub"])),
        ("weighted", f"{_fmt(d['weighted'])} (weight column: {_fmt(d['has_weight'])})"),
        ("flat field", _fmt(d["has_flat_field"])),
    ]
    if d["centre"]:
        lines.append(("centre", f"RA {d['centre']['ra']:.7f}  Dec {d['centre']['dec']:.7f} deg"))
    for e in d["exposures"]:
        count = e["last"] - e["first"] + 1
        lines.append((f"exposure {e['exp']}", f"rows {e['first']}..{e['last']} ({count:,})" if count > 0 else "no rows (0)"))
    lim = d["limits"]
    for axis in ("x", "y", "lambda", "ifu", "slice"):
        lines.append((f"limits {axis}", f"{_fmt(lim[axis + '_low'])} .. {_fmt(lim[axis + '_high'])}"))
    for name, c in d["columns"].items():
        lines.append((f"column {name}", f"{c['dtype']:<8} {_fmt(c['unit'])}"))
    if d["extra_extensions"]:
        lines.append(("extensions", ", ".join(d["extra_extensions"])))
    st = d.get("stats")
    if st:
        for name, c in st["columns"].items():
            lines.append((f"stats {name}", f"min {_fmt(c['min'])}  max {_fmt(c['max'])}  NaN {c['nan']:,}  inf {c['inf']:,}"))
        lines.append(("dq non-zero", f"{st['dq_nonzero_fraction']:.4%}"))
        lines.append(("IFUs present", ",".join(str(i) for i in st["ifus"])))
        from ..core.format.exposures import number_ranges

        lines.append(("slices present", number_ranges(list(st["slices"]), ",")))
    width = max(len(k) for k, _ in lines)
    if output.stdout_is_tty():
        from rich.console import Console
        from rich.table import Table

        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold cyan")
        table.add_column()
        for k, v in lines:
            table.add_row(k, v)
        Console(highlight=False).print(table)
        return
    for k, v in lines:
        output.echo(f"{d['path']}: {k:<{width}}  {v}" if prefix else f"{k:<{width}}  {v}")
