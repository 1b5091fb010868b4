"""One view across standards: the units × packs matrix, the sentences, report.html and
summary.json of ``--pack all``, and ``service-coverage rules --lang zh``."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coverage.audit import AuditResult, audit_case
from coverage.categories import category_label
from coverage.cli import app
from coverage.report import render_report_html, summary_dict, write_outputs
from coverage.rules import FAIL, NOT_EVALUABLE, PASS, list_packs, load_pack
from coverage.standards import standards_html, standards_matrix, standards_sentences

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"
EVIL = "<script>alert(1)</script>"
RANK = {FAIL: 0, NOT_EVALUABLE: 1, PASS: 2}


@pytest.fixture(scope="module")
def every() -> AuditResult:
    return audit_case(DEMO, pack="all")


def test_matrix_is_the_worst_deciding_rule_of_each_pack(every: AuditResult) -> None:
    matrix = standards_matrix(every, unit="street")
    comm = every.communities
    for pack_id in every.pack.pack_ids:
        rules = [r for r in every.pack.rules_of(pack_id) if r.decides]
        for sid, row in matrix.iterrows():
            statuses = {}
            for rule in rules:
                if rule.unit == "street":
                    statuses[rule.id] = every.streets.set_index("street_id").loc[
                        sid, f"{rule.id}_status"
                    ]
                else:
                    mine = comm.loc[comm["street_id"] == sid, f"{rule.id}_status"]
                    statuses[rule.id] = (
                        min(mine, key=RANK.__getitem__) if len(mine) else NOT_EVALUABLE
                    )
            worst = min(statuses.values(), key=RANK.__getitem__)
            assert row[pack_id] == worst, (pack_id, sid)
            assert statuses[row[f"{pack_id}_rule"]] == worst
            assert row[f"{pack_id}_failing"] == sum(v == FAIL for v in statuses.values())
    # the switched-off rules never decide a pack's status
    assert "CC-GROUND" not in set(matrix["complete-community_rule"])
    community = standards_matrix(every, unit="community")
    assert len(community) == len(every.communities)
    assert (community["embedded-services"] == NOT_EVALUABLE).all()


def test_sentences_compare_the_same_measure_across_packs(every: AuditResult) -> None:
    en = standards_sentences(every, lang="en")
    zh = standards_sentences(every, lang="zh")
    passing = {
        r: int((every.streets[f"{r}_status"] == PASS).sum()) for r in ("W4", "NF-AREA", "WF-AREA")
    }
    area = next(s for s in en if s.startswith("W4"))
    assert area == (
        f"W4 (> 1.6 m²) passes in {passing['W4']} streets, NF-AREA (≥ 2.6 m²) in "
        f"{passing['NF-AREA']}, WF-AREA (≥ 2.7 m²) in {passing['WF-AREA']} (of 15)."
    )
    assert any(s.startswith("W4 (> 1.6 m²)在") for s in zh)
    # one sentence per pack, in both languages
    assert len([s for s in en if "streets, fails in" in s]) == len(list_packs())
    assert len([s for s in zh if "个街道中" in s]) == len(list_packs())


def test_report_and_summary_of_pack_all(every: AuditResult, tmp_path: Path) -> None:
    written = write_outputs(every, tmp_path, lang="zh", map=False, outputs=["report"])
    html = written["report_html"].read_text(encoding="utf-8")
    assert '<section id="standards">' in html and "各标准对照" in html
    for pack_id in every.pack.pack_ids:
        assert pack_id in html
    # the group speed and the unverified threshold are said where the rule is shown
    assert "阈值未经核实，规则未启用" in html
    assert "本规则步行速度 3 公里/小时" in html
    summary = json.loads(written["summary_json"].read_text(encoding="utf-8"))
    standards = summary["standards"]
    assert [p["id"] for p in standards["packs"]] == list(every.pack.pack_ids)
    assert len(standards["streets"]) == len(every.streets)
    assert "CC-GROUND" in standards["switched_off"]
    first = standards["streets"][0]["packs"]["national-fitness"]
    assert first["status"] in (PASS, FAIL, NOT_EVALUABLE)
    assert standards["sentences"] and standards["sentences_zh"]
    rules = {r["rule"]: r for r in summary["rules"]}
    assert rules["NF-FOOTBALL"]["document"].startswith("国家发展改革委")
    assert rules["CC-ELDERLY"]["budget_m"] == pytest.approx(500.0)


def test_a_single_pack_report_has_no_matrix(every: AuditResult) -> None:
    one = audit_case(DEMO, pack="sdg-11-7-1", network=every.network)
    assert 'id="standards"' not in render_report_html(one, lang="en", map_file=None)
    assert "standards" not in summary_dict(one)


def test_untrusted_names_are_escaped_in_the_matrix(every: AuditResult) -> None:
    streets = every.streets.copy()
    streets.loc[streets.index[0], "name"] = EVIL
    evil = AuditResult(**{**every.__dict__, "streets": streets})
    html = standards_html(evil, lang="en")
    assert EVIL not in html
    assert "&lt;script&gt;" in html


def test_cli_audit_pack_all_prints_the_sentences(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "audit",
            str(DEMO),
            "--pack",
            "national-fitness,wuhan-1plus10",
            "--lang",
            "en",
            "-o",
            str(tmp_path / "out"),
            "--outputs",
            "report",
            "--no-map",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "W4 (> 1.6 m²) passes in" in result.stdout
    assert "National fitness targets (2025): passes in" in result.stdout


def test_rules_lang_zh_is_chinese_throughout() -> None:
    result = CliRunner().invoke(app, ["rules", "all", "--lang", "zh"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    for head in ("编号", "单元", "规则", "阈值", "依据原文"):
        assert head in out
    assert not re.search(r"\b(threshold|unit|source)\b", out)
    for pack_id in list_packs():
        assert pack_id in out
    assert "每1万人足球场地不低于0.9个" in out
    assert category_label("fitness_facility", "zh") in out
    assert "居民步行15分钟（4公里/小时，约1,000米）内人均可达体育场地" in out
    assert "阈值未核实，未启用" in out
    # no English category name in the thresholds of a pack of the new kinds
    zh_only = CliRunner().invoke(
        app, ["rules", "complete-community", "--lang", "zh"], env={"COLUMNS": "250"}
    )
    for cat in load_pack("complete-community").categories:
        assert f" {cat}" not in zh_only.stdout and f"{cat}、" not in zh_only.stdout


def test_map_words_the_new_kinds(every: AuditResult, tmp_path: Path) -> None:
    from coverage.maps import save_map

    one = audit_case(DEMO, pack="national-fitness", network=every.network)
    path = tmp_path / "map.html"
    save_map(one, path, lang="en", offline=True)
    text = path.read_text(encoding="utf-8")
    assert "of sports_ground per resident within 15 min" in text
    assert "0.9 football_pitch per 10,000 residents" in text


def test_map_popups_hold_each_units_row_of_the_matrix(every: AuditResult) -> None:
    """--pack all: every street and community popup lists each standard's decision and the
    rule that decided it, as standards_matrix gives them; a single pack's popups have none."""
    from coverage.maps import _STATUS_CODE, audit_map
    from coverage.standards import pack_label

    page = audit_map(every, lang="en").get_root().render()
    start = page.index("var sc_data = ") + len("var sc_data = ")
    data = json.loads(page[start : page.index(";\nvar sc_config", start)])
    for unit in ("street", "community"):
        matrix = standards_matrix(every, unit=unit)
        features = {f["id"]: f["p"] for f in data[unit]}
        assert set(features) == set(matrix.index)
        for uid, row in matrix.iterrows():
            table = re.search(r'<table class="sc-t sc-standards">.*?</table>', features[uid])
            assert table is not None, uid
            cells = re.findall(
                r'<tr><td>([^<]*)</td><td><span class="sc-badge sc-(\w+)">[^<]*</span></td>'
                r"<td>([^<]*)</td></tr>",
                table.group(0),
            )
            assert [(html.unescape(a), b, html.unescape(c)) for a, b, c in cells] == [
                (pack_label(every, p, "en"), _STATUS_CODE[row[p]], row[f"{p}_rule"])
                for p in every.pack.pack_ids
            ], uid
    one = audit_case(DEMO, pack="sdg-11-7-1", network=every.network)
    assert "sc-standards" not in audit_map(one, lang="en").get_root().render()
