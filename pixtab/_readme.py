"""Run the README's checked examples and compare what they print with what the README shows.

Usage::

    python -m pixtab._readme --check    # exit 1, with a diff, when a printed output drifted
    python -m pixtab._readme            # rewrite the outputs in README.md (and the pictures)
    python -m pixtab._readme --keep DIR # run in DIR and leave the files there (to look at them)

A fenced block is checked when the line before it is an HTML comment (invisible on GitHub)::

    <!-- readme-check: tutorial -->

Blocks of one name (here ``tutorial``) run in order in ONE bash session, in an empty
directory, so variables set by one command are seen by the next. In a checked block a line
``$ CMD`` (continued by lines after a trailing backslash) is a command; the lines up to the
next command are what it prints: its standard output, then its standard error. A command
must exit 0. ``<!-- readme-check: NAME setup -->`` marks a block (a README set-up line) whose
``pixtab ...`` commands run first, unchecked. ``pictures=OUT:DOCS,...`` in the comment copies
the picture OUT that the commands made to DOCS (in the repository) on a rewrite.

The commands find ``pixtab`` on PATH as this checkout's (``python -m pixtab``).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
FIX_COMMAND = "python -m pixtab._readme"
MARK = re.compile(r"^<!-- readme-check: (?P<name>[\w-]+)(?P<setup> setup)?(?: pictures=(?P<pics>\S+))? -->$")
FENCE = re.compile(r"^```")
SETUP_COMMAND = re.compile(r"(?:^|&&\s*)(?:\.venv/bin/)?(pixtab [^&]*?)\s*(?=&&|$)")


@dataclass
class Command:
    text: str  # the command as a shell reads it (continuations joined)
    expected: list[str]  # the printed lines the README shows
    line: int  # index in the README of the first line of its output (where a rewrite puts it)
    end: int  # index after its last output line


@dataclass
class Session:
    name: str
    setup: list[str] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    pictures: dict[str, str] = field(default_factory=dict)


def parse(lines: list[str]) -> dict[str, Session]:
    """The checked sessions of a README, by name, in order of appearance."""
    sessions: dict[str, Session] = {}
    i = 0
    while i < len(lines):
        m = MARK.match(lines[i])
        if not m or i + 1 >= len(lines) or not FENCE.match(lines[i + 1]):
            i += 1
            continue
        s = sessions.setdefault(m["name"], Session(m["name"]))
        for pair in (m["pics"] or "").split(","):
            if pair:
                out, docs = pair.split(":")
                s.pictures[out] = docs
        j = i + 2
        while not FENCE.match(lines[j]):
            j += 1
        body = range(i + 2, j)
        if m["setup"]:
            s.setup += [c for k in body for c in SETUP_COMMAND.findall(lines[k])]
        else:
            s.commands += _commands(lines, i + 2, j)
        i = j + 1
    return sessions


def _commands(lines: list[str], start: int, stop: int) -> list[Command]:
    out: list[Command] = []
    k = start
    while k < stop:
        if not lines[k].startswith("$ "):
            raise ValueError(f"README.md:{k + 1}: a checked block holds `$ command` lines and their output")
        text = lines[k][2:]
        while text.endswith("\\"):
            k += 1
            text = text[:-1] + lines[k].strip()
        first = k = k + 1
        while k < stop and not lines[k].startswith("$ "):
            k += 1
        out.append(Command(text, lines[first:k], first, k))
    return out


def _script(session: Session, outdir: Path) -> str:
    """One bash script: each command in the current shell (variables carry over), its
    stdout, stderr and status in files numbered as the commands."""
    parts = ["set -o pipefail"]
    parts += [f"{c} >/dev/null 2>&1 || exit 99" for c in session.setup]
    for n, c in enumerate(session.commands):
        o = shlex.quote(str(outdir / str(n)))
        parts.append(f"{{ {c.text}\n}} >{o}.out 2>{o}.err; echo $? >{o}.rc")
    return "\n".join(parts) + "\n"


def run(session: Session, workdir: Path) -> list[list[str]]:
    """Run a session in workdir; what each command printed (stdout then stderr lines)."""
    bindir, outdir = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    try:
        wrapper = bindir / "pixtab"
        wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m pixtab "$@"\n')
        wrapper.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIXTAB_", "_PIXTAB"))}
        env.update(PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(REPO), COLUMNS="100", LC_ALL="C.UTF-8")
        r = subprocess.run(["bash", "-c", _script(session, outdir)], cwd=workdir, env=env, capture_output=True, text=True)
        if r.returncode == 99:
            raise RuntimeError(f"{session.name}: a set-up command failed: {session.setup}")
        printed = []
        for n, c in enumerate(session.commands):
            rc = (outdir / f"{n}.rc").read_text().strip()
            if rc != "0":
                err = (outdir / f"{n}.err").read_text().strip()
                raise RuntimeError(f"{session.name}: `{c.text}` exited {rc}: {err}")
            text = (outdir / f"{n}.out").read_text() + (outdir / f"{n}.err").read_text()
            printed.append(text.splitlines())
        return printed
    finally:
        shutil.rmtree(bindir)
        shutil.rmtree(outdir)


def check(lines: list[str], sessions: dict[str, Session], workdir: Path) -> tuple[list[str], list[str]]:
    """Run every session; the README with the outputs printed now, and a diff per drift."""
    new, drift = list(lines), []
    edits: list[tuple[int, int, list[str]]] = []
    for s in sessions.values():
        where = workdir / s.name
        where.mkdir()
        for c, printed in zip(s.commands, run(s, where)):
            if printed != c.expected:
                diff = difflib.unified_diff(c.expected, printed, "README.md", "printed now", lineterm="", n=1)
                drift.append(f"$ {c.text}\n" + "\n".join(diff))
                edits.append((c.line, c.end, printed))
    for start, end, printed in sorted(edits, reverse=True):
        new[start:end] = printed
    return new, drift


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=FIX_COMMAND, description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 on a drift")
    ap.add_argument("--keep", type=Path, metavar="DIR", help="run in DIR (created) and keep the files made there")
    args = ap.parse_args(argv)
    lines = README.read_text().splitlines()
    sessions = parse(lines)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="pixtab-readme-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        new, drift = check(lines, sessions, workdir)
        if args.check:
            for d in drift:
                print(d, file=sys.stderr)
            if drift:
                print(f"README.md: {len(drift)} printed output(s) differ; run `{FIX_COMMAND}` and commit", file=sys.stderr)
            return 1 if drift else 0
        if drift:
            README.write_text("\n".join(new) + "\n")
        for s in sessions.values():
            for out, docs in s.pictures.items():
                shutil.copyfile(workdir / s.name / out, REPO / docs)
        print(f"README.md: {len(drift)} output(s) rewritten, {sum(len(s.pictures) for s in sessions.values())} picture(s) copied", file=sys.stderr)
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(workdir)


if __name__ == "__main__":
    sys.exit(main())
