"""What a user reads: empty selections explained in one line, a negative RA refused, --count
with nothing selected, info's dq and empty exposures, '-' named as the standard output."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from helpers.cli import invoke
from helpers.sources import STAR_KW, STARS

STAR = STARS[0]


def _error(r) -> str:  # type: ignore[no-untyped-def]
    lines = r.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("Error: "), r.output
    return lines[-1]


@pytest.mark.parametrize(("args", "why"), [
    (["--ifu", "3"], "(no IFU 3 in the table)"),
    (["--circle", 53.16, -27.79, "2arcsec"], "(the aperture (53.16, -27.79) lies outside the table's sky area)"),
    (["--circle", 150.2, STAR.dec, "2arcsec"], "lies outside the table's sky area)"),
    (["--lambda", "3000:4000"], "(no wavelength in 3000-4000 Angstrom)"),
    (["--exp", "2"], None),  # a usage error of its own (the table has exposure 0 only)
    (["--ifu", "12", "--circle", STAR.ra, STAR.dec, "2arcsec", "--where", "data > 1e9"], "(no row meets them together)"),
])
@pytest.mark.parametrize("command", ["extract", "spectrum", "image"])
def test_an_empty_selection_says_what_the_table_holds(simulated, tmp_path, command, args, why) -> None:
    src = simulated(**STAR_KW)
    out = ["-o", tmp_path / "o.fits"] if command != "image" else ["--peaks", "1"]
    r = invoke(command, src, *out, *args, code=None)
    if why is None:
        assert r.exit_code in (1, 2) and "exposure" in r.output
        return
    assert r.exit_code == 1
    line = _error(r)
    assert line.startswith(f"Error: {src}: no row matches the criteria {why}") or why in line
    assert "the table holds RA 150." in line and "lambda 4650..9351 Angstrom, IFUs 12-13, one exposure (0)" in line
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_negative_ra_is_read_modulo_360_with_a_warning(simulated, tmp_path) -> None:
    """RA/Dec typed the wrong way round at a southern field: one warning, then the empty selection explained."""
    r = invoke("extract", simulated(**STAR_KW), "-o", tmp_path / "o.fits", "--circle", "-27.79", "53.16", "2arcsec", code=1)
    assert not (tmp_path / "o.fits").exists()
    warning, error = r.stderr.strip().splitlines()
    assert warning == "pixtab: warning: circle aperture (-27.79, 53.16, 2): RA -27.79 read as 332.21 (RA runs 0..360 deg; RA and Dec swapped?)"
    assert "lies outside the table's sky area" in error


def test_a_declination_beyond_the_pole_is_refused(simulated, tmp_path) -> None:
    r = invoke("extract", simulated(**STAR_KW), "-o", tmp_path / "o.fits", "--circle", "2.2058", "150.1163", "2arcsec", code=2)
    assert "declination 150.116 is outside -90..90 deg (RA and Dec swapped?)" in r.output


def test_count_of_nothing_is_zero_and_success(simulated) -> None:
    r = invoke("extract", simulated(**STAR_KW), "--count", "--ifu", "3", code=None)
    assert (r.exit_code, r.stdout) == (0, "0\n")


def test_all_matching_rows_flagged(simulated, tmp_path) -> None:
    src = simulated(**STAR_KW)
    r = invoke("spectrum", src, "--circle", STAR.ra, STAR.dec, "2", "--where", "dq != 0", "--lambda", "6000:6100", code=1)
    assert "rows that match are all flagged (dq != 0) and left out" in _error(r)


def test_info_shows_dq_unsigned_and_empty_exposures(simulated, tmp_path) -> None:
    src = tmp_path / "t.fits"
    src.write_bytes(simulated(rows=20_000, ifus=[5], exposures=3).read_bytes())
    with fits.open(src, mode="update") as h:
        dq = h["DQ"].data
        dq[:3] = np.int32(-(2**31))  # bit 31 (OUTSDRANGE)
    r = invoke("info", "--stats", src)
    assert "max 2147483648" in r.stdout and "-2147483648" not in r.stdout
    cut = tmp_path / "e2.fits"
    invoke("extract", src, "-o", cut, "--exp", "2")
    r = invoke("info", cut)
    assert "exposure 1       no rows (0)" in r.stdout and "exposure 3       no rows (0)" in r.stdout
    assert "..-1" not in r.stdout


@pytest.mark.parametrize("args", [["simulate", "-", "--nrows", "100"], ["extract", "SRC", "-o", "-", "--ifu", "12"],
                                  ["convert", "SRC", "-o", "-"]])
def test_stdout_is_named_standard_output(simulated, args) -> None:
    src = simulated(rows=20_000, ifus=[12])
    r = invoke(*[src if a == "SRC" else a for a in args])
    assert "wrote standard output (" in r.stderr and "wrote -" not in r.stderr
