"""The map's base map, names, panels and print sheet, without a browser."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest
import shapely

from coverage.audit import AuditResult, audit_case
from coverage.maps import audit_map, save_map

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return audit_case(DEMO)


@pytest.fixture(scope="module")
def demo_html(demo: AuditResult) -> str:
    return str(audit_map(demo).get_root().render())


def script_json(text: str, name: str) -> object:
    start = text.index(f"var {name} = ") + len(f"var {name} = ")
    end = text.index(";\n", start)
    return json.loads(text[start:end])


def test_the_default_map_carries_the_offline_base_map(demo_html: str) -> None:
    base = script_json(demo_html, "sc_basemap")
    assert isinstance(base, dict)
    assert len(base["levels"]) == 3 and base["labels"]
    # it is the base layer shown when no tile server is given, "no base map" one click away
    assert "离线底图（OpenStreetMap 数据）" in demo_html and "无底图" in demo_html
    assert "sc_basemap_layers(map_" in demo_html
    size = len(json.dumps(base, ensure_ascii=False, separators=(",", ":")).encode())
    assert size < 1_500_000  # the budget stated in the README


def test_no_base_map_when_asked_or_without_the_osm_file(
    demo: AuditResult, caplog: pytest.LogCaptureFixture
) -> None:
    off = str(audit_map(demo, basemap=False).get_root().render())
    assert "var sc_basemap" not in off
    gone = dataclasses.replace(
        demo, provenance={**demo.provenance, "osm_file": "/nowhere/gone.osm.pbf"}
    )
    with caplog.at_level(logging.WARNING, logger="coverage.maps"):
        text = str(audit_map(gone).get_root().render())
    assert "var sc_basemap" not in text
    assert "gone.osm.pbf: the case's OSM file is gone" in caplog.text


def test_every_unit_has_its_name_and_a_label_point_inside(
    demo: AuditResult, demo_html: str
) -> None:
    data = script_json(demo_html, "sc_data")
    names_data = script_json(demo_html, "sc_names")
    assert isinstance(data, dict) and isinstance(names_data, dict)
    for unit, table, id_col in (
        ("community", demo.communities, "community_id"),
        ("street", demo.streets, "street_id"),
    ):
        geoms = dict(zip(table[id_col], table.geometry, strict=True))
        names = dict(zip(table[id_col], table["name"], strict=True))
        assert len(data[unit]) == len(table) == len(names_data[unit])
        for record, (name, lon, lat) in zip(data[unit], names_data[unit], strict=True):
            assert name == names[record["id"]]
            point = shapely.Point(lon, lat)
            assert geoms[record["id"]].buffer(1e-5).contains(point), record["id"]


def test_names_in_the_data_carry_no_markup(demo: AuditResult) -> None:
    communities = demo.communities.copy()
    communities.loc[communities.index[0], "name"] = "<b>x</b></script>"
    text = str(audit_map(dataclasses.replace(demo, communities=communities)).get_root().render())
    start = text.index("var sc_names = ")
    names_text = text[start : text.index(";\n", start)]
    assert "<" not in names_text and ">" not in names_text
    names = script_json(text, "sc_names")
    assert isinstance(names, dict)
    assert names["community"][0][0] == "<b>x</b></script>"  # the same text after parsing


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "zh",
            [
                "图层",
                "图例",
                "底图",
                "搜索社区或街道（名称或编号）",
                "无匹配结果",
                "社区和街道名称",
            ],
        ),
        ("en", ["Layers", "Legend", "Base map", "Find a community or street", "No match"]),
    ],
)
def test_panel_and_search_words_in_both_languages(
    demo: AuditResult, lang: str, words: list[str]
) -> None:
    text = str(audit_map(demo, lang=lang).get_root().render())
    for word in words:
        assert word in text


def test_the_print_sheet_is_a4_landscape_or_a3(demo: AuditResult, tmp_path: Path) -> None:
    a4 = save_map(demo, tmp_path / "a4.html").read_text("utf-8")
    assert "@page { size: 297mm 210mm; margin: 8mm; }" in a4
    assert "@media print" in a4
    a3 = save_map(demo, tmp_path / "a3.html", paper="A3").read_text("utf-8")
    assert "@page { size: 420mm 297mm; margin: 8mm; }" in a3
    with pytest.raises(ValueError, match="paper must be one of A4, A3, got 'A5'"):
        audit_map(demo, paper="A5")


def test_hostile_names_in_the_osm_file_stay_data(demo: AuditResult, tmp_path: Path) -> None:
    """Place and street names come from the OSM file, which anyone can edit: they reach the
    page as JSON strings without a single < or >, and the canvas draws them as text."""
    from tests.conftest import write_osm_xml

    evil = "</script><script>window.__pwned=1</script>{{7*7}}"
    nodes = {i: (104.07 + 0.002 * i, 30.67) for i in range(1, 6)}
    path = write_osm_xml(
        tmp_path / "evil.osm", nodes, [(1, [1, 2, 3, 4, 5], {"highway": "primary", "name": evil})]
    )
    text = path.read_text("utf-8").replace(
        "</osm>",
        '<node id="9" version="1" lat="30.671" lon="104.071"><tag k="place" v="suburb"/>'
        '<tag k="name" v="&lt;img src=x onerror=alert(1)&gt;"/></node>\n</osm>',
    )
    path.write_text(text, "utf-8")
    result = dataclasses.replace(demo, provenance={**demo.provenance, "osm_file": str(path)})
    html = str(audit_map(result).get_root().render())
    start = html.index("var sc_basemap = ")
    script = html[start : html.index(";\n", start)]
    assert "<" not in script and ">" not in script
    base = script_json(html, "sc_basemap")
    assert isinstance(base, dict)
    assert set(base["names"]) == {evil, "<img src=x onerror=alert(1)>"}
