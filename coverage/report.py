"""Audit outputs: a GeoPackage for GIS, CSV tables for Excel, JSON for machines, HTML for people.

:func:`write_outputs` writes every file of one audit into a folder:

``audit.gpkg``
    Layers ``communities``, ``streets``, ``origins``, ``services`` and ``service_areas``
    (walking service areas per category and minute budget; empty when they cannot be made),
    and ``layer_styles``: a default QGIS style per layer (decision colours, graded shares) with
    field aliases in the report's language (:mod:`coverage.gis_styles`). True/false values
    are GeoPackage booleans; lists and dicts JSON text. Walking distances beyond the search
    limit are ``inf`` in :class:`~coverage.audit.AuditResult`, a REAL ``Infinity`` in the
    GeoPackage and ``inf`` in the CSV tables: one representation everywhere, read back as
    ``inf`` by pandas, pyogrio and sqlite3. NULL (NaN) means something else: no value, e.g.
    an origin off the walking network or a community without residents.
``communities.csv``, ``streets.csv``
    One row per unit, every column but the geometry; UTF-8 with a byte-order mark so that Excel
    on Chinese Windows shows the Chinese text. Infinite values are ``inf``. Under
    ``lang="zh"`` the headers, status words (通过 / 未通过 / 不可评估) and true/false (是 / 否)
    are Chinese (:func:`coverage.wording.people_table`). A text cell
    that a spreadsheet would read as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a
    tab or a carriage return) gets a leading ``'`` (:func:`neutralise_formulas`).
``summary.json``
    Per rule: units passing, failing and not evaluable, population in passing units; the
    parameters; the findings; the provenance; the timings (:func:`summary_dict`). Each
    finding lists at most :data:`FINDING_IDS_LIMIT` ids, with their full count; the full
    lists are in ``data_findings.csv``.
``findings.csv``
    The 整改清单: one row per unit and failing rule (the rule, its source sentence, the
    measured value, the requirement, the residents, the data and date), the same rows as in
    ``report.docx`` (:func:`coverage.document.rectification_table`).
``data_findings.csv``
    One row per (finding, id): every id each finding about the data and the audit concerns.
``static-maps/``
    A print-ready map per rule, ``<rule id>.png`` and ``.svg`` (:mod:`coverage.static_maps`).
``report.docx``
    The document a bureau files (社区体检报告, :mod:`coverage.document`).
``report.html``
    A self-contained report (no external scripts, styles or fonts) in Chinese or English
    (:func:`render_report_html`).
``map.html``
    The interactive map, from :func:`coverage.maps.save_map`.

A folder never mixes two runs: the files are written into a hidden staging folder inside the
output folder, then the earlier run's files are removed (``summary.json`` first) and the new
ones moved in (``summary.json`` last). An audit that fails, or is killed, while its outputs
are written leaves the earlier outputs untouched; ``summary.json`` is present only beside a
complete set. :func:`check_output_folder` refuses, before an audit runs, a folder that cannot
be written.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from coverage.errors import ConfigError
from coverage.rules import FAIL, NOT_EVALUABLE, PASS, Rule, minutes_to_m
from coverage.wording import measure_text, pct_text

if TYPE_CHECKING:
    import geopandas as gpd

    from coverage.audit import AuditResult

__all__ = [
    "FINDING_IDS_LIMIT",
    "OUTPUT_FILES",
    "OUTPUT_GROUPS",
    "any_failing",
    "check_output_folder",
    "check_outputs",
    "neutralise_formulas",
    "render_report_html",
    "summary_dict",
    "to_jsonable",
    "write_outputs",
    "write_spreadsheet_csv",
]

logger = logging.getLogger(__name__)

#: Output key -> file name, in the order :func:`write_outputs` writes them.
OUTPUT_FILES: dict[str, str] = {
    "gpkg": "audit.gpkg",
    "communities_csv": "communities.csv",
    "streets_csv": "streets.csv",
    "summary_json": "summary.json",
    "findings_csv": "findings.csv",
    "data_findings_csv": "data_findings.csv",
    "static_maps": "static-maps",
    "report_html": "report.html",
    "report_docx": "report.docx",
    "map_html": "map.html",
}
#: Output groups a caller can choose (``write_outputs(outputs=...)``, ``--outputs``) -> their
#: keys in :data:`OUTPUT_FILES`. ``summary.json`` is always written: it marks a complete set.
OUTPUT_GROUPS: dict[str, tuple[str, ...]] = {
    "gpkg": ("gpkg",),
    "csv": ("communities_csv", "streets_csv", "findings_csv", "data_findings_csv"),
    "report": ("report_html",),
    "map": ("map_html",),
    "docx": ("report_docx",),
    "static": ("static_maps",),
}
#: The most ids a finding lists in ``summary.json``; the full lists are in
#: ``data_findings.csv``.
FINDING_IDS_LIMIT = 50
_STAGING_PREFIX = ".partial-"
#: A staging folder untouched for this long is a leftover of a killed run, removed by the next.
_STALE_STAGING_SECONDS = 24 * 3600
GPKG_LAYERS = ("communities", "streets", "origins", "services", "service_areas")
OSM_ATTRIBUTION = "© OpenStreetMap contributors"
#: Bars shown in each chart of the report.
CHART_BARS = 15

Step = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# JSON


def to_jsonable(value: Any) -> Any:
    """Plain JSON types; NaN and ±inf become None."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray | pd.Series):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        return value
    return str(value)


def _rule_threshold(result: AuditResult, rule: Rule, *, suffix: str = "") -> str | None:
    table = result.communities if rule.unit == "community" else result.streets
    column = f"{rule.id}_threshold{suffix}"
    if column not in table or len(table) == 0:
        return None
    values = table[column].dropna().astype(str).unique()
    return "; ".join(values) if len(values) else None


