"""Under ``--lang zh`` every output meant for people is Chinese: no stray English words.

The demo is audited with the command line under ``--lang zh``; the terminal output, the
``rules`` listing, ``report.html`` (its text), the CSV tables (headers and values),
``report.docx`` (when written) and the visible strings of ``map.html`` (the texts of its data
JSON and its popups) are scanned for English words. Allowed: codes and units (rule ids, OSM,
GCJ-02, km/h, m², SHA-256, UTC, ...), the OpenStreetMap attribution, software names in the
provenance, file names, and what the data itself holds (ids, names).
"""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from coverage.cli import app
from coverage.wording import date_text, finding_text, people_table, shareable, status_text

DEMO_DIR = Path(__file__).parents[1] / "data" / "demo"
runner = CliRunner()

#: Codes, units, names of software and formats that stay as they are in Chinese text.
_ALLOWED_TEXT = (
    # units and codes
    "km h m UTC SHA inf vs id GB OSM OpenStreetMap ODbL CSV GCJ WGS BD CGCS EPSG GIS QGIS "
    "GeoPackage HTML PNG SVG PDF Excel Amap amap "
    # the case-file keys a fix names
    "classify services coordinate_system gcj wgs "
    # software in the provenance
    "service-coverage python numpy scipy pandas geopandas shapely pyproj pyogrio osmium osmnx "
    "networkx folium matplotlib make_valid docx coverage CATEGORIES categories "
    # pack ids
    "wuhan-1plus10 gb50180-2018 mofcom-15min-convenience "
    # the folder of the static maps
    "static-maps"
)
ALLOWED = set(_ALLOWED_TEXT.split())
ATTRIBUTION = "© OpenStreetMap contributors"
_WORD = re.compile(r"(?<![\w-])[A-Za-z][A-Za-z'-]*[A-Za-z](?![\w-])")
_FILE = re.compile(
    r"[\w.-]+\.(?:geojson|toml|html|csv|gpkg|json|docx|png|svg|pdf|bz2|pbf|osm|shp|yaml)\b"
)


def english_words(text: str, data_values: set[str]) -> list[str]:
    """The English words of ``text`` outside the allow-list, the file names and the data."""
    text = text.replace(ATTRIBUTION, " ")
    for value in sorted(data_values, key=len, reverse=True):
        if value and re.search("[A-Za-z]", value):
            text = text.replace(value, " ")
    text = _FILE.sub(" ", text)
    return [w for w in _WORD.findall(text) if w not in ALLOWED]


def html_text(page: str) -> str:
    page = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def json_strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in json_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in json_strings(v)]
    return [value] if isinstance(value, str) else []


@pytest.fixture(scope="module")
def zh_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp("zh") / "结果"
    cache = str(tmp_path_factory.getbasetemp() / "cache")
    result = runner.invoke(
        app, ["demo", "--out", str(out), "--lang", "zh"], env={"SERVICE_COVERAGE_CACHE": cache}
    )
    assert result.exit_code == 0, result.output
    return result.stdout, out


@pytest.fixture(scope="module")
def data_values() -> set[str]:
    """Ids and names the data holds (they are data, not words of the tool)."""
    import geopandas as gpd

    values: set[str] = set()
    for name in ("communities", "streets", "services"):
        frame = gpd.read_file(DEMO_DIR / f"{name}.geojson")
        for column in frame.columns:
            if column != "geometry" and frame[column].dtype.kind in "OUT":
                values |= {str(v) for v in frame[column].dropna()}
    # the service ids the OSM reader makes (n123, w456) and category codes a finding lists
    from coverage.categories import CATEGORIES

    values |= set(CATEGORIES)
    return values


def test_cli_summary_findings_and_file_list_are_chinese(
    zh_run: tuple[str, Path], data_values: set[str]
) -> None:
    stdout, _ = zh_run
    assert "通过" in stdout and "未通过" in stdout and "不可评估" in stdout
    assert "步行速度 4 公里/小时" in stdout
    assert english_words(stdout, data_values) == []
    assert str(DEMO_DIR) not in stdout  # file names, never where they are on this disk


