"""Words for people: status words, table headers, dates, findings and file names per language.

Every output meant for people (the terminal summary, ``report.html``, ``report.docx``, the CSV
tables, the static maps) takes its words from here, so that under ``lang="zh"`` nothing is
left in English but codes and units (rule ids such as ``W1``, ``OSM``, ``GCJ-02``, ``km/h``,
``m²``) and what the data itself holds (names, ids). Machine outputs (``summary.json``) keep
the codes (``pass``, ``fail``, ``not_evaluable``).

Shared outputs name input files by their file name only (:func:`shareable`): an absolute
path says where the auditor's disk keeps a file, which is nobody else's business and useless
on another machine.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from coverage.rules import FAIL, NOT_EVALUABLE, PASS

if TYPE_CHECKING:
    from coverage.load import Finding

__all__ = [
    "BEIJING",
    "LANGS",
    "category_text",
    "check_lang",
    "column_header",
    "date_text",
    "finding_text",
    "layer_text",
    "people_table",
    "severity_text",
    "shareable",
    "status_text",
    "unit_plural",
]

#: The languages of the outputs for people.
LANGS = ("zh", "en")
#: China Standard Time (UTC+8, no daylight saving): the time zone of dates under ``zh``.
BEIJING = timezone(timedelta(hours=8), "UTC+8")

_STATUS = {
    "zh": {PASS: "通过", FAIL: "未通过", NOT_EVALUABLE: "不可评估"},
    "en": {PASS: "pass", FAIL: "fail", NOT_EVALUABLE: "not evaluable"},
}
_UNITS = {
    "zh": {"community": "社区", "street": "街道"},
    "en": {"community": "communities", "street": "streets"},
}
_SEVERITY = {"zh": {"warning": "警告", "error": "错误"}, "en": {}}
_LAYER = {
    "zh": {
        "communities": "社区",
        "streets": "街道",
        "services": "服务设施",
        "origins": "居民点",
        "network": "步行路网",
    },
    "en": {},
}
_BOOL = {"zh": {True: "是", False: "否"}, "en": {True: "true", False: "false"}}
_POPULATION_SOURCE = {
    "zh": {
        "points": "人口点",
        "building": "住宅建筑",
        "residential_grid": "居住用地网格",
        "grid": "社区网格",
        "none": "无居民",
    },
    "en": {},
}

#: Fixed column names -> Chinese headers.
_HEADERS_ZH = {
    "community_id": "社区编号",
    "street_id": "街道编号",
    "service_id": "设施编号",
    "origin_id": "居民点编号",
    "name": "名称",
    "population": "人口",
    "population_source": "人口分布依据",
    "category": "类别",
    "finding": "序号",
    "severity": "级别",
    "layer": "图层",
    "id": "编号",
    "message": "说明",
}
#: ``<rule>_<suffix>`` columns -> Chinese header after the rule id (``{cat}``: a category).
_RULE_HEADERS_ZH = {
    "value": "数值",
    "threshold_zh": "标准",
    "status": "结论",
    "reason_zh": "原因",
    "missing": "未达标类别",
    "area_m2": "场地面积（平方米）",
    "unknown_area_grounds": "面积未知的场地数",
    "lower_bound": "数值为下限",
    "communities_with": "拥有设施的社区数",
    "communities": "社区数",
    "communities_passing": "通过的社区数",
    "population_share_passing": "通过社区的居民比例",
}
#: English twins of the Chinese columns: left out of the tables for people under ``zh``.
_ENGLISH_TWINS = ("threshold", "reason")
_RULE_COLUMN = re.compile(r"^(?P<rule>[A-Za-z][\w.-]*?\d[A-Za-z0-9.-]*)_(?P<rest>.+)$")

# POSIX absolute paths (two parts or more) and Windows drive paths; the last part is kept.
_PATH_STOP = r"\s:;,()\[\]{}<>|*?=&'\"“”‘’（），；：、"
_POSIX_PATH = re.compile(rf"(?<![\w.~<>/])/(?:[^{_PATH_STOP}/]+/)+(?P<name>[^{_PATH_STOP}/]+)")
_WINDOWS_PATH = re.compile(
    rf"\b[A-Za-z]:[\\/](?:[^{_PATH_STOP}\\/]+[\\/])+(?P<name>[^{_PATH_STOP}\\/]+)"
)


def check_lang(lang: str) -> str:
    """``lang`` if it is one of :data:`LANGS`.

    Raises
    ------
    ValueError
        Otherwise.
    """
    if lang not in LANGS:
        msg = f"lang must be one of {', '.join(LANGS)}, got {lang!r}"
        raise ValueError(msg)
    return lang


def status_text(status: Any, lang: str) -> str:
    """The status word for people: 通过 / 未通过 / 不可评估 (``zh``), pass / fail / not
    evaluable (``en``); anything else is returned as text."""
    key = "" if status is None else str(status)
    return _STATUS[check_lang(lang)].get(key, key)


def severity_text(severity: str, lang: str) -> str:
    """警告 / 错误 under ``zh``; the code itself under ``en``."""
    return _SEVERITY[check_lang(lang)].get(severity, severity)


def layer_text(layer: str, lang: str) -> str:
    """The input layer a finding is about, for people (社区, 街道, ... under ``zh``)."""
    return _LAYER[check_lang(lang)].get(layer, layer)


def category_text(category: str, lang: str) -> str:
    """A service category's label (``zh``: 菜市场, ...); an unknown one is kept as is."""
    from coverage.categories import category_label

    try:
        return category_label(category, "zh" if check_lang(lang) == "zh" else "en")
    except (KeyError, ValueError):
        return category


