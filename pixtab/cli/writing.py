"""The one skeleton of the commands that write files, and of batch runs.

1. :func:`output_paths`: one output per input, from ``-o`` or ``--output-dir``
   + ``--name`` (a missing output directory is created once, like ``mkdir -p``).
2. :func:`check_outputs`: before any work, every output is checked against
   every input of the run (by file identity: an output may never replace an
   input, even with ``--overwrite``) and against the other outputs.
3. :func:`for_each_input`: each input through the same error seam, one
   ``Error:`` line per failed input, exit 1 at the end if any failed.
4. :func:`phases`: the progress of one operation, a bar per phase on a terminal.

Opening the atomic output is :func:`pixtab.core.fits.atomic.atomic_output`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from ..core.progress import SILENT, Progress
from . import output as ui

T = TypeVar("T")


#: longest file name most file systems take, in bytes
NAME_MAX = 255


def check_name_template(template: str, fields: Sequence[str] = ("stem", "name")) -> None:
    """A ``--name`` template may only hold literal text and plain fields of ``fields``
    (``{stem}``, ``{name}``; ``{id}`` for catalogue sources), checked once, before any input is read."""
    import string

    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise click.BadParameter(f"bad template {template!r}: {exc}", param_hint="'--name'") from None
    allowed = " or ".join("{" + name + "}" for name in fields)
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in fields or spec or conversion:
            shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise click.BadParameter(f"bad template {template!r}: {shown} is not a field; use {allowed}", param_hint="'--name'")


def output_paths(
    inputs: Sequence[str], output: str | None, output_dir: str | None, template: str, ids: Sequence[str] = ()
) -> list[str]:
    """One output path per input from ``-o`` or ``--output-dir`` + template (usage errors: exit 2).

    With ``ids`` (catalogue sources), one path per input and id, input after input;
    the template must then hold ``{id}``.
    """
    if output and output_dir:
        raise click.UsageError("use either -o/--output or --output-dir, not both")
    if output:
        if len(inputs) > 1 or ids:
            raise click.UsageError("-o/--output takes one input and makes one file; use --output-dir for several")
        return [output]
    if not output_dir:
        raise click.UsageError("missing -o/--output (or --output-dir for several inputs)")
    if ids and "{id}" not in template:
        raise click.BadParameter(f"{template!r} has no {{id}}: each source needs a file of its own", param_hint="'--name'")
    check_name_template(template, ("stem", "name", "id") if ids else ("stem", "name"))
    paths = []
    for src in inputs:
        base = os.path.basename(src)
        stem = base[: -len(".fits")] if base.lower().endswith(".fits") else base.rsplit(".", 1)[0]
        for sid in ids or [""]:
            name = template.format(stem=stem, name=base, id=sid)
            if not name or os.sep in name or name in (".", "..") or "\0" in name:
                raise click.BadParameter(f"template {template!r} gives {name!r}, not a file name", param_hint="'--name'")
            if len(os.fsencode(name)) > NAME_MAX:
                raise click.BadParameter(
                    f"template {template!r} gives a name of {len(os.fsencode(name))} bytes for {src} (at most {NAME_MAX})",
                    param_hint="'--name'",
                )
            paths.append(os.path.join(output_dir, name))
    if len({os.path.normpath(p) for p in paths}) != len(paths):
        raise click.UsageError("several outputs get the same output name; use {stem} (and {id}) in --name")
    return paths


def make_output_dir(output_dir: str | None) -> None:
    """Create ``--output-dir`` (and its parents) when missing, like ``mkdir -p``."""
    if output_dir and not os.path.isdir(output_dir):
        from ..core.errors import OutputError

        try:
            os.makedirs(output_dir, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{output_dir}: cannot create the output directory: {exc.strerror}") from None


def check_outputs(pairs: Sequence[tuple[str, str]], overwrite: bool, outputs: Sequence[str] = ()) -> None:
    """Check every (input, output) of a run, and ``outputs`` made from no input, before any work.

    An output may be none of the run's inputs (compared by file identity),
    and two outputs may not be one file (exit 1 on a problem).
    """
    from ..core.errors import OutputError
    from ..core.fits.atomic import check_output, file_key

    from . import batch

    inputs = list(dict.fromkeys(src for src, _ in pairs))  # a catalogue pairs one input with many outputs
    every = [out for _, out in pairs] + list(outputs)
    task = batch.task_index()
    if task is not None:  # the parent checked the whole run; other tasks may have
        own = list(dict.fromkeys(inputs))[task : task + 1]  # written theirs since: check this input's
        every = [out for src, out in pairs if src in own]
    seen: set[tuple[object, ...]] = set()
    for out in every:
        # A task may be a rerun (Dask retries the tasks of a dead worker): its own committed
        # output is no reason to stop; the commit itself refuses any other existing file.
        check_output(out, inputs, overwrite or task is not None)
        key = file_key(out)
        if key in seen:
            raise OutputError(f"{out}: two inputs would write this same output")
        seen.add(key)


def for_each_input(inputs: Iterable[str], work: Callable[[str], T]) -> list[T]:
    """Run ``work`` on every input; report a failing input and go on.

    Exits with status 1 at the end when any input failed (fitscheck's rule).
    With a single input the error propagates unchanged; with ``--jobs`` or
    ``--scheduler`` every input runs as a task of its own (:mod:`.batch`). Errors are worded by
    :func:`pixtab.cli.errors.describe_error`, as for a single input; usage errors
    (exit 2) stop the run whatever the number of inputs.
    """
    from ..core.errors import CriteriaError, PixtabError
    from . import batch
    from .errors import EXIT_FAILURE, describe_error

    inputs = list(inputs)
    task = batch.task_index()
    if task is not None:  # this process is one task of a batch: that input alone
        from ..core.fits.atomic import tolerate_reruns

        tolerate_reruns()
        batch.watch_parent()
        return [work(inputs[task])]
    if len(inputs) == 1:
        return [work(inputs[0])]
    results: list[T] = []
    failed: list[str] = []
    ctx = click.get_current_context()
    dispatch = ctx.meta.get(batch.META_KEY, batch.Dispatch())
    parallel, why_not = batch.worth_workers(inputs, dispatch)
    if why_not:
        logging.getLogger("pixtab").debug(why_not)
    if parallel:  # each input a task of its own (--jobs, --scheduler): nothing returned
        failed = batch.run(ctx.meta[batch.ARGV_KEY], inputs, dispatch)
    for path in inputs if not parallel else ():
        try:
            results.append(work(path))
        except CriteriaError:
            raise
        except PixtabError as exc:
            click.echo(f"Error: {describe_error(exc)}", err=True)
            failed.append(path)
    if failed:
        click.echo(f"Error: {len(failed)} of {len(inputs)} inputs failed: {', '.join(failed)}", err=True)
        raise click.exceptions.Exit(EXIT_FAILURE)
    return results


class _Bars(Progress):
    """:class:`pixtab.core.progress.Progress` drawn as one rich bar per phase (stderr, TTY only)."""

    def __init__(self, description: str, bar: Any) -> None:
        self.description, self.bar, self.task = description, bar, None

    def start(self, phase: str, total: int) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(f"{phase} {self.description}", total=total or None)

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.bar.advance(self.task, n)


@contextmanager
def phases(description: str) -> Iterator[Progress]:
    """The progress of one operation on ``description`` (a path): a bar per phase, or silence."""
    if not ui.progress_enabled():
        yield SILENT
        return
    from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    with RichProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeRemainingColumn(),
        console=ui.stderr_console(),
        transient=True,
    ) as bar:
        yield _Bars(description, bar)
