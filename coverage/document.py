"""The document a district bureau files: ``report.docx`` (社区体检报告), and its 整改清单.

:func:`build_report_docx` writes, with python-docx, in Chinese (default) or English:

1. the case, the standard and the parameters (walking speed, and the distance 15 minutes
   imply at that speed; the share of residents a reach rule requires; the data and the date);
2. the summary table: per rule, units passing, failing and not evaluable, and the residents
   in passing units;
3. per rule: its source sentence, its counts, the reasons units were not evaluable, the static
   map (:mod:`coverage.static_maps`) and the failing units with the most residents;
4. the **整改清单** (list of findings to rectify): one row per unit and failing rule, with
   the rule, its source sentence, the measured value, the requirement, the residents of the
   unit, and the data with the audit's date (:func:`rectification_table`, which is also
   ``findings.csv``);
5. the findings about the data and the audit;
6. any further sections a caller passes (``sections=``): the place of the proposed sites once
   planning exists. Nothing is written for them otherwise.

Text from the data (names, ids, pack texts) is written as literal text runs: Word shows it as
written and never interprets it; characters XML cannot hold (control characters) are replaced
by U+FFFD.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from coverage.rules import FAIL, NOT_EVALUABLE, Rule, minutes_to_m
from coverage.wording import (
    check_lang,
    date_text,
    finding_text,
    layer_text,
    measure_text,
    pct_text,
    severity_text,
    unit_plural,
)

if TYPE_CHECKING:
    from docx.document import Document

    from coverage.audit import AuditResult

__all__ = [
    "RECTIFICATION_COLUMNS",
    "Section",
    "build_report_docx",
    "rectification_table",
    "write_report_docx",
]

#: A further section of the document: called with the document and the language, it adds its
#: heading and content (the proposed sites of a plan, for instance).
Section = Callable[["Document", str], None]

#: Columns of :func:`rectification_table` (codes) -> headers for people per language.
RECTIFICATION_COLUMNS: dict[str, dict[str, str]] = {
    "no": {"zh": "序号", "en": "No."},
    "unit": {"zh": "单元类型", "en": "Unit"},
    "unit_id": {"zh": "单元编号", "en": "Unit id"},
    "unit_name": {"zh": "单元名称", "en": "Unit name"},
    "street_id": {"zh": "所属街道", "en": "Street"},
    "rule": {"zh": "规则", "en": "Rule"},
    "source": {"zh": "依据原文", "en": "Source text"},
    "value": {"zh": "测得值", "en": "Measured"},
    "requirement": {"zh": "要求", "en": "Requirement"},
    "reason": {"zh": "说明", "en": "Explanation"},
    "residents": {"zh": "涉及居民（人）", "en": "Residents"},
    "data_source": {"zh": "数据来源及日期", "en": "Data and date"},
}
#: Failing units listed per rule in the document (those with the most residents).
WORST_UNITS = 10
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "{case} 社区体检报告",
        "subtitle": "步行可达公共服务审计 · {pack}",
        "case": "一、案例、标准与参数",
        "summary": "二、结果汇总",
        "rules": "三、逐条规则",
        "rectification": "四、整改清单",
        "findings": "五、数据与审计发现",
        "k_case": "案例",
        "k_pack": "执行标准（规则包）",
        "k_reference": "标准出处",
        "k_speed": "步行速度",
        "v_speed": "{speed:g} 公里/小时：15 分钟步行距离约 {m:,.0f} 米",
        "k_share": "可达性规则要求的居民比例",
        "k_units": "审计范围",
        "v_units": "{c} 个社区，{s} 个街道，居民 {p:,.0f} 人",
        "k_data": "数据",
        "k_date": "审计时间",
        "h_rule": "规则",
        "h_unit": "单元",
        "h_pass": "通过",
        "h_fail": "未通过",
        "h_ne": "不可评估",
        "h_share": "通过单元内居民",
        "source": "依据原文：",
        "counts": (
            "共 {u} 个{unit}：通过 {p} 个，未通过 {f} 个，不可评估 {n} 个；通过单元内居民 {pct}。"
        ),
        "ne_reasons": "不可评估的原因：",
        "worst": "未通过的{unit}（居民最多的前 {n} 个）",
        "none_fail": "没有未通过的{unit}。",
        "h_id": "编号",
        "h_name": "名称",
        "h_population": "人口",
        "h_value": "测得值",
        "h_reason": "说明",
        "rect_intro": "每个未通过规则的单元占一行（共 {n} 行），与 findings.csv 相同。",
        "rect_none": "没有未通过规则的单元，无需整改。",
        "no_findings": "没有发现问题。",
        "data_source": "{files}；审计于 {date}",
        "attribution": "路网与设施数据：OpenStreetMap {attribution}，依开放数据库许可协议"
        "（ODbL）使用。",
        "map_caption": "图：{title}（底图为步行路网）",
    },
    "en": {
        "title": "{case}: community check-up report",
        "subtitle": "Walking access to public services · {pack}",
        "case": "1. Case, standard and parameters",
        "summary": "2. Summary",
        "rules": "3. Rule by rule",
        "rectification": "4. Findings to rectify",
        "findings": "5. Findings about the data and the audit",
        "k_case": "Case",
        "k_pack": "Standard (rule pack)",
        "k_reference": "Reference",
        "k_speed": "Walking speed",
        "v_speed": "{speed:g} km/h: 15 minutes on foot is about {m:,.0f} m",
        "k_share": "Share of residents a reach rule requires",
        "k_units": "Audited",
        "v_units": "{c} communities, {s} streets, {p:,.0f} residents",
        "k_data": "Data",
        "k_date": "Audited on",
        "h_rule": "Rule",
        "h_unit": "Unit",
        "h_pass": "Pass",
        "h_fail": "Fail",
        "h_ne": "Not evaluable",
        "h_share": "Residents in passing units",
        "source": "Source text: ",
        "counts": "{u} {unit}: {p} pass, {f} fail, {n} not evaluable; residents in passing "
        "units {pct}.",
        "ne_reasons": "Why units are not evaluable: ",
        "worst": "Failing {unit} (the {n} with the most residents)",
        "none_fail": "No {unit} fail this rule.",
        "h_id": "Id",
        "h_name": "Name",
        "h_population": "Population",
        "h_value": "Measured",
        "h_reason": "Explanation",
        "rect_intro": "One row per unit and failing rule ({n} rows), as in findings.csv.",
        "rect_none": "No unit fails any rule: nothing to rectify.",
        "no_findings": "Nothing to report.",
        "data_source": "{files}; audited {date}",
        "attribution": "Network and services: OpenStreetMap {attribution}, Open Database "
        "License (ODbL).",
        "map_caption": "Map: {title} (over the walking network)",
    },
}
_ATTRIBUTION = "© OpenStreetMap contributors"


def _text(value: Any) -> str:
    """Text Word can hold: the value as text, XML-illegal characters replaced."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return _XML_ILLEGAL.sub("\ufffd", str(value))


