"""Byte identity: every command's output on every conformance table, pinned by sha256.

The hashes in ``golden_bytes.json`` were recorded from main *before* the issue-12
core consolidation (commit 2596e35); a refactor must not change a single output
byte. Regenerate only for an intended output change::

    PIXTAB_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/conformance/test_golden_bytes.py -q

What is hashed (all runs in-process through the click CLI):

- ``info --json``: the JSON line with the ``path`` key removed (it is the only
  part that depends on where the conformance set lives); everything else,
  ``size`` included, is hashed as printed.
- ``extract``: the whole output file, for every conformance extract case in both
  output layouts (cases with an empty selection: the exit status and the
  absence of a file). Outputs carry no timestamp or path.
- ``decode-origin``: stdout of csv (1-based), csv ``--zero-based --sky`` (tables
  with sky coordinates), tsv ``--with data,lambda --rows 100:5000``, and the whole
  ``--format fits`` file.
- ``reconstruct-det``: the whole file, ``--all-ifus`` (per exposure on combined
  tables) and each conformance reconstruct case (with its pre-extraction).
- ``convert``: the whole file, to the other layout and back again.
- ``simulate``: the whole file for two small specs (both layouts).

Skipped, with the reason, when the conformance set is absent.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from conftest import CONFORMANCE, CONFORMANCE_MISSING, IN_CI
from helpers.cli import invoke

GOLDEN = Path(__file__).with_name("golden_bytes.json")
REGEN = os.environ.get("PIXTAB_REGEN_GOLDEN") == "1"

if CONFORMANCE_MISSING is not None:
    if IN_CI:  # CI must run these: a missing set is a failure there
        pytest.fail(f"{CONFORMANCE_MISSING} (CI=true: the conformance cases must run)", pytrace=False)
    pytest.skip(CONFORMANCE_MISSING, allow_module_level=True)

CASES = json.loads((CONFORMANCE / "cases.json").read_text())
FILES = {k: CONFORMANCE / v["path"] for k, v in CASES["files"].items()}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha(path: Path) -> str:
    return _sha(path.read_bytes())


def _run(args: list[str]) -> tuple[int, bytes]:
    result = invoke(*args, code=None)
    return result.exit_code, result.stdout_bytes


def _criteria_args(criteria: dict) -> list[str]:
    args: list[str] = []
    for dec, ra, size, shape in criteria.get("sky", []):
        args += ["--circle" if shape == "C" else "--square", repr(ra), repr(dec), repr(size)]
    for lo, hi in criteria.get("lbda", []):
        args += ["--lambda", f"{lo!r}:{hi!r}"]
    for key, opt in (("ifu", "--ifu"), ("sl", "--slice"), ("stack", "--stack"), ("exp", "--exp")):
        if key in criteria:
            args += [opt, ",".join(str(v) for v in criteria[key])]
    for key in ("xpix", "ypix"):
        for lo, hi in criteria.get(key, []):
            args += [f"--{key}", f"{lo}:{hi}"]
    if criteria.get("method", "and") == "or":
        args.append("--or")
    return args


def _exposures(key: str) -> list[int]:
    info = next(c for c in CASES["info"] if c["file"] == key)
    combined = info["expected"].get("combined")
    return list(range(1, combined + 1)) if combined else []


def _outputs(tmp: Path) -> dict[str, str]:
    """name -> sha256 (or an exit status) of every pinned output."""
    got: dict[str, str] = {}
    for key, src in FILES.items():
        code, out = _run(["info", src, "--json"])
        assert code == 0
        d = json.loads(out)
        d.pop("path")
        got[f"info/{key}"] = _sha(json.dumps(d, sort_keys=True).encode())

        code, out = _run(["decode-origin", src])
        assert code == 0
        got[f"decode/{key}/csv"] = _sha(out)
        if next(c for c in CASES["info"] if c["file"] == key)["expected"]["wcs"] is not None:
            code, out = _run(["decode-origin", src, "--zero-based", "--sky"])
            assert code == 0
            got[f"decode/{key}/csv-sky"] = _sha(out)
        code, out = _run(["decode-origin", src, "--format", "tsv", "--with", "data,lambda", "--rows", "100:5000"])
        assert code == 0
        got[f"decode/{key}/tsv-with"] = _sha(out)
        dst = tmp / f"decode-{key}.fits"
        assert _run(["decode-origin", src, "--format", "fits", "-o", dst])[0] == 0
        got[f"decode/{key}/fits"] = _file_sha(dst)

        for exp in _exposures(key) or [None]:
            dst = tmp / f"det-{key}-{exp}.fits"
            args = ["reconstruct-det", src, "-o", dst, "--all-ifus"] + (["--exp", str(exp)] if exp else [])
            assert _run(args)[0] == 0
            got[f"reconstruct/{key}/all-ifus/exp{exp}"] = _file_sha(dst)
            dst.unlink()

        there = tmp / f"conv-{key}.fits"
        back = tmp / f"back-{key}.fits"
        assert _run(["convert", src, "-o", there])[0] == 0
        assert _run(["convert", there, "-o", back])[0] == 0
        got[f"convert/{key}/other"] = _file_sha(there)
        got[f"convert/{key}/back"] = _file_sha(back)
        there.unlink()
        back.unlink()

    for case in CASES["extract"]:
        for layout in ("image", "table"):
            dst = tmp / f"x-{case['id']}-{layout}.fits"
            args = ["extract", FILES[case["file"]], "-o", dst, "--zero-based", "--layout", layout]
            code, _ = _run(args + _criteria_args(case["criteria"]))
            name = f"extract/{case['id']}/{layout}"
            got[name] = _file_sha(dst) if code == 0 else f"exit {code}, exists {dst.exists()}"
            if dst.exists():
                dst.unlink()

    for case in CASES["reconstruct_det"]:
        src = FILES[case["file"]]
        if case["pre_extract"]:
            pre = tmp / "pre.fits"
            args = ["extract", src, "-o", pre, "--zero-based", "--overwrite"] + _criteria_args(case["pre_extract"])
            assert _run(args)[0] == 0
            src = pre
        dst = tmp / f"r-{case['id']}.fits"
        args = ["reconstruct-det", src, "-o", dst, "--zero-based"]
        args += ["--column", "lambda", "--fill", "0"] if case["kind"] == "wave" else ["--column", "data"]
        if case["window"]:
            w = case["window"]
            args += ["--xpix", f"{w['xstart']}:{w['xstop'] + 1}", "--ypix", f"{w['ystart']}:{w['ystop'] + 1}"]
        code, _ = _run(args)
        got[f"reconstruct/{case['id']}"] = _file_sha(dst) if code == 0 else f"exit {code}, exists {dst.exists()}"

    for spec in (["--rows", "5000", "--exposures", "2", "--ifus", "3,4"], ["--rows", "3000", "--layout", "table", "--wcs", "projected", "--flat-field"]):
        dst = tmp / "sim.fits"
        assert _run(["simulate", dst, "--overwrite", *spec])[0] == 0
        got["simulate/" + " ".join(spec)] = _file_sha(dst)
    return got


def test_outputs_are_byte_identical(tmp_path: Path) -> None:
    got = _outputs(tmp_path)
    if REGEN:
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert sorted(got) == sorted(want)
    differ = [name for name in want if got[name] != want[name]]
    assert not differ, f"{len(differ)} outputs changed: {differ[:10]}"
