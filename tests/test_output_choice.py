"""Choosing the outputs: ``write_outputs(outputs=..., service_areas=...)``, the command line's
``--outputs`` and ``--no-service-areas``, and the service areas ``write_outputs`` writes
(``audit_service_areas``: the raster path, the same categories as the exact one)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyogrio
import pytest
import shapely
from typer.testing import CliRunner

from coverage import isochrones
from coverage.audit import AuditResult, audit_case
from coverage.cli import app
from coverage.errors import ConfigError
from coverage.isochrones import DEFAULT_BUFFER_M, DEFAULT_CELL_M, audit_service_areas
from coverage.maps import default_service_areas
from coverage.report import OUTPUT_GROUPS, check_outputs, write_outputs

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"
runner = CliRunner()


@pytest.fixture(scope="module")
def demo_result() -> AuditResult:
    return audit_case(DEMO)


def test_only_the_chosen_outputs_are_written(demo_result: AuditResult, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_outputs(demo_result, out, lang="en", map=False, service_areas=False)  # a full run
    written = write_outputs(demo_result, out, lang="en", outputs=["report", "csv"])
    assert set(written) == {
        "communities_csv",
        "streets_csv",
        "findings_csv",
        "data_findings_csv",
        "report_html",
        "summary_json",
    }
    # the earlier run's GeoPackage is gone: the folder never mixes two runs
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written.values())
    summary = json.loads(written["summary_json"].read_text(encoding="utf-8"))
    assert set(summary["outputs"]) == set(written)
    # the report does not link a map that was not written
    assert 'href="map.html"' not in written["report_html"].read_text(encoding="utf-8")


def test_service_areas_are_computed_only_for_the_gpkg(
    demo_result: AuditResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("service areas computed although no output needs them")

    monkeypatch.setattr(isochrones, "audit_service_areas", refuse)
    written = write_outputs(demo_result, tmp_path / "out", lang="en", outputs=["csv", "report"])
    assert "gpkg" not in written and "map_html" not in written
    # the map draws walking time as image layers: it needs no polygons either
    written = write_outputs(demo_result, tmp_path / "map", lang="en", outputs=["map"])
    assert "map_html" in written


def test_gpkg_service_areas_are_the_raster_ones(demo_result: AuditResult, tmp_path: Path) -> None:
    written = write_outputs(demo_result, tmp_path / "out", lang="en", outputs=["gpkg"])
    assert set(written) == {"gpkg", "summary_json"}
    layer = pyogrio.read_dataframe(written["gpkg"], layer="service_areas")
    expected = audit_service_areas(demo_result)
    assert sorted(layer["category"].unique()) == sorted(expected)
    assert len(layer) == 3 * len(expected)
    assert shapely.is_valid(layer.geometry.values).all()
    skipped = write_outputs(
        demo_result, tmp_path / "none", lang="en", outputs=["gpkg"], service_areas=False
    )
    assert len(pyogrio.read_dataframe(skipped["gpkg"], layer="service_areas")) == 0


def test_audit_service_areas_match_the_exact_ones(demo_result: AuditResult) -> None:
    assert demo_result.network is not None
    fast = audit_service_areas(demo_result, crs="metric")
    exact = default_service_areas(demo_result)
    assert list(fast) == list(exact)
    metric = demo_result.network.metric_crs
    slack = DEFAULT_CELL_M * math.sqrt(2.0) + 1e-6
    for cat, frame in fast.items():
        assert frame.attrs["cell_m"] == DEFAULT_CELL_M
        assert frame.attrs["buffer_m"] == DEFAULT_BUFFER_M
        ref = exact[cat].to_crs(metric).geometry.to_numpy()
        ours = frame.geometry.to_numpy()
        # within one cell diagonal of the exact polygons, and missing little of them
        outside = shapely.area(shapely.difference(ours, shapely.buffer(ref, slack)))
        assert (outside < 1e-3 * shapely.area(ours) + 1.0).all(), cat
        assert (shapely.area(shapely.difference(ref, ours)) < 0.1 * shapely.area(ref)).all()


def test_unknown_outputs_are_refused_with_the_choices() -> None:
    assert check_outputs(None) == set(OUTPUT_GROUPS)
    assert check_outputs(["Report", " csv"]) == {"report", "csv"}
    with pytest.raises(ConfigError, match=r"unknown output.*pdf.*gpkg, csv, report, map"):
        check_outputs(["report", "pdf"])


def test_cli_outputs_and_no_service_areas(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            *("audit", str(DEMO), "--out", str(out), "-q", "--lang", "en"),
            *("--outputs", "gpkg,report", "--no-service-areas"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["audit.gpkg", "report.html", "summary.json"]
    assert len(pyogrio.read_dataframe(out / "audit.gpkg", layer="service_areas")) == 0
    bad = runner.invoke(
        app, ["audit", str(DEMO), "--out", str(out), "--outputs", "pdf"], env={"COLUMNS": "400"}
    )
    assert bad.exit_code == 2
    assert "pdf" in bad.output and "gpkg, csv, report, map" in bad.output
