"""audit.gpkg opens styled in QGIS: layer_styles, Chinese aliases, booleans typed boolean,
and one representation of "farther than the search limit" in memory, GeoPackage and CSV.
Read back with sqlite3 (what the file holds), not with the writer."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import math
import sqlite3
import xml.etree.ElementTree as ET
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coverage.audit import AuditResult, audit_case
from coverage.report import GPKG_LAYERS, write_outputs
from coverage.rules import FAIL, NOT_EVALUABLE, PASS

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"
ODD_COLUMN = '<b>"&amp;'


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    result = audit_case(DEMO)
    communities = result.communities.copy()
    communities[ODD_COLUMN] = "x"  # a user's column named like markup
    flags = [True, None] * (len(communities) // 2) + [False] * (len(communities) % 2)
    communities["flag_with_gaps"] = pd.Series(flags, index=communities.index, dtype=object)
    return dataclasses.replace(result, communities=communities)


@pytest.fixture(scope="module")
def written(demo: AuditResult, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("gpkg") / "out"
    return write_outputs(demo, out, lang="zh", outputs=["gpkg", "csv"], service_areas=False)


def _query(path: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(str(path))) as con:
        return con.execute(sql, args).fetchall()


def test_every_layer_has_one_default_style(written: dict[str, Path]) -> None:
    gpkg = written["gpkg"]
    rows = _query(
        gpkg, "SELECT f_table_name, f_geometry_column, useAsDefault, styleQML FROM layer_styles"
    )
    assert {r[0] for r in rows} == set(GPKG_LAYERS)
    defaults = [r[0] for r in rows if r[2] == 1]
    assert sorted(defaults) == sorted(GPKG_LAYERS)
    geometry = dict(_query(gpkg, "SELECT table_name, column_name FROM gpkg_geometry_columns"))
    for table, column, _, qml in rows:
        assert column == geometry[table]
        root = ET.fromstring(str(qml).split("\n", 1)[1])  # after the DOCTYPE line
        renderer = root.find("renderer-v2")
        assert renderer is not None
        attr = renderer.get("attr")
        if attr is not None:  # the field the style reads exists in its layer
            fields = {r[1] for r in _query(gpkg, f'PRAGMA table_info("{table}")')}
            assert attr in fields, (table, attr)
    # layer_styles is registered, so the file stays a valid GeoPackage
    assert _query(
        gpkg, "SELECT data_type FROM gpkg_contents WHERE table_name = 'layer_styles'"
    ) == [("attributes",)]


def _qml(gpkg: Path, layer: str, name: str) -> ET.Element:
    (qml,) = _query(
        gpkg,
        "SELECT styleQML FROM layer_styles WHERE f_table_name = ? AND styleName = ?",
        layer,
        name,
    )[0]
    return ET.fromstring(str(qml).split("\n", 1)[1])


def test_decision_colours_with_counts_and_chinese_aliases(
    written: dict[str, Path], demo: AuditResult
) -> None:
    root = _qml(written["gpkg"], "communities", "W1 结论")
    renderer = root.find("renderer-v2")
    assert renderer is not None and renderer.get("type") == "categorizedSymbol"
    assert renderer.get("attr") == "W1_status"
    counts = demo.communities["W1_status"].value_counts()
    categories = {c.get("value"): c.get("label") for c in renderer.iter("category")}
    assert categories == {
        PASS: f"通过 ({int(counts.get(PASS, 0))})",
        FAIL: f"未通过 ({int(counts.get(FAIL, 0))})",
        NOT_EVALUABLE: f"不可评估 ({int(counts.get(NOT_EVALUABLE, 0))})",
    }
    colours = [
        o.get("value")
        for s in renderer.iter("symbol")
        for o in s.iter("Option")
        if o.get("name") == "color"
    ]
    assert len(set(colours[:3])) == 3  # three decisions, three colours
    aliases = {a.get("field"): a.get("name") for a in root.iter("alias")}
    assert aliases["community_id"] == "社区编号"
    assert aliases["W1_status"] == "W1 结论"
    assert aliases[ODD_COLUMN] == ODD_COLUMN  # markup in a column name is data, escaped


def test_graded_shares(written: dict[str, Path]) -> None:
    renderer = _qml(written["gpkg"], "communities", "W1 可达比例").find("renderer-v2")
    assert renderer is not None and renderer.get("type") == "graduatedSymbol"
    assert renderer.get("attr") == "W1_value"
    bounds = [
        (float(r.get("lower", "")), float(r.get("upper", ""))) for r in renderer.iter("range")
    ]
    assert bounds[0][0] == 0.0 and bounds[-1][1] == 1.0
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))


def test_booleans_are_geopackage_booleans(written: dict[str, Path], demo: AuditResult) -> None:
    gpkg = written["gpkg"]
    for layer, column, frame in (
        ("services", "on_network", demo.services),
        ("communities", "W6_has_exercise_point", demo.communities),
        ("streets", "W4_lower_bound", demo.streets),
        ("communities", "flag_with_gaps", demo.communities),
    ):
        types = {r[1]: r[2] for r in _query(gpkg, f'PRAGMA table_info("{layer}")')}
        assert types[column] == "BOOLEAN", (layer, column)
        stored = [r[0] for r in _query(gpkg, f'SELECT "{column}" FROM "{layer}" ORDER BY fid')]
        expected = [None if v is None else int(bool(v)) for v in frame[column].astype(object)]
        assert stored == expected, (layer, column)
    import pyogrio

    info = pyogrio.read_info(gpkg, layer="services")
    assert dict(zip(info["fields"], info["dtypes"], strict=True))["on_network"] == "bool"


def _csv_column(path: Path, column: str) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [row[column] for row in csv.DictReader(fh)]


def test_beyond_the_search_limit_is_inf_in_memory_gpkg_and_csv(
    written: dict[str, Path], demo: AuditResult, tmp_path: Path
) -> None:
    gpkg = written["gpkg"]
    d = demo.origins["d_shopping"].to_numpy(dtype=float)
    assert np.isinf(d).sum() > 0
    stored = [r[0] for r in _query(gpkg, "SELECT d_shopping FROM origins ORDER BY fid")]
    for mem, got in zip(d, stored, strict=True):
        if math.isnan(mem):
            assert got is None  # off the network: NULL, another meaning
        else:
            assert got == mem  # inf == inf: sqlite3 reads the REAL back as inf
    median = demo.communities["median_m_repair"].to_numpy(dtype=float)
    assert np.isinf(median).sum() > 0
    stored = [r[0] for r in _query(gpkg, "SELECT median_m_repair FROM communities ORDER BY fid")]
    assert [math.isinf(v) for v in stored if v is not None] == [
        math.isinf(v) for v in median if not math.isnan(v)
    ]
    # the CSV for people says "inf" in both languages; pandas reads it back as inf
    en = write_outputs(demo, tmp_path / "en", lang="en", outputs=["csv"])
    cells = _csv_column(en["communities_csv"], "median_m_repair")
    assert [c == "inf" for c in cells] == list(np.isinf(median))
    back = pd.read_csv(en["communities_csv"], encoding="utf-8-sig")["median_m_repair"]
    # (pandas 2.1's CSV float parser may differ in the last bit; inf must read back as inf)
    np.testing.assert_allclose(back.to_numpy(dtype=float), median, rtol=1e-12)
    zh = _csv_column(written["communities_csv"], "维修步行距离中位数（米）")
    assert [c == "inf" for c in zh] == list(np.isinf(median))
