"""The service-coverage command: audit outputs, exit codes, rules, validate, demo."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from typer.testing import CliRunner, Result

from coverage import cli
from coverage.cli import app

DEMO_DIR = Path(__file__).parents[1] / "data" / "demo"
DEMO = DEMO_DIR / "case.toml"
EVIL = "<script>alert(1)</script>"
RULE_TITLES_ZH = (
    "社区“15分钟服务圈”",
    "每个街道设立1-2个政务服务中心",
    "人均体育场地面积大于1.6平方米",
)

runner = CliRunner()


def _maps_available() -> bool:
    try:
        import coverage.maps  # noqa: F401
    except ImportError:
        return False
    return True


def write_case(folder: Path, *, communities: Path | None = None, osm: Path | None = None) -> Path:
    """A case file in ``folder`` using the demo's files (absolute paths) unless replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    osm = osm or DEMO_DIR / "chengdu-center.osm.bz2"
    text = (
        DEMO.read_text(encoding="utf-8")
        .replace('"chengdu-center.osm.bz2"', f"'{osm.as_posix()}'")
        .replace('"streets.geojson"', f"'{(DEMO_DIR / 'streets.geojson').as_posix()}'")
        .replace('"services.geojson"', f"'{(DEMO_DIR / 'services.geojson').as_posix()}'")
        .replace(
            '"communities.geojson"',
            f"'{(communities or DEMO_DIR / 'communities.geojson').as_posix()}'",
        )
    )
    # the buildings line also names the OSM file; keep it on the demo file so it always exists
    text = text.replace(
        f"buildings = '{osm.as_posix()}'",
        f"buildings = '{(DEMO_DIR / 'chengdu-center.osm.bz2').as_posix()}'",
    )
    path = folder / "case.toml"
    path.write_text(text, encoding="utf-8")
    return path


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def evil_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("evil")
    communities = gpd.read_file(DEMO_DIR / "communities.geojson")
    first = communities.index[communities["population"] > 0][0]
    communities.loc[first, "name"] = EVIL
    path = folder / "communities.geojson"
    communities.to_file(path, driver="GeoJSON")
    return write_case(folder, communities=path)


@pytest.fixture(scope="module")
def audited(evil_case: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    out = tmp_path_factory.mktemp("audit") / "out"
    result = invoke("audit", evil_case, "--out", out, "--lang", "zh")
    return result, out


def test_audit_writes_every_output(audited: tuple[Result, Path]) -> None:
    result, out = audited
    assert result.exit_code == 0, result.output
    for name in ("audit.gpkg", "communities.csv", "streets.csv", "summary.json", "report.html"):
        assert (out / name).is_file(), name
    assert (out / "map.html").is_file() == _maps_available()
    assert "report_html" in result.stdout


def test_audit_gpkg_layers(audited: tuple[Result, Path]) -> None:
    _, out = audited
    layers = dict(pyogrio.list_layers(out / "audit.gpkg"))
    assert set(layers) == {"communities", "streets", "origins", "services", "service_areas"}
    communities = pyogrio.read_dataframe(out / "audit.gpkg", layer="communities")
    assert len(communities) == len(gpd.read_file(DEMO_DIR / "communities.geojson"))
    assert EVIL in set(communities["name"])


def test_audit_csv_has_bom_and_readable_chinese(audited: tuple[Result, Path]) -> None:
    _, out = audited
    raw = (out / "communities.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with (out / "communities.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert "community_id" in rows[0]  # no BOM glued to the first header
    assert "geometry" not in rows[0]
    source = gpd.read_file(DEMO_DIR / "communities.geojson")
    names = dict(zip(source["community_id"].astype(str), source["name"], strict=True))
    row = next(r for r in rows if r["name"] != EVIL)
    assert row["name"] == names[row["community_id"]]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in row["name"] + row["W1_reason_zh"])
    streets = (out / "streets.csv").read_bytes()
    assert streets.startswith(b"\xef\xbb\xbf")
    street_names = gpd.read_file(DEMO_DIR / "streets.geojson")["name"]
    assert street_names.iloc[0].encode() in streets


def test_audit_summary_json(audited: tuple[Result, Path]) -> None:
    _, out = audited
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert {"case", "pack", "parameters", "rules", "findings", "provenance", "timings"} <= set(
        summary
    )
    assert summary["parameters"]["minutes_15_in_m"] == pytest.approx(1000.0)
    assert {r["rule"] for r in summary["rules"]} == {f"W{i}" for i in range(1, 7)}
    w1 = summary["rules"][0]
    assert {"passing", "failing", "not_evaluable", "population_in_passing_units"} <= set(w1)


def test_audit_report_titles_and_escaping(audited: tuple[Result, Path]) -> None:
    _, out = audited
    page = (out / "report.html").read_text(encoding="utf-8")
    for title in RULE_TITLES_ZH:
        assert title in page
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "© OpenStreetMap contributors" in page
    assert "步行速度" in page


def test_exit_1_on_invalid_input_without_traceback(tmp_path: Path) -> None:
    result = invoke("audit", tmp_path / "missing.toml", "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "missing.toml" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ("audit", str(DEMO)),  # --out missing
        ("audit", str(DEMO), "--out", "x", "--lang", "fr"),
        ("audit", str(DEMO), "--out", "x", "--share", "3"),
        ("audit", str(DEMO), "--out", "x", "--no-such-option"),
    ],
)
def test_exit_2_on_usage_errors(args: tuple[str, ...]) -> None:
    assert invoke(*args).exit_code == 2


