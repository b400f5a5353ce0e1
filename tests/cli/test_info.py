"""pixtab info: conformance cases, simulated tables of every option, single-value flags."""

from __future__ import annotations

import json
import math

import pytest

from conftest import conformance_cases, conformance_path
from helpers.cli import invoke

INFO_CASES = conformance_cases()["info"]


def _close(a: float, b: float, rel: float) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


def _units_equal(got: str | None, want: str | None) -> bool:
    if got == want:
        return True
    if got is None or want is None:
        return False
    from astropy import units as u

    try:
        return u.Unit(got) == u.Unit(want)
    except ValueError:
        return False


@pytest.mark.conformance
@pytest.mark.parametrize("case", INFO_CASES, ids=[c["id"] for c in INFO_CASES])
def test_info_conformance(case: dict) -> None:
    exp = case["expected"]
    result = invoke("info", "--json", conformance_path(exp["path"]))
    got = json.loads(result.stdout)
    for field in ("layout", "rows", "pipeline_type", "wcs", "merged", "combined", "fluxcal", "skysub", "weighted", "has_weight"):
        assert got[field] == exp[field], field
    assert sorted(got["columns"]) == sorted(exp["columns"])
    for name, col in exp["columns"].items():
        assert got["columns"][name]["dtype"] == col["dtype"], name
        assert _units_equal(got["columns"][name]["unit"], col["unit"]), name
    if exp["combined"]:
        assert got["exposures"] == exp["exposures"]
    else:
        assert got["exposures"] in ([], [{"exp": 0, "first": 0, "last": exp["rows"] - 1}])
    for k, v in exp["limits"].items():
        if isinstance(v, int):
            assert got["limits"][k] == v, k
        else:
            assert _close(got["limits"][k], v, 1e-6), k
    if exp["centre"] is None:
        assert got["centre"] is None
    else:
        assert abs(got["centre"]["ra"] - exp["centre"]["ra"]) <= 1e-9
        assert abs(got["centre"]["dec"] - exp["centre"]["dec"]) <= 1e-9


def test_info_stats_limits_match_header_limits_on_drs_file() -> None:
    """--stats recomputes LIMITS from rows the DRS way; the DRS's own header agrees (float32)."""
    path = conformance_path("pt_drs_combined_image.fits")
    result = invoke("info", "--json", "--stats", path)
    got = json.loads(result.stdout)
    for k, v in got["limits"].items():
        assert _close(got["stats"]["limits"][k], v, 1e-6), k
    assert set(got["stats"]["ifus"]) == {"4", "5", "6"}
    assert got["stats"]["exposures"] == [{"exp": 1, "rows": 11079}, {"exp": 2, "rows": 11064}, {"exp": 3, "rows": 7392}]


@pytest.mark.parametrize(
    "kw",
    [
        {"layout": "image", "wcs": "positioned"},
        {"layout": "table", "wcs": "projected"},
        {"layout": "image", "wcs": "pixel", "ifus": [1]},
        {"layout": "table", "wcs": "positioned", "exposures": 3, "ifus": [10, 11]},
        {"layout": "image", "wcs": "positioned", "flat_field": True, "ifus": [2, 3]},
    ],
    ids=["pos-image", "proj-table", "pix-1ifu", "combined-table", "flatfield"],
)
def test_info_simulated(simulated, kw: dict) -> None:
    path = simulated(**kw)
    result = invoke("info", "--json", "--stats", path)
    got = json.loads(result.stdout)
    nexp = kw.get("exposures", 1)
    ifus = kw.get("ifus", list(range(1, 25)))
    assert got["rows"] == 20_000
    assert got["layout"] == kw["layout"]
    assert got["wcs"] == kw["wcs"]
    assert got["pipeline_type"] == "GEOFULL"
    assert got["has_weight"] is (nexp > 1) and got["weighted"] is (nexp > 1)
    assert got["combined"] == (nexp if nexp > 1 else None)
    assert got["merged"] == (len(ifus) if len(ifus) > 1 else None)
    assert got["has_flat_field"] is bool(kw.get("flat_field"))
    assert [int(i) for i in got["stats"]["ifus"]] == ifus
    assert len(got["exposures"]) == (nexp if nexp > 1 else 0)
    # Header LIMITS written by simulate equal the limits recomputed from the rows.
    for k, v in got["limits"].items():
        assert got["stats"]["limits"][k] == pytest.approx(v, rel=1e-12), k
    if kw["wcs"] == "pixel":
        assert got["centre"] is None
        assert got["columns"]["data"]["unit"] == "count"
    else:
        assert got["centre"] == {"ra": 150.1163, "dec": 2.2058}
        assert got["columns"]["stat"]["unit"] == "(10**(-20)*erg/s/cm**2/Angstrom)**2"


def test_info_single_value_flags(simulated) -> None:
    path = str(simulated(layout="table"))
    assert invoke("info", "--get", "nrows", path).stdout == "20000\n"
    assert invoke("info", "--get", "layout", path).stdout == "table\n"
    assert invoke("info", "--get", "wcs", path).stdout == "positioned\n"
    assert invoke("info", "--get", "columns", path).stdout == "xpos,ypos,lambda,data,dq,stat,origin\n"


def test_info_json_lines_for_several_inputs(simulated) -> None:
    a, b = str(simulated()), str(simulated(layout="table"))
    result = invoke("info", "--json", a, b)
    lines = result.stdout.splitlines()
    assert [json.loads(line)["layout"] for line in lines] == ["image", "table"]


def test_info_human_text_is_plain_when_not_a_tty(simulated) -> None:
    result = invoke("info", simulated(exposures=2, ifus=[3]))
    assert "\x1b[" not in result.stdout
    assert "exposure 2" in result.stdout and "rows 10000..19999" in result.stdout
    assert result.stderr == ""
