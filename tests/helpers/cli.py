"""The tests' one way to run pixtab, in process or as a subprocess.

In process (most tests): :func:`invoke` runs ``pixtab ARGS`` through click's CliRunner and
asserts the exit code. As a subprocess (signals, streams, the real interpreter start-up):
:func:`run_pixtab`, and :func:`pixtab_cmd` for the tests that need ``Popen`` itself (a pty,
a signal mid-run, a closed stdin).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from click.testing import CliRunner, Result

from pixtab.cli import cli

REPO = Path(__file__).resolve().parents[2]


def invoke(
    *args: object,
    code: int | None = 0,
    input: str | bytes | None = None,
    env: Mapping[str, str | None] | None = None,
    catch_exceptions: bool = False,
    **kw: object,
) -> Result:
    """Run ``pixtab ARGS`` in process (arguments stringified, so Paths are fine).

    The exit status must be ``code`` (any status when None): the failure message holds the
    command line and its output. An exception is raised, not turned into exit status 1,
    unless ``catch_exceptions``. ``env`` sets (None: unsets) variables for the run only.
    """
    argv = [str(a) for a in args]
    result = CliRunner(env=env).invoke(cli, argv, input=input, catch_exceptions=catch_exceptions, **kw)  # type: ignore[arg-type]
    if code is not None and result.exit_code != code:
        raise AssertionError(
            f"pixtab {shlex.join(argv)}: exit status {result.exit_code}, expected {code}\n"
            f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
        )
    return result


def pixtab_cmd(*args: object) -> list[str]:
    """argv running the CLI the way the console script does (``python -m pixtab``)."""
    return [sys.executable, "-m", "pixtab", *(str(a) for a in args)]


def pixtab_env(env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The caller's environment without PIXTAB_DEBUG, with ``env`` set (None: unset)."""
    out = {k: v for k, v in os.environ.items() if k != "PIXTAB_DEBUG"}
    for name, value in (env or {}).items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def run_pixtab(
    *args: object,
    cwd: Path | str | None = REPO,
    env: Mapping[str, str | None] | None = None,
    timeout: float = 120,
    input: str | bytes | None = None,
    text: bool = True,
    code: int | None = None,
    **popen: object,
) -> subprocess.CompletedProcess:
    """Run ``python -m pixtab ARGS`` to its end and capture stdout and stderr.

    ``env`` changes the caller's environment (see :func:`pixtab_env`); ``stdout=``/``stderr=``
    and other ``subprocess.run`` keywords replace the defaults. The exit status must be
    ``code`` unless it is None (the default: most callers check it with the output).
    """
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    proc = subprocess.run(
        pixtab_cmd(*args), cwd=cwd, env=pixtab_env(env), timeout=timeout, input=input, text=text, **popen  # type: ignore[call-overload]
    )
    if code is not None and proc.returncode != code:
        raise AssertionError(
            f"pixtab {shlex.join(map(str, args))}: exit status {proc.returncode}, expected {code}\n"
            f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
        )
    return proc