def _quotations_and_codes() -> set[str]:
    """Pack and rule ids (codes), and the source texts quoted in their original language
    (an SDG indicator's English metadata, a cited routing profile): the 依据原文 column quotes
    its document, it does not translate it."""
    from coverage.rules import list_packs, load_pack

    values: set[str] = set()
    for name in list_packs():
        pack = load_pack(name)
        values |= {pack.id, pack.reference}
        for rule in pack.rules:
            values |= {rule.id, rule.source, rule.document or "", rule.walk_speed_source or ""}
    return {" ".join(v.split()) for v in values if v}


def test_rules_listing_is_chinese(data_values: set[str]) -> None:
    # one line per cell, so that a quoted source can be recognised whole
    result = runner.invoke(app, ["rules", "--lang", "zh"], env={"COLUMNS": "100000"})
    assert result.exit_code == 0
    assert "依据原文" in result.stdout and "步行速度" in result.stdout
    words = english_words(result.stdout, data_values | _quotations_and_codes())
    assert words == []
    # the allow-list is needed: some sources are quoted in English
    assert english_words(result.stdout, data_values) != []  # the SDG pack quotes English


def test_report_html_is_chinese_and_names_no_paths(
    zh_run: tuple[str, Path], data_values: set[str]
) -> None:
    _, out = zh_run
    page = (out / "report.html").read_text(encoding="utf-8")
    text = html_text(page)
    assert english_words(text, data_values) == []
    assert "北京时间" in text  # the date says its time zone
    assert str(DEMO_DIR) not in page and str(out) not in page


@pytest.mark.parametrize(
    "name", ["communities.csv", "streets.csv", "findings.csv", "data_findings.csv"]
)
def test_csv_headers_and_values_are_chinese(
    zh_run: tuple[str, Path], data_values: set[str], name: str
) -> None:
    _, out = zh_run
    with (out / name).open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert english_words(" | ".join(header), data_values) == []
    id_columns = {i for i, h in enumerate(header) if h.endswith("编号") or h == "名称"}
    cells = " | ".join(c for row in body for i, c in enumerate(row) if i not in id_columns)
    assert english_words(cells, data_values) == []
    assert str(DEMO_DIR) not in cells


