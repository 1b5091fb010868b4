"""Walking-time rasters: pixels against networkx Dijkstra, the PNG and its legend."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from coverage.audit import AuditResult, audit_case, service_categories
from coverage.maps import _png_data_uri, _time_colors, _time_legend_html
from coverage.rules import minutes_to_m
from coverage.snapping import snap_points
from coverage.timegrid import (
    WalkTimeGrid,
    _lonlat,
    _mercator,
    decode_png,
    encode_png,
    time_classes,
    walk_time_grids,
)

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"
CATEGORY = "shopping"


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return audit_case(DEMO)


@pytest.fixture(scope="module")
def grids(demo: AuditResult) -> dict[str, WalkTimeGrid]:
    return walk_time_grids(demo)


def _reference_m(
    demo: AuditResult, lon: np.ndarray, lat: np.ndarray, buffer_m: float
) -> np.ndarray:
    """The pixel definition the slow way: project each point on its nearest edge (the audit's
    snapping), then networkx Dijkstra from the audit's snapped facilities of CATEGORY."""
    import geopandas as gpd

    net = demo.network
    assert net is not None and demo.snapped_services is not None
    cats = service_categories(demo.services)
    mask = np.zeros(len(demo.services), dtype=bool)
    mask[cats.loc[cats["category"] == CATEGORY, "pos"].to_numpy()] = True
    fac = demo.snapped_services.subset(mask & demo.snapped_services.ok)
    g = nx.Graph()
    for u, v, w in zip(net.edge_u, net.edge_v, net.edge_length_m, strict=True):
        if not g.has_edge(u, v) or g[u][v]["weight"] > w:
            g.add_edge(int(u), int(v), weight=float(w))
    sources = []
    for k, (e, o, s) in enumerate(zip(fac.edge, fac.offset_m, fac.snap_m, strict=True)):
        node = ("f", k)
        u, v, length = int(net.edge_u[e]), int(net.edge_v[e]), float(net.edge_length_m[e])
        g.add_edge(node, u, weight=s + o)
        g.add_edge(node, v, weight=s + length - o)
        sources.append(node)
    dist = nx.multi_source_dijkstra_path_length(g, sources, weight="weight")
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326)
    snapped = snap_points(net, pts, max_snap_m=buffer_m)
    out = np.full(len(lon), np.nan)
    for i in np.flatnonzero(snapped.ok):
        e, o, s = snapped.edge[i], snapped.offset_m[i], snapped.snap_m[i]
        u, v, length = int(net.edge_u[e]), int(net.edge_v[e]), float(net.edge_length_m[e])
        best = min(dist.get(u, np.inf) + o, dist.get(v, np.inf) + length - o)
        on_edge = fac.edge == e
        if on_edge.any():
            best = min(best, float((np.abs(fac.offset_m[on_edge] - o) + fac.snap_m[on_edge]).min()))
        out[i] = s + best
    return out


def _centres(grid: WalkTimeGrid) -> tuple[np.ndarray, np.ndarray]:
    west, south, east, north = grid.bounds
    (x0, x1), (y0, y1) = _mercator(np.array([west, east]), np.array([south, north]))
    rows, cols = grid.shape
    cx = x0 + (np.arange(cols) + 0.5) * (x1 - x0) / cols
    cy = y1 - (np.arange(rows) + 0.5) * (y1 - y0) / rows
    lon, _ = _lonlat(cx, np.full(cols, cy[0]))
    _, lat = _lonlat(np.full(rows, cx[0]), cy)
    return lon, lat


def test_pixels_agree_with_networkx_dijkstra(demo: AuditResult, grids: dict) -> None:
    grid = grids[CATEGORY]
    assert grid.cell_m == 10.0  # the demo is small: the finest cells
    lon, lat = _centres(grid)
    rng = np.random.default_rng(7)
    rows, cols = grid.shape
    near_street = np.argwhere(~np.isnan(grid.minutes))
    pick = near_street[rng.choice(len(near_street), 1500, replace=False)]
    anywhere = np.column_stack([rng.integers(0, rows, 1500), rng.integers(0, cols, 1500)])
    cells = np.vstack([pick, anywhere])
    ours = grid.minutes[cells[:, 0], cells[:, 1]].astype(float)
    reference_m = _reference_m(demo, lon[cells[:, 1]], lat[cells[:, 0]], grid.buffer_m)
    per_minute = minutes_to_m(1.0, demo.walk_speed_kmh)
    # transparent exactly where no street is within the buffer (the nearest sampled street
    # point is at most sample_m / 2 farther than the street itself)
    assert not (np.isnan(reference_m) & ~np.isnan(ours)).any()
    assert (np.isnan(ours) & ~np.isnan(reference_m)).mean() < 0.01
    both = ~np.isnan(ours) & ~np.isnan(reference_m)
    ref_min = reference_m[both] / per_minute
    ref_min[ref_min > grid.limit_minutes] = np.inf
    mine = ours[both]
    assert (np.isinf(mine) == np.isinf(ref_min)).mean() > 0.99
    finite = np.isfinite(mine) & np.isfinite(ref_min)
    diff_m = np.abs(mine[finite] - ref_min[finite]) * per_minute
    # within one sample spacing of walking, except where two streets are about equally near
    # and the nearest sampled point lies on the other one
    assert (diff_m <= grid.sample_m + 0.5).mean() > 0.97
    assert np.median(diff_m) < grid.sample_m / 2
    assert finite.sum() > 1000


