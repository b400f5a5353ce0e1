"""The shared options' table (``pixtab.cli.registry``) against the click commands: every long
option two commands take is in the table, with exactly those commands, and is a flag on all
of them or takes a value on all of them; deprecated names are hidden and warn."""

from __future__ import annotations

import click
import pytest

from pixtab.cli import cli
from pixtab.cli.registry import SHARED

from helpers.cli import invoke


def _uses() -> dict[str, dict[str, click.Option]]:
    out: dict[str, dict[str, click.Option]] = {}
    for name, cmd in cli.commands.items():
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.hidden:
                for opt in p.opts + p.secondary_opts:
                    if opt.startswith("--"):
                        out.setdefault(opt, {})[name] = p
    return out


def test_every_shared_option_is_in_the_table() -> None:
    shared = {opt: sorted(cmds) for opt, cmds in _uses().items() if len(cmds) > 1}
    assert sorted(shared) == sorted(SHARED), "shared options and the table differ"
    for opt, cmds in shared.items():
        assert tuple(cmds) == SHARED[opt].commands, f"{opt}: taken by {cmds}, the table says {SHARED[opt].commands}"


@pytest.mark.parametrize("opt", sorted(SHARED))
def test_one_kind_per_name(opt: str) -> None:
    """A shared name is a flag everywhere or takes a value everywhere (one meaning, one form)."""
    for name, p in _uses()[opt].items():
        assert p.is_flag == SHARED[opt].flag, f"{name} {opt}"


@pytest.mark.parametrize(
    ("args", "old", "new"),
    [
        (["info", "--nrows"], "--nrows", "--get nrows"),
        (["info", "--layout"], "--layout", "--get layout"),
        (["fit", "--bin-width", "5"], "--bin-width", "--bin"),
        (["simulate", "--rows", "1000"], "--rows", "--nrows"),
    ],
)
def test_deprecated_names_are_hidden_and_warn(args: list[str], old: str, new: str, simulated, tmp_path) -> None:
    cmd = cli.commands[args[0]]
    assert old not in cmd.get_help(click.Context(cmd))
    src = simulated(rows=20_000, ifus=[12], sources=[])
    tail = [str(tmp_path / "s.fits")] if args[0] == "simulate" else [str(src)]
    if args[0] == "fit":
        tail += ["--circle", "150.1163", "2.2058", "3"]
    r = invoke(*args, *tail, code=None)
    assert f"pixtab: warning: {old} is deprecated: use {new}\n" in r.stderr
    if args[0] == "info":
        assert r.exit_code == 0 and r.stdout.strip() in ("20000", "image")
    if args[0] == "simulate":
        assert r.exit_code == 0 and "1,000 rows" in r.stderr
