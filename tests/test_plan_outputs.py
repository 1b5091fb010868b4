"""The outputs of a plan and the `service-coverage plan` command."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import Point
from typer.testing import CliRunner

from coverage.audit import audit_case
from coverage.cli import app
from coverage.plan import plan
from coverage.plan_report import plan_table, render_plan_html, write_plan_outputs
from tests.conftest import GRID_STEP_DEG
from tests.test_plan import _line_case, _line_pack

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "case.toml"
runner = CliRunner()

HOSTILE = "<img src=x onerror=alert(1)>{{ 7*7 }}"


@pytest.fixture(scope="module")
def hostile_plan(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("hostile")
    case = _line_case(tmp)
    communities = case.communities.copy()
    communities["name"] = HOSTILE  # untrusted names reach the report's impossible table
    case = type(case)(**{**case.__dict__, "communities": communities})
    result = audit_case(case, pack=_line_pack(tmp))
    candidates = gpd.GeoDataFrame(
        {"candidate_id": [f'=HYPERLINK("x")-{i}' for i in range(6)], "source": "layer"},
        geometry=[Point(i * GRID_STEP_DEG, 0.0) for i in range(6)],
        crs=4326,
    )
    return plan(result, candidates=candidates)


def test_outputs_escape_and_neutralise_untrusted_text(hostile_plan, tmp_path: Path) -> None:
    assert len(hostile_plan.impossible) == 2  # nodes 7 and 8 beyond every candidate
    section = render_plan_html(hostile_plan, lang="zh")
    assert "<img" not in section and "&lt;img" in section
    written = write_plan_outputs(hostile_plan, tmp_path / "out", lang="en")
    raw = written["plan_csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM
    table = pd.read_csv(written["plan_csv"], encoding="utf-8-sig", dtype=str)
    assert table["candidate_id"].str.startswith("'=").all()  # no formula can run
    page = written["report_html"].read_text(encoding="utf-8")
    assert '<section id="plan">' in page and "<img src=x" not in page
    assert 'href="map.html"' in page  # the report links the plan's map
    mapped = written["map_html"].read_text(encoding="utf-8")
    assert "sc-plan-switch" in mapped and "<img src=x" not in mapped
    layers = pyogrio.list_layers(written["gpkg"])[:, 0]
    assert "proposed_sites" in layers
    sites = gpd.read_file(written["gpkg"], layer="proposed_sites")
    assert len(sites) == len(hostile_plan.sites)
    summary = json.loads(written["summary_json"].read_text(encoding="utf-8"))
    assert summary["plan"]["sites"] == len(hostile_plan.sites)
    assert summary["plan"]["unmet_in_reaudit"] == 0
    assert len(summary["plan"]["impossible"]) == 2


def test_plan_csv_has_chinese_headers_under_zh(hostile_plan) -> None:
    zh = plan_table(hostile_plan, lang="zh")
    assert list(zh.columns[:3]) == ["规划设施编号", "设施类别", "类别名称"]
    assert list(plan_table(hostile_plan, lang="en").columns[:2]) == ["site", "category"]


def test_cli_plan_writes_every_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = runner.invoke(
        app, ["plan", str(DEMO), "--out", str(out), "--category", "shopping", "--max-new", "3"]
    )
    assert res.exit_code == 0, res.output
    assert "3" in res.output
    table = pd.read_csv(out / "plan.csv", encoding="utf-8-sig")
    assert len(table) == 3
    assert "proposed_sites" in pyogrio.list_layers(out / "audit.gpkg")[:, 0]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["plan"]["sites_per_category"] == {"shopping": 3}
    assert "规划后" in (out / "map.html").read_text(encoding="utf-8")
    assert "补短板" in (out / "report.html").read_text(encoding="utf-8")
    # report.docx, the document a bureau files, lists the proposed sites as plan.csv does
    docx = pytest.importorskip("docx")
    document = docx.Document(str(out / "report.docx"))
    assert any("补短板" in p.text for p in document.paragraphs if p.style.name.startswith("Head"))
    sites_table = document.tables[-1]
    header = [c.text for c in sites_table.rows[0].cells]
    assert header[0] == "规划设施编号" and "新增覆盖居民" in header
    rows = [[c.text for c in row.cells] for row in sites_table.rows[1:]]
    assert [r[0] for r in rows] == table["规划设施编号"].astype(str).tolist()


def test_cli_plan_time_limit_exits_zero_with_a_warning(tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "plan",
            str(DEMO),
            "--out",
            str(tmp_path / "o"),
            "--category",
            "housekeeping",
            "--time-limit",
            "0.01",
            "--no-map",
            "--lang",
            "en",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "time-limit" in res.output and "gap" in res.output


def test_cli_plan_refuses_a_rule_no_site_can_fix(tmp_path: Path) -> None:
    res = runner.invoke(app, ["plan", str(DEMO), "--out", str(tmp_path / "o"), "--rules", "W3"])
    assert res.exit_code != 0
    assert "W3" in res.output


def test_area_deficits_reach_summary_and_report(tmp_path: Path) -> None:
    case = _line_case(tmp_path)
    result = audit_case(case, pack="wuhan-1plus10")
    got = plan(result, rules=["W4"], reaudit=False)
    assert got.deficits["deficit_m2"].iloc[0] == pytest.approx(1440.0)
    written = write_plan_outputs(got, tmp_path / "out", lang="en", map=False)
    summary = json.loads(written["summary_json"].read_text(encoding="utf-8"))
    assert summary["plan"]["area_deficits"][0]["deficit_m2"] == pytest.approx(1440.0)
    assert "1,440" in written["report_html"].read_text(encoding="utf-8")
