"""``extract --catalog``: one output per source, byte-identical to one extract per source."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.cli import invoke


RA0, DEC0 = 150.1163, 2.2058  # simulate's default pointing


def single(table: Path, out: Path, shape: str, ra: float, dec: float, size: float, *criteria: str) -> bytes | None:
    r = invoke("extract", table, "-o", out, f"--{shape}", repr(ra), repr(dec), repr(size), *criteria, "--overwrite", code=None)
    return out.read_bytes() if r.exit_code == 0 else None


def write_catalog(path: Path, rows: list[tuple], header: str = "id,ra,dec,radius,halfside") -> Path:
    lines = [header] + [",".join("" if v is None else (v if isinstance(v, str) else repr(v)) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


SOURCES = [  # id, ra, dec, radius, halfside: two overlapping, one square, one off the field
    ("a", RA0, DEC0, 2.0, None),
    ("b", RA0 + 1.0 / 3600, DEC0 + 0.5 / 3600, 2.0, None),
    ("sq", RA0 - 8.0 / 3600, DEC0 - 6.0 / 3600, None, 3.0),
    ("far", RA0 + 1.0, DEC0, 2.0, None),
]


@pytest.mark.parametrize(
    "table_kw, criteria",
    [
        ({}, ["--lambda", "5000:7000"]),
        ({}, []),
        ({"layout": "table"}, ["--lambda", "6000:8000", "--ifu", "10-14"]),
        ({"wcs": "projected"}, ["--lambda", "5000:9000"]),
        ({"exposures": 3, "rows": 60_000}, ["--exp", "2,3"]),
        ({}, ["--lambda", "5000:5100", "--or"]),
    ],
)
def test_outputs_identical_to_one_extract_per_source(simulated, tmp_path: Path, table_kw: dict, criteria: list[str]) -> None:
    table = simulated(rows=table_kw.pop("rows", 200_000), **table_kw)
    cat = write_catalog(tmp_path / "cat.csv", SOURCES)
    invoke("extract", table, "--catalog", cat, "--output-dir", tmp_path / "out", *criteria, "--allow-empty")
    stem = table.name[: -len(".fits")]
    for sid, ra, dec, radius, halfside in SOURCES:
        shape, size = ("circle", radius) if radius else ("square", halfside)
        expected = single(table, tmp_path / f"single_{sid}.fits", shape, ra, dec, size, *criteria, "--allow-empty")
        assert expected is not None
        assert (tmp_path / "out" / f"{sid}_{stem}.fits").read_bytes() == expected, sid


def test_empty_sources_are_summarised_and_skipped(simulated, tmp_path: Path) -> None:
    table = simulated(rows=100_000)
    cat = write_catalog(tmp_path / "cat.csv", SOURCES)
    r = invoke("extract", table, "--catalog", cat, "--output-dir", tmp_path / "out", "--json")
    assert "1 of 4 sources select no row (far)" in r.stderr
    written = [json.loads(line) for line in r.stdout.splitlines()]
    assert [d["id"] for d in written] == ["a", "b", "sq"] and all(d["selected"] > 0 for d in written)
    assert sorted(os.listdir(tmp_path / "out")) == sorted(Path(d["output"]).name for d in written)
    only_far = write_catalog(tmp_path / "far.csv", SOURCES[3:])
    r = invoke("extract", table, "--catalog", only_far, "--output-dir", tmp_path / "out2", code=1)
    assert "no source selects any row" in r.stderr


def test_count_and_stdin_with_default_radius(simulated) -> None:
    table = simulated(rows=100_000)
    text = "id,ra,dec,peak,fwhm_guess\n1,%r,%r,10,0.8\n2,%r,%r,5,0.8\n" % (RA0, DEC0, RA0 + 1e-3, DEC0)
    r = invoke("extract", table, "--catalog", "-", "--radius", "1.5arcsec", "--count", input=text)
    counts = dict(line.split(": ") for line in r.stdout.splitlines())
    for sid, ra in (("1", RA0), ("2", RA0 + 1e-3)):
        one = invoke("extract", table, "--count", "--circle", repr(ra), repr(DEC0), "1.5")
        assert counts[sid] == one.stdout.strip()


@pytest.mark.parametrize(
    "extra, input, message",
    [
        (["--output-dir", "o"], "id,ra,dec\nx,1\n", "line 2: 2 fields where the header has 3"),
        (["--output-dir", "o", "--radius", "2"], "id,ra,dec\nx,1,2\nx,1,2\n", "line 3: id 'x' already on line 2"),
        (["-o", "x.fits", "--radius", "2"], "id,ra,dec\nx,1,2\n", "use --output-dir, not -o"),
        (["--output-dir", "o", "--radius", "2", "--circle", "1", "2", "3"], "id,ra,dec\nx,1,2\n", "drop --circle/--square"),
        (["--output-dir", "o", "--radius", "2", "--name", "{stem}.fits"], "id,ra,dec\nx,1,2\n", "has no {id}"),
        (["--output-dir", "o", "--radius", "-1"], "id,ra,dec\nx,1,2\n", "not a positive size"),
        (["--output-dir", "o", "--radius", "2", "--jobs", "2"], "id,ra,dec\nx,1,2\n", "cannot feed --jobs"),
    ],
)
def test_usage_errors(simulated, extra: list[str], input: str, message: str) -> None:
    table = simulated(rows=20_000)
    inputs = (table, table) if "--jobs" in extra else (table,)
    r = invoke("extract", *inputs, "--catalog", "-", *extra, input=input, code=2)
    assert message in r.stderr


def test_radius_without_catalog_is_a_usage_error(simulated) -> None:
    r = invoke("extract", simulated(rows=20_000), "--count", "--radius", "2", code=2)
    assert "--radius is the default radius of --catalog" in r.stderr


@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.floats(-25, 25), st.floats(-25, 25), st.floats(0.3, 6), st.booleans()), min_size=1, max_size=6
    ),
    st.sampled_from([[], ["--lambda", "5500:6500"], ["--slice", "1-20"]]),
    st.sampled_from([("projected", RA0), ("positioned", RA0), ("positioned", 0.002)]),  # 0.002: across RA = 0
)
def test_random_catalogues_match_single_extracts(simulated, tmp_path_factory, offsets, criteria, frame) -> None:
    """Random sources (arcsec offsets from the centre, circles or squares, overlapping or not)."""
    wcs, ra0 = frame
    table = simulated(rows=150_000, wcs=wcs, ra=ra0)
    d = tmp_path_factory.mktemp("cat")
    cosd = math.cos(math.radians(DEC0))
    rows = [
        (f"s{k}", (ra0 + dx / 3600 / cosd) % 360, DEC0 + dy / 3600, None if square else size, size if square else None)
        for k, (dx, dy, size, square) in enumerate(offsets)
    ]
    cat = write_catalog(d / "cat.csv", rows)
    invoke("extract", table, "--catalog", cat, "--output-dir", d / "out", "--allow-empty", *criteria)
    for sid, ra, dec, radius, halfside in rows:
        shape, size = ("circle", radius) if radius else ("square", halfside)
        expected = single(table, d / "one.fits", shape, ra, dec, size, "--allow-empty", *criteria)
        assert (d / "out" / f"{sid}_{table.name[:-5]}.fits").read_bytes() == expected, sid


def test_peaks_pipe_into_catalog(tmp_path: Path) -> None:
    """The issue's pipeline, as a shell runs it: image --peaks | extract --catalog -."""
    import shlex
    import subprocess
    import sys

    px = f"{shlex.quote(sys.executable)} -m pixtab"
    src = " ".join(f"--source {ra!r} {dec!r} 0.8 3000" for ra, dec in ((RA0, DEC0), (RA0 + 4e-3, DEC0 - 1.5e-3)))
    script = (
        f"set -e; {px} -q simulate t.fits --nrows 4e5 --ifus 9-16 {src}; "
        f"{px} image t.fits --peaks 2 | {px} extract t.fits --catalog - --radius 2arcsec --output-dir stars --json"
    )
    r = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    written = [json.loads(line) for line in r.stdout.splitlines()]
    assert [d["id"] for d in written] == ["1", "2"] and all(d["selected"] > 100 for d in written)
    assert sorted(os.listdir(tmp_path / "stars")) == ["1_t.fits", "2_t.fits"]
