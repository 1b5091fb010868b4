"""Batch audits on a local Dask cluster: shared network, failures reported, re-runs skipped."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import pytest
from typer.testing import CliRunner

from coverage.batch import AUDIT_KEY_FILE, _folder_names, audit_key, batch_audit
from coverage.cli import app

pytest.importorskip("distributed", reason="batch audits need dask[distributed] (test extra)")

DEMO_DIR = Path(__file__).parents[1] / "data" / "demo"
OSM = DEMO_DIR / "chengdu-center.osm.bz2"
GROUP_NAMES = ("north", "centre", "south")


def street_groups() -> dict[str, list[str]]:
    """The demo's streets in three groups of consecutive ids."""
    ids = sorted(gpd.read_file(DEMO_DIR / "streets.geojson")["street_id"].astype(str))
    size = -(-len(ids) // 3)
    return {name: ids[i * size : (i + 1) * size] for i, name in enumerate(GROUP_NAMES)}


def write_case(
    folder: Path, communities: gpd.GeoDataFrame, streets: gpd.GeoDataFrame, *, osm: Path = OSM
) -> Path:
    """A case of the demo's services and the given streets/communities, OSM by absolute path."""
    folder.mkdir(parents=True, exist_ok=True)
    streets.to_file(folder / "streets.geojson", driver="GeoJSON")
    communities.to_file(folder / "communities.geojson", driver="GeoJSON")
    services = (DEMO_DIR / "services.geojson").as_posix()
    config = f"""[case]
name = "演示 {folder.name}"

[network]
osm = '{osm.as_posix()}'

[streets]
path = "streets.geojson"
id = "street_id"
name = "name"

[communities]
path = "communities.geojson"
id = "community_id"
name = "name"
street = "street_id"
population = "population"

[services]
path = '{services}'
id = "service_id"
name = "name"
category = "category"
area = "area_m2"

[residents]
buildings = '{OSM.as_posix()}'
"""
    path = folder / "case.toml"
    path.write_text(config, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cases")
    streets = gpd.read_file(DEMO_DIR / "streets.geojson")
    communities = gpd.read_file(DEMO_DIR / "communities.geojson")
    groups = street_groups()
    out: dict[str, Path] = {}
    for name, ids in groups.items():
        out[name] = write_case(
            root / name,
            communities[communities["street_id"].isin(ids)],
            streets[streets["street_id"].isin(ids)],
        )
    # broken 1: duplicate community ids
    north = communities[communities["street_id"].isin(groups["north"])].copy()
    north.iloc[1, north.columns.get_loc("community_id")] = north["community_id"].iloc[0]
    out["dup"] = write_case(
        root / "dup", north, streets[streets["street_id"].isin(groups["north"])]
    )
    # broken 2: the OSM file does not exist
    out["noosm"] = write_case(
        root / "noosm",
        communities[communities["street_id"].isin(groups["south"])],
        streets[streets["street_id"].isin(groups["south"])],
        osm=root / "nowhere.osm.pbf",
    )
    return out


def test_folder_names_are_unique_and_readable(tmp_path: Path) -> None:
    paths = [
        tmp_path / "a" / "case.toml",
        tmp_path / "a" / "case.toml",
        tmp_path / "b c" / "x.toml",
    ]
    assert _folder_names(paths) == ["a-case", "a-case-2", "b_c-x"]


def test_audit_key_changes_with_inputs_and_options(cases: dict[str, Path], tmp_path: Path) -> None:
    path = cases["north"]
    key = audit_key(path)
    assert key == audit_key(path)
    assert key != audit_key(path, speed_kmh=5.0)
    assert key != audit_key(path, pack="gb50180-2018")
    assert key != audit_key(path, map=True)
    assert key != audit_key(cases["centre"])


@pytest.mark.slow
def test_batch_on_dask(cases: dict[str, Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    out = tmp_path / "batch"
    configs = [cases[n] for n in ("north", "centre", "south", "dup", "noosm")]

    first = batch_audit(configs, out, workers=2, cache_dir=cache, lang="en")

    status = {c["case"]: c["status"] for c in first.cases}
    assert status == {
        "north-case": "ok",
        "centre-case": "ok",
        "south-case": "ok",
        "dup-case": "failed",
        "noosm-case": "failed",
    }
    errors = {c["case"]: c["error"] for c in first.failed}
    assert "duplicate" in errors["dup-case"].lower()
    assert "nowhere.osm.pbf" in errors["noosm-case"]
    for case in first.ok:
        folder = Path(case["folder"])
        assert (folder / "report.html").is_file()
        assert (folder / AUDIT_KEY_FILE).is_file()
        assert case["network_from_cache"] is True  # the tasks loaded the shared network
        assert case["rules"]["W1"]["passing"] is not None
        assert case["population"] > 0
    assert not (out / "dup-case" / AUDIT_KEY_FILE).exists()
    # the network was built once, in the client, and stored once
    assert list(first.networks) == [str(OSM.resolve())]
    assert first.networks[str(OSM.resolve())]["from_cache"] is False
    assert len(list((cache / "networks").glob("*.npz"))) == 1
    total = gpd.read_file(DEMO_DIR / "communities.geojson")["population"].sum()
    assert sum(c["population"] for c in first.ok) == pytest.approx(total)

    raw = first.summary_csv.read_bytes() if first.summary_csv else b""
    assert raw.startswith(b"\xef\xbb\xbf")
    with first.summary_csv.open(encoding="utf-8-sig", newline="") as fh:  # type: ignore[union-attr]
        rows = {r["case"]: r for r in csv.DictReader(fh)}
    assert rows["north-case"]["name"] == "演示 north"
    assert rows["dup-case"]["status"] == "failed" and rows["dup-case"]["error"]
    assert rows["centre-case"]["W2_failing"] != ""
    summary = json.loads(first.summary_json.read_text(encoding="utf-8"))  # type: ignore[union-attr]
    assert summary["counts"] == {"ok": 3, "failed": 2, "skipped": 0}

    # change one input: only that case runs again; unchanged ones are skipped
    centre = gpd.read_file(cases["centre"].parent / "communities.geojson")
    centre.loc[0, "population"] = float(centre.loc[0, "population"]) + 100.0
    centre.to_file(cases["centre"].parent / "communities.geojson", driver="GeoJSON")

    second = batch_audit(configs, out, workers=2, cache_dir=cache, lang="en")
    status = {c["case"]: c["status"] for c in second.cases}
    assert status["north-case"] == "skipped"
    assert status["south-case"] == "skipped"
    assert status["centre-case"] == "ok"
    assert status["dup-case"] == "failed"
    skipped = next(c for c in second.cases if c["case"] == "north-case")
    assert skipped["rules"] == next(c for c in first.cases if c["case"] == "north-case")["rules"]
    assert second.networks[str(OSM.resolve())]["from_cache"] is True

    # the command line: everything unchanged -> skipped; the broken cases make it exit 1
    result = CliRunner().invoke(
        app,
        [
            "batch",
            *map(str, configs[:3]),
            "--out",
            str(out),
            "--cache-dir",
            str(cache),
            "--lang",
            "en",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "batch_summary.json").read_text(encoding="utf-8"))
    assert summary["counts"] == {"ok": 0, "failed": 0, "skipped": 3}
    result = CliRunner().invoke(
        app, ["batch", str(configs[4]), "--out", str(out), "--cache-dir", str(cache), "-q"]
    )
    assert result.exit_code == 1


# ---- failed cases never look current; Dask stays quiet (issue 12, sections 6 and 7) ---------


@pytest.mark.slow
def test_a_case_that_fails_after_a_success_keeps_no_current_looking_outputs(
    cases: dict[str, Path], tmp_path: Path
) -> None:
    from coverage.batch import STALE_FOLDER

    folder = tmp_path / "case"
    streets = gpd.read_file(cases["north"].parent / "streets.geojson")
    communities = gpd.read_file(cases["north"].parent / "communities.geojson")
    config = write_case(folder, communities, streets)
    out = tmp_path / "batch"
    first = batch_audit([config], out, workers=1, cache_dir=tmp_path / "cache", lang="en")
    (record,) = first.cases
    assert record["status"] == "ok", record
    case_folder = Path(record["folder"])
    assert (case_folder / "summary.json").is_file()

    # the same case, now broken: its OSM file is gone
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            f"osm = '{OSM.as_posix()}'", f"osm = '{(tmp_path / 'gone.osm.pbf').as_posix()}'"
        ),
        encoding="utf-8",
    )
    second = batch_audit([config], out, workers=1, cache_dir=tmp_path / "cache", lang="en")
    (record,) = second.cases
    assert record["status"] == "failed"
    for name in ("summary.json", "report.html", "communities.csv", "audit.gpkg"):
        assert not (case_folder / name).exists(), name
        assert (case_folder / STALE_FOLDER / name).is_file(), name
    assert not (case_folder / AUDIT_KEY_FILE).exists()
    assert record["stale_outputs"] == str(case_folder / STALE_FOLDER)
    assert "gone.osm.pbf" in record["error"] and "moved to" in record["error"]
    summary = json.loads((out / "batch_summary.json").read_text(encoding="utf-8"))
    assert "moved to" in summary["cases"][0]["error"]
    with (out / "batch_summary.csv").open(encoding="utf-8-sig", newline="") as fh:
        assert "moved to" in next(csv.DictReader(fh))["error"]


@pytest.mark.slow
def test_batch_output_has_no_dask_info_lines(cases: dict[str, Path], tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).parents[1]
    command = [
        sys.executable,
        "-c",
        "from coverage.cli import main; main()",
        "batch",
        str(cases["south"]),
        "--out",
        str(tmp_path / "batch"),
        "--workers",
        "1",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    env = {**os.environ, "PYTHONPATH": str(root)}
    quiet = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert quiet.returncode == 0, quiet.stderr
    assert "coverage.batch" in quiet.stderr  # the batch's own progress is still there
    assert "distributed." not in quiet.stderr + quiet.stdout
    verbose = subprocess.run(
        [*command, "--force", "--verbose"], capture_output=True, text=True, env=env, check=False
    )
    assert verbose.returncode == 0, verbose.stderr
    assert "INFO distributed.scheduler" in verbose.stderr  # asked for, shown


def test_a_batch_folder_that_is_a_file_is_refused_before_the_work(
    cases: dict[str, Path], tmp_path: Path
) -> None:
    from coverage.errors import ConfigError

    blocker = tmp_path / "batch"
    blocker.write_text("a file", encoding="utf-8")
    with pytest.raises(ConfigError, match="the output folder is a file"):
        batch_audit([cases["north"]], blocker, workers=1, cache_dir=tmp_path / "cache")
    result = CliRunner().invoke(app, ["batch", str(cases["north"]), "--out", str(blocker)])
    assert result.exit_code == 1 and "is a file" in " ".join(result.output.split())