def shareable(text: str) -> str:
    """``text`` with every absolute file path shortened to its file name.

    ``/home/li/cases/wuhan/communities.gpkg: 3 rows ...`` becomes
    ``communities.gpkg: 3 rows ...``; Windows paths (``D:\\data\\x.shp``) too.
    """
    text = _POSIX_PATH.sub(lambda m: m.group("name"), text)
    return _WINDOWS_PATH.sub(lambda m: m.group("name"), text)


def finding_text(finding: Finding, lang: str) -> str:
    """A finding's message in ``lang`` (the English one where no Chinese was written), with
    file names instead of paths."""
    message = finding.message_zh if check_lang(lang) == "zh" and finding.message_zh else ""
    return shareable(message or finding.message)


def date_text(iso_utc: str | None, lang: str) -> str:
    """A timestamp for people, with its time zone.

    Parameters
    ----------
    iso_utc
        An ISO 8601 time (as ``provenance["created_utc"]``); naive times are taken as UTC.
    lang
        ``zh``: Beijing time in Chinese form, ``2026年11月30日 06:44（北京时间，UTC+8）``;
        ``en``: ``2026-11-29 22:44 UTC``.

    Returns
    -------
    str
        Empty when ``iso_utc`` is empty or not a time.
    """
    check_lang(lang)
    if not iso_utc:
        return ""
    try:
        when = datetime.fromisoformat(str(iso_utc))
    except ValueError:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if lang == "zh":
        local = when.astimezone(BEIJING)
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}（北京时间，UTC+8）"
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def column_header(column: str, lang: str) -> str | None:
    """The header of a result column in a table for people.

    Returns
    -------
    str or None
        Under ``zh`` the Chinese header (rule columns keep their rule id: ``W1 结论``), or
        ``None`` for an English twin of a Chinese column (``W1_reason`` beside
        ``W1_reason_zh``), which the Chinese table leaves out. Under ``en`` the column itself.
    """
    if check_lang(lang) == "en":
        return column
    if column in _HEADERS_ZH:
        return _HEADERS_ZH[column]
    for prefix, label in (
        ("median_m_", "步行距离中位数（米）"),
        ("p90_m_", "步行距离90%分位（米）"),
    ):
        if column.startswith(prefix):
            return f"{category_text(column[len(prefix) :], 'zh')}{label}"
    if column.startswith("d_"):
        return f"到{category_text(column[2:], 'zh')}的步行距离（米）"
    match = _RULE_COLUMN.match(column)
    if match is None:
        return column
    rule, rest = match.group("rule"), match.group("rest")
    if rest in _ENGLISH_TWINS:
        return None
    if rest in _RULE_HEADERS_ZH:
        return f"{rule} {_RULE_HEADERS_ZH[rest]}"
    if rest.startswith("share_"):
        return f"{rule} {category_text(rest[len('share_') :], 'zh')}可达居民比例"
    if rest.startswith("has_"):
        return f"{rule} 有{category_text(rest[len('has_') :], 'zh')}"
    return f"{rule} {rest}"