def shareable_provenance(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """``provenance`` with every absolute local path cut to its file name (values, and the keys
    of ``inputs_sha256``): an output meant to be shared never says where files sit on this
    disk; the SHA-256 of each input still identifies it.

    Parameters
    ----------
    provenance
        An audit's :attr:`~coverage.audit.AuditResult.provenance`.

    Returns
    -------
    dict
        A copy; nothing else changes.
    """

    def name(value: Any) -> Any:
        if isinstance(value, str) and Path(value).is_absolute():
            return Path(value).name
        return value

    def walk(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {name(k): walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return name(value)

    return walk(provenance)


def summary_dict(result: AuditResult) -> dict[str, Any]:
    """Everything a machine needs from an audit, as JSON-able types (NaN and inf -> None).

    Parameters
    ----------
    result
        The audit.

    Returns
    -------
    dict
        ``case``, ``pack``, ``parameters`` (walking speed, 15 minutes in metres, the share
        threshold, snapping limit), ``totals``, ``rules`` (per rule: units passing, failing and
        not evaluable, population and population in passing units, threshold and source),
        ``any_failing``, ``findings`` (each with at most :data:`FINDING_IDS_LIMIT` ``ids``,
        ``ids_count`` and ``ids_truncated``; the full lists are in ``data_findings.csv``),
        ``provenance`` and ``timings``.
    """
    from coverage.wording import shareable

    rules = []
    by_id = {r.id: r for r in result.pack.rules}
    for row in result.summary.to_dict("records"):
        rule = by_id.get(str(row["rule"]))
        entry = dict(row)
        if rule is not None:
            entry["kind"] = rule.kind
            entry["threshold"] = _rule_threshold(result, rule)
            entry["threshold_zh"] = _rule_threshold(result, rule, suffix="_zh")
            entry["budget_m"] = rule.budget_m(rule.speed(result.walk_speed_kmh))
            entry["source"] = rule.source
            entry["document"] = rule.document or None
            entry["date"] = rule.date or None
            entry["walk_speed_source"] = rule.walk_speed_source or None
        rules.append(entry)
    prov = result.provenance
    speed = result.walk_speed_kmh
    standards: dict[str, Any] = {}
    if result.pack.parts:  # several packs audited at once: the units x standards matrix
        from coverage.standards import standards_dict

        standards = {"standards": standards_dict(result)}
    return to_jsonable(
        {
            "case": result.case_name,
            "pack": {
                "id": result.pack.id,
                "version": result.pack.version,
                "title": result.pack.label("en"),
                "title_zh": result.pack.label("zh"),
                "reference": result.pack.reference,
            },
            "parameters": {
                "walk_speed_kmh": speed,
                "minutes_15_in_m": minutes_to_m(15, speed),
                "min_population_share": prov.get("min_population_share"),
                "max_snap_m": prov.get("max_snap_m"),
                "search_limit_factor": prov.get("search_limit_factor"),
            },
            "totals": {
                "communities": len(result.communities),
                "streets": len(result.streets),
                "population": float(result.communities["population"].sum()),
                "origins": len(result.origins),
                # the headline count: services that feed some rule of the pack
                **_service_totals(result),
            },
            "rules": rules,
            "any_failing": any_failing(result),
            "findings": [
                {
                    "severity": f.severity,
                    "layer": f.layer,
                    "message": shareable(f.message),
                    "message_zh": shareable(f.message_zh),
                    "ids": f.ids[:FINDING_IDS_LIMIT],
                    "ids_count": len(f.ids),
                    "ids_truncated": len(f.ids) > FINDING_IDS_LIMIT,
                }
                for f in result.findings
            ],
            "provenance": shareable_provenance(prov),
            "timings": result.timings,
            **standards,
        }
    )


def _service_totals(result: AuditResult) -> dict[str, int]:
    counts = result.service_counts()
    return {
        "services": counts["used"],
        "services_read": counts["read"],
        "services_uncategorised": counts["uncategorised"],
        "services_other_categories": counts["other"],
    }


def any_failing(result: AuditResult) -> bool:
    """True if any unit fails any rule (``--fail-on-violation``)."""
    return bool((result.summary["failing"] > 0).any())


# --------------------------------------------------------------------------------------------
# tables


def _plain_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, Mapping | list | tuple | set | np.ndarray):
        return json.dumps(to_jsonable(value), ensure_ascii=False)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _gis_ready(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy whose attribute columns every GIS reads: booleans as booleans (GeoPackage
    ``BOOLEAN``, an integer 0/1), lists and dicts as JSON text, ``inf`` kept (a REAL
    ``Infinity``: farther than the search limit, as in memory and in the CSV tables)."""
    out = gdf.copy()
    geometry = out.geometry.name
    for column in out.columns:
        if column == geometry:
            continue
        series = out[column]
        if series.dtype == object:
            values = [_plain_value(v) for v in series]
            present = [v for v in series if v is not None and not _is_nan(v)]
            if present and all(isinstance(v, bool | np.bool_) for v in present):
                # true/false with gaps: a nullable boolean, never the text "true"
                out[column] = pd.array(
                    [None if v is None or _is_nan(v) else bool(v) for v in series],
                    dtype="boolean",
                )
            else:
                out[column] = values
    return out


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _table(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    return pd.DataFrame(_gis_ready(gdf)).drop(columns=[gdf.geometry.name])


#: A spreadsheet (Excel, LibreOffice, WPS) reads a cell that starts with one of these as a
#: formula, which can run commands or send data away ("CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _neutral_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy in which no text cell or column name reads as a spreadsheet formula.

    Every text that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
    leading ``'``, which spreadsheets show as text. Numbers stay numbers (``-3.5`` in a number
    column is unchanged); only text cells change, including text ids such as ``-12``.

    Parameters
    ----------
    frame
        The table to be written for people.

    Returns
    -------
    pandas.DataFrame
        The neutralised copy; ``frame`` is not changed.
    """
    out = frame.copy()
    for i in range(out.shape[1]):
        series = out.iloc[:, i]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series):
            continue
        values = series.astype(object).tolist()
        if any(isinstance(v, str) and v.startswith(FORMULA_PREFIXES) for v in values):
            neutral = [_neutral_cell(v) for v in values]
            out.isetitem(i, np.array(neutral, dtype=object))
    out.columns = [_neutral_cell(c) for c in out.columns]
    return out


def write_spreadsheet_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table for people: UTF-8 with BOM and CRLF (Excel), no formula can run.

    Every CSV this package writes for people goes through here (see
    :func:`neutralise_formulas`).

    Parameters
    ----------
    frame
        The table (its index is not written).
    path
        The CSV file.

    Returns
    -------
    Path
        The file written.
    """
    out = Path(path)
    # CRLF line ends (RFC 4180) make the writer quote a cell holding a lone CR too, which
    # spreadsheets would otherwise read as the end of the row
    neutralise_formulas(frame).to_csv(out, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return out


def _people_frame(gdf: pd.DataFrame) -> pd.DataFrame:
    """Every column but the geometry: lists and dicts as JSON text; booleans, numbers and
    ``inf`` (farther than the search limit) as they are."""
    geometry = gdf.geometry.name if hasattr(gdf, "geometry") else None
    out = pd.DataFrame(gdf).drop(columns=[c for c in (geometry,) if c in gdf.columns])
    for i, column in enumerate(out.columns):
        if out[column].dtype == object:
            values = [v if isinstance(v, bool | np.bool_) else _plain_value(v) for v in out[column]]
            out.isetitem(i, np.array(values, dtype=object))
    return out


def _write_csv(gdf: pd.DataFrame, path: Path, lang: str = "en") -> None:
    from coverage.wording import people_table

    frame = _people_frame(gdf)
    if lang == "en":  # the codes, as summary.json has them; true/false as before
        for column in frame.columns:
            if pd.api.types.is_bool_dtype(frame[column]):
                frame[column] = frame[column].map({True: "true", False: "false"}).astype(object)
        write_spreadsheet_csv(frame, path)
        return
    write_spreadsheet_csv(people_table(frame, lang), path)


def findings_table(result: AuditResult, *, lang: str = "en") -> pd.DataFrame:
    """Every id of every finding, one row each: what ``data_findings.csv`` holds.

    Parameters
    ----------
    result
        The audit.
    lang
        ``"en"``: the codes and the English messages; ``"zh"``: the Chinese messages where
        written (see :func:`coverage.wording.finding_text`). Files are named, never their paths.

    Returns
    -------
    pandas.DataFrame
        Columns ``finding``, ``severity``, ``layer``, ``id`` and ``message``.
    """
    from coverage.wording import finding_text

    rows = [
        {
            "finding": n,
            "severity": f.severity,
            "layer": f.layer,
            "id": i,
            "message": finding_text(f, lang),
        }
        for n, f in enumerate(result.findings, start=1)
        for i in (f.ids or ("",))
    ]
    return pd.DataFrame(rows, columns=["finding", "severity", "layer", "id", "message"])


def _write_rectification_csv(result: AuditResult, path: Path, lang: str) -> None:
    """The 整改清单 (one row per unit and failing rule), as in ``report.docx``."""
    from coverage.document import rectification_csv_frame

    write_spreadsheet_csv(rectification_csv_frame(result, lang=lang), path)


def _write_findings_csv(result: AuditResult, path: Path, lang: str = "en") -> None:
    """Every id of every finding, one row each (``summary.json`` lists only the first ones)."""
    _write_csv(findings_table(result, lang=lang), path, lang)


def _service_areas_layer(
    areas: Mapping[str, gpd.GeoDataFrame] | None, crs: Any
) -> gpd.GeoDataFrame:
    import geopandas as gpd

    frames = []
    for category, gdf in (areas or {}).items():
        if gdf is None or len(gdf) == 0:
            continue
        frame = gdf.to_crs(crs) if gdf.crs is not None and crs is not None else gdf
        frames.append(frame.assign(category=category))
    if not frames:
        return gpd.GeoDataFrame({"category": [], "minutes": []}, geometry=[], crs=crs)
    layer = pd.concat(frames, ignore_index=True)
    columns = ["category", *[c for c in layer.columns if c not in ("category", "geometry")]]
    return gpd.GeoDataFrame(layer[[*columns, "geometry"]], geometry="geometry", crs=crs)


def _write_gpkg(
    result: AuditResult,
    path: Path,
    areas: Mapping[str, gpd.GeoDataFrame] | None,
    lang: str = "en",
) -> None:
    if path.exists():
        path.unlink()  # a fresh file: no stale layers from an earlier audit
    layers = {
        "communities": result.communities,
        "streets": result.streets,
        "origins": result.origins,
        "services": result.services,
    }
    for name, gdf in layers.items():
        _gis_ready(gdf).to_file(path, layer=name, driver="GPKG", engine="pyogrio")
    sa = _service_areas_layer(areas, result.communities.crs)
    if len(sa):
        _gis_ready(sa).to_file(path, layer="service_areas", driver="GPKG", engine="pyogrio")
    else:
        sa.to_file(
            path,
            layer="service_areas",
            driver="GPKG",
            engine="pyogrio",
            geometry_type="MultiPolygon",
        )
    from coverage.gis_styles import layer_styles, write_layer_styles

    minutes = sa["minutes"].dropna().astype(float).unique().tolist() if len(sa) else None
    write_layer_styles(path, layer_styles(result, lang=lang, area_minutes=minutes))


# --------------------------------------------------------------------------------------------
# HTML

_TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "步行可达公共服务审计报告",
        "headline": "主要结果",
        "parameters": "参数",
        "speed": "步行速度",
        "speed_value": "{speed:g} 公里/小时：15 分钟 ≈ {m:,.0f} 米",
        "share": "可达居民比例门槛",
        "snap": "最大吸附距离",
        "pack": "规则包",
        "rules": "各规则逐单元结果",
        "rule_summary": "通过 {p} · 未通过 {f} · 不可评估 {n}（共 {u} 个{unit}）",
        "population_pass": "通过单元内居民 {pct}",
        "community": "社区",
        "street": "街道",
        "community_units": "社区",
        "street_units": "街道",
        "id": "编号",
        "name": "名称",
        "population": "人口",
        "status": "结论",
        "value": "数值",
        "threshold": "标准",
        "reason": "原因",
        "source": "依据原文",
        "pass": "通过",
        "fail": "未通过",
        "not_evaluable": "不可评估",
        "charts": "最需关注的单元",
        "worst_communities": (
            "可达性最差的社区（{rule}：{n}类必备服务中，{pct}以上居民可在时限内到达的类别数；"
            "括号内为各类平均可达比例）"
        ),
        "worst_streets": "未通过规则最多的街道（未通过的规则数）",
        "reached_text": "{k}/{n} 类（平均 {mean}）",
        "failed_text": "{f}/{n}：{ids}",
        "findings": "数据与审计发现",
        "no_findings": "没有发现问题。",
        "sources": "数据来源",
        "map": "交互地图",
        "map_link": "打开交互地图（map.html）",
        "no_map": "本次未生成地图。",
        "residents": "居民",
        "communities_n": "社区",
        "streets_n": "街道",
        "services_n": "规则所用服务设施（共读入 {read:,} 处）",
        "services_uncategorised": "未能分类的服务设施（不计入任何规则）",
        "created": "生成时间",
        "file": "文件",
        "network": "步行网络",
        "software": "软件版本",
        "timings": "耗时（秒）",
        "more": "另有 {n} 个编号",
        "units_failing": "存在未通过规则的单元",
        "network_text": (
            "{source}：{nodes} 个节点，{edges} 条路段，共 {km} 公里，{components} 个连通分量"
        ),
        "stages": "load=读取;network=路网;origins=居民点;snapping=吸附;search=距离搜索;"
        "rules=规则判定;outputs=输出",
        "osm_licence": "OpenStreetMap 数据 {attribution}，依开放数据库许可协议（ODbL）使用。",
        "static_map": "各单元的判定结果，底图为步行路网。",
    },
    "en": {
        "title": "Walking access to public services: audit report",
        "headline": "Headline figures",
        "parameters": "Parameters",
        "speed": "Walking speed",
        "speed_value": "{speed:g} km/h: 15 minutes ≈ {m:,.0f} m",
        "share": "Share of residents a reach rule requires",
        "snap": "Largest snapping distance",
        "pack": "Rule pack",
        "rules": "Every unit, rule by rule",
        "rule_summary": "{p} pass · {f} fail · {n} not evaluable (of {u} {unit})",
        "population_pass": "residents in passing units {pct}",
        "community": "community",
        "street": "street",
        "community_units": "communities",
        "street_units": "streets",
        "id": "Id",
        "name": "Name",
        "population": "Population",
        "status": "Status",
        "value": "Value",
        "threshold": "Threshold",
        "reason": "Reason",
        "source": "Source text",
        "pass": "pass",
        "fail": "fail",
        "not_evaluable": "not evaluable",
        "charts": "Where to look first",
        "worst_communities": (
            "Communities with the worst access ({rule}: of the {n} required categories, how "
            "many reach {pct} of residents within the budget; mean share in brackets)"
        ),
        "worst_streets": "Streets failing the most rules (rules failed)",
        "reached_text": "{k}/{n} categories (mean {mean})",
        "failed_text": "{f}/{n}: {ids}",
        "findings": "Findings about the data and the audit",
        "no_findings": "Nothing to report.",
        "sources": "Data sources",
        "map": "Interactive map",
        "map_link": "Open the interactive map (map.html)",
        "no_map": "No map was made for this audit.",
        "residents": "residents",
        "communities_n": "communities",
        "streets_n": "streets",
        "services_n": "services used by the rules (of {read:,} read)",
        "services_uncategorised": "services without a category (used by no rule)",
        "created": "Created",
        "file": "File",
        "network": "Walking network",
        "software": "Software",
        "timings": "Timings (s)",
        "more": "{n} more ids",
        "units_failing": "units failing at least one rule",
        "network_text": "{source} — {nodes} nodes, {edges} edges, {km} km, {components} components",
        "stages": "",
        "osm_licence": "OpenStreetMap data {attribution}, Open Database License (ODbL).",
        "static_map": "The decision of every unit, over the walking network.",
    },
}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Microsoft YaHei","PingFang SC",sans-serif;
margin:0 auto;max-width:1100px;padding:1.5rem;color:#1f2328;line-height:1.5}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de}
.sub{color:#57606a;margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:.75rem}
.card{border:1px solid #d0d7de;border-radius:6px;padding:.6rem .9rem;min-width:9rem}
.card b{display:block;font-size:1.4rem}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin:.5rem 0 1rem}
th,td{border:1px solid #d0d7de;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;white-space:nowrap}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}
.not_evaluable{color:#6e7781}
details{margin:.5rem 0}summary{cursor:pointer;font-weight:600}
.warning{color:#9a6700}.error{color:#cf222e}
blockquote{margin:.3rem 0;padding:.2rem .8rem;border-left:3px solid #d0d7de;color:#57606a}
svg text{font-family:inherit;font-size:12px}
footer{margin-top:2rem;color:#57606a;font-size:.85rem}
figure.static-map{margin:.5rem 0}figure.static-map img{max-width:100%;height:auto}
figure.static-map figcaption{color:#57606a;font-size:.8rem}
@media print{
@page{size:A4;margin:15mm 12mm}
body{max-width:none;padding:0;font-size:10pt}
h1,h2,h3{break-after:avoid;page-break-after:avoid}
.chart,figure,.cards,blockquote,tr{break-inside:avoid;page-break-inside:avoid}
thead{display:table-header-group}tfoot{display:table-footer-group}
a{color:inherit;text-decoration:none}
}
"""


def _e(value: Any) -> str:
    """HTML-escape anything derived from data."""
    return html.escape("" if value is None else str(value), quote=True)


def _fmt_number(value: Any) -> str:
    try:
        return measure_text(float(value))
    except (TypeError, ValueError):
        return _e(value)


def _fmt_pct(value: float) -> str:
    return pct_text(value)


def _bar_chart(labels: list[str], values: list[float], texts: list[str], *, vmax: float) -> str:
    """A horizontal bar chart as inline SVG (labels and texts are escaped here)."""
    if not labels:
        return ""
    row_h, label_w, bar_w, pad = 22, 240, 480, 150
    height = row_h * len(labels) + 10
    width = label_w + bar_w + pad
    vmax = vmax if vmax > 0 else 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">',
        f'<rect x="{label_w}" y="0" width="{bar_w}" height="{height}" fill="#f6f8fa"/>',
    ]
    for i, (label, value, text) in enumerate(zip(labels, values, texts, strict=True)):
        y = 5 + i * row_h
        v = 0.0 if not math.isfinite(value) else max(value, 0.0)
        w = bar_w * min(v / vmax, 1.0)
        shown = label if len(label) <= 28 else label[:27] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{_e(shown)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="#cf222e" opacity="0.8"><title>{_e(label)}: {_e(text)}</title></rect>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}">{_e(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _status_html(status: Any, t: Mapping[str, str]) -> str:
    key = str(status)
    return f'<span class="{_e(key)}">{_e(t.get(key, key))}</span>'


def _unit_label(row: Mapping[str, Any], id_column: str) -> str:
    name = row.get("name")
    ident = row.get(id_column)
    if name is None or (isinstance(name, float) and math.isnan(name)) or name == "":
        return str(ident)
    return f"{name} ({ident})"


def _worst_communities_chart(result: AuditResult, lang: str, t: Mapping[str, str]) -> str:
    """Communities whose residents reach the fewest required categories (first reach rule)."""
    from coverage.audit import service_categories

    reach = [r for r in result.pack.rules if r.kind == "reach" and r.unit == "community"]
    if not reach or len(result.communities) == 0:
        return ""
    rule = reach[0]
    present = set(service_categories(result.services)["category"])
    shares_of = {c: f"{rule.id}_share_{c}" for c in rule.categories}
    cats = [c for c, col in shares_of.items() if c in present and col in result.communities]
    if not cats:
        return ""
    need = float(result.provenance.get("min_population_share") or 0.9)
    table = result.communities[result.communities[f"{rule.id}_status"] != NOT_EVALUABLE]
    shares = table[[f"{rule.id}_share_{c}" for c in cats]].to_numpy(dtype=float)
    reached = (np.nan_to_num(shares, nan=0.0) >= need - 1e-9).sum(axis=1)
    mean = np.nanmean(np.where(np.isnan(shares), 0.0, shares), axis=1)
    frame = table.assign(_k=reached, _mean=mean)
    frame = frame.sort_values(["_k", "_mean", "population"], ascending=[True, True, False])
    rows = frame.head(CHART_BARS).to_dict("records")
    texts = [
        t["reached_text"].format(k=int(r["_k"]), n=len(cats), mean=_fmt_pct(float(r["_mean"])))
        for r in rows
    ]
    chart = _bar_chart(
        [_unit_label(r, "community_id") for r in rows],
        [float(r["_k"]) + 0.02 for r in rows],  # a sliver so that 0 still shows a bar
        texts,
        vmax=float(len(cats)),
    )
    caption = t["worst_communities"].format(
        rule=f"{rule.id} {rule.label(lang)}", pct=_fmt_pct(need), n=len(cats)
    )
    return f'<div class="chart"><h3>{_e(caption)}</h3>{chart}</div>'


def _worst_streets_chart(result: AuditResult, t: Mapping[str, str]) -> str:
    """Streets failing the most rules."""
    table = result.streets
    rules = [r for r in result.pack.rules if f"{r.id}_status" in table]
    if not rules or len(table) == 0:
        return ""
    failed = sum((table[f"{r.id}_status"] == FAIL).astype(int) for r in rules)
    frame = table.assign(_f=failed)
    frame = frame[frame["_f"] > 0].sort_values(["_f", "population"], ascending=[False, False])
    rows = frame.head(CHART_BARS).to_dict("records")
    texts = [
        t["failed_text"].format(
            f=int(r["_f"]),
            n=len(rules),
            ids=" ".join(x.id for x in rules if r.get(f"{x.id}_status") == FAIL),
        )
        for r in rows
    ]
    chart = _bar_chart(
        [_unit_label(r, "street_id") for r in rows],
        [float(r["_f"]) for r in rows],
        texts,
        vmax=float(len(rules)),
    )
    return f'<div class="chart"><h3>{_e(t["worst_streets"])}</h3>{chart}</div>' if chart else ""


def _static_map_html(png: bytes | None, title: str, t: Mapping[str, str]) -> str:
    """The rule's static map inline (a data URI: the report stays one file, offline)."""
    if not png:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure class="static-map"><img src="data:image/png;base64,{data}" '
        f'alt="{_e(title)}"><figcaption>{_e(t["static_map"])}</figcaption></figure>'
    )


