"""Audit outputs: summary.json content, the HTML report (escaping, self-containment) and the
files of write_outputs."""

from __future__ import annotations

import dataclasses
import html
import json
import math
from pathlib import Path

import numpy as np
import pyogrio
import pytest

from coverage.audit import AuditResult, audit_case
from coverage.report import (
    GPKG_LAYERS,
    render_report_html,
    summary_dict,
    to_jsonable,
    write_outputs,
)

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"
EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def demo_result() -> AuditResult:
    return audit_case(DEMO)


@pytest.fixture(scope="module")
def evil_result(demo_result: AuditResult) -> AuditResult:
    communities = demo_result.communities.copy()
    populated = communities.index[communities["population"] > 0][0]
    communities.loc[populated, "name"] = EVIL
    streets = demo_result.streets.copy()
    streets.loc[streets.index[0], "name"] = '"><img src=x onerror=alert(2)>'
    return dataclasses.replace(demo_result, communities=communities, streets=streets)


def test_to_jsonable_turns_nan_and_inf_into_null() -> None:
    data = to_jsonable({"a": math.nan, "b": [np.inf, -np.inf, 1.5], "c": np.int64(3), "d": (1,)})
    assert data == {"a": None, "b": [None, None, 1.5], "c": 3, "d": [1]}
    json.dumps(data, allow_nan=False)


def test_summary_dict_has_rules_parameters_findings(demo_result: AuditResult) -> None:
    summary = summary_dict(demo_result)
    text = json.dumps(summary, ensure_ascii=False, allow_nan=False)  # strict JSON
    assert "成都" in text
    assert summary["parameters"]["walk_speed_kmh"] == 4.0
    assert summary["parameters"]["minutes_15_in_m"] == pytest.approx(1000.0)
    assert summary["parameters"]["min_population_share"] == 0.9
    assert [r["rule"] for r in summary["rules"]] == ["W1", "W2", "W3", "W4", "W5", "W6"]
    for rule in summary["rules"]:
        assert rule["passing"] + rule["failing"] + rule["not_evaluable"] == rule["units"]
        assert rule["source"]
    assert summary["rules"][0]["budget_m"] == pytest.approx(1000.0)
    assert summary["any_failing"] is True
    assert summary["findings"] and {"severity", "layer", "message", "ids"} <= set(
        summary["findings"][0]
    )
    assert summary["provenance"]["inputs_sha256"]
    assert set(summary["timings"]) >= {"network", "search", "rules"}


def test_report_escapes_every_data_string(evil_result: AuditResult) -> None:
    page = render_report_html(evil_result, lang="en")
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    assert "<script" not in page.lower()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_is_self_contained_and_complete(demo_result: AuditResult, lang: str) -> None:
    page = render_report_html(demo_result, lang=lang)
    assert page.startswith("<!DOCTYPE html>")
    for rule in demo_result.pack.rules:
        assert html.escape(rule.label(lang)) in page
    assert "© OpenStreetMap contributors" in page
    assert 'href="map.html"' in page
    assert "<svg" in page
    assert "1,000" in page  # the distance 15 minutes imply
    # no external resources: no scripts, stylesheets, fonts or images fetched from elsewhere
    assert "<script" not in page
    assert "<link" not in page
    assert "src=" not in page
    assert "@import" not in page and "url(" not in page
    # every community of a community rule is listed
    assert page.count("C001") >= 2


def test_report_without_map_says_so(demo_result: AuditResult) -> None:
    page = render_report_html(demo_result, lang="en", map_file=None)
    assert "map.html" not in page
    assert "No map was made" in page


def test_report_rejects_unknown_language(demo_result: AuditResult) -> None:
    with pytest.raises(ValueError, match="lang"):
        render_report_html(demo_result, lang="fr")


def test_write_outputs_files_layers_and_nulls(demo_result: AuditResult, tmp_path: Path) -> None:
    written = write_outputs(demo_result, tmp_path / "out", lang="en", map=False)
    assert set(written) == {
        "gpkg",
        "communities_csv",
        "streets_csv",
        "summary_json",
        "findings_csv",
        "data_findings_csv",
        "static_maps",
        "report_html",
        "report_docx",
    }
    layers = dict(pyogrio.list_layers(written["gpkg"]))
    assert tuple(layers) == (*GPKG_LAYERS, "layer_styles")
    origins = pyogrio.read_dataframe(written["gpkg"], layer="origins")
    beyond = np.isinf(demo_result.origins["d_shopping"].to_numpy(dtype=float))
    assert beyond.sum() > 0  # inf stays inf: one representation (coverage.report)
    assert np.isinf(origins["d_shopping"].to_numpy(dtype=float)).sum() == beyond.sum()
    services = pyogrio.read_dataframe(written["gpkg"], layer="services")
    assert services["on_network"].dtype == bool  # a GeoPackage boolean, not text
    assert services["osm_tags"].dropna().str.startswith("{").all()
    assert not (tmp_path / "out" / "map.html").exists()
    assert json.loads(written["summary_json"].read_text(encoding="utf-8"))["timings"]["outputs"] > 0