def test_classes_follow_the_bands() -> None:
    minutes = np.array([[0.0, 5.0, 5.01, 10.0], [14.9, 15.0, 29.0, np.inf], [np.nan] * 4])
    classes = time_classes(minutes, (5, 10, 15))
    assert classes.tolist() == [[1, 1, 2, 2], [3, 3, 4, 5], [0, 0, 0, 0]]


def test_png_round_trips_and_its_colours_are_the_legend(demo: AuditResult, grids: dict) -> None:
    from coverage.maps import _Context

    grid = grids[CATEGORY]
    uri = _png_data_uri(grid)
    assert uri.startswith("data:image/png;base64,")
    png = base64.b64decode(uri.split(",", 1)[1])
    assert len(png) < 300_000
    indices, palette = decode_png(png)
    assert indices.shape == grid.shape
    np.testing.assert_array_equal(indices, time_classes(grid.minutes, (5, 10, 15)))
    assert palette[0][3] == 0  # off the streets: transparent
    legend = _time_legend_html(_Context(demo, "zh"), grid)
    swatches = re.findall(r'fill="(#[0-9a-f]{6})"', legend)
    assert swatches == _time_colors(3)
    assert ["#{:02x}{:02x}{:02x}".format(*c[:3]) for c in palette[1:]] == swatches
    labels = re.findall(r"<span>(.*?)</span>", legend)
    assert labels == ["≤ 5 分钟", "5–10 分钟", "10–15 分钟", "15–30 分钟", "&gt; 30 分钟或不可达"]
    # the pixels read as a heat map: some of every band near the shops
    assert set(np.unique(indices)) >= {0, 1, 2, 3}


def test_png_is_read_by_pillow_too() -> None:
    pil = pytest.importorskip("PIL.Image", reason="Pillow comes with matplotlib (test extra)")
    import io

    indices = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    png = encode_png(indices, [(0, 0, 0, 0), (255, 0, 0, 255), (0, 0, 255, 128)])
    image = pil.open(io.BytesIO(png)).convert("RGBA")
    assert image.size == (3, 2)
    assert image.getpixel((1, 0)) == (255, 0, 0, 255)
    assert image.getpixel((0, 1)) == (0, 0, 255, 128)
    assert image.getpixel((0, 0))[3] == 0


def test_every_reach_category_with_a_facility_gets_a_grid(demo: AuditResult, grids: dict) -> None:
    reach = {c for r in demo.pack.rules if r.kind == "reach" for c in r.all_categories}
    present = set(service_categories(demo.services)["category"])
    assert set(grids) == reach & present
    for grid in grids.values():
        assert grid.minutes.dtype == np.float32
        assert grid.limit_minutes == 30.0


def test_cell_size_grows_with_the_extent(demo: AuditResult) -> None:
    coarse = walk_time_grids(demo, categories=[CATEGORY], max_pixels=20_000)[CATEGORY]
    assert coarse.cell_m > 10.0
    assert coarse.minutes.size <= 20_000


def test_bad_options_are_refused(demo: AuditResult) -> None:
    with pytest.raises(ValueError, match="buffer_m"):
        walk_time_grids(demo, buffer_m=-1)
    with pytest.raises(ValueError, match="minutes"):
        walk_time_grids(demo, minutes=())


def test_services_changed_after_the_audit_are_snapped_again(demo: AuditResult) -> None:
    import dataclasses

    services = demo.services.iloc[::-1].reset_index(drop=True)
    moved = dataclasses.replace(demo, services=services)
    again = walk_time_grids(moved, categories=[CATEGORY])[CATEGORY]
    same = walk_time_grids(demo, categories=[CATEGORY])[CATEGORY]
    np.testing.assert_allclose(again.minutes, same.minutes, rtol=1e-5)
