"""Fault catalogue, outputs: a failed or interrupted write leaves nothing behind.

Disk full and file-size limits, read-only directories, existing outputs,
SIGINT/SIGTERM in the middle of a write and concurrent writers. After each
fault: exit status as documented, one ``Error:`` line (or ``Interrupted.`` /
``Terminated.``), no output file, no ``.NAME.tmp-*`` file, inputs unchanged.
Interruptions are tested in real processes, because only ``main()`` (the
console script and ``python -m pixtab``) maps them to 130 and 143.
"""

from __future__ import annotations

import ctypes
import json
import errno
import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pixtab.cli import cli
from pixtab.core.fits.atomic import atomic_output, check_output
from pixtab.core.errors import OutputError

from helpers.cli import REPO, invoke, pixtab_cmd, run_pixtab
from helpers.faults import assert_one_line_error, sha256, temporaries

SIM = ["--nrows", "2e5", "--ifus", "1-4"]


@pytest.fixture(scope="module")
def refs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, str]:
    """sha256 of the table ``simulate OUT --seed S`` writes, for seeds 1 and 2."""
    d = tmp_path_factory.mktemp("refs")
    out = {}
    for seed in (1, 2):
        invoke("simulate", d / f"ref{seed}.fits", *SIM, "--seed", seed)
        out[seed] = sha256(d / f"ref{seed}.fits")
    assert out[1] != out[2]
    return out


def _valid_table(path: Path, rows: int = 200_000) -> None:
    result = invoke("info", "--get", "nrows", path, code=None)
    assert (result.exit_code, result.stdout) == (0, f"{rows}\n"), result.stderr


# -- disk full, file-size limit, write errors ------------------------------------------------------


