"""cli/process.py: the process around a run. Here: a command asks glibc to keep the memory it
frees for its next arrays (signals, exit statuses and the standard descriptors are tested in
test_shell.py; the page faults this saves are measured in benchmarks, see the README)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pixtab.cli import cli, process


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_glibc_takes_the_settings() -> None:
    code = "from pixtab.cli.process import keep_freed_memory; print(keep_freed_memory())"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "True", (run.stdout, run.stderr)


def test_every_run_asks_for_it(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[int] = []
    monkeypatch.setattr(process, "keep_freed_memory", lambda: calls.append(1) or True)
    with pytest.raises(SystemExit) as stop:
        process.run(cli, ["--version"])
    assert stop.value.code == 0 and calls == [1]
