"""Services that classify to nothing are said, not counted: validate and audit warn with the
count and the fix, and the headline counts only the services that feed some rule."""

from __future__ import annotations

import html
from pathlib import Path

import geopandas as gpd
import pytest

from coverage.audit import AuditResult, audit_case
from coverage.case import Case
from coverage.report import render_report_html, summary_dict
from coverage.rules import load_pack

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


@pytest.fixture(scope="module")
def unclassified_case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    """The demo case whose services are a POI table without OSM tag columns, classified with
    classify = "osm": only the few names that name rules know get a category."""
    folder = tmp_path_factory.mktemp("unclassified")
    for name in ("streets.geojson", "communities.geojson", "chengdu-center.osm.bz2"):
        (folder / name).write_bytes((DEMO / name).read_bytes())
    services = gpd.read_file(DEMO / "services.geojson")
    # a Chinese export: a type column in words, no amenity/shop columns
    table = gpd.GeoDataFrame(
        {"编号": services["service_id"], "名称": services["name"], "类别": "服务"},
        geometry=services.geometry,
        crs=services.crs,
    )
    table.to_file(folder / "pois.geojson")
    text = (DEMO / "case.toml").read_text(encoding="utf-8")
    before, after = text.split("[services]")
    rest = after[after.index("\n[") :]
    section = '[services]\npath = "pois.geojson"\nid = "编号"\nname = "名称"\nclassify = "osm"\n'
    config = folder / "case.toml"
    config.write_text(before + section + rest, encoding="utf-8")
    return Case.from_config(config)


@pytest.fixture(scope="module")
def unclassified_result(unclassified_case: Case) -> AuditResult:
    return audit_case(unclassified_case)


def _uncategorised_warning(messages: list[str]) -> str:
    found = [m for m in messages if "have no category, so no rule counts them" in m]
    assert len(found) == 1, messages
    return found[0]


def test_validate_says_most_services_are_uncategorised(unclassified_case: Case) -> None:
    services = unclassified_case.services
    uncategorised = int(services["category"].isna().sum())
    assert uncategorised > 0.5 * len(services)
    report = unclassified_case.validate()
    assert report.ok  # a warning, not an error
    message = _uncategorised_warning([f.message for f in report.warnings])
    assert f"{uncategorised:,} of {len(services):,} services" in message
    # the fix names the setting and the columns it looked at
    assert 'classify = "osm"' in message
    assert "'名称'" in message and "类别" in message
    assert "no facility at all in the data for:" in str(report)
    assert "have no category, so no rule counts them" in str(report)


def test_validate_names_the_rules_whose_categories_have_no_facility(
    unclassified_case: Case,
) -> None:
    report = unclassified_case.validate()
    [missing] = [f for f in report.warnings if "no facility at all" in f.message]
    # each category with the rules that need it; the ids are the categories
    assert "housekeeping (W1)" in missing.message
    assert "community_service_centre (W3)" in missing.message
    assert "community_service_centre" in missing.ids
    assert 'classify = "osm"' in missing.message  # what to check


def test_audit_finds_it_and_the_headline_counts_only_used_services(
    unclassified_result: AuditResult,
) -> None:
    messages = [f.message for f in unclassified_result.findings]
    _uncategorised_warning(messages)
    assert any("no facility at all in the data for:" in m for m in messages)
    counts = unclassified_result.service_counts()
    services = unclassified_result.services
    assert counts["read"] == len(services)
    assert counts["uncategorised"] == int(services["category"].isna().sum())
    assert counts["used"] + counts["uncategorised"] + counts["other"] == counts["read"]
    assert counts["used"] < counts["read"] - counts["uncategorised"] + 1
    totals = summary_dict(unclassified_result)["totals"]
    assert totals["services"] == counts["used"]  # not every row of the file
    assert totals["services_read"] == len(services)
    assert totals["services_uncategorised"] == counts["uncategorised"]
    for lang, label in (("en", "services without a category"), ("zh", "未能分类的服务设施")):
        page = html.unescape(render_report_html(unclassified_result, lang=lang))
        assert f"<b>{counts['uncategorised']:,}</b>{label}" in page
        assert f"<b>{counts['used']:,}</b>" in page


def test_service_counts_on_the_demo() -> None:
    from coverage.audit import service_counts  # new: imported here so the others run without

    services = gpd.read_file(DEMO / "services.geojson")
    pack = load_pack("wuhan-1plus10")
    counts = service_counts(services, pack)
    measured = set(pack.categories)
    used = sum(
        bool(({c} | set(str(more).split(";"))) & measured)
        for c, more in zip(services["category"], services["categories"], strict=True)
    )
    assert counts == {
        "read": len(services),
        "used": used,
        "uncategorised": 0,
        "other": len(services) - used,
    }
    assert 0 < used < len(services)  # clinics, parks, schools feed no rule of this pack