def _rule_section(
    result: AuditResult,
    rule: Rule,
    lang: str,
    t: Mapping[str, str],
    static_map: bytes | None = None,
) -> str:
    unit_name = t[rule.unit]
    table = result.communities if rule.unit == "community" else result.streets
    id_column = "community_id" if rule.unit == "community" else "street_id"
    summary: Mapping[Any, Any] = next(
        r for r in result.summary.to_dict("records") if r["rule"] == rule.id
    )
    share = float(summary["population_share_in_passing_units"])
    head = t["rule_summary"].format(
        p=int(summary["passing"]),
        f=int(summary["failing"]),
        n=int(summary["not_evaluable"]),
        u=int(summary["units"]),
        unit=t[f"{rule.unit}_units"],
    )
    reason_col = f"{rule.id}_reason_zh" if lang == "zh" else f"{rule.id}_reason"
    if reason_col not in table:
        reason_col = f"{rule.id}_reason"
    threshold_col = f"{rule.id}_threshold_zh" if lang == "zh" else f"{rule.id}_threshold"
    if threshold_col not in table:
        threshold_col = f"{rule.id}_threshold"
    order = {FAIL: 0, NOT_EVALUABLE: 1, PASS: 2}
    rows = sorted(
        table.to_dict("records"),
        key=lambda r: (order.get(str(r.get(f"{rule.id}_status")), 3), str(r.get(id_column))),
    )
    body = []
    for r in rows:
        body.append(
            "<tr>"
            f"<td>{_e(r.get(id_column))}</td><td>{_e(r.get('name'))}</td>"
            f'<td class="num">{_fmt_number(r.get("population"))}</td>'
            f"<td>{_status_html(r.get(f'{rule.id}_status'), t)}</td>"
            f'<td class="num">{_fmt_number(r.get(f"{rule.id}_value"))}</td>'
            f"<td>{_e(r.get(threshold_col))}</td>"
            f"<td>{_e(r.get(reason_col))}</td>"
            "</tr>"
        )
    header = "".join(
        f"<th>{_e(t[k])}</th>"
        for k in ("id", "name", "population", "status", "value", "threshold", "reason")
    )
    return (
        f'<section id="rule-{_e(rule.id)}"><h3>{_e(rule.id)} {_e(rule.label(lang))}</h3>'
        f"<p>{_e(head)}; {_e(t['population_pass'].format(pct=_fmt_pct(share)))}</p>"
        f"<blockquote>{_e(t['source'])}：{_e(rule.source)}</blockquote>"
        f"{_rule_notes(result, rule, lang)}"
        f"{_static_map_html(static_map, f'{rule.id} {rule.label(lang)}', t)}"
        f"<details{' open' if len(rows) <= 30 else ''}><summary>{_e(unit_name)} × {len(rows)}"
        f"</summary><table><thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody>"
        "</table></details></section>"
    )


