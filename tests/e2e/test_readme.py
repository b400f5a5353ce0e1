"""The README's checked examples print what the README shows (pixtab._readme)."""

from __future__ import annotations

import subprocess
import sys

from pixtab import _readme

BLOCK = """intro
<!-- readme-check: demo setup -->
```sh
python3 -m venv .venv && .venv/bin/pixtab simulate a.fits --nrows 10 && .venv/bin/pixtab info a.fits
```
<!-- readme-check: demo pictures=p.png:docs/p.png -->
```sh
$ x=1; echo $x \\
    two
1 two
$ echo quiet
quiet
```
```sh
$ not checked
```
""".splitlines()


def test_parse_reads_commands_outputs_setup_and_pictures() -> None:
    s = _readme.parse(BLOCK)["demo"]
    assert s.setup == ["pixtab simulate a.fits --nrows 10", "pixtab info a.fits"]
    assert [(c.text, c.expected) for c in s.commands] == [("x=1; echo $x two", ["1 two"]), ("echo quiet", ["quiet"])]
    assert s.pictures == {"p.png": "docs/p.png"}
    assert [BLOCK[c.line] for c in s.commands] == ["1 two", "quiet"]


def test_a_drift_is_reported_and_rewritten(tmp_path) -> None:
    lines = [line.replace("quiet", "loud") if line == "quiet" else line for line in BLOCK]
    session = _readme.parse(lines)["demo"]
    session.setup = []
    new, drift = _readme.check(lines, {"demo": session}, tmp_path)
    assert len(drift) == 1 and "-loud" in drift[0] and "+quiet" in drift[0]
    assert new == [line for line in BLOCK]


def test_readme_prints_what_it_shows() -> None:
    """Every `$` command of every checked block of README.md (the tutorial) is run right after
    the set-up command, and its output must be the README's: a changed number fails here."""
    r = subprocess.run([sys.executable, "-m", "pixtab._readme", "--check"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
