"""pixtab image --peaks: injected Gaussian and Moffat sources found within 0.1", brightest
first, with peak and FWHM close to the truth; output formats; combined tables; refusals."""

from __future__ import annotations

import json
import sys

import pytest

from helpers.cli import invoke
from helpers.sources import STAR_KW, STARS, csv_records, one_line_error, sep_arcsec


def peaks(src, *args) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    r = invoke("image", src, "--peaks", *args)
    return csv_records(r.stdout)


@pytest.mark.parametrize("profile", ["gaussian", "moffat"])
def test_injected_sources_found(simulated, profile) -> None:
    src = simulated(**STAR_KW, profile=profile, beta=2.5)
    found = peaks(src, "3", "--lambda", "6000:6500")
    assert [int(p["id"]) for p in found] == [1, 2, 3]
    for p, s in zip(found, STARS):  # brightest first: the injection order
        assert sep_arcsec(float(p["ra"]), float(p["dec"]), s.ra, s.dec) < 0.1
        if profile == "gaussian":
            assert float(p["peak"]) == pytest.approx(s.peak, rel=0.05)
            assert float(p["fwhm_guess"]) == pytest.approx(s.fwhm, rel=0.05)


def test_more_peaks_than_sources_warns(simulated) -> None:
    src = simulated(**STAR_KW)
    r = invoke("image", src, "--peaks", "10")
    assert 3 <= len(csv_records(r.stdout)) <= 10


def test_formats_and_image_together(simulated, tmp_path) -> None:
    src = simulated(**STAR_KW)
    r = invoke("image", src, "--peaks", "1", "--json", "-o", tmp_path / "i.fits")
    assert (tmp_path / "i.fits").exists()
    rec = json.loads(r.stdout.splitlines()[0])
    assert list(rec) == ["id", "ra", "dec", "peak", "fwhm_guess"] and rec["id"] == 1
    r = invoke("image", src, "--peaks", "2", "--format", "tsv")
    assert r.stdout.splitlines()[0] == "id\tra\tdec\tpeak\tfwhm_guess" and len(r.stdout.splitlines()) == 3


@pytest.mark.parametrize("layout", ["image", "table"])
def test_combined_table(simulated, layout) -> None:
    src = simulated(**STAR_KW, exposures=2, layout=layout)
    p = peaks(src, "1")[0]
    assert sep_arcsec(float(p["ra"]), float(p["dec"]), STARS[0].ra, STARS[0].dec) < 0.1


def test_projected_table(simulated) -> None:
    p = peaks(simulated(**STAR_KW, wcs="projected"), "1")[0]
    assert sep_arcsec(float(p["ra"]), float(p["dec"]), STARS[0].ra, STARS[0].dec) < 0.1


def test_through_extract(simulated, tmp_path) -> None:
    src = simulated(**STAR_KW)
    cut = tmp_path / "cut.fits"
    invoke("extract", src, "-o", cut, "--circle", STARS[0].ra, STARS[0].dec, "3")
    p = peaks(cut, "1")[0]
    assert sep_arcsec(float(p["ra"]), float(p["dec"]), STARS[0].ra, STARS[0].dec) < 0.1


def test_pixel_table_refused(simulated) -> None:
    line = one_line_error(invoke("image", simulated(rows=50_000, ifus=[1], wcs="pixel"), "--peaks", "1", code=1), 1)
    assert "pixel-unit" in line


def test_bad_count_is_usage_error(simulated) -> None:
    invoke("image", simulated(rows=20_000), "--peaks", "0", code=2)


def test_missing_photutils(simulated, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "photutils", None)  # import photutils -> ImportError
    line = one_line_error(invoke("image", simulated(**STAR_KW), "--peaks", "1", code=1), 1)
    assert "pip install 'pixtab[peaks]'" in line


def test_gappy_rows_give_each_source_once(simulated, tmp_path) -> None:
    """Rows with gaps (every third slice left out) make several maxima per star: each star is
    still reported once, no two sources closer than the minimum separation, no edge spikes."""
    src = simulated(**STAR_KW)
    cut = tmp_path / "gaps.fits"
    invoke("extract", src, "-o", cut, "--where", "slice % 3 != 0")
    r = invoke("image", cut, "--peaks", "8", "--lambda", "6000:6100")
    found = csv_records(r.stdout)
    for i, a in enumerate(found):
        for b in found[i + 1 :]:
            assert sep_arcsec(float(a["ra"]), float(a["dec"]), float(b["ra"]), float(b["dec"])) >= 1.2
    near = [min(sep_arcsec(float(p["ra"]), float(p["dec"]), s.ra, s.dec) for s in STARS) for p in found]
    assert all(d < 0.3 for d in near), near  # every source reported is an injected star
    first = found[0]
    assert sep_arcsec(float(first["ra"]), float(first["dec"]), STARS[0].ra, STARS[0].dec) < 0.1
    assert "NoDetectionsWarning" not in r.output


def test_min_separation_option(simulated) -> None:
    """Stars 1 and 2 are 3.2" apart: a 4" minimum separation keeps only the brighter."""
    found = peaks(simulated(**STAR_KW), "3", "--lambda", "6000:6500", "--min-separation", "4arcsec")
    assert sep_arcsec(float(found[0]["ra"]), float(found[0]["dec"]), STARS[0].ra, STARS[0].dec) < 0.1
    assert all(sep_arcsec(float(p["ra"]), float(p["dec"]), STARS[1].ra, STARS[1].dec) > 1 for p in found)