def _rule_notes(result: AuditResult, rule: Rule, lang: str) -> str:
    """The rule's document and date, its own walking speed (a group's) and whether its
    threshold is unverified: said in the report as the pack speed is."""
    notes = []
    if rule.document or rule.date:
        notes.append(", ".join(v for v in (rule.document, rule.date) if v))
    if rule.walk_speed_kmh is not None:
        notes.append(
            f"本规则步行速度 {rule.walk_speed_kmh:g} 公里/小时（{rule.walk_speed_source}）"
            if lang == "zh"
            else f"this rule walks at {rule.walk_speed_kmh:g} km/h ({rule.walk_speed_source})"
        )
    elif rule.pack_id is not None:
        speed = rule.speed(result.walk_speed_kmh)
        notes.append(
            f"{rule.pack_id}：步行速度 {speed:g} 公里/小时"
            if lang == "zh"
            else f"{rule.pack_id}: walking speed {speed:g} km/h"
        )
    if rule.unverified:
        if rule.decides:
            notes.append(
                "阈值未经核实（未能在原文中确认），结论仅供参考"
                if lang == "zh"
                else "UNVERIFIED threshold (not confirmed from a primary text): decisions are "
                "indicative only"
            )
        else:
            notes.append(
                "阈值未经核实，规则未启用：仅列出测量值，不作结论"
                if lang == "zh"
                else "threshold unverified: the rule is switched off (measured, not decided)"
            )
    return "".join(f"<p><small>{_e(n)}</small></p>" for n in notes)