def test_status_words_for_people_machine_codes_in_summary(zh_run: tuple[str, Path]) -> None:
    _, out = zh_run
    with (out / "communities.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["W1 结论"] for r in rows} <= {"通过", "未通过", "不可评估"}
    assert {r["W1 结论"] for r in rows} >= {"未通过", "不可评估"}
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert {"passing", "failing", "not_evaluable"} <= set(summary["rules"][0])
    assert all(str(DEMO_DIR) not in f["message"] for f in summary["findings"])
    # no absolute path anywhere in it (provenance names files; their SHA-256 identify them)
    text = (out / "summary.json").read_text(encoding="utf-8")
    assert str(DEMO_DIR) not in text and str(out) not in text
    assert set(summary["provenance"]["inputs_sha256"]) >= {"case.toml", "communities.geojson"}


def test_map_visible_strings_are_chinese(zh_run: tuple[str, Path], data_values: set[str]) -> None:
    _, out = zh_run
    page = (out / "map.html").read_text(encoding="utf-8")
    config = json.loads(re.search(r"var sc_config = (\{.*?\});\n", page, re.S).group(1))
    visible = [
        *json_strings(config["text"]),
        *(c["label"] for c in config["categories"].values()),
        *(v.get("label", "") for v in config["views"]),
        *(v.get("tip", "") for v in config["views"]),
    ]
    data = json.loads(re.search(r"var sc_data = (.*?);\nvar sc_config", page, re.S).group(1))
    visible += [html_text(s) for s in json_strings(data)]
    assert english_words(" | ".join(visible), data_values) == []


def test_scanner_finds_english() -> None:
    """The scan can fail: an English sentence, a status code and a path are caught."""
    assert english_words("3 communities fail the rule", set()) == [
        "communities",
        "fail",
        "the",
        "rule",
    ]
    assert english_words("W1 未通过：not_evaluable", set()) == []  # a code with "_" is a code
    assert english_words("W1 通过 km/h m² GCJ-02 OSM", set()) == []


def test_wording_helpers() -> None:
    from coverage.load import Finding

    assert [status_text(s, "zh") for s in ("pass", "fail", "not_evaluable")] == [
        "通过",
        "未通过",
        "不可评估",
    ]
    assert date_text("2026-11-29T22:44:00+00:00", "zh") == "2026年11月30日 06:44（北京时间，UTC+8）"
    assert date_text("2026-11-29T22:44:00+00:00", "en") == "2026-11-29 22:44 UTC"
    assert shareable("/home/li/cases/wuhan/communities.gpkg: 3 rows") == "communities.gpkg: 3 rows"
    assert shareable(r"D:\data\wuhan\x.shp：坏") == "x.shp：坏"
    assert shareable("15 km/h, 1/2, 1:2") == "15 km/h, 1/2, 1:2"  # no path, unchanged
    f = Finding("warning", "streets", "/a/b/streets.gpkg: bad", ("S1",), message_zh="")
    assert finding_text(f, "zh") == "streets.gpkg: bad"  # no Chinese written: English, no path
    f = Finding("warning", "streets", "/a/b/s.gpkg: bad", ("S1",), message_zh="/a/b/s.gpkg：坏")
    assert finding_text(f, "zh") == "s.gpkg：坏"
    import pandas as pd

    table = people_table(
        pd.DataFrame(
            {
                "community_id": ["C1"],
                "W1_status": ["fail"],
                "W1_reason": ["below"],
                "W1_reason_zh": ["低于"],
                "W1_missing": ["shopping;repair"],
                "W6_has_exercise_point": [True],
                "median_m_shopping": [float("inf")],
            }
        ),
        "zh",
    )
    assert list(table.columns) == [
        "社区编号",
        "W1 结论",
        "W1 原因",
        "W1 未达标类别",
        "W6 有晨晚练点",
        "购物步行距离中位数（米）",
    ]
    assert table.iloc[0].tolist()[:4] == ["C1", "未通过", "低于", "购物、维修"]
    assert table.iloc[0, 4] == "是"
    assert table.iloc[0, 5] == float("inf")


def test_report_docx_is_chinese(zh_run: tuple[str, Path], data_values: set[str]) -> None:
    import docx

    _, out = zh_run
    document = docx.Document(str(out / "report.docx"))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    text = "\n".join(parts)
    assert "整改清单" in text
    assert english_words(text, data_values) == []
    assert str(DEMO_DIR) not in text and str(out) not in text


def test_every_progress_step_has_chinese_words(tmp_path: Path) -> None:
    from coverage.audit import audit_case
    from coverage.report import write_outputs
    from coverage.wording import STEPS_ZH, step_text

    steps: list[str] = []
    result = audit_case(DEMO_DIR / "case.toml")
    write_outputs(result, tmp_path / "out", lang="zh", on_step=steps.append, service_areas=False)
    assert {"GeoPackage", "tables", "static maps", "map", "report", "document"} <= set(steps)
    assert set(steps) <= set(STEPS_ZH)
    # and the command line's own steps
    assert {"reading case", "walking network of", "origins, snapping, searches and rules"} <= set(
        STEPS_ZH
    )
    assert step_text("walking network of", "zh", detail="x.osm.pbf") == "步行路网：x.osm.pbf"
    assert english_words(" ".join(step_text(s, "zh") for s in steps), set()) == []


@pytest.mark.parametrize("pack", ["gb50180-2018", "mofcom-15min-convenience"])
def test_other_packs_are_chinese_too(
    pack: str, data_values: set[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Rule ids such as GB-5 (with a hyphen) get Chinese headers as W1 does."""
    out = tmp_path_factory.mktemp(pack) / "结果"
    cache = str(tmp_path_factory.getbasetemp() / "cache")
    result = runner.invoke(
        app,
        [
            *("audit", str(DEMO_DIR / "case.toml"), "--out", str(out), "--pack", pack),
            *("--lang", "zh", "--outputs", "csv,report"),
        ],
        env={"SERVICE_COVERAGE_CACHE": cache},
    )
    assert result.exit_code == 0, result.output
    assert english_words(result.stdout, data_values) == []
    for name in ("communities.csv", "streets.csv", "findings.csv"):
        with (out / name).open(encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh))
        assert english_words(" | ".join(header), data_values) == [], name
    text = html_text((out / "report.html").read_text(encoding="utf-8"))
    assert english_words(text, data_values) == []
