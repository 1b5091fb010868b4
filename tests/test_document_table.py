"""report.docx's tables are built from copies of one prepared row's XML (a city's 整改清单 has
thousands of rows); checked against python-docx's own cell-by-cell building, element for
element, on the demo's 整改清单 and on awkward text."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest
from docx.oxml.ns import qn
from docx.shared import Pt
from lxml import etree

from coverage import document
from coverage.audit import audit_case
from coverage.document import RECTIFICATION_COLUMNS, rectification_table

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"
AWKWARD = [
    [None, float("nan"), "", " leading and trailing ", "tab\tand\nline\rbreak"],
    ["社区 一", 12, 3.5, "bell\x07 and \ufeffBOM", "<w:t>not xml</w:t> & {{ 7*7 }}"],
]


def _reference(header: list[str], rows: list[list[object]], font_size: object) -> etree._Element:
    """The same table built with python-docx alone, cell by cell."""
    doc = docx.Document()
    table = doc.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        run = cell.paragraphs[0].add_run(document._text(text))
        run.bold = True
        if font_size is not None:
            run.font.size = font_size
    tr_pr = table.rows[0]._tr.get_or_add_trPr()
    tr_pr.append(tr_pr.makeelement(qn("w:tblHeader"), {qn("w:val"): "true"}))
    for values in rows:
        cells = table.add_row().cells
        for cell, value in zip(cells, values, strict=True):
            run = cell.paragraphs[0].add_run(document._text(value))
            if font_size is not None:
                run.font.size = font_size
    return table._tbl


def _canonical(tbl: etree._Element) -> bytes:
    return etree.tostring(tbl, method="c14n")


@pytest.mark.parametrize("font_size", [None, Pt(8)])
def test_fast_rows_are_python_docx_rows(font_size: object) -> None:
    header = ["a", "b", "c", "d", "e"]
    doc = docx.Document()
    fast = document._table(doc, header, AWKWARD, font_size=font_size)
    assert _canonical(fast._tbl) == _canonical(_reference(header, AWKWARD, font_size))
    texts = [[c.text for c in row.cells] for row in fast.rows]
    assert texts[1][3] == " leading and trailing "
    assert texts[1][4] == "tab\tand\nline\nbreak"  # python-docx's reading of <w:tab/>, <w:br/>
    assert texts[2][3] == "bell\ufffd and \ufeffBOM"  # XML-illegal: replaced, never dropped


def test_the_demo_rectification_table_is_python_docx_s(tmp_path: Path) -> None:
    result = audit_case(DEMO)
    frame = rectification_table(result, lang="zh")
    assert len(frame) > 20
    columns = list(RECTIFICATION_COLUMNS)
    rows = [
        [document._number(r[c]) if c in ("value", "residents") else r[c] for c in columns]
        for r in frame.to_dict("records")
    ]
    header = [RECTIFICATION_COLUMNS[c]["zh"] for c in columns]
    doc = docx.Document()
    fast = document._table(doc, header, rows, font_size=Pt(8))
    assert _canonical(fast._tbl) == _canonical(_reference(header, rows, Pt(8)))
    # and in the saved file: the header repeats, the rows are all there
    path = tmp_path / "t.docx"
    doc.save(str(path))
    table = docx.Document(str(path)).tables[0]
    assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    assert len(table.rows) == len(frame) + 1


def test_a_row_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="a row of 2 values for a table of 3 columns"):
        document._table(docx.Document(), ["a", "b", "c"], [["x", "y"]])