def test_exit_3_with_fail_on_violation(tmp_path: Path) -> None:
    result = invoke(
        "audit", DEMO, "--out", tmp_path / "out", "--no-map", "--quiet", "--fail-on-violation"
    )
    assert result.exit_code == 3, result.output
    assert "W1" in result.output
    assert (tmp_path / "out" / "summary.json").is_file()  # outputs are written first


def test_exit_0_with_fail_on_violation_when_nothing_fails(tmp_path: Path) -> None:
    # a pack whose only rule every street passes: at most 10,000 exercise points
    pack = tmp_path / "lenient.yaml"
    pack.write_text(
        "id: lenient\nversion: 1\ntitle: {zh: 宽松, en: lenient}\nreference: test\n"
        "walk_speed_kmh: 4.0\nwalk_speed_note: n\nmin_population_share: 0.9\n"
        "min_population_share_note: n\nrules:\n"
        "  - id: L1\n    kind: count\n    unit: street\n    title: {zh: 宽松, en: lenient}\n"
        "    category: exercise_point\n    max_count: 10000\n    source: test\n",
        encoding="utf-8",
    )
    result = invoke(
        "audit",
        DEMO,
        "--out",
        tmp_path / "out",
        "--pack",
        pack,
        "--no-map",
        "-q",
        "--fail-on-violation",
        "--lang",
        "en",
    )
    assert result.exit_code == 0, result.output


def test_rules_lists_the_wuhan_rules() -> None:
    result = invoke("rules", "wuhan-1plus10")
    assert result.exit_code == 0, result.output
    for i in range(1, 7):
        assert f"W{i}" in result.stdout
    assert "1,000 m" in result.stdout
    everything = invoke("rules")
    assert everything.exit_code == 0
    assert "gb50180-2018" in everything.stdout and "W6" in everything.stdout


def test_rules_unknown_pack_exits_1() -> None:
    result = invoke("rules", "no-such-pack")
    assert result.exit_code == 1
    assert "no-such-pack" in result.output


def test_validate_good_case() -> None:
    result = invoke("validate", DEMO)
    assert result.exit_code == 0, result.output
    n = len(gpd.read_file(DEMO_DIR / "communities.geojson"))
    assert f"communities: {n}" in result.stdout


def test_validate_broken_case_names_the_file(tmp_path: Path) -> None:
    broken = write_case(tmp_path / "broken", communities=tmp_path / "nowhere.geojson")
    result = invoke("validate", broken)
    assert result.exit_code == 1
    assert "nowhere.geojson" in result.output
    assert str(broken) in result.output
    assert "Traceback" not in result.output


def test_validate_duplicate_ids_exit_1(tmp_path: Path) -> None:
    communities = gpd.read_file(DEMO_DIR / "communities.geojson")
    communities.loc[1, "community_id"] = communities.loc[0, "community_id"]
    path = tmp_path / "dup.geojson"
    communities.to_file(path, driver="GeoJSON")
    result = invoke("validate", write_case(tmp_path / "dup", communities=path))
    assert result.exit_code == 1
    assert "dup.geojson" in result.output


def test_network_command_unchanged() -> None:
    result = invoke("network", DEMO_DIR / "chengdu-center.osm.bz2", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["nodes"] > 1000


def test_demo_command(tmp_path: Path) -> None:
    result = invoke("demo", "--out", tmp_path / "demo", "--no-map", "--quiet")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo" / "report.html").is_file()


def test_demo_missing_data_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import coverage

    monkeypatch.setattr(coverage, "__file__", str(tmp_path / "pkg" / "coverage" / "__init__.py"))
    result = invoke("demo", "--out", tmp_path / "demo")
    assert result.exit_code == 1
    assert "demo case" in result.output
    assert cli.demo_config.__doc__
