"""The service-coverage command: audit outputs, exit codes, rules, validate, demo."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
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
    assert "report.html" in result.stdout


def test_audit_gpkg_layers(audited: tuple[Result, Path]) -> None:
    _, out = audited
    layers = dict(pyogrio.list_layers(out / "audit.gpkg"))
    assert set(layers) == {
        "communities",
        "streets",
        "origins",
        "services",
        "service_areas",
        "layer_styles",  # QGIS's default styles (coverage.gis_styles)
    }
    communities = pyogrio.read_dataframe(out / "audit.gpkg", layer="communities")
    assert len(communities) == len(gpd.read_file(DEMO_DIR / "communities.geojson"))
    assert EVIL in set(communities["name"])


def test_audit_csv_has_bom_and_readable_chinese(audited: tuple[Result, Path]) -> None:
    _, out = audited
    raw = (out / "communities.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with (out / "communities.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert "社区编号" in rows[0]  # no BOM glued to the first header; --lang zh: Chinese
    assert "geometry" not in rows[0]
    source = gpd.read_file(DEMO_DIR / "communities.geojson")
    names = dict(zip(source["community_id"].astype(str), source["name"], strict=True))
    row = next(r for r in rows if r["名称"] != EVIL)
    assert row["名称"] == names[row["社区编号"]]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in row["名称"] + row["W1 原因"])
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


# ---- no tracebacks, no stale files; what the terminal shows (issue 12, sections 6 and 7) ----


def test_audit_prints_its_findings_in_the_chosen_language(audited: tuple[Result, Path]) -> None:
    result, _ = audited  # the demo case, --lang zh
    assert result.exit_code == 0, result.output
    assert "发现（全部编号见 data_findings.csv）" in result.stdout
    assert "位于与主路网不连通的步行路网孤岛上" in result.stdout  # islands
    assert (
        "数据中完全没有以下类别的设施：家政（W1）、供电营业厅（W1）、供水营业厅（W1）"
        in result.stdout
    )
    assert "距最近的步行道路超过 250 米" in result.stdout  # off the network


def test_audit_prints_findings_in_english_and_uncategorised_services(tmp_path: Path) -> None:
    services = gpd.read_file(DEMO_DIR / "services.geojson")
    services.loc[services.index[:3], "category"] = None
    path = tmp_path / "services.geojson"
    services.to_file(path, driver="GeoJSON")
    case = write_case(tmp_path / "case")
    case.write_text(
        case.read_text(encoding="utf-8").replace(
            f"'{(DEMO_DIR / 'services.geojson').as_posix()}'", f"'{path.as_posix()}'"
        ),
        encoding="utf-8",
    )
    result = invoke("audit", case, "--out", tmp_path / "out", "--no-map", "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "findings (all ids in data_findings.csv):" in result.stdout
    assert "walking network islands" in result.stdout
    assert f"3 of {len(services)} services have no category and feed no rule" in result.stdout


def test_a_walking_speed_out_of_range_is_refused_alike_by_validate_and_audit(
    tmp_path: Path,
) -> None:
    case = write_case(tmp_path / "fast")
    case.write_text(
        case.read_text(encoding="utf-8").replace("[case]\n", "[case]\nwalk_speed_kmh = 50\n"),
        encoding="utf-8",
    )
    checked = invoke("validate", case)
    audited = invoke("audit", case, "--out", tmp_path / "out", "--no-map")
    for result in (checked, audited):
        assert result.exit_code == 1, result.output
        text = " ".join(result.output.split())
        assert "walk_speed_kmh = 50: a walking speed is 1-8 km/h" in text
        assert str(case) in "".join(result.output.split())
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "out" / "summary.json").exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--speed-kmh", "12", "--speed-kmh = 12.0: a walking speed is 1-8 km/h"),
        ("--share", "0", "--share = 0.0: give a share of residents in (0, 1]"),
    ],
)
def test_cli_settings_use_the_same_ranges(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    result = invoke("audit", DEMO, "--out", tmp_path / "out", "--no-map", option, value)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.replace("│", " ").split())
    assert not (tmp_path / "out").exists()


def test_an_output_folder_that_is_a_file_is_refused_before_the_audit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import coverage.audit

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the audit ran although its outputs cannot be written")

    monkeypatch.setattr(coverage.audit, "audit_case", never)
    blocker = tmp_path / "report.txt"
    blocker.write_text("not a folder", encoding="utf-8")
    for out in (blocker, blocker / "sub"):
        result = invoke("audit", DEMO, "--out", out, "--no-map")
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        text = " ".join(result.output.split())
        assert f"output folder {out}" in text and "is a file" in text


def test_validate_predicts_an_infinite_population(tmp_path: Path) -> None:
    communities = gpd.read_file(DEMO_DIR / "communities.geojson")
    table = communities.drop(columns="geometry").assign(wkt=communities.geometry.to_wkt())
    table["population"] = table["population"].astype(float)
    table.loc[0, "population"] = float("inf")
    path = tmp_path / "communities.csv"
    table.to_csv(path, index=False)
    case = write_case(tmp_path / "inf", communities=path)
    case.write_text(
        case.read_text(encoding="utf-8").replace(
            'population = "population"\n', 'population = "population"\nwkt = "wkt"\n'
        ),
        encoding="utf-8",
    )
    first = str(table.loc[0, "community_id"])
    for result in (invoke("validate", case), invoke("audit", case, "--out", tmp_path / "o")):
        assert result.exit_code == 1, result.output
        assert "infinite population" in result.output and first in result.output


@pytest.mark.parametrize("damage", ["empty", "truncated", "not_osm"])
def test_validate_predicts_an_unreadable_osm_file(tmp_path: Path, damage: str) -> None:
    data = (DEMO_DIR / "chengdu-center.osm.bz2").read_bytes()
    osm = tmp_path / "city.osm.bz2"
    osm.write_bytes(
        {"empty": b"", "truncated": data[: len(data) // 3], "not_osm": b"BZh9 garbage"}[damage]
    )
    case = write_case(tmp_path / "case", osm=osm)
    checked = invoke("validate", case, "--cache-dir", tmp_path / "cache")
    audited = invoke("audit", case, "--out", tmp_path / "o", "--cache-dir", tmp_path / "cache")
    assert audited.exit_code == 1, audited.output
    assert checked.exit_code == 1, checked.output
    assert "city.osm.bz2" in checked.output and "error: [network]" in checked.output


def test_validate_names_the_rules_the_data_cannot_decide(tmp_path: Path) -> None:
    services = gpd.read_file(DEMO_DIR / "services.geojson")
    services = services[services["category"] != "government_service_centre"]
    path = tmp_path / "services.geojson"
    services.to_file(path, driver="GeoJSON")
    case = write_case(tmp_path / "case")
    case.write_text(
        case.read_text(encoding="utf-8").replace(
            f"'{(DEMO_DIR / 'services.geojson').as_posix()}'", f"'{path.as_posix()}'"
        ),
        encoding="utf-8",
    )
    result = invoke("validate", case)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert (
        "W2 (1-2 government service centres per street): no government_service_centre in the "
        "data; this rule is not evaluable"
    ) in text
    assert "W3 (" in text and "no community_service_centre in the data" in text
    assert "housekeeping (W1)" in text  # a category without facility, with its rule
    assert "no housekeeping in the data" not in text  # said once, not again per rule
    assert "no window counts" not in text
    # a community service centre without a window count: W3 cannot be decided either
    centre = services.iloc[[0]].assign(service_id="csc1", category="community_service_centre")
    pd.concat([services, centre]).to_file(path, driver="GeoJSON")
    text = " ".join(invoke("validate", case).stdout.split())
    assert "no community_service_centre" not in text
    assert "W3 (" in text and "no window counts in the data ([services] windows)" in text


def test_cache_command_shows_and_clears_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    empty = invoke("cache", "--cache-dir", cache)
    assert empty.exit_code == 0 and "empty" in empty.stdout
    osm = DEMO_DIR / "chengdu-center.osm.bz2"
    assert invoke("network", osm, "--cache-dir", cache, "-q").exit_code == 0
    # buildings and land use read from the same file are cached too, and listed and cleared
    from coverage.osm_features import read_osm_buildings, read_osm_landuse

    read_osm_buildings(osm, cache_dir=cache)
    read_osm_landuse(osm, cache_dir=cache)
    shown = invoke("cache", "--cache-dir", cache)
    assert shown.exit_code == 0, shown.output
    assert str(cache.absolute()) in shown.stdout
    text = " ".join(shown.stdout.split())
    assert str(osm) in text and "total: 3 file(s)" in text
    assert "network" in text and "nodes" in text
    assert "osm features" in text and "buildings" in text and "landuse" in text
    cleared = invoke("cache", "--cache-dir", cache, "--clear")
    assert cleared.exit_code == 0 and "deleted 3 file(s)" in cleared.stdout
    assert list((cache / "networks").iterdir()) == []
    assert list((cache / "osm-features").iterdir()) == []


def test_an_origin_grid_too_large_is_refused_before_the_network_is_built(tmp_path: Path) -> None:
    from shapely.geometry import Point, box

    area = box(110.0, 25.0, 115.0, 30.0)  # one 5 x 5 degree community
    gpd.GeoDataFrame({"street_id": ["S1"]}, geometry=[area], crs=4326).to_file(
        tmp_path / "streets.geojson"
    )
    gpd.GeoDataFrame(
        {"community_id": ["C1"], "street_id": ["S1"], "population": [1000.0]},
        geometry=[area],
        crs=4326,
    ).to_file(tmp_path / "communities.geojson")
    gpd.GeoDataFrame(
        {"service_id": ["1"], "category": ["clinic"]}, geometry=[Point(112.0, 27.0)], crs=4326
    ).to_file(tmp_path / "services.geojson")
    case = tmp_path / "case.toml"
    case.write_text(
        f"""[case]
name = "big"
[network]
osm = '{(DEMO_DIR / "chengdu-center.osm.bz2").as_posix()}'
[streets]
path = "streets.geojson"
id = "street_id"
[communities]
path = "communities.geojson"
id = "community_id"
street = "street_id"
population = "population"
[services]
path = "services.geojson"
id = "service_id"
category = "category"
""",
        encoding="utf-8",
    )
    for args in (("validate", case), ("audit", case, "--out", tmp_path / "out")):
        cache = tmp_path / f"cache-{args[0]}"
        result = invoke(*args, "--cache-dir", cache)
        assert result.exit_code == 1, result.output
        text = " ".join(result.output.split())
        assert "origin grid of 50 m would need" in text and "limit of 2,000,000" in text
        assert "C1" in text and "grid_m = " in text
    assert not (tmp_path / "out" / "summary.json").exists()
    assert not (tmp_path / "cache-audit").exists()  # refused before the network was built
