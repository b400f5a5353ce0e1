"""``pixtab extract --catalog``: one output per catalogue source, one pass over each input."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, TypeVar

import click

from . import output as ui
from .writing import check_outputs, for_each_input, make_output_dir, output_paths, phases

F = TypeVar("F", bound=Callable[..., Any])

#: the default --name with a catalogue (extract's own default names no source)
NAME_TEMPLATE = "{id}_{stem}.fits"
#: outputs open at once in the copy pass (file descriptors); more sources take more copy passes
OPEN_OUTPUTS = 256


def catalog_opts(f: F) -> F:
    f = click.option(
        "--radius",
        "catalog_radius",
        metavar="SIZE",
        help="Aperture radius of catalogue sources that give no radius or halfside (arcsec, or e.g. 2arcsec).",
    )(f)
    return click.option(
        "--catalog",
        metavar="FILE",
        help="Cut every source of this catalogue (CSV/TSV with id,ra,dec[,radius|halfside], or JSON Lines; "
        "'-': stdin; what `pixtab image --peaks` prints) into its own file in --output-dir "
        f"(--name default {NAME_TEMPLATE}), in one pass over each input.",
    )(f)


def read_sources(ctx: click.Context, catalog: str, radius: str | None) -> list[Any]:
    """The catalogue's sources (usage errors name the line)."""
    from ..core.errors import CriteriaError
    from ..core.format.catalog import parse_catalog
    from . import batch
    from .criteria import parse_size

    if catalog == "-" and ctx.meta.get(batch.META_KEY, batch.Dispatch()).parallel:
        raise click.UsageError("--catalog - cannot feed --jobs/--scheduler tasks: save the catalogue to a file")
    default = None
    if radius is not None:
        try:
            default, _ = parse_size(radius)
        except Exception:
            raise click.BadParameter(f"cannot read {radius!r} (arcsec, or e.g. 2arcsec)", param_hint="'--radius'") from None
        if not default > 0:
            raise click.BadParameter(f"{radius!r} is not a positive size", param_hint="'--radius'")
    try:
        with click.open_file(catalog, "r", encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {catalog}: {getattr(exc, 'strerror', None) or exc}", param_hint="'--catalog'") from None
    try:
        return parse_catalog(text, default)
    except CriteriaError as exc:
        raise click.BadParameter(f"{catalog}: {exc}", param_hint="'--catalog'") from None


def run(
    inputs: tuple[str, ...],
    sources: list[Any],
    criteria: Any,
    output_dir: str | None,
    name_template: str,
    opts: dict[str, Any],
) -> None:
    """Cut every source out of every input; ``opts``: count, allow_empty, layout, round_float32, overwrite, as_json."""
    count = opts["count"]
    ids = [s.id for s in sources]
    paths = [] if count else output_paths(inputs, None, output_dir, name_template, ids)
    outputs = {src: dict(zip(ids, paths[k * len(ids) : (k + 1) * len(ids)])) for k, src in enumerate(inputs)}
    if not count:
        make_output_dir(output_dir)
        check_outputs([(src, out) for src in inputs for out in outputs[src].values()], opts["overwrite"])

    def one(path: str) -> None:
        from ..core.errors import EmptySelectionError
        from ..core.io.table import PixTable
        from ..core.ops.extract import check_columns, summarize
        from ..core.ops.sources import select_sources, source_criteria

        with PixTable(path) as pt, phases(path) as progress:
            if not count:
                check_columns(pt)
            selections = select_sources(pt, criteria, sources, progress, opts["plan"])
            if count:
                prefix = f"{path}: " if len(inputs) > 1 else ""
                for s, sel in zip(sources, selections):
                    d = summarize(pt, sel, None, None).as_dict()
                    del d["output"], d["layout"]
                    if opts["as_json"]:
                        ui.print_json({**d, "id": s.id})
                    else:
                        ui.echo(f"{prefix}{s.id}: {sel.count()}")
                return
            empty = [s.id for s, sel in zip(sources, selections) if sel.count() == 0]
            keep = [k for k, sel in enumerate(selections) if sel.count() or opts["allow_empty"]]
            if empty:
                what = "written with 0 rows" if opts["allow_empty"] else "not written (--allow-empty writes 0-row tables)"
                shown = ", ".join(empty[:10]) + (f" and {len(empty) - 10:,} more" if len(empty) > 10 else "")
                ui.warning(f"{path}: {len(empty)} of {len(sources)} sources select no row ({shown}): {what}")
            if not keep:
                raise EmptySelectionError(f"{path}: no source selects any row; nothing written", field="allow_empty")
            for group in (keep[i : i + OPEN_OUTPUTS] for i in range(0, len(keep), OPEN_OUTPUTS)):
                _write(pt, [selections[k] for k in group], [source_criteria(criteria, sources[k]) for k in group],
                       [outputs[path][sources[k].id] for k in group], opts, progress)
            for k in keep:
                out = outputs[path][sources[k].id]
                result = summarize(pt, selections[k], out, opts["layout"])
                ui.info(f"wrote {out} ({result.selected:,} of {result.rows:,} rows, {opts['layout']} layout)")
                if opts["as_json"]:
                    ui.print_json({**result.as_dict(), "id": sources[k].id})

    for_each_input(inputs, one)


def _write(pt: Any, selections: list[Any], criteria: list[Any], outs: list[str], opts: dict[str, Any], progress: Any) -> None:
    from ..core.fits.atomic import atomic_output
    from ..core.ops.sources import write_sources

    with ExitStack() as stack:
        fds = [stack.enter_context(atomic_output(out, opts["overwrite"])) for out in outs]
        write_sources(pt, selections, criteria, fds, opts["layout"], progress, opts["round_float32"])