def _cell(value: Any, column: str, lang: str) -> Any:
    if isinstance(value, bool | np.bool_):
        return _BOOL[lang][bool(value)]
    if not isinstance(value, str):
        return value
    if column.endswith("_status") or column == "status":
        return status_text(value, lang)
    if lang == "zh":
        if column == "population_source":
            return _POPULATION_SOURCE["zh"].get(value, value)
        if column.endswith("_missing"):
            return "、".join(category_text(c, "zh") for c in value.split(";") if c)
        if column == "severity":
            return severity_text(value, "zh")
        if column == "layer":
            return layer_text(value, "zh")
    return value


def people_table(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """A result table in the words of ``lang``, for a CSV a person opens.

    Status codes become 通过 / 未通过 / 不可评估 (or pass / fail / not evaluable), booleans
    是 / 否 under ``zh``, categories their labels; under ``zh`` the headers are Chinese and the
    English twins of Chinese columns (``<rule>_reason``, ``<rule>_threshold``) are left out.
    Numbers are unchanged: ``inf`` (farther than the search limit) stays ``inf``.

    Parameters
    ----------
    frame
        A table whose column names are codes (``community_id``, ``W1_status``, ...).
    lang
        ``"zh"`` or ``"en"``.

    Returns
    -------
    pandas.DataFrame
        A new table; ``frame`` is not changed.
    """
    check_lang(lang)
    columns: dict[str, str] = {}
    for column in frame.columns:
        header = column_header(str(column), lang)
        if header is not None:
            columns[str(column)] = header
    out = pd.DataFrame(index=frame.index)
    for column, header in columns.items():
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            out[header] = series
        else:
            out[header] = pd.Series(
                [_cell(v, column, lang) for v in series.astype(object)],
                index=frame.index,
                dtype=object,
            )
    return out


def join_words(items: Iterable[str], lang: str) -> str:
    """``a、b、c`` under ``zh``, ``a, b, c`` under ``en``."""
    return ("、" if check_lang(lang) == "zh" else ", ").join(items)


def number_text(value: Any, *, digits: int = 0) -> str:
    """A number for people: thousands separators, ``–`` for missing, ``∞`` for infinite."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    if math.isnan(f):
        return "–"
    if math.isinf(f):
        return "∞"
    return f"{f:,.{digits}f}"


#: The progress steps of an audit (``write_outputs(on_step=...)`` and the CLI) under ``zh``.
STEPS_ZH = {
    "reading case": "读取案例",
    "walking network of": "步行路网",
    "origins, snapping, searches and rules": "布设居民点、吸附路网、搜索距离、判定规则",
    "service areas": "计算步行服务范围",
    "GeoPackage": "写入 GeoPackage",
    "tables": "写入表格",
    "static maps": "绘制静态地图",
    "map": "生成交互地图",
    "report": "生成报告",
    "document": "生成报告文档",
}


def step_text(step: str, lang: str, *, detail: str = "") -> str:
    """A progress step for people: ``step`` (a key of :data:`STEPS_ZH`) in ``lang``, with
    ``detail`` (a file name) after it."""
    words = STEPS_ZH.get(step, step) if check_lang(lang) == "zh" else step
    if not detail:
        return words
    return f"{words}：{detail}" if lang == "zh" else f"{words} {detail}"


def measure_text(value: float) -> str:
    """A measured number for people: ``–`` for NaN, ``∞`` beyond the search limit, integers
    with thousands separators, others to 2 decimals (3 significant digits below 1)."""
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "∞"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 1 else f"{value:,.2f}"


def pct_text(value: float) -> str:
    """A share as a percentage with one decimal, ``–`` when it is not finite."""
    return "–" if not math.isfinite(value) else f"{100 * value:.1f}%"


def unit_plural(unit: str, lang: str) -> str:
    """The units of a kind (``community``, ``street``) for people: 社区 / communities; any
    other kind as it is."""
    return _UNITS[lang].get(unit, unit)
