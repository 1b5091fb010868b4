"""report.docx, the document a bureau files: opened with python-docx and read, not only
checked to exist; its 整改清单 is findings.csv, row for row."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import docx
import pytest

from coverage.audit import AuditResult, audit_case
from coverage.document import (
    RECTIFICATION_COLUMNS,
    build_report_docx,
    rectification_table,
    write_report_docx,
)
from coverage.report import write_outputs
from coverage.rules import FAIL

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"
HOSTILE = '=HYPERLINK("http://evil","x")<script>alert(1)</script>{{ 7*7 }}\x07'


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return audit_case(DEMO)


@pytest.fixture(scope="module")
def hostile(demo: AuditResult) -> AuditResult:
    """The demo with its most populous failing community renamed to a hostile name."""
    communities = demo.communities.copy()
    failing = communities[communities["W1_status"] == FAIL]
    target = failing["population"].idxmax()
    communities.loc[target, "name"] = HOSTILE
    return dataclasses.replace(demo, communities=communities)


@pytest.fixture(scope="module")
def written_zh(hostile: AuditResult, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("docx") / "out"
    return write_outputs(hostile, out, lang="zh", outputs=["docx", "csv"])


def _headings(document: docx.document.Document) -> list[str]:
    return [p.text for p in document.paragraphs if p.style.name.startswith(("Heading", "Title"))]


def _all_text(document: docx.document.Document) -> str:
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def _rectification(document: docx.document.Document, lang: str) -> list[list[str]]:
    header = [RECTIFICATION_COLUMNS[c][lang] for c in RECTIFICATION_COLUMNS]
    for table in document.tables:
        rows = [[cell.text for cell in row.cells] for row in table.rows]
        if rows and rows[0] == header:
            return rows
    raise AssertionError("no 整改清单 table")


def test_docx_has_the_case_standard_summary_rules_and_rectification(
    written_zh: dict[str, Path], hostile: AuditResult
) -> None:
    document = docx.Document(str(written_zh["report_docx"]))
    headings = _headings(document)
    assert headings[0] == "成都中心城区（演示） 社区体检报告"
    for title in ("一、案例、标准与参数", "二、结果汇总", "三、逐条规则", "四、整改清单"):
        assert title in headings
    for rule in hostile.pack.rules:
        assert f"{rule.id} {rule.label('zh')}" in headings
    text = _all_text(document)
    assert "4 公里/小时：15 分钟步行距离约 1,000 米" in text  # the speed and what 15 min imply
    assert "武汉市“1+10”社区治理文件" in text
    # the summary table: one row per rule with the audit's counts
    summary = next(t for t in document.tables if t.rows[0].cells[0].text == "规则")
    counts = {
        row.cells[0].text.split()[0]: [c.text for c in row.cells[2:5]]
        for row in list(summary.rows)[1:]
    }
    for row in hostile.summary.to_dict("records"):
        assert counts[row["rule"]] == [
            str(row["passing"]),
            str(row["failing"]),
            str(row["not_evaluable"]),
        ]
    # one static map per rule, as pictures in the document
    assert len(document.inline_shapes) == len(hostile.pack.rules)
    # A4, and the 整改清单 on landscape pages
    widths = sorted({round(s.page_width.mm) for s in document.sections})
    assert widths == [210, 297]


def test_rectification_rows_are_findings_csv_and_every_failing_unit(
    written_zh: dict[str, Path], hostile: AuditResult
) -> None:
    document = docx.Document(str(written_zh["report_docx"]))
    table = _rectification(document, "zh")
    raw = written_zh["findings_csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    with written_zh["findings_csv"].open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == table[0]
    assert len(rows) == len(table)
    key = [table[0].index(h) for h in ("单元编号", "规则", "依据原文", "要求", "说明")]
    assert [[r[i] for i in key] for r in rows[1:]] == [[r[i] for i in key] for r in table[1:]]
    # brute force: one row per (unit, rule) that fails, nothing else
    expected = set()
    for rule in hostile.pack.rules:
        unit = hostile.communities if rule.unit == "community" else hostile.streets
        id_col = "community_id" if rule.unit == "community" else "street_id"
        for uid in unit.loc[unit[f"{rule.id}_status"] == FAIL, id_col]:
            expected.add((str(uid), rule.id))
    got = {(r[key[0]], r[key[1]].split()[0]) for r in rows[1:]}
    assert got == expected and len(rows) - 1 == len(expected)
    # the data source names the files and the date, never their folders
    source = table[1][table[0].index("数据来源及日期")]
    assert "chengdu-center.osm.bz2" in source and "北京时间" in source
    assert str(DEMO.parent) not in written_zh["findings_csv"].read_text(encoding="utf-8-sig")


def test_a_hostile_name_is_literal_text(written_zh: dict[str, Path]) -> None:
    document = docx.Document(str(written_zh["report_docx"]))
    shown = HOSTILE.replace("\x07", "\ufffd")  # a control character XML cannot hold
    rows = _rectification(document, "zh")
    names = [r[rows[0].index("单元名称")] for r in rows[1:]]
    assert shown in names
    assert shown in _all_text(document)  # also in the worst units of W1
    with written_zh["findings_csv"].open(encoding="utf-8-sig", newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert "'" + HOSTILE in cells  # the spreadsheet shows it as text, never a formula


def test_english_document(demo: AuditResult, tmp_path: Path) -> None:
    path = write_report_docx(demo, tmp_path / "report.docx", lang="en")
    document = docx.Document(str(path))
    headings = _headings(document)
    assert "4. Findings to rectify" in headings and "1. Case, standard and parameters" in headings
    assert "4 km/h: 15 minutes on foot is about 1,000 m" in _all_text(document)
    table = _rectification(document, "en")
    assert len(table) - 1 == len(rectification_table(demo, lang="en"))
    assert len(document.inline_shapes) == 0  # no maps given, none drawn


def test_extra_sections_go_after_the_findings(demo: AuditResult) -> None:
    def plan(document: docx.document.Document, lang: str) -> None:
        document.add_heading("六、拟新增设施" if lang == "zh" else "6. Proposed sites", level=1)

    document = build_report_docx(demo, lang="zh", sections=[plan])
    headings = _headings(document)
    assert headings.index("六、拟新增设施") > headings.index("五、数据与审计发现")
    assert "六、拟新增设施" not in _headings(build_report_docx(demo, lang="zh"))


def test_nothing_to_rectify(demo: AuditResult) -> None:
    passing = demo.communities.copy()
    streets = demo.streets.copy()
    for table in (passing, streets):
        for column in [c for c in table.columns if c.endswith("_status")]:
            table[column] = table[column].replace(FAIL, "pass")
    clean = dataclasses.replace(demo, communities=passing, streets=streets)
    assert len(rectification_table(clean)) == 0
    text = _all_text(build_report_docx(clean, lang="zh"))
    assert "没有未通过规则的单元，无需整改。" in text
