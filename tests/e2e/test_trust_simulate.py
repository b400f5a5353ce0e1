"""Issue 13 item 2: simulated tables have no holes in wavelength; the README's first command works."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

import pixtab
from pixtab.core.format import origin as org

from helpers.cli import run_pixtab

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("rows", [1_000_000, 200_000])
def test_every_100A_window_has_rows_in_most_slices(simulated, rows: int) -> None:
    with pixtab.open(simulated(rows=rows)) as pt:
        d = pt.read(["lambda", "origin"])
    lam, o = d["lambda"], d["origin"]
    slice_id = org.get_ifu(o).astype(np.int64) * 64 + org.get_slice(o)
    n_slices = len(np.unique(slice_id))
    assert n_slices == 24 * 48
    worst = 1.0
    for lo in range(4800, 9300, 100):
        inside = (lam >= lo) & (lam < lo + 100)
        worst = min(worst, len(np.unique(slice_id[inside])) / n_slices)
    assert worst >= (0.9 if rows == 1_000_000 else 0.5), worst


def test_each_slice_spans_the_ccd_with_distinct_pixels(simulated) -> None:
    with pixtab.open(simulated(rows=300_000, ifus=[4, 5])) as pt:
        o = pt.read(["origin"])["origin"]
    slc, y, x = org.get_ifu(o) * 64 + org.get_slice(o), org.get_y(o), org.get_xslice(o)
    for s in np.unique(slc):
        ys = y[slc == s]
        assert ys.min() < 60 and ys.max() > 4112 - 60  # the whole wavelength range
        assert np.diff(np.unique(ys)).max() <= 40  # no gap wider than ~45 Angstrom
        pairs = ys.astype(np.int64) * 8192 + x[slc == s]
        assert len(np.unique(pairs)) == len(pairs)  # every row is a different pixel


def test_readme_first_command_uses_the_default_ifus_and_finds_the_star(tmp_path: Path) -> None:
    """The README's first command on the default IFUs: the star at the field centre is the brightest."""
    pytest.importorskip("photutils")
    pytest.importorskip("matplotlib")
    readme = (REPO / "README.md").read_text()
    first = re.search(r"```sh\n(.*?)\n```", readme, re.S)[1]  # type: ignore[index]
    assert "--ifus" not in first
    steps = [shlex.split(step) for step in first.split("&&")]
    assert steps[0][:3] == ["python3", "-m", "venv"] and "pip" in steps[1][0]
    out = []
    for argv in steps[2:]:
        assert argv[0] == ".venv/bin/pixtab"
        run = run_pixtab(*argv[1:], cwd=tmp_path, timeout=300, code=0)
        out.append(run.stdout)
    lines = out[-1].strip().splitlines()
    assert lines[0].startswith("id,ra,dec,peak") and len(lines) == 3, out[-1]
    ra, dec = (float(v) for v in lines[1].split(",")[1:3])
    assert abs(ra - 150.1163) < 1e-4 and abs(dec - 2.2058) < 1e-4  # within 0.4"
    # the extraction of the old first command still finds a reasonable number of rows
    run = run_pixtab("extract", "sample.fits", "--count", "--circle", "150.1163", "2.2058", "2arcsec", "--lambda", "6000:6100",
                     cwd=tmp_path, timeout=300)
    assert 50 <= int(run.stdout) <= 2000, run.stdout