def _findings_html(result: AuditResult, t: Mapping[str, str], lang: str = "en") -> str:
    from coverage.wording import finding_text, layer_text, severity_text

    if not result.findings:
        return f"<p>{_e(t['no_findings'])}</p>"
    items = []
    for f in result.findings:
        ids = list(f.ids)
        shown = ", ".join(ids[:20])
        more = f" … ({t['more'].format(n=len(ids) - 20)})" if len(ids) > 20 else ""
        id_text = f"<br><small>{_e(shown)}{_e(more)}</small>" if ids else ""
        items.append(
            f'<li><span class="{_e(f.severity)}">{_e(severity_text(f.severity, lang))}</span> '
            f"[{_e(layer_text(f.layer, lang))}] {_e(finding_text(f, lang))}{id_text}</li>"
        )
    return f"<ul>{''.join(items)}</ul>"


def _sources_html(result: AuditResult, t: Mapping[str, str]) -> str:
    from coverage.wording import shareable

    prov = result.provenance
    # file names only: where the auditor's disk keeps a file is nobody else's business
    rows = "".join(
        f"<tr><td>{_e(Path(p).name)}</td><td><code>{_e(str(h)[:16])}…</code></td></tr>"
        for p, h in (prov.get("inputs_sha256") or {}).items()
    )
    parts = [
        f"<table><thead><tr><th>{_e(t['file'])}</th><th>SHA-256</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    ]
    net = prov.get("network") or {}
    if net:
        parts.append(
            "<p>"
            + _e(
                t["network_text"].format(
                    source=shareable(str(net.get("source") or "")),
                    nodes=_fmt_number(net.get("nodes")),
                    edges=_fmt_number(net.get("edges")),
                    km=_fmt_number(net.get("length_km")),
                    components=_fmt_number(net.get("components")),
                )
            )
            + "</p>"
        )
    software = prov.get("software") or {}
    if software:
        parts.append(
            f"<p>{_e(t['software'])}: "
            + _e(", ".join(f"{k} {v}" for k, v in software.items()))
            + "</p>"
        )
    if result.timings:
        stages = t.get("stages", "")
        names = dict(item.split("=", 1) for item in stages.split(";") if "=" in item)
        parts.append(
            f"<p>{_e(t['timings'])}: "
            + _e(", ".join(f"{names.get(k, k)} {v:.2f}" for k, v in result.timings.items()))
            + "</p>"
        )
    parts.append(f"<p>{_e(t['osm_licence'].format(attribution=OSM_ATTRIBUTION))}</p>")
    return "".join(parts)


def render_report_html(
    result: AuditResult,
    *,
    lang: str = "zh",
    map_file: str | None = "map.html",
    static_maps: Mapping[str, bytes] | None = None,
) -> str:
    """The audit as one self-contained HTML page (no external scripts, styles or fonts).

    Parameters
    ----------
    result
        The audit.
    lang
        ``"zh"`` or ``"en"``.
    map_file
        Relative link to the interactive map; ``None`` says no map was made. Default
        ``"map.html"``, the name :func:`write_outputs` uses.
    static_maps
        Rule id -> PNG of its static map (:func:`coverage.static_maps.render_rule_maps`),
        shown inline in the rule's section; ``None``: no images.

    Returns
    -------
    str
        HTML in which every string taken from the data is escaped.
    """
    if lang not in _TEXT:
        msg = f"lang must be one of {', '.join(_TEXT)}, got {lang!r}"
        raise ValueError(msg)
    from coverage.wording import date_text

    t = _TEXT[lang]
    speed = result.walk_speed_kmh
    share = result.provenance.get("min_population_share")
    population = float(result.communities["population"].sum())
    failing_units = 0
    for table in (result.communities, result.streets):
        cols = [c for c in table.columns if c.endswith("_status")]
        if cols:
            failing_units += int((table[cols] == FAIL).any(axis=1).sum())
    services = result.service_counts()
    cards = [
        (f"{population:,.0f}", t["residents"]),
        (f"{len(result.communities):,}", t["communities_n"]),
        (f"{len(result.streets):,}", t["streets_n"]),
        (f"{services['used']:,}", t["services_n"].format(read=services["read"])),
        (f"{services['uncategorised']:,}", t["services_uncategorised"]),
        (f"{failing_units:,}", t["units_failing"]),
    ]
    for row in result.summary.to_dict("records"):
        pct = _fmt_pct(float(row["population_share_in_passing_units"]))
        cards.append((f"{row['passing']}/{row['units']}", f"{row['rule']} {t['pass']} · {pct}"))
    cards_html = "".join(f'<div class="card"><b>{_e(v)}</b>{_e(k)}</div>' for v, k in cards)
    params = [
        (t["speed"], t["speed_value"].format(speed=speed, m=minutes_to_m(15, speed))),
        (t["share"], _fmt_pct(float(share)) if share is not None else "–"),
        (t["snap"], f"{_fmt_number(result.provenance.get('max_snap_m'))} m"),
        (t["pack"], f"{result.pack.label(lang)} ({result.pack.id} v{result.pack.version})"),
        (t["created"], date_text(result.provenance.get("created_utc"), lang)),
    ]
    version = (result.provenance.get("software") or {}).get("service-coverage", "")
    params_html = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in params)
    charts = _worst_communities_chart(result, lang, t) + _worst_streets_chart(result, t)
    maps = static_maps or {}
    rules_html = "".join(
        _rule_section(result, rule, lang, t, maps.get(rule.id)) for rule in result.pack.rules
    )
    if result.pack.parts:  # several packs at once: the units x standards matrix first
        from coverage.standards import standards_html

        rules_html = standards_html(result, lang=lang) + rules_html
    map_html = (
        f'<p><a href="{_e(map_file)}">{_e(t["map_link"])}</a></p>'
        if map_file
        else f"<p>{_e(t['no_map'])}</p>"
    )
    return (
        f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(result.case_name)} — {_e(t['title'])}</title><style>{_CSS}</style></head>"
        f"<body><h1>{_e(result.case_name)}</h1>"
        f'<p class="sub">{_e(t["title"])} · {_e(result.pack.label(lang))}</p>'
        f'<h2>{_e(t["headline"])}</h2><div class="cards">{cards_html}</div>'
        f"<h2>{_e(t['map'])}</h2>{map_html}"
        f"<h2>{_e(t['parameters'])}</h2><table>{params_html}</table>"
        f"<h2>{_e(t['charts'])}</h2>{charts}"
        f"<h2>{_e(t['rules'])}</h2>{rules_html}"
        f"<h2>{_e(t['findings'])}</h2>{_findings_html(result, t, lang)}"
        f"<h2>{_e(t['sources'])}</h2>{_sources_html(result, t)}"
        f"<footer>service-coverage {_e(version)}"
        f" · {_e(OSM_ATTRIBUTION)}</footer>"
        "</body></html>"
    )