# ---- bounded summary.json, a folder that never mixes runs ------------------------------------


def test_summary_json_caps_the_ids_of_a_finding_and_findings_csv_has_them_all(
    demo_result: AuditResult, tmp_path: Path
) -> None:
    import csv

    from coverage.load import Finding
    from coverage.report import FINDING_IDS_LIMIT

    ids = tuple(f"O{i:05d}" for i in range(10_000))
    big = Finding("warning", "origins", "10,000 origins off the network", ids)
    result = dataclasses.replace(demo_result, findings=[*demo_result.findings, big])
    entry = summary_dict(result)["findings"][-1]
    assert entry["ids"] == list(ids[:FINDING_IDS_LIMIT])
    assert entry["ids_count"] == 10_000 and entry["ids_truncated"] is True
    written = write_outputs(result, tmp_path / "out", lang="en", map=False, service_areas=False)
    assert written["summary_json"].stat().st_size < 200_000
    with written["data_findings_csv"].open(encoding="utf-8-sig", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["message"] == big.message]
    assert [r["id"] for r in rows] == list(ids)


def test_a_failure_while_writing_leaves_the_earlier_run_whole(
    demo_result: AuditResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import coverage.report as report

    out = tmp_path / "out"
    write_outputs(demo_result, out, lang="en", map=False, service_areas=False)
    before = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    communities = demo_result.communities.copy()
    communities["name"] = "renamed"
    second = dataclasses.replace(demo_result, case_name="second run", communities=communities)

    def broken(*args: object, **kwargs: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(report, "render_report_html", broken)  # after the tables are written
    with pytest.raises(OSError, match="disk full"):
        write_outputs(second, out, lang="en", map=False, service_areas=False)
    after = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # the complete earlier run, no new CSV beside the old report
    monkeypatch.undo()
    write_outputs(second, out, lang="en", map=False, service_areas=False)
    assert b"renamed" in (out / "communities.csv").read_bytes()
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["case"] == "second run"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == sorted(
        before
    )  # no staging folder left


def test_check_output_folder_refuses_files(tmp_path: Path) -> None:
    from coverage.errors import ConfigError
    from coverage.report import check_output_folder

    assert check_output_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    blocker = tmp_path / "file.txt"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"file\.txt: the output folder is a file"):
        check_output_folder(blocker)
    with pytest.raises(ConfigError, match=r"file\.txt, a folder above it, is a file"):
        check_output_folder(blocker / "out")


def test_check_output_folder_refuses_a_read_only_folder(tmp_path: Path) -> None:
    import os

    from coverage.errors import ConfigError
    from coverage.report import check_output_folder

    if os.geteuid() == 0:
        # root writes through permission bits (CI runs as root); sysfs refuses even root
        if not Path("/sys/kernel").is_dir():
            pytest.skip("running as root without /sys: no folder here is read-only for root")
        with pytest.raises(ConfigError, match="cannot write in /sys"):
            check_output_folder("/sys/service-coverage-out")
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(ConfigError, match="cannot write in"):
            check_output_folder(locked / "out")
    finally:
        locked.chmod(0o755)


def test_a_run_killed_while_writing_leaves_the_earlier_run_whole(tmp_path: Path) -> None:
    """kill -9 in the middle of write_outputs, in a real process."""
    import os
    import signal
    import subprocess
    import sys

    out = tmp_path / "out"
    script = f"""
import dataclasses, os, signal
from pathlib import Path
import coverage.report as report
from coverage.audit import audit_case

result = audit_case({str(DEMO)!r})
out = Path({str(out)!r})
report.write_outputs(result, out, lang="en", map=False, service_areas=False)
Path({str(tmp_path / "first.done")!r}).write_text("ok")

def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

report.render_report_html = killed  # the tables of the second run are written by now
second = dataclasses.replace(
    result, case_name="second run", communities=result.communities.assign(name="renamed")
)
report.write_outputs(second, out, lang="en", map=False, service_areas=False)
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", script], env=env, check=False, timeout=300)
    assert done.returncode == -signal.SIGKILL
    assert (tmp_path / "first.done").is_file()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["case"] != "second run"
    assert b"renamed" not in (out / "communities.csv").read_bytes()  # not the killed run's
    visible = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert visible == sorted(summary["outputs"].values())
    (leftover,) = [p for p in out.iterdir() if p.name.startswith(".partial-")]
    assert (leftover / "communities.csv").is_file()  # the killed run's half, out of sight
    os.utime(leftover, (0, 0))  # a day old: the next run removes it
    from coverage.report import _remove_stale_staging

    _remove_stale_staging(out)
    assert not leftover.exists()
