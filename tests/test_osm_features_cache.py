"""Buildings and land use read from an OSM file are cached by the file's SHA-256: a cached read
equals a fresh one, a changed file or other parameters miss the cache, and a damaged entry is
read again from the file with a warning."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from geopandas.testing import assert_geodataframe_equal

import coverage.network
import coverage.osm_features
from coverage.osm_features import read_osm_buildings, read_osm_landuse
from tests.conftest import BEIJING, CHENGDU


def _entries(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "osm-features").glob("*.npz"))


def _assert_same(cached: gpd.GeoDataFrame, fresh: gpd.GeoDataFrame) -> None:
    assert_geodataframe_equal(cached, fresh, check_dtype=True, check_crs=True)
    # the very same coordinates, bit for bit (not only "equal within a tolerance")
    assert (cached.geometry.to_wkb() == fresh.geometry.to_wkb()).all()


def _no_file_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        msg = "the OSM file was read again"
        raise AssertionError(msg)

    monkeypatch.setattr(coverage.osm_features, "_read", refuse)


@pytest.mark.parametrize("osm", [BEIJING, CHENGDU], ids=["beijing", "chengdu"])
def test_a_cached_read_equals_a_fresh_one(
    osm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_buildings = read_osm_buildings(osm, cache=False)
    fresh_landuse = read_osm_landuse(osm, cache=False)
    assert len(fresh_buildings) > 0 and len(fresh_landuse) > 0
    _assert_same(read_osm_buildings(osm, cache_dir=tmp_path), fresh_buildings)  # writes
    _assert_same(read_osm_landuse(osm, cache_dir=tmp_path), fresh_landuse)
    assert len(_entries(tmp_path)) == 2
    _no_file_reads(monkeypatch)
    _assert_same(read_osm_buildings(osm, cache_dir=tmp_path), fresh_buildings)
    _assert_same(read_osm_landuse(osm, cache_dir=tmp_path), fresh_landuse)


def test_an_empty_read_is_cached_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = read_osm_landuse(BEIJING, values=("no-such-landuse",), cache=False)
    assert len(fresh) == 0
    read_osm_landuse(BEIJING, values=("no-such-landuse",), cache_dir=tmp_path)
    _no_file_reads(monkeypatch)
    cached = read_osm_landuse(BEIJING, values=("no-such-landuse",), cache_dir=tmp_path)
    assert_geodataframe_equal(cached, fresh)


def test_a_changed_file_or_other_values_miss_the_cache(tmp_path: Path) -> None:
    osm = tmp_path / "city.osm.bz2"
    shutil.copy(BEIJING, osm)
    cache_dir = tmp_path / "cache"
    beijing = read_osm_buildings(osm, cache_dir=cache_dir)
    # the same path, other contents: never the old buildings
    shutil.copy(CHENGDU, osm)
    chengdu = read_osm_buildings(osm, cache_dir=cache_dir)
    _assert_same(chengdu, read_osm_buildings(CHENGDU, cache=False))
    assert set(chengdu["building_id"]).isdisjoint(beijing["building_id"])
    assert len(_entries(cache_dir)) == 2
    # the land-use values read are part of the key
    residential = read_osm_landuse(osm, cache_dir=cache_dir)
    more = read_osm_landuse(osm, values=("residential", "commercial"), cache_dir=cache_dir)
    assert set(residential["landuse"]) == {"residential"}
    assert set(more["landuse"]) == {"residential", "commercial"}
    assert len(_entries(cache_dir)) == 4


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "short_column"])
def test_a_damaged_entry_is_read_again_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    fresh = read_osm_buildings(BEIJING, cache=False)
    read_osm_buildings(BEIJING, cache_dir=tmp_path)
    (entry,) = _entries(tmp_path)
    data = entry.read_bytes()
    if damage == "short_column":  # a whole file whose arrays do not fit together
        with np.load(entry) as stored:
            arrays = {k: stored[k] for k in stored.files}
        arrays["col0"] = arrays["col0"][:-1]
        with entry.open("wb") as stream:
            np.savez(stream, **arrays)
    else:
        entry.write_bytes(
            {"empty": b"", "truncated": data[: len(data) // 2], "garbage": b"PK\x03 no zip"}[damage]
        )
    with caplog.at_level("WARNING", logger="coverage.osm_features"):
        again = read_osm_buildings(BEIJING, cache_dir=tmp_path)
    _assert_same(again, fresh)
    assert str(entry) in caplog.text and "rebuilding" in caplog.text
    # the entry is whole again
    caplog.clear()
    with caplog.at_level("WARNING", logger="coverage.osm_features"):
        _assert_same(read_osm_buildings(BEIJING, cache_dir=tmp_path), fresh)
    assert caplog.text == ""


def test_a_second_audit_reads_neither_the_network_nor_the_buildings_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo case names its OSM file for the network and for the residents' buildings and
    land use: an audit in a new process (here: the in-memory memo cleared) reads none of them
    from the OSM file when the cache is warm, and finds the same result."""
    import coverage.audit
    import coverage.snapping
    from coverage.audit import audit_case

    demo = Path(__file__).parents[1] / "data" / "demo" / "case.toml"
    coverage.audit._osm_residential.cache_clear()
    first = audit_case(demo, cache_dir=tmp_path)
    coverage.audit._osm_residential.cache_clear()
    _no_file_reads(monkeypatch)

    def refuse(*args: object, **kwargs: object) -> object:
        msg = "rebuilt from the OSM file"
        raise AssertionError(msg)

    monkeypatch.setattr(coverage.network, "_parse_osm_file", refuse)
    monkeypatch.setattr(coverage.snapping, "_build_segment_index", refuse)
    second = audit_case(demo, cache_dir=tmp_path)
    assert second.network is not None and second.network.report is not None
    assert second.network.report.from_cache
    assert second.summary.equals(first.summary)
    assert second.origins.equals(first.origins)