# --------------------------------------------------------------------------------------------
# everything


def _service_areas(result: AuditResult) -> dict[str, gpd.GeoDataFrame] | None:
    """Walking service areas per category (the raster path: seconds for a city, at most one
    cell diagonal more land than the exact polygons claim), or None without a network."""
    from coverage.isochrones import audit_service_areas

    if result.network is None:
        logger.warning(
            "service areas skipped: the audit result has no walking network; the "
            "service_areas layer of audit.gpkg is left empty"
        )
        return None
    return audit_service_areas(result)


def check_output_folder(out_dir: str | Path) -> Path:
    """Check, before an audit runs, that its outputs can be written into ``out_dir``.

    Parameters
    ----------
    out_dir
        The output folder; it need not exist yet.

    Returns
    -------
    Path
        The folder, absolute.

    Raises
    ------
    ConfigError
        If the path, or a folder above it, is a file, or if the folder (or the nearest existing
        folder above it) cannot be written.
    """
    out = Path(out_dir).absolute()
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "the output folder" if existing == out else f"{existing}, a folder above it,"
        msg = (
            f"output folder {out}: {what} is a file, not a folder; give another --out, or move "
            "the file away"
        )
        raise ConfigError(msg)
    try:
        probe = tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=existing)
    except OSError as exc:
        msg = (
            f"output folder {out}: cannot write in {existing} ({exc.strerror or exc}); give "
            "a folder you can write to with --out, or fix its permissions"
        )
        raise ConfigError(msg) from exc
    Path(probe).rmdir()
    return out


