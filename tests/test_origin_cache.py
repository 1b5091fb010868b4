"""Residential origins cached on disk: a cached read equals a fresh spread, bit for bit; a
changed byte of any input (a community file, the settings, the OSM file, the points) or a
changed layer misses the cache; a damaged entry is computed again; `service-coverage cache`
lists and clears the entries; and an audit gives the same result with and without them."""

from __future__ import annotations

import bz2
import shutil
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from typer.testing import CliRunner

import coverage.audit
import coverage.origin_cache
from coverage.audit import audit_case
from coverage.case import Case
from coverage.cli import app
from coverage.network import cache_entries, clear_cache
from coverage.origin_cache import cached_spread_population, frame_digest
from coverage.population import spread_population

DEMO_DIR = Path(__file__).parents[1] / "data" / "demo"


class _Counter:
    """Counts the calls of spread_population made through the cache (a miss computes)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        monkeypatch.setattr(coverage.origin_cache, "spread_population", self)

    def __call__(self, *args: object, **kwargs: object) -> gpd.GeoDataFrame:
        self.calls += 1
        return spread_population(*args, **kwargs)  # type: ignore[arg-type]


def _assert_same(cached: gpd.GeoDataFrame, fresh: gpd.GeoDataFrame) -> None:
    assert_geodataframe_equal(cached, fresh, check_dtype=True, check_crs=True)
    assert list(cached.columns) == list(fresh.columns)
    assert (cached.geometry.to_wkb() == fresh.geometry.to_wkb()).all()  # bit for bit
    assert cached.attrs == fresh.attrs


def _fresh(case: Case) -> gpd.GeoDataFrame:
    buildings, residential = coverage.audit._residential_layers(case)
    return spread_population(
        case.communities,
        points=case.origins,
        buildings=buildings,
        residential=residential,
        grid_m=float(case.residents.get("grid_m", 50.0)),
    )


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "demo"
    shutil.copytree(DEMO_DIR, folder)
    return folder / "case.toml"


def _origin_entries(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "origins").glob("*.npz"))


def test_cached_origins_equal_fresh_ones_on_the_demo(
    demo_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    case = Case.from_config(demo_copy)
    fresh = _fresh(case)
    assert fresh.attrs["communities_without_origins"]  # the demo has communities without
    counter = _Counter(monkeypatch)
    first = coverage.audit._origins(case, cache_dir=cache_dir)
    assert counter.calls == 1
    assert len(_origin_entries(cache_dir)) == 1
    second = coverage.audit._origins(Case.from_config(demo_copy), cache_dir=cache_dir)
    assert counter.calls == 1  # read back, not computed
    _assert_same(first, fresh)
    _assert_same(second, fresh)


def _one_coordinate_digit(text: str) -> str:
    """The last digit of the second vertex's longitude in the first community, changed (the
    first vertex also closes the ring)."""
    at = text.index("], [", text.index("[ [ [")) + 4
    end = text.index(",", at)
    digit = text[end - 1]
    return text[: end - 1] + ("1" if digit != "1" else "2") + text[end:]


def _grid_40(text: str) -> str:
    return text.replace("grid_m = 50", "grid_m = 40")


@pytest.mark.parametrize(
    ("file", "change"),
    [("communities.geojson", _one_coordinate_digit), ("case.toml", _grid_40)],
    ids=["one-byte-of-a-community", "settings"],
)
def test_a_changed_input_misses_the_cache(
    demo_copy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    file: str,
    change: Callable[[str], str],
) -> None:
    cache_dir = tmp_path / "cache"
    counter = _Counter(monkeypatch)
    coverage.audit._origins(Case.from_config(demo_copy), cache_dir=cache_dir)
    assert counter.calls == 1
    path = demo_copy.parent / file
    text = path.read_text(encoding="utf-8")
    changed = change(text)
    assert len(changed.encode()) == len(text.encode())
    assert sum(a != b for a, b in zip(changed, text, strict=True)) == 1
    path.write_text(changed, encoding="utf-8")
    case = Case.from_config(demo_copy)
    again = coverage.audit._origins(case, cache_dir=cache_dir)
    assert counter.calls == 2  # recomputed
    assert len(_origin_entries(cache_dir)) == 2
    _assert_same(again, _fresh(case))


def test_other_osm_file_bytes_miss_the_cache(
    demo_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    counter = _Counter(monkeypatch)
    coverage.audit._origins(Case.from_config(demo_copy), cache_dir=cache_dir)
    osm = demo_copy.parent / "chengdu-center.osm.bz2"
    # the same OSM data compressed otherwise: other bytes, so another key
    osm.write_bytes(bz2.compress(bz2.decompress(osm.read_bytes()), compresslevel=1))
    case = Case.from_config(demo_copy)
    again = coverage.audit._origins(case, cache_dir=cache_dir)
    assert counter.calls == 2
    _assert_same(again, _fresh(case))


def _squares(street_ids: list[str | None] | None) -> gpd.GeoDataFrame:
    """Three 300 m squares near the equator, populations 100, 0 and 250."""
    step = 300 / 111_320
    frame = gpd.GeoDataFrame(
        {
            "community_id": ["A", "B", "C"],
            "population": [100.0, 0.0, 250.0],
        },
        geometry=[shapely.box(i * step, 0, (i + 1) * step, step) for i in range(3)],
        crs=4326,
    )
    if street_ids is not None:
        frame["street_id"] = street_ids
    return frame


def _none() -> tuple[None, None]:
    return None, None


@pytest.mark.parametrize(
    "street_ids", [None, ["S1", None, "S2"], [None, None, None]], ids=["no-column", "some", "none"]
)
def test_missing_street_ids_survive_the_cache(
    street_ids: list[str | None] | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    communities = _squares(street_ids)
    fresh = spread_population(communities, grid_m=50.0)
    counter = _Counter(monkeypatch)
    for _ in range(2):
        cached = cached_spread_population(
            communities, layers=_none, layers_key="none", grid_m=50.0, cache_dir=tmp_path
        )
        _assert_same(cached, fresh)
    assert counter.calls == 1
    if street_ids != ["S1", None, "S2"]:
        assert cached["street_id"].isna().all()


def test_points_grid_and_layers_are_part_of_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    communities = _squares(["S1", "S1", "S2"])
    step = 300 / 111_320
    points = gpd.GeoDataFrame(
        {"population": [10.0, 30.0]},
        geometry=[shapely.Point(step * 0.25, step * 0.5), shapely.Point(step * 0.75, step * 0.5)],
        crs=4326,
    )
    counter = _Counter(monkeypatch)

    def run(**kwargs: object) -> gpd.GeoDataFrame:
        options: dict[str, object] = {"layers": _none, "layers_key": "none", "grid_m": 50.0}
        options |= kwargs
        return cached_spread_population(communities, cache_dir=tmp_path, **options)  # type: ignore[arg-type]

    run()
    run(points=points)
    moved = points.copy()
    moved["population"] = [10.0, 31.0]
    with_moved = run(points=moved)
    run(grid_m=40.0)
    run(layers_key="other layers")
    assert counter.calls == 5
    assert len(_origin_entries(tmp_path)) == 5
    _assert_same(with_moved, spread_population(communities, points=moved, grid_m=50.0))
    run(points=moved)  # the same again: read back
    assert counter.calls == 5


def test_frame_digest_sees_every_change() -> None:
    frame = _squares(["S1", None, "S2"])
    base = frame_digest(frame)
    assert frame_digest(frame.copy()) == base
    changes = [
        frame.assign(population=[100.0, 0.0, 250.0000001]),
        frame.assign(street_id=["S1", "S1", "S2"]),
        frame.rename(columns={"population": "pop"}),
        frame.set_crs(3857, allow_override=True),
        frame.assign(geometry=frame.geometry.translate(xoff=1e-12)),
        frame.iloc[::-1],
        frame.iloc[:2],
        frame.assign(population=frame["population"].astype("float32")),
    ]
    # nullable and object columns are read by value (not by the address of their objects)
    nullable = frame.assign(n=pd.array([1, None, 3], dtype="Int64"))
    assert frame_digest(nullable) == frame_digest(nullable.copy(deep=True))
    assert frame_digest(nullable) != frame_digest(nullable.assign(n=pd.array([1, None, 4])))
    boxed = frame.assign(o=pd.Series([10**30, 2, 3], dtype=object))
    assert frame_digest(boxed) == frame_digest(frame.assign(o=[10**30, 2, 3]))
    digests = {frame_digest(c) for c in changes}
    assert base not in digests
    assert len(digests) == len(changes)
    assert frame_digest(None) != frame_digest(frame.iloc[:0])


def test_a_damaged_entry_is_computed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    communities = _squares(None)
    options = {"layers": _none, "layers_key": "none", "grid_m": 50.0, "cache_dir": tmp_path}
    cached_spread_population(communities, **options)  # type: ignore[arg-type]
    (entry,) = _origin_entries(tmp_path)
    entry.write_bytes(entry.read_bytes()[:100])
    counter = _Counter(monkeypatch)
    with caplog.at_level("WARNING", logger="coverage.origin_cache"):
        again = cached_spread_population(communities, **options)  # type: ignore[arg-type]
    assert counter.calls == 1
    assert "origins cache" in caplog.text and "unreadable" in caplog.text
    _assert_same(again, spread_population(communities, grid_m=50.0))


def test_the_cache_command_lists_and_clears_origins(tmp_path: Path) -> None:
    cached_spread_population(
        _squares(None), layers=_none, layers_key="none", grid_m=50.0, cache_dir=tmp_path
    )
    (entry,) = [e for e in cache_entries(tmp_path) if e.kind == "origins"]
    assert entry.rows is not None and entry.rows > 0 and entry.error is None
    shown = CliRunner().invoke(app, ["cache", "--cache-dir", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert "origins" in shown.output and f"residential origins, {entry.rows:,} rows" in shown.output
    assert entry.path in clear_cache(tmp_path)
    assert not _origin_entries(tmp_path)


def test_an_audit_is_the_same_with_and_without_cached_origins(
    demo_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    counter = _Counter(monkeypatch)
    computed = audit_case(demo_copy, cache_dir=cache_dir)
    from_cache = audit_case(demo_copy, cache_dir=cache_dir)
    assert counter.calls == 1
    # and without any cache at all: spread_population called directly
    monkeypatch.setattr(
        coverage.audit,
        "_origins",
        lambda case, *, cache_dir=None: _fresh(case),
    )
    uncached = audit_case(demo_copy, cache_dir=cache_dir)
    for result in (from_cache, uncached):
        _assert_same(result.origins, computed.origins)
        pd.testing.assert_frame_equal(result.summary, computed.summary)
        assert_geodataframe_equal(result.communities, computed.communities)
        assert_geodataframe_equal(result.streets, computed.streets)
    assert np.isfinite(computed.origins["population"]).all()
