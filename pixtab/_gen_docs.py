"""Generate the man pages and shell completion scripts from the click app.

Usage::

    python -m pixtab._gen_docs            # rewrite man/ and completions/ in the repository
    python -m pixtab._gen_docs --check    # exit 1 when the committed files are stale
    python -m pixtab._gen_docs --root DIR # write into DIR/man and DIR/completions

Output is deterministic: a fixed date (``pixtab.__date__``) and the package
version. A click or click-man upgrade may change the output; then regenerate
and commit. Help texts are made troff-safe (``\\-`` for hyphens so commands
copy-paste, ``\\b`` blocks kept verbatim) and each command's epilog becomes
sections such as EXIT STATUS.

click-man is a test/dev dependency, not a runtime one.
"""

from __future__ import annotations

import argparse
import difflib
import inspect
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version as dist_version
from pathlib import Path

import click

import pixtab

PROG = "pixtab"
COMPLETE_VAR = "_PIXTAB_COMPLETE"
SHELLS = ("bash", "zsh", "fish")
FIX_COMMAND = "python -m pixtab._gen_docs"
REPO = Path(__file__).resolve().parents[1]


def tool_versions() -> str:
    """The generator versions (named when the committed files are stale)."""
    return f"click {dist_version('click')}, click-man {dist_version('click-man')}"


def _escape(line: str) -> str:
    """One line of help text as troff text (no requests, literal backslashes and hyphens)."""
    line = line.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + line if line.startswith((".", "'")) else line


def help_to_troff(text: str) -> str:
    """click help text -> troff body; ``\\b`` paragraphs become no-fill blocks."""
    out: list[str] = []
    for para in inspect.cleandoc(text).partition("\f")[0].split("\n\n"):
        lines = para.split("\n")
        if lines[0].strip() == "\b":
            out.append("\n".join([".nf", *map(_escape, lines[1:]), ".fi"]))
        else:
            out.append("\n".join(map(_escape, lines)))
    return "\n\n".join(out)


def epilog_to_troff(text: str) -> str:
    """An epilog as man sections: a verbatim block headed ``Title:`` becomes ``.SH TITLE``.

    Other paragraphs go to a NOTES section.
    """
    out: list[str] = []
    section = None
    for para in inspect.cleandoc(text).partition("\f")[0].split("\n\n"):
        lines = para.split("\n")
        if lines[0].strip() == "\b" and len(lines) > 1 and lines[1].endswith(":") and not lines[1][0].isspace():
            section = lines[1][:-1].upper()
            out += [f'.SH "{section}"', ".nf", *map(_escape, (ln[2:] if ln.startswith("  ") else ln for ln in lines[2:])), ".fi"]
            continue
        if section != "NOTES":
            section = "NOTES"
            out.append(".SH NOTES")
        else:
            out.append(".PP")
        out.append(help_to_troff(para))
    return "\n".join(out) + "\n"


def first_sentence(help_text: str) -> str:
    """The first sentence of a help text (the man page NAME line)."""
    para = " ".join(inspect.cleandoc(help_text).split("\n\n")[0].split())
    end = para.find(". ")
    return para if end < 0 else para[: end + 1]