def write_outputs(
    result: AuditResult,
    out_dir: str | Path,
    *,
    lang: str = "zh",
    map: bool = True,
    offline: bool = True,
    service_areas: bool = True,
    outputs: Collection[str] | None = None,
    docx_sections: Sequence[Callable[[Any, str], None]] = (),
    on_step: Step | None = None,
) -> dict[str, Path]:
    """Write every output of an audit into a folder (see the module docstring).

    The files are written into a staging folder inside ``out_dir`` and moved into place only
    when all are complete, so the folder never holds files of two runs.

    Parameters
    ----------
    result
        The audit.
    out_dir
        The folder; created if missing. The earlier run's output files are replaced (and those
        of the outputs not written this time, such as ``map.html`` without a map, removed);
        other files are left alone.
    lang
        Language of the report and the map: ``"zh"`` or ``"en"``.
    map
        Write ``map.html`` with :func:`coverage.maps.save_map`.
    offline
        ``True`` (default): a self-contained map that works without internet access;
        ``False``: Leaflet from a CDN and OpenStreetMap base maps (passed to ``save_map``).
    service_areas
        Compute walking service areas (the ``service_areas`` layer of the GeoPackage; the
        map shows walking time as image layers instead). They are traced from a 10 m raster
        (:func:`coverage.isochrones.audit_service_areas`): no land farther than 30 m plus one
        cell diagonal (14 m) from a reached street. ``False``: the layer is left empty (the
        slowest output of a city-size case).
    outputs
        The output groups to write (see :data:`OUTPUT_GROUPS`): any of ``"gpkg"``, ``"csv"``,
        ``"report"``, ``"map"``, ``"docx"`` and ``"static"``; ``None``: all (``map=False``
        still leaves out the map).
        ``summary.json`` is always written. Service areas are computed only when the GeoPackage
        is written.
    docx_sections
        Further sections of ``report.docx`` (see :func:`coverage.document.build_report_docx`),
        e.g. a plan's proposed sites (:func:`coverage.plan_report.plan_docx_section`).
    on_step
        Called with the name of each step before it starts (for progress displays).

    Returns
    -------
    dict[str, Path]
        Output key (see :data:`OUTPUT_FILES`) -> file written. ``map_html`` is missing when no
        map was written.

    Raises
    ------
    ConfigError
        If the folder cannot be written (see :func:`check_output_folder`); nothing is changed.
    """
    if lang not in _TEXT:
        msg = f"lang must be one of {', '.join(_TEXT)}, got {lang!r}"
        raise ValueError(msg)
    groups = check_outputs(outputs)
    if not map:
        groups.discard("map")
    out = check_output_folder(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(out)
    staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=out))
    try:
        staged = _write_all(
            result,
            staging,
            lang=lang,
            groups=groups,
            offline=offline,
            service_areas=service_areas,
            docx_sections=docx_sections,
            on_step=on_step,
        )
        _install(staged, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {k: out / p.name for k, p in staged.items()}


def check_outputs(outputs: Collection[str] | str | None) -> set[str]:
    """The output groups asked for, checked (``None``: all of :data:`OUTPUT_GROUPS`).

    Raises
    ------
    ConfigError
        If a group is not one of :data:`OUTPUT_GROUPS`.
    """
    if outputs is None:
        return set(OUTPUT_GROUPS)
    if isinstance(outputs, str):
        outputs = [outputs]
    asked = {str(o).strip().lower() for o in outputs if str(o).strip()}
    unknown = sorted(asked - set(OUTPUT_GROUPS))
    if unknown:
        msg = (
            f"unknown output(s) {', '.join(unknown)}; choose among {', '.join(OUTPUT_GROUPS)} "
            "(summary.json is always written), e.g. --outputs report,csv"
        )
        raise ConfigError(msg)
    return asked


def _remove_stale_staging(out: Path) -> None:
    """Remove the staging folders that killed runs left (untouched for a day)."""
    now = time.time()
    for folder in out.glob(f"{_STAGING_PREFIX}*"):
        try:
            if folder.is_dir() and now - folder.stat().st_mtime > _STALE_STAGING_SECONDS:
                shutil.rmtree(folder)
                logger.info("removed %s, left by an interrupted run", folder)
        except OSError as exc:
            logger.warning("could not remove %s, left by an interrupted run: %s", folder, exc)


def _install(staged: dict[str, Path], out: Path) -> None:
    """Replace the earlier run's outputs in ``out`` by the staged files.

    ``summary.json`` marks a complete set: it goes first and comes back last, so a process
    killed in between leaves part of the new run without ``summary.json``, never a mix.
    """
    old = [out / OUTPUT_FILES["summary_json"]] + [
        out / name for key, name in OUTPUT_FILES.items() if key != "summary_json"
    ]
    for path in old:
        if path.is_dir() and not path.is_symlink():  # static-maps/
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for key in sorted(staged, key=lambda k: k == "summary_json"):
        staged[key].replace(out / staged[key].name)


def _write_all(
    result: AuditResult,
    out: Path,
    *,
    lang: str,
    groups: set[str],
    offline: bool,
    service_areas: bool,
    docx_sections: Sequence[Callable[[Any, str], None]] = (),
    on_step: Step | None,
) -> dict[str, Path]:
    """Write the outputs of ``groups`` and ``summary.json`` into the (empty, staging) folder
    ``out``."""
    paths = {key: out / name for key, name in OUTPUT_FILES.items()}
    written: dict[str, Path] = {}

    def step(name: str) -> None:
        if on_step is not None:
            on_step(name)

    started = time.perf_counter()
    areas = None
    if service_areas and "gpkg" in groups:  # the map draws walking time, not these polygons
        step("service areas")
        areas = _service_areas(result)
    if "gpkg" in groups:
        step("GeoPackage")
        _write_gpkg(result, paths["gpkg"], areas, lang)
        written["gpkg"] = paths["gpkg"]
    if "csv" in groups:
        step("tables")
        _write_csv(result.communities, paths["communities_csv"], lang)
        _write_csv(result.streets, paths["streets_csv"], lang)
        written["communities_csv"] = paths["communities_csv"]
        written["streets_csv"] = paths["streets_csv"]
        _write_rectification_csv(result, paths["findings_csv"], lang)
        written["findings_csv"] = paths["findings_csv"]
        _write_findings_csv(result, paths["data_findings_csv"], lang)
        written["data_findings_csv"] = paths["data_findings_csv"]

    pngs: dict[str, bytes] = {}
    if groups & {"report", "docx", "static"}:
        step("static maps")
        from coverage.static_maps import render_rule_maps, write_static_maps

        formats = ("png", "svg") if "static" in groups else ("png",)
        rendered = render_rule_maps(result, lang=lang, formats=formats)
        pngs = {m.rule_id: m.images["png"] for m in rendered}
        if "static" in groups:
            write_static_maps(rendered, paths["static_maps"])
            written["static_maps"] = paths["static_maps"]

    map_written = False
    if "map" in groups:
        step("map")
        try:
            from coverage.maps import save_map
        except ImportError as exc:
            logger.warning("map.html skipped: coverage.maps is not available (%s)", exc)
        else:
            # the map shows walking time as image layers; the polygons are for the GeoPackage
            save_map(result, paths["map_html"], lang=lang, offline=offline)
            written["map_html"] = paths["map_html"]
            map_written = True

    if "report" in groups:
        step("report")
        paths["report_html"].write_text(
            render_report_html(
                result,
                lang=lang,
                map_file="map.html" if map_written else None,
                static_maps=pngs,
            ),
            encoding="utf-8",
        )
        written["report_html"] = paths["report_html"]
    if "docx" in groups:
        step("document")
        from coverage.document import write_report_docx

        write_report_docx(
            result, paths["report_docx"], lang=lang, static_maps=pngs, sections=docx_sections
        )
        written["report_docx"] = paths["report_docx"]
    summary = summary_dict(result)
    summary["timings"] = {**summary["timings"], "outputs": time.perf_counter() - started}
    summary["outputs"] = {k: p.name for k, p in written.items()} | {"summary_json": "summary.json"}
    paths["summary_json"].write_text(
        json.dumps(summary, ensure_ascii=False, indent=2, allow_nan=False), encoding="utf-8"
    )
    written["summary_json"] = paths["summary_json"]
    return {k: written[k] for k in OUTPUT_FILES if k in written}
