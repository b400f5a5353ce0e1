"""The ``pixtab`` command group: global options and the registry of its commands.

Command modules import numpy/astropy (through :mod:`pixtab.core`) only inside
their bodies, so ``pixtab --help`` and tab completion stay fast. The error seam
is :mod:`.errors`, the process around a run :mod:`.process`, the shared
options' table :mod:`.registry`.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass

import click

from .. import __version__
from . import completion, output, process
from .errors import PixtabGroup

CONTEXT_SETTINGS = {
    "help_option_names": ["-h", "--help"],
    "auto_envvar_prefix": "PIXTAB",
    "max_content_width": 100,
}

EPILOG = """\b
Exit status:
  0    success
  1    runtime or data error (also: some of several inputs failed)
  2    usage error (bad option or value)
  130  interrupted (Ctrl-C); 143 on SIGTERM, 129 SIGHUP, 131 SIGQUIT: no partial output is left.
  141  killed by SIGPIPE: the reader of stdout stopped early (| head), as for cat or grep.

\b
Environment:
  PIXTAB_QUIET=1   as -q (2: -qq); PIXTAB_VERBOSE=1 as -v
  PIXTAB_DEBUG=1   show tracebacks, as --traceback
  PIXTAB_JOBS_MIN_MB=N  --jobs forks workers only for inputs of N MiB on average (128)
  NO_COLOR=1       no colours on a terminal (pipes and files never get any)

Detector pixels are 1-based (as the MUSE pipeline and FITS count) unless
--zero-based is given; ranges LO:HI are half-open; row indices are 0-based.
Set PIXTAB_DEBUG=1 or pass --traceback to see tracebacks."""


@dataclass
class Settings:
    """Global options, available to commands as ``ctx.find_root().obj``."""

    verbose: int = 0
    quiet: int = 0
    traceback: bool = False


@click.group(cls=PixtabGroup, context_settings=CONTEXT_SETTINGS, epilog=EPILOG)
@click.version_option(__version__, "-V", "--version", message="%(version)s")
@click.option("-v", "--verbose", count=True, help="More messages on stderr (repeatable).")
@click.option("-q", "--quiet", count=True, help="No progress or info messages; -qq: errors only.")
@click.option("--traceback", is_flag=True, help="Show the full traceback of errors (debugging).")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: int, traceback: bool) -> None:
    """Streaming tools for MUSE pixel tables (PIXTABLE_* files).

    Reads both on-disk layouts (IMAGE extensions and BINTABLE) in bounded
    memory, and writes files the MUSE pipeline loads. Data go to stdout,
    messages and progress to stderr.
    """
    ctx.obj = Settings(verbose, quiet, traceback)
    output.configure_logging(verbose, quiet)


#: subcommand modules, in the order ``--help`` lists them
COMMAND_MODULES = [
    "info", "extract", "index", "export", "convert", "simulate", "decode_origin", "reconstruct_det", "image", "spectrum", "fit",
    "plot", "mask", "sky", "slices", "autocal",
]


class _Commands(MutableMapping[str, click.Command]):
    """The group's commands by name, each module imported when its command is first
    looked up: a run imports its own command's module only (``--help``, completion of
    command names and the docs look up, and import, every one)."""

    def __init__(self, modules: list[str]) -> None:
        self._modules = {m.replace("_", "-"): m for m in modules}
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        cmd = self._loaded.get(name)
        if cmd is None:
            if name not in self._modules:
                raise KeyError(name)
            import importlib

            cmd = self._loaded[name] = importlib.import_module(f"{__name__}.{self._modules[name]}").command
        return cmd

    def __setitem__(self, name: str, cmd: click.Command) -> None:
        self._loaded[name] = cmd

    def __delitem__(self, name: str) -> None:
        if name not in self._modules and name not in self._loaded:
            raise KeyError(name)
        self._modules.pop(name, None)
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        yield from self._modules
        yield from (n for n in list(self._loaded) if n not in self._modules)

    def __len__(self) -> int:
        return len(self._modules) + sum(1 for n in self._loaded if n not in self._modules)


cli.commands = _Commands(COMMAND_MODULES)  # type: ignore[assignment]


def main(args: list[str] | None = None, prog_name: str = "pixtab") -> None:
    """Console-script entry point (:func:`.process.run` of the group)."""
    process.run(cli, args, prog_name)


completion.register_fish()
