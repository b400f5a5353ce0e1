"""How the CLI words core errors: the core names fields, the CLI names options (describe_error)."""

from __future__ import annotations

from pixtab.cli.errors import ADVICE, describe_error
from pixtab.cli.registry import FIELDS as OPTIONS
from pixtab.core.errors import CriteriaError, InputError, OutputError


def test_fields_become_options_or_advice() -> None:
    assert describe_error(InputError("t.fits", "exposure 4 is not in this table (exposures 1-3)", field="exp")) == (
        "--exp: t.fits: exposure 4 is not in this table (exposures 1-3)"
    )
    assert describe_error(OutputError("o.fits: already exists", field="overwrite")) == (
        "o.fits: already exists (use --overwrite to replace it)"
    )
    assert describe_error(CriteriaError("plain")) == "plain"
    assert describe_error(ValueError("no field")) == "no field"


def test_every_option_named_exists() -> None:
    """Each option the table names is a real option of some command (no stale names)."""
    from pixtab.cli import cli

    options = {opt for cmd in cli.commands.values() for p in cmd.params for opt in getattr(p, "opts", [])}
    for text in OPTIONS.values():
        for opt in text.split("/"):
            assert opt in options, opt
    for text in ADVICE.values():
        for word in text.split():
            if word.startswith("--"):
                assert word.rstrip(",") in options, word