def _plain(value: Any) -> str:
    """The value as text, as the data holds it (None and NaN empty)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _number(value: Any) -> str:
    try:
        return measure_text(float(value))
    except (TypeError, ValueError):
        return _text(value)


def _pct(value: Any) -> str:
    return pct_text(float(value))


def _data_files(result: AuditResult) -> list[str]:
    return [
        Path(str(p)).name
        for p in (result.provenance.get("inputs_sha256") or {})
        if not str(p).lower().endswith(".toml")
    ]


def _column(rule: Rule, name: str, lang: str, table: pd.DataFrame) -> str:
    zh = f"{rule.id}_{name}_zh"
    return zh if lang == "zh" and zh in table else f"{rule.id}_{name}"


def rectification_table(result: AuditResult, *, lang: str = "zh") -> pd.DataFrame:
    """The 整改清单: one row per unit and failing rule.

    Parameters
    ----------
    result
        The audit.
    lang
        ``"zh"`` or ``"en"``: the language of the rule titles, requirements and explanations.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`RECTIFICATION_COLUMNS` (codes): the row number, the unit (社区 /
        街道), its id, name and street, the rule (id and title), its source sentence, the
        measured value (a number), the requirement, the explanation, the residents of the unit
        and the data with the audit's date. Rules in the pack's order; units by id.
    """
    check_lang(lang)
    words = _WORDS[lang]
    when = date_text(result.provenance.get("created_utc"), lang)
    data_source = words["data_source"].format(
        files=("、" if lang == "zh" else ", ").join(_data_files(result)) or "–", date=when
    )
    rows: list[dict[str, Any]] = []
    for rule in result.pack.rules:
        table = result.communities if rule.unit == "community" else result.streets
        status_col = f"{rule.id}_status"
        if status_col not in table:
            continue
        id_col = "community_id" if rule.unit == "community" else "street_id"
        failing = table[table[status_col].astype(object) == FAIL]
        failing = failing.assign(_id=failing[id_col].astype(str)).sort_values("_id")
        threshold = _column(rule, "threshold", lang, table)
        reason = _column(rule, "reason", lang, table)
        for rec in failing.to_dict("records"):
            rows.append(
                {
                    "unit": unit_plural(rule.unit, lang) if lang == "zh" else rule.unit,
                    "unit_id": str(rec[id_col]),
                    "unit_name": _plain(rec.get("name")),
                    "street_id": _plain(rec.get("street_id")),
                    "rule": f"{rule.id} {rule.label(lang)}",
                    "source": rule.source,
                    "value": rec.get(f"{rule.id}_value"),
                    "requirement": _plain(rec.get(threshold)),
                    "reason": _plain(rec.get(reason)),
                    "residents": rec.get("population"),
                    "data_source": data_source,
                }
            )
    frame = pd.DataFrame(rows, columns=[c for c in RECTIFICATION_COLUMNS if c != "no"])
    frame.insert(0, "no", range(1, len(frame) + 1))
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    frame["residents"] = pd.to_numeric(frame["residents"], errors="coerce").astype(float)
    return frame


def rectification_csv_frame(result: AuditResult, *, lang: str = "zh") -> pd.DataFrame:
    """:func:`rectification_table` with headers for people in ``lang`` (``findings.csv``)."""
    frame = rectification_table(result, lang=lang)
    return frame.rename(columns={k: v[lang] for k, v in RECTIFICATION_COLUMNS.items()})


# --------------------------------------------------------------------------------------------
# the document


def _set_fonts(doc: Document) -> None:
    """Chinese text in 宋体 (SimSun), Latin in Times New Roman, as bureau documents are."""
    from docx.oxml.ns import qn
    from docx.shared import Pt

    for name in ("Normal", "Title", "Heading 1", "Heading 2", "Heading 3", "Caption"):
        try:
            style = doc.styles[name]
        except KeyError:
            continue
        font = style.font
        font.name = "Times New Roman"
        rpr = style.element.get_or_add_rPr()
        fonts = rpr.find(qn("w:rFonts"))
        if fonts is None:
            fonts = rpr.makeelement(qn("w:rFonts"), {})
            rpr.append(fonts)
        fonts.set(qn("w:eastAsia"), "SimSun" if name in ("Normal", "Caption") else "SimHei")
        if name == "Normal":
            font.size = Pt(10.5)


def _table(
    doc: Document,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    widths: Any = None,
    font_size: Any = None,
) -> Any:
    """A table whose header row repeats on every page.

    Each cell holds one paragraph with one run of the value's text (bold in the header;
    ``font_size``, a python-docx length, if given). The rows are copies of one row prepared
    with python-docx, their text set in the XML (:func:`_append_rows`): a city's 整改清单 has
    thousands of rows, which python-docx builds cell by cell at about a millisecond a cell.
    """
    from docx.oxml.ns import qn

    table = doc.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        run = cell.paragraphs[0].add_run(_text(text))
        run.bold = True
        if font_size is not None:
            run.font.size = font_size
    tr_pr = table.rows[0]._tr.get_or_add_trPr()
    repeat = tr_pr.makeelement(qn("w:tblHeader"), {qn("w:val"): "true"})
    tr_pr.append(repeat)
    _append_rows(table, rows, font_size=font_size)
    if widths is not None:
        for row in table.rows:
            for cell, width in zip(row.cells, widths, strict=False):
                cell.width = width
    return table


def _append_rows(table: Any, rows: Sequence[Sequence[Any]], *, font_size: Any = None) -> None:
    """Append ``rows`` to a python-docx ``table``, each a copy of one prepared row's XML.

    The prepared row is python-docx's own (``add_row``: its cells and their widths; in each
    cell a paragraph with a run, of ``font_size`` if given); each copy gets its values'
    :func:`_text` as python-docx's ``Run.text`` would set it (tabs and line breaks through
    python-docx itself).
    """
    from copy import deepcopy

    from docx.oxml.ns import qn

    if not rows:
        return
    prepared = table.add_row()
    for cell in prepared.cells:
        run = cell.paragraphs[0].add_run("-")
        if font_size is not None:
            run.font.size = font_size
    template = prepared._tr
    tbl = template.getparent()
    tbl.remove(template)
    w_r, w_t = qn("w:r"), qn("w:t")
    preserve = "{http://www.w3.org/XML/1998/namespace}space"
    n_cells = len(prepared.cells)
    for values in rows:
        if len(values) != n_cells:
            msg = f"a row of {len(values)} values for a table of {n_cells} columns"
            raise ValueError(msg)
        tr = deepcopy(template)
        for r, value in zip(list(tr.iter(w_r)), values, strict=True):
            text = _text(value)
            if not text or any(c in text for c in "\t\n\r"):
                r.text = text  # python-docx's run text: tabs, breaks, or nothing
                continue
            t = r.find(w_t)
            t.text = text
            if text[0].isspace() or text[-1].isspace():
                t.set(preserve, "preserve")
        tbl.append(tr)


def _case_section(doc: Document, result: AuditResult, lang: str) -> None:
    words = _WORDS[lang]
    speed = result.walk_speed_kmh
    share = result.provenance.get("min_population_share")
    pack = result.pack
    rows = [
        (words["k_case"], result.case_name),
        (words["k_pack"], f"{pack.label(lang)}（{pack.id} v{pack.version}）"),
        (words["k_reference"], pack.reference),
        (words["k_speed"], words["v_speed"].format(speed=speed, m=minutes_to_m(15, speed))),
        (words["k_share"], _pct(share) if share is not None else "–"),
        (
            words["k_units"],
            words["v_units"].format(
                c=len(result.communities),
                s=len(result.streets),
                p=float(result.communities["population"].sum()),
            ),
        ),
        (words["k_data"], ("、" if lang == "zh" else ", ").join(_data_files(result))),
        (words["k_date"], date_text(result.provenance.get("created_utc"), lang)),
    ]
    doc.add_heading(words["case"], level=1)
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for key, value in rows:
        cells = table.add_row().cells
        cells[0].paragraphs[0].add_run(_text(key)).bold = True
        cells[1].paragraphs[0].add_run(_text(value))


def _summary_section(doc: Document, result: AuditResult, lang: str) -> None:
    words = _WORDS[lang]
    doc.add_heading(words["summary"], level=1)
    by_id = {r.id: r for r in result.pack.rules}
    rows = []
    for row in result.summary.to_dict("records"):
        rule = by_id.get(str(row["rule"]))
        title = rule.label(lang) if rule is not None else str(row["rule"])
        rows.append(
            (
                f"{row['rule']} {title}",
                unit_plural(str(row["unit"]), lang),
                int(row["passing"]),
                int(row["failing"]),
                int(row["not_evaluable"]),
                _pct(row["population_share_in_passing_units"]),
            )
        )
    _table(
        doc,
        [
            words["h_rule"],
            words["h_unit"],
            words["h_pass"],
            words["h_fail"],
            words["h_ne"],
            words["h_share"],
        ],
        rows,
    )


def _rule_section(
    doc: Document, result: AuditResult, rule: Rule, lang: str, png: bytes | None
) -> None:
    from docx.shared import Cm

    words = _WORDS[lang]
    table = result.communities if rule.unit == "community" else result.streets
    id_col = "community_id" if rule.unit == "community" else "street_id"
    unit = unit_plural(rule.unit, lang)
    doc.add_heading(f"{rule.id} {rule.label(lang)}", level=2)
    para = doc.add_paragraph()
    para.add_run(words["source"]).bold = True
    para.add_run(_text(rule.source))
    summary = next(r for r in result.summary.to_dict("records") if r["rule"] == rule.id)
    doc.add_paragraph(
        words["counts"].format(
            u=int(summary["units"]),
            unit=unit,
            p=int(summary["passing"]),
            f=int(summary["failing"]),
            n=int(summary["not_evaluable"]),
            pct=_pct(summary["population_share_in_passing_units"]),
        )
    )
    status_col = f"{rule.id}_status"
    reason_col = _column(rule, "reason", lang, table)
    if status_col in table and reason_col in table:
        not_evaluable = table[table[status_col].astype(object) == NOT_EVALUABLE]
        reasons = not_evaluable[reason_col].dropna().astype(str).value_counts()
        if len(reasons):
            para = doc.add_paragraph()
            para.add_run(words["ne_reasons"]).bold = True
            sep = "；" if lang == "zh" else "; "
            para.add_run(_text(sep.join(f"{r}（{n}）" for r, n in reasons.head(5).items())))
    if png:
        doc.add_picture(io.BytesIO(png), width=Cm(16))
        doc.add_paragraph(
            words["map_caption"].format(title=f"{rule.id} {rule.label(lang)}"), style="Caption"
        )
    if status_col not in table:
        return
    failing = table[table[status_col].astype(object) == FAIL]
    if not len(failing):
        doc.add_paragraph(words["none_fail"].format(unit=unit))
        return
    worst = failing.assign(_id=failing[id_col].astype(str)).sort_values(
        ["population", "_id"], ascending=[False, True]
    )
    doc.add_paragraph(words["worst"].format(unit=unit, n=min(WORST_UNITS, len(worst))))
    _table(
        doc,
        [
            words["h_id"],
            words["h_name"],
            words["h_population"],
            words["h_value"],
            words["h_reason"],
        ],
        [
            (
                r[id_col],
                r.get("name"),
                _number(r.get("population")),
                _number(r.get(f"{rule.id}_value")),
                r.get(reason_col),
            )
            for r in worst.head(WORST_UNITS).to_dict("records")
        ],
    )


def _new_section(doc: Document, *, landscape: bool) -> None:
    """Start a new page, A4 landscape (the 整改清单's twelve columns) or portrait."""
    from docx.enum.section import WD_ORIENT, WD_SECTION
    from docx.shared import Mm

    section = doc.add_section(WD_SECTION.NEW_PAGE)
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    wide, tall = Mm(297), Mm(210)
    section.page_width, section.page_height = (wide, tall) if landscape else (tall, wide)
    margin = Mm(15) if landscape else Mm(25)
    section.left_margin = section.right_margin = margin


def _rectification_section(doc: Document, result: AuditResult, lang: str) -> None:
    from docx.shared import Pt

    words = _WORDS[lang]
    _new_section(doc, landscape=True)
    doc.add_heading(words["rectification"], level=1)
    frame = rectification_table(result, lang=lang)
    if not len(frame):
        doc.add_paragraph(words["rect_none"])
        return
    doc.add_paragraph(words["rect_intro"].format(n=len(frame)))
    columns = list(RECTIFICATION_COLUMNS)
    rows = [
        [_number(rec[c]) if c in ("value", "residents") else rec[c] for c in columns]
        for rec in frame.to_dict("records")
    ]
    _table(doc, [RECTIFICATION_COLUMNS[c][lang] for c in columns], rows, font_size=Pt(8))


def _findings_section(doc: Document, result: AuditResult, lang: str) -> None:
    words = _WORDS[lang]
    doc.add_heading(words["findings"], level=1)
    if not result.findings:
        doc.add_paragraph(words["no_findings"])
        return
    for f in result.findings:
        para = doc.add_paragraph(style="List Bullet")
        para.add_run(
            f"{severity_text(f.severity, lang)} [{layer_text(f.layer, lang)}] "
        ).bold = True
        para.add_run(_text(finding_text(f, lang)))


def build_report_docx(
    result: AuditResult,
    *,
    lang: str = "zh",
    static_maps: Mapping[str, bytes] | None = None,
    sections: Sequence[Section] = (),
) -> Document:
    """The 社区体检报告 as a python-docx document (see the module docstring).

    Parameters
    ----------
    result
        The audit.
    lang
        ``"zh"`` (default) or ``"en"``.
    static_maps
        Rule id -> PNG of its static map (:func:`coverage.static_maps.render_rule_maps`);
        ``None``: no maps.
    sections
        Further sections, added after the findings in this order (a plan's proposed sites).

    Returns
    -------
    docx.document.Document
        Save it with ``.save(path)``.
    """
    import docx
    from docx.shared import Mm

    check_lang(lang)
    words = _WORDS[lang]
    doc = docx.Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    for side in ("left_margin", "right_margin"):
        setattr(section, side, Mm(25))
    _set_fonts(doc)
    core = doc.core_properties
    core.title = _text(words["title"].format(case=result.case_name))
    core.author = "service-coverage"
    core.language = "zh-CN" if lang == "zh" else "en"
    doc.add_heading(_text(words["title"].format(case=result.case_name)), level=0)
    doc.add_paragraph(_text(words["subtitle"].format(pack=result.pack.label(lang))))
    _case_section(doc, result, lang)
    _summary_section(doc, result, lang)
    doc.add_heading(words["rules"], level=1)
    maps = static_maps or {}
    for rule in result.pack.rules:
        _rule_section(doc, result, rule, lang, maps.get(rule.id))
    _rectification_section(doc, result, lang)
    _new_section(doc, landscape=False)
    _findings_section(doc, result, lang)
    for add in sections:
        add(doc, lang)
    doc.add_paragraph(words["attribution"].format(attribution=_ATTRIBUTION))
    return doc


def write_report_docx(
    result: AuditResult,
    path: str | Path,
    *,
    lang: str = "zh",
    static_maps: Mapping[str, bytes] | None = None,
    sections: Sequence[Section] = (),
) -> Path:
    """Write :func:`build_report_docx` to ``path``.

    Returns
    -------
    Path
        The file written.
    """
    out = Path(path)
    build_report_docx(result, lang=lang, static_maps=static_maps, sections=sections).save(str(out))
    return out