def _walk(cmd: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    if cmd.hidden:
        return
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _walk(sub, f"{path}-{name}")


@contextmanager
def _troff_help(root: click.Command) -> Iterator[None]:
    """Temporarily replace help texts by their troff form (click-man copies them verbatim)."""
    saved: list[tuple[object, str, object]] = []
    try:
        for _, cmd in _walk(root, PROG):
            original = cmd.help
            saved += [(cmd, "help", original), (cmd, "short_help", cmd.short_help)]
            if original:
                # click-man takes the NAME line from the help; derive it from the plain text.
                cmd.short_help = _escape(cmd.short_help or first_sentence(original))
                cmd.help = help_to_troff(original)
            for param in cmd.params:
                if isinstance(param, click.Option) and param.help:
                    saved.append((param, "help", param.help))
                    param.help = _escape(param.help)
        yield
    finally:
        for obj, attr, value in reversed(saved):
            setattr(obj, attr, value)


def write_man(cli: click.Command, target: Path) -> list[Path]:
    """Write ``pixtab.1`` and ``pixtab-COMMAND.1`` into ``target``; return the files."""
    from click_man.core import write_man_pages

    target.mkdir(parents=True, exist_ok=True)
    with _troff_help(cli):
        write_man_pages(PROG, cli, version=pixtab.__version__, target_dir=str(target), date=pixtab.__date__)
    files = []
    for path, cmd in _walk(cli, PROG):
        page = target / f"{path}.1"
        body = _title_line(page.read_text(encoding="utf-8"), path)
        if cmd.epilog:
            body += epilog_to_troff(cmd.epilog)
        header = f'.\\" Generated by {FIX_COMMAND}; do not edit.\n'
        page.write_text(header + body, encoding="utf-8")
        files.append(page)
    return files


def _title_line(body: str, path: str) -> str:
    """The .TH line as man-pages(7) has it: the page name (PIXTAB-EXTRACT), one short manual
    name for every page, so that man's 80-column title line is never cut."""
    lines = body.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(".TH "):
            lines[i] = f'.TH "{path.upper()}" "1" "{pixtab.__date__}" "{PROG} {pixtab.__version__}" "{PROG} Manual"'
            break
    return "\n".join(lines)


def write_completions(cli: click.Command, target: Path) -> list[Path]:
    """Write ``pixtab.bash``, ``pixtab.zsh`` and ``pixtab.fish`` into ``target``."""
    from click.shell_completion import get_completion_class

    target.mkdir(parents=True, exist_ok=True)
    files = []
    for shell in SHELLS:
        cls = get_completion_class(shell)
        assert cls is not None, shell
        source = cls(cli, {}, PROG, COMPLETE_VAR).source().rstrip("\n") + "\n"
        header = f"# Generated by {FIX_COMMAND}; do not edit.\n"
        first, _, rest = source.partition("\n")
        # zsh autoloading needs "#compdef" on the first line.
        source = f"{first}\n{header}{rest}" if first.startswith("#compdef") else header + source
        page = target / f"{PROG}.{shell}"
        page.write_text(source, encoding="utf-8")
        files.append(page)
    return files


def generate(root: Path) -> list[Path]:
    """Write ``root/man`` and ``root/completions``, removing stale pixtab pages; return the files."""
    from pixtab.cli import cli

    files = write_man(cli, root / "man") + write_completions(cli, root / "completions")
    for old in (root / "man").glob(f"{PROG}*.1"):
        if old not in files:
            old.unlink()
    return files


def stale_files(root: Path) -> list[str]:
    """Files under ``root`` that differ from a fresh generation (missing, changed or extra)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {p.relative_to(tmp).as_posix(): p.read_text(encoding="utf-8") for p in generate(Path(tmp))}
    committed = {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in [*(root / "man").glob(f"{PROG}*.1"), *(root / "completions").glob(f"{PROG}.*")]
    }
    names = sorted(set(fresh) | set(committed))
    return [n for n in names if fresh.get(n) != committed.get(n)]


def diff(root: Path, name: str) -> str:
    """Unified diff between the committed file and a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        new = Path(tmp, name)
        new_lines = new.read_text(encoding="utf-8").splitlines(keepends=True) if new.exists() else []
    old = root / name
    old_lines = old.read_text(encoding="utf-8").splitlines(keepends=True) if old.exists() else []
    return "".join(difflib.unified_diff(old_lines, new_lines, f"committed/{name}", f"generated/{name}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=FIX_COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the files in ROOT; exit 1 if stale")
    parser.add_argument("--root", type=Path, default=REPO, help="directory holding man/ and completions/")
    args = parser.parse_args(argv)
    if not (args.root / "pyproject.toml").exists() and not (args.root / "man").is_dir():
        parser.error(f"{args.root} is not the pixtab repository; pass --root")
    if args.check:
        stale = stale_files(args.root)
        if stale:
            print(f"out of date: {', '.join(stale)} (generated with {tool_versions()})", file=sys.stderr)
            print(f"run: {FIX_COMMAND}   then commit man/ and completions/", file=sys.stderr)
            return 1
        print("man pages and completions are up to date", file=sys.stderr)
        return 0
    for path in generate(args.root):
        print(path, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