def test_file_size_limit_in_a_real_process(tmp_path: Path) -> None:
    """RLIMIT_FSIZE below the table size: EFBIG (Python ignores SIGXFSZ), exit 1, nothing left."""
    out = tmp_path / "big.fits"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))

    proc = run_pixtab("simulate", out, *SIM, preexec_fn=limit)
    assert proc.returncode == 1, proc.stderr
    assert_one_line_error(proc.stdout, proc.stderr, out, "write failed: file size limit exceeded")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "code, reason",
    [(errno.ENOSPC, "no space left on device"), (errno.EDQUOT, "disk quota exceeded"), (errno.EIO, os.strerror(errno.EIO))],
)
@pytest.mark.parametrize("layout", ["image", "table"])
def test_write_error_mid_table(code: int, reason: str, layout: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails after some data went out (disk full mid-way): exit 1, no file, no temp."""
    real = os.pwrite
    big = {"n": 0, "failed": False}
    fail_at = 2 if layout == "image" else 1  # image: after the first column; table: the rows

    def failing_pwrite(fd: int, data: object, offset: int) -> int:
        if memoryview(data).nbytes > 100_000:  # type: ignore[arg-type]
            big["n"] += 1
            if big["n"] == fail_at:  # the headers (and for images one column) are on disk
                big["failed"] = True
                raise OSError(code, os.strerror(code))
        return real(fd, data, offset)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "pwrite", failing_pwrite)
    out = tmp_path / "full.fits"
    result = invoke("simulate", out, "--layout", layout, "--nrows", "3e5", "--exposures", "2", code=None)
    monkeypatch.setattr(os, "pwrite", real)
    assert big["failed"]
    assert result.exit_code == 1
    assert_one_line_error(result.stdout, result.stderr, out, f"write failed: {reason}")
    assert list(tmp_path.iterdir()) == []


def test_fsync_failure_is_a_write_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NFS and quotas often report ENOSPC only at fsync: still no output and no temp."""

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    out = tmp_path / "late.fits"
    result = invoke("simulate", out, "--nrows", "1000", code=1)
    assert_one_line_error(result.stdout, result.stderr, out, "write failed: no space left on device")
    assert list(tmp_path.iterdir()) == []


def _drop_dac_override() -> None:
    """In the child: drop the capabilities that let root ignore file permissions."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_read_only_output_directory(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    out = ro / "out.fits"
    try:
        preexec = _drop_dac_override if os.geteuid() == 0 else None
        try:
            proc = run_pixtab("simulate", out, "--nrows", "1000", preexec_fn=preexec)
        except subprocess.SubprocessError as exc:  # no CAP_SETPCAP: cannot make root obey modes
            pytest.skip(f"cannot drop root's file capabilities: {exc}")
        assert proc.returncode == 1, proc.stderr
        assert_one_line_error(proc.stdout, proc.stderr, out, f"directory {ro} is not writable")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def test_directory_removed_under_the_writer(tmp_path: Path) -> None:
    """mkstemp failing (directory gone between the check and the write) is one error line."""
    target = tmp_path / "gone" / "out.fits"
    with pytest.raises(OutputError) as exc:
        with atomic_output(target):
            pass
    assert str(exc.value).startswith(f"{target}: cannot create a file in {target.parent}: ")


# -- existing output, output equal to the input ------------------------------------------------------


def test_existing_output_needs_overwrite(tmp_path: Path, refs: dict[int, str]) -> None:
    out = tmp_path / "t.fits"
    invoke("simulate", out, *SIM, "--seed", "1")
    before = sha256(out)
    assert before == refs[1]
    result = invoke("simulate", out, *SIM, "--seed", "2", code=1)
    assert_one_line_error(result.stdout, result.stderr, out, "already exists (use --overwrite to replace it)")
    assert sha256(out) == before
    result = invoke("simulate", out, *SIM, "--seed", "2", "--overwrite")
    assert result.stderr == f"wrote {out} (200,000 rows, image layout, positioned)\n"
    assert sha256(out) == refs[2]
    assert temporaries(tmp_path) == []


def test_existing_output_in_a_real_process(tmp_path: Path) -> None:
    out = tmp_path / "t.fits"
    out.write_bytes(b"precious")
    proc = run_pixtab("simulate", out, "--nrows", "100")
    assert proc.returncode == 1
    assert_one_line_error(proc.stdout, proc.stderr, out, "--overwrite")
    assert out.read_bytes() == b"precious"


def test_output_in_missing_directory(tmp_path: Path) -> None:
    out = tmp_path / "missing" / "t.fits"
    result = invoke("simulate", out, "--nrows", "100", code=1)
    assert_one_line_error(result.stdout, result.stderr, out, f"directory {out.parent} does not exist")
    assert list(tmp_path.iterdir()) == []


def test_output_is_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    """click.Path(dir_okay=False) rejects it before any work: exit 2 naming OUTPUT."""
    result = invoke("simulate", tmp_path, "--nrows", "100", code=2)
    assert result.stdout == ""
    assert f"Invalid value for 'OUTPUT': File '{tmp_path}' is a directory." in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_output_equal_to_input_is_refused(tmp_path: Path) -> None:
    """check_output (used by every command with inputs) sees through '..', symlinks and hard links."""
    src = tmp_path / "in.fits"
    src.write_bytes(b"data")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.fits").symlink_to(src)
    os.link(src, tmp_path / "hard.fits")
    for out in (src, tmp_path / "sub" / ".." / "in.fits", tmp_path / "link.fits", tmp_path / "hard.fits"):
        for overwrite in (False, True):
            with pytest.raises(OutputError) as exc:
                check_output(out, [str(src)], overwrite)
            assert str(exc.value) == f"{out}: output is the same file as the input"
    assert src.read_bytes() == b"data"


# -- interruptions ---------------------------------------------------------------------------------


def _start_big_write(out: Path, argv: list[str] | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "PIXTAB_DEBUG"}
    return subprocess.Popen(
        pixtab_cmd(*(argv or ["simulate", str(out), "--nrows", "3e7"])),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )


def _wait_for_temporary(proc: subprocess.Popen[str], directory: Path, timeout: float = 60, then: float = 0.8) -> None:
    """Until the writer's temp file exists and has been written to for ``then`` seconds."""
    deadline = time.monotonic() + timeout
    while not temporaries(directory):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no temporary file appeared"
        time.sleep(0.01)
    time.sleep(then)
    assert proc.poll() is None, "the write finished before the signal: make it bigger"


@pytest.mark.parametrize(
    "sig, code, message",
    [
        (signal.SIGINT, 130, "Interrupted."),
        (signal.SIGTERM, 143, "Terminated."),
        (signal.SIGHUP, 129, "Hangup."),  # terminal closed, ssh dropped (issue 13 item 12)
        (signal.SIGQUIT, 131, "Quit."),
    ],
)
def test_signal_mid_write(sig: int, code: int, message: str, tmp_path: Path) -> None:
    out = tmp_path / "big.fits"
    proc = _start_big_write(out)
    try:
        _wait_for_temporary(proc, tmp_path)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, stderr
    assert stdout == ""
    # click ends the ^C line with a newline before main() reports the interruption.
    assert stderr == (f"\n{message}\n" if sig == signal.SIGINT else f"{message}\n")
    assert list(tmp_path.iterdir()) == []


def test_sigkill_leaves_only_a_hidden_temporary(tmp_path: Path) -> None:
    """Nothing can clean up after SIGKILL: the target never appears, only the hidden temp does."""
    out = tmp_path / "big.fits"
    proc = _start_big_write(out)
    try:
        _wait_for_temporary(proc, tmp_path)
        proc.kill()
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists()
    (leftover,) = temporaries(tmp_path)
    assert leftover.startswith(".big.fits.tmp-")


# -- concurrency -----------------------------------------------------------------------------------


def _race(out: Path, extra: list[str]) -> list[subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if k != "PIXTAB_DEBUG"}
    procs = [
        subprocess.Popen(
            pixtab_cmd("simulate", out, *SIM, "--seed", seed, *extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )
        for seed in (1, 2)
    ]
    done = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return done


def test_two_writers_without_overwrite_one_wins(tmp_path: Path, refs: dict[int, str]) -> None:
    out = tmp_path / "t.fits"
    a, b = _race(out, [])
    codes = sorted([a.returncode, b.returncode])
    assert codes == [0, 1], (a.stderr, b.stderr)
    winner, loser = (1, b) if a.returncode == 0 else (2, a)
    assert sha256(out) == refs[winner]
    assert_one_line_error(loser.stdout, loser.stderr, out, "already exists (use --overwrite to replace it)")
    _valid_table(out)
    assert temporaries(tmp_path) == []


def test_two_writers_with_overwrite_leave_one_whole_table(tmp_path: Path, refs: dict[int, str]) -> None:
    out = tmp_path / "t.fits"
    a, b = _race(out, ["--overwrite"])
    assert (a.returncode, b.returncode) == (0, 0), (a.stderr, b.stderr)
    assert sha256(out) in (refs[1], refs[2])
    _valid_table(out)
    assert temporaries(tmp_path) == []


# -- commands with inputs: the input is never touched ---------------------------------------------

WRITERS = {
    "extract": lambda src, out: ["extract", str(src), "-o", str(out), "--lambda", "5000:9000"],
    "convert": lambda src, out: ["convert", str(src), "-o", str(out)],
    "decode-origin": lambda src, out: ["decode-origin", str(src), "--format", "fits", "-o", str(out)],
    "reconstruct-det": lambda src, out: ["reconstruct-det", str(src), "-o", str(out), "--ifu", "1"],
}


def _command(name: str) -> None:
    if name not in cli.commands:
        pytest.skip(f"pixtab {name} is not registered")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """Read-only inputs and their checksums: 'small' (2e5 rows) and 'big' (3e6 rows, 84 MB)."""
    from helpers.faults import make_table

    d = tmp_path_factory.mktemp("inputs")
    out = {}
    for name, rows in (("small", 200_000), ("big", 3_000_000)):
        path = make_table(d / f"{name}.fits", rows=rows, ifus=[1, 2])
        path.chmod(0o444)
        out[name] = (path, sha256(path))
    return out


@pytest.mark.parametrize("command", list(WRITERS))
def test_output_equal_to_input_through_the_cli(command: str, inputs: dict, tmp_path: Path) -> None:
    _command(command)
    src, checksum = inputs["small"]
    for out in (src, src.parent / "." / src.name):
        for extra in ([], ["--overwrite"]):
            result = invoke(*WRITERS[command](src, out) + extra, code=1)
            assert_one_line_error(result.stdout, result.stderr, out, "output is the same file as the input")
    assert sha256(src) == checksum
    assert temporaries(src.parent) == []


@pytest.mark.parametrize("command", list(WRITERS))
def test_file_size_limit_with_an_input(command: str, inputs: dict, tmp_path: Path) -> None:
    _command(command)
    src, checksum = inputs["small"]
    out = tmp_path / "out.fits"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    proc = run_pixtab(*WRITERS[command](src, out), preexec_fn=limit)
    assert proc.returncode == 1, proc.stderr
    assert_one_line_error(proc.stdout, proc.stderr, out, "write failed: file size limit exceeded")
    assert list(tmp_path.iterdir()) == []
    assert sha256(src) == checksum


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("command", ["extract", "convert"])
def test_signal_mid_write_with_an_input(command: str, sig: int, code: int, inputs: dict, tmp_path: Path) -> None:
    _command(command)
    src, checksum = inputs["big"]
    out = tmp_path / "out.fits"
    proc = _start_big_write(out, WRITERS[command](src, out))
    try:
        _wait_for_temporary(proc, tmp_path, then=0.0)  # convert of 3e6 rows takes ~0.2 s
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, stderr
    assert stdout == ""
    assert stderr.strip() == ("Interrupted." if sig == signal.SIGINT else "Terminated.")
    assert list(tmp_path.iterdir()) == []
    assert sha256(src) == checksum


def test_two_extracts_from_one_input_agree(inputs: dict, tmp_path: Path) -> None:
    """Concurrent readers of one input: byte-identical outputs, equal to a lone run."""
    _command("extract")
    src, checksum = inputs["small"]
    env = {k: v for k, v in os.environ.items() if k != "PIXTAB_DEBUG"}
    outs = [tmp_path / "a.fits", tmp_path / "b.fits"]
    procs = [
        subprocess.Popen(pixtab_cmd(*WRITERS["extract"](src, o)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=env)
        for o in outs
    ]
    for p in procs:
        p.communicate(timeout=120)
        assert p.returncode == 0
    alone = tmp_path / "alone.fits"
    invoke(*WRITERS["extract"](src, alone))
    assert sha256(outs[0]) == sha256(outs[1]) == sha256(alone)
    assert sha256(src) == checksum
    assert temporaries(tmp_path) == []


def test_two_extracts_to_one_output_one_wins(inputs: dict, tmp_path: Path) -> None:
    _command("extract")
    src, _ = inputs["small"]
    out = tmp_path / "out.fits"
    env = {k: v for k, v in os.environ.items() if k != "PIXTAB_DEBUG"}
    argvs = [["extract", str(src), "-o", str(out), "--ifu", str(i)] for i in (1, 2)]
    procs = [subprocess.Popen(pixtab_cmd(*a), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env) for a in argvs]
    results = [(p, *p.communicate(timeout=120)) for p in procs]
    assert sorted(p.returncode for p, _, _ in results) == [0, 1]
    winner = next(i for i, (p, _, _) in enumerate(results, 1) if p.returncode == 0)
    loser = next(r for r in results if r[0].returncode == 1)
    assert_one_line_error(loser[1], loser[2], out, "already exists (use --overwrite to replace it)")
    got = invoke("info", "--json", "--stats", out)
    assert list(json.loads(got.stdout)["stats"]["ifus"]) == [str(winner)]
    assert temporaries(tmp_path) == []
