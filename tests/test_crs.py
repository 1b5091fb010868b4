"""GCJ-02/BD-09 transforms against published test vectors, round trips, and to_wgs84."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiPoint, Point, Polygon

from coverage.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    local_metric_crs,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from coverage.errors import DataError

DATA = Path(__file__).parent / "data" / "load"

# Published vectors, WGS-84 -> GCJ-02 as (lon, lat) pairs.
# googollee/eviltransform, python/test.py (TESTS, given there as lat, lng; checked to 6 places):
EVILTRANSFORM_WGS_GCJ = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing
]
# wandergis/coordtransform, test/app.js (the "//result" comments, all from (116.404, 39.915)):
COORDTRANSFORM_WGS_GCJ = (116.41024449916938, 39.91640428150164)
COORDTRANSFORM_GCJ_BD = (116.41036949371029, 39.92133699351021)
COORDTRANSFORM_BD_GCJ = (116.39762729119315, 39.90865673957631)  # one-step inverse
COORDTRANSFORM_GCJ_WGS = (116.39775550083061, 39.91359571849836)  # one-step inverse


def _haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    r = 6_371_009.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


@pytest.mark.parametrize(("wgs", "gcj"), EVILTRANSFORM_WGS_GCJ)
def test_wgs84_to_gcj02_matches_eviltransform(
    wgs: tuple[float, float], gcj: tuple[float, float]
) -> None:
    lon, lat = wgs84_to_gcj02(*wgs)
    assert lon == pytest.approx(gcj[0], abs=1e-6)
    assert lat == pytest.approx(gcj[1], abs=1e-6)


def test_forward_transforms_match_coordtransform_exactly() -> None:
    assert wgs84_to_gcj02(116.404, 39.915) == pytest.approx(COORDTRANSFORM_WGS_GCJ, abs=1e-12)
    assert gcj02_to_bd09(116.404, 39.915) == pytest.approx(COORDTRANSFORM_GCJ_BD, abs=1e-12)


def test_inverses_are_exact_and_close_to_one_step_approximations() -> None:
    lon, lat = gcj02_to_wgs84(116.404, 39.915)
    # the published one-step inverse is within a few metres ...
    assert _haversine_m(lon, lat, *COORDTRANSFORM_GCJ_WGS) < 2.0
    # ... and ours goes back exactly
    assert wgs84_to_gcj02(lon, lat) == pytest.approx((116.404, 39.915), abs=1e-9)
    lon, lat = bd09_to_gcj02(116.404, 39.915)
    assert _haversine_m(lon, lat, *COORDTRANSFORM_BD_GCJ) < 0.5
    assert gcj02_to_bd09(lon, lat) == pytest.approx((116.404, 39.915), abs=1e-9)


def test_eviltransform_gcj_vectors_invert_to_the_wgs_points() -> None:
    for wgs, gcj in EVILTRANSFORM_WGS_GCJ:
        lon, lat = gcj02_to_wgs84(*gcj)
        assert _haversine_m(lon, lat, *wgs) < 0.05


def test_scalars_give_floats_and_arrays_give_arrays() -> None:
    lon, lat = wgs84_to_gcj02(114.3, 30.6)
    assert isinstance(lon, float)
    assert isinstance(lat, float)
    lons, lats = wgs84_to_gcj02(np.array([114.3, 2.35]), np.array([30.6, 48.85]))
    assert lons.shape == (2,)
    assert lats.shape == (2,)
    # Paris is outside China: unchanged
    assert (lons[1], lats[1]) == (2.35, 48.85)
    assert gcj02_to_wgs84(2.35, 48.85) == (2.35, 48.85)


def test_nan_passes_through() -> None:
    lons, lats = gcj02_to_wgs84(np.array([np.nan, 114.3]), np.array([np.nan, 30.6]))
    assert np.isnan(lons[0])
    assert np.isnan(lats[0])
    assert np.isfinite(lons[1])


def test_offset_in_wuhan_is_a_few_hundred_metres() -> None:
    lon, lat = wgs84_to_gcj02(114.305, 30.593)
    assert 300 < _haversine_m(114.305, 30.593, lon, lat) < 700


china_lon = st.floats(min_value=74.0, max_value=134.5)
china_lat = st.floats(min_value=18.0, max_value=53.0)


@settings(max_examples=300, deadline=None)
@given(lon=china_lon, lat=china_lat)
def test_round_trip_wgs_gcj_wgs(lon: float, lat: float) -> None:
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert abs(back[0] - lon) < 1e-6
    assert abs(back[1] - lat) < 1e-6


@settings(max_examples=300, deadline=None)
@given(lon=china_lon, lat=china_lat)
def test_round_trip_wgs_bd_wgs(lon: float, lat: float) -> None:
    back = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert abs(back[0] - lon) < 1e-6
    assert abs(back[1] - lat) < 1e-6


def test_round_trip_vectorised_is_below_a_centimetre() -> None:
    rng = np.random.default_rng(0)
    lon = rng.uniform(74, 134.5, 10_000)
    lat = rng.uniform(18, 53, 10_000)
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert np.max(np.abs(back_lon - lon)) < 1e-8
    assert np.max(np.abs(back_lat - lat)) < 1e-8


def test_to_wgs84_converts_a_real_gcj02_district_by_300_to_600_m() -> None:
    gcj = gpd.read_file(DATA / "jianghan_gcj02.geojson")
    assert gcj.crs.to_epsg() == 4326  # what the file claims
    wgs = to_wgs84(gcj, coordinate_system="gcj02")
    assert wgs.crs.to_epsg() == 4326
    assert wgs is not gcj
    assert gcj.geometry.iloc[0].equals(gpd.read_file(DATA / "jianghan_gcj02.geojson").geometry[0])
    src = np.asarray(gcj.geometry.get_coordinates())
    dst = np.asarray(wgs.geometry.get_coordinates())
    assert src.shape == dst.shape
    shifts = [_haversine_m(a, b, c, d) for (a, b), (c, d) in zip(src, dst, strict=True)]
    assert min(shifts) > 300
    assert max(shifts) < 600
    # the district keeps its area (~28.7 km²) within 0.1 %
    area_gcj = gcj.to_crs(32650).area.iloc[0]
    area_wgs = wgs.to_crs(32650).area.iloc[0]
    assert area_wgs == pytest.approx(area_gcj, rel=1e-3)
    assert 28e6 < area_wgs < 29.5e6
    assert list(wgs.columns) == list(gcj.columns)


def test_to_wgs84_handles_every_geometry_type() -> None:
    geoms = [
        Point(114.3, 30.6),
        MultiPoint([(114.3, 30.6), (114.31, 30.61)]),
        LineString([(114.3, 30.6), (114.31, 30.61)]),
        Polygon([(114.3, 30.6), (114.31, 30.6), (114.31, 30.61)]),
        None,
    ]
    gdf = gpd.GeoDataFrame({"k": range(5)}, geometry=geoms, crs=None)
    out = to_wgs84(gdf, coordinate_system="bd09")
    assert out.crs.to_epsg() == 4326
    assert out.geometry.iloc[4] is None
    for a, b in zip(gdf.geometry[:4], out.geometry[:4], strict=True):
        assert a.geom_type == b.geom_type
        assert not a.equals(b)
    lon, lat = bd09_to_wgs84(114.3, 30.6)
    assert out.geometry.iloc[0].x == pytest.approx(lon)
    assert out.geometry.iloc[0].y == pytest.approx(lat)


def test_to_wgs84_with_epsg_and_wgs84() -> None:
    gdf = gpd.GeoDataFrame(geometry=[Point(114.3, 30.6)], crs=None)
    out = to_wgs84(gdf, coordinate_system="EPSG:4490")
    assert out.crs.to_epsg() == 4326
    assert out.geometry.iloc[0].x == pytest.approx(114.3, abs=1e-6)
    assert to_wgs84(gdf, coordinate_system="wgs84").crs.to_epsg() == 4326
    projected = gdf.set_crs(4326).to_crs(32650)
    back = to_wgs84(projected, coordinate_system="WGS-84")
    assert back.geometry.iloc[0].x == pytest.approx(114.3)
    assert gdf.crs is None  # input unchanged


def test_to_wgs84_refuses_gcj02_on_projected_data() -> None:
    projected = gpd.GeoDataFrame(geometry=[Point(114.3, 30.6)], crs=4326).to_crs(32650)
    with pytest.raises(DataError, match="EPSG:32650"):
        to_wgs84(projected, coordinate_system="gcj02")


def test_to_wgs84_unknown_system() -> None:
    gdf = gpd.GeoDataFrame(geometry=[Point(114.3, 30.6)], crs=4326)
    with pytest.raises(DataError, match="gcj02"):
        to_wgs84(gdf, coordinate_system="mars")


def test_local_metric_crs() -> None:
    assert local_metric_crs((114.0, 30.0, 114.5, 30.5)).to_epsg() == 32650  # Wuhan
    assert local_metric_crs((104.0, 30.6, 104.1, 30.7)).to_epsg() == 32648  # Chengdu
    assert local_metric_crs((8.6, 49.3, 8.8, 49.5)).to_epsg() == 32632  # Heidelberg
    assert local_metric_crs((-43.3, -23.0, -43.1, -22.9)).to_epsg() == 32723  # Rio
    gdf = gpd.GeoDataFrame(geometry=[Point(114.3, 30.6)], crs=4326).to_crs(4547)
    assert local_metric_crs(gdf).to_epsg() == 32650
    with pytest.raises(DataError, match="no CRS"):
        local_metric_crs(gpd.GeoDataFrame(geometry=[Point(1, 2)]))
