"""The fast path of the raster isochrones (``facility_isochrones(..., cell_m=...)``), checked
against the slow, obvious paths it replaces, on the Beijing and Chengdu extracts:

- the chunked searches (:func:`coverage.isochrones._reached_chunk`, through the node index)
  against networkx Dijkstra, one facility at a time;
- the node index against a scan of every node and edge;
- the stacked tiles (:mod:`coverage.raster_tiles`) against one grid per facility
  (:func:`coverage.isochrones._raster_polygons`: ``grid_around``, ``burn_segments``,
  ``dilate_min``, ``trace_bands``), polygon for polygon;
- the straight-run filter against the cross-product one.

The promises themselves (every reached point inside; nothing farther than the buffer plus a
cell diagonal) are checked on the same path in ``tests/test_raster.py``.
"""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

import coverage.isochrones as iso
import coverage.raster_tiles as rt
from coverage.isochrones import DEFAULT_BUFFER_M, DEFAULT_CELL_M, facility_isochrones
from coverage.network import WalkNetwork, build_walk_network
from coverage.raster import Grid, _drop_collinear, trace_bands
from coverage.raster_tiles import (
    TraceArrays,
    burn_tiles,
    pack_shelves,
    tiles_around,
    trace_tiles,
)
from tests.conftest import GRID_STEP_DEG, GRID_STEP_M, grid_osm
from tests.test_isochrones import BUDGETS, MINUTES, SPEED, facility_points, nx_graph, reference


@pytest.fixture(scope="module", params=["beijing", "chengdu"])
def net(request: pytest.FixtureRequest) -> WalkNetwork:
    return request.getfixturevalue(f"{request.param}_net")


def _chunk_inputs(net: WalkNetwork, fac: gpd.GeoDataFrame) -> tuple:
    snapped = iso._snap(net, fac, max_snap_m=250.0, what="facilities")
    usable = snapped.subset(snapped.ok)
    groups = np.arange(len(usable), dtype=np.int64)
    return usable, groups


# ---- the searches --------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [max(BUDGETS), 25.0])
def test_chunked_search_matches_networkx_dijkstra(net: WalkNetwork, budget: float) -> None:
    """Every facility's node distances at both ends of every edge it reaches, from one shared
    search of the chunk, equal networkx Dijkstra's for that facility alone (25 m: edges reach
    out of the search box)."""
    fac = facility_points(net, 7, seed=31)
    usable, groups = _chunk_inputs(net, fac)
    if budget < max(BUDGETS):  # some facility's edge ends lie outside the search box
        ends = net.xy[np.concatenate([net.edge_u[usable.edge], net.edge_v[usable.edge]])]
        pxy = iso._source_xy(net, usable)
        reach = budget * (1 + iso._BOX_MARGIN_REL) + iso._BOX_MARGIN_M
        inside = (ends >= pxy.min(axis=0) - reach) & (ends <= pxy.max(axis=0) + reach)
        assert not inside.all()
    scratch = np.full(net.n_nodes, -1, dtype=np.int64)
    reached = iso._reached_chunk(net, usable, groups, groups, budget, scratch=scratch)
    assert (scratch == -1).all()  # the scratch map is left as it was found
    graph = nx_graph(net)
    for k, point in enumerate(fac.geometry):
        ref = reference(net, graph, (point.x, point.y))
        mine = reached.group == k
        du_ref = ref.node_m[net.edge_u]
        dv_ref = ref.node_m[net.edge_v]
        expected = np.flatnonzero((du_ref <= budget) | (dv_ref <= budget))
        np.testing.assert_array_equal(reached.edge[mine], expected)
        for got, want in (
            (reached.du[mine], du_ref[expected]),
            (reached.dv[mine], dv_ref[expected]),
        ):
            near = want <= budget
            np.testing.assert_allclose(got[near], want[near], rtol=1e-12, atol=1e-9)
            # beyond the budget (the search's limit): unknown or farther, never nearer
            assert (got[~near] > budget).all()


def test_node_index_matches_a_scan(net: WalkNetwork) -> None:
    index = iso._node_index(net)
    assert iso._node_index(net) is index  # built once per network
    rng = np.random.default_rng(3)
    xy = net.xy
    lo_all, hi_all = xy.min(axis=0), xy.max(axis=0)
    for _ in range(25):
        a, b = rng.uniform(lo_all - 300, hi_all + 300, (2, 2))
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        inside = np.flatnonzero(np.all((xy >= lo) & (xy <= hi), axis=1))
        np.testing.assert_array_equal(np.sort(index.nodes_in_box(xy, lo, hi)), inside)
        nodes = np.unique(rng.choice(net.n_nodes, 40))
        at = np.flatnonzero(np.isin(net.edge_u, nodes) | np.isin(net.edge_v, nodes))
        np.testing.assert_array_equal(index.edges_at(nodes), at)
    # a box off the network holds nothing
    assert index.nodes_in_box(xy, hi_all + 1000, hi_all + 2000).size == 0


# ---- the tiles against one grid per facility ------------------------------------------------


def _both_paths(net: WalkNetwork, fac: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    usable, groups = _chunk_inputs(net, fac)
    budgets = np.array(BUDGETS)
    reached = iso._reached_chunk(net, usable, groups, groups, float(budgets[-1]))
    rows = groups * budgets.size
    kwargs = {
        "group_row": rows,
        "n_out": groups.size * budgets.size,
        "buffer_m": DEFAULT_BUFFER_M,
        "cell_m": DEFAULT_CELL_M,
    }
    one_by_one = iso._raster_polygons(net, reached, budgets, **kwargs)
    tiled = iso._tiled_polygons(net, reached, budgets, arrays=TraceArrays(), **kwargs)
    return one_by_one, tiled


def test_tiles_trace_what_one_grid_per_facility_traces(net: WalkNetwork) -> None:
    fac = facility_points(net, 9, seed=17)
    one_by_one, tiled = _both_paths(net, fac)
    assert not shapely.is_empty(one_by_one).any()
    assert shapely.equals_exact(tiled, one_by_one, tolerance=1e-6).all()
    assert (shapely.get_num_coordinates(tiled) == shapely.get_num_coordinates(one_by_one)).all()
    assert shapely.is_valid(tiled).all()


def test_small_batches_change_nothing(net: WalkNetwork, monkeypatch: pytest.MonkeyPatch) -> None:
    """Grids cut into many batches (burning) and traces into many arrays give the same."""
    fac = facility_points(net, 9, seed=17)
    _, default = _both_paths(net, fac)
    monkeypatch.setattr(iso, "_TILE_CELLS", 20_000)
    monkeypatch.setattr(rt, "_TRACE_CELLS", 5_000)
    _, small = _both_paths(net, fac)
    assert shapely.equals_exact(small, default, tolerance=1e-6).all()


def test_many_chunks_equal_single_facilities(chengdu_net: WalkNetwork) -> None:
    """Facilities searched and traced together (chunks, tiles) get the polygons each gets alone."""
    fac = facility_points(chengdu_net, 40, seed=2)
    together = facility_isochrones(
        chengdu_net, fac, minutes=MINUTES, walk_speed_kmh=SPEED, crs="metric", cell_m=10.0
    )
    for k in (0, 13, 39):
        alone = facility_isochrones(
            chengdu_net,
            fac.iloc[[k]],
            minutes=MINUTES,
            walk_speed_kmh=SPEED,
            crs="metric",
            cell_m=10.0,
        )
        mine = together.geometry.to_numpy()[3 * k : 3 * k + 3]
        assert shapely.equals_exact(mine, alone.geometry.to_numpy(), tolerance=1e-6).all()


# ---- the primitives, on cases known by construction -------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 40), st.integers(1, 40)), min_size=1, max_size=30))
def test_pack_shelves_never_overlaps(sizes: list[tuple[int, int]]) -> None:
    n_rows = np.array([h for h, _ in sizes], dtype=np.int64)
    n_cols = np.array([w for _, w in sizes], dtype=np.int64)
    row0, col0, total_rows, width = pack_shelves(n_rows, n_cols)
    owner = np.full((total_rows, width), -1)
    for k in range(n_rows.size):
        block = owner[row0[k] : row0[k] + n_rows[k], col0[k] : col0[k] + n_cols[k]]
        assert block.shape == (n_rows[k], n_cols[k])  # inside the array
        assert (block == -1).all()  # on nobody else's cells
        block[:] = k


def test_tiles_equal_their_grids() -> None:
    """Two boxes: each tile is the grid grid_around makes, and burning, tracing the stack
    gives each grid's own polygons (a square ring round a hole, and an L)."""
    from coverage.raster import burn_segments, dilate_min, grid_around

    lo = np.array([[0.0, 0.0], [1000.0, 40.0]])
    hi = np.array([[200.0, 200.0], [1150.0, 400.0]])
    tiles = tiles_around(lo, hi, cell_m=10.0, pad_m=30.0)
    square = [
        ((0, 0), (200, 0)),
        ((200, 0), (200, 200)),
        ((200, 200), (0, 200)),
        ((0, 200), (0, 0)),
    ]
    ell = [((1000, 40), (1000, 400)), ((1000, 40), (1150, 40))]
    start = np.array([s for s, _ in square + ell], dtype=np.float64)
    end = np.array([e for _, e in square + ell], dtype=np.float64)
    tile = np.array([0] * 4 + [1] * 2)
    band = np.array([0, 1, 1, 1, 0, 1])
    burnt = burn_tiles(tiles, tile, start, end, band, n_bands=2)
    claimed = dilate_min(burnt, radius_cells=2.9, empty=2)
    traced = trace_tiles(claimed, tiles, n_bands=2)
    for k in range(2):
        grid = grid_around(lo[k], hi[k], cell_m=10.0, pad_m=30.0)
        assert (tiles.x0[k], tiles.y0[k]) == (grid.x0, grid.y0)
        assert (tiles.n_rows[k], tiles.n_cols[k]) == (grid.n_rows, grid.n_cols)
        mine = tile == k
        alone = dilate_min(
            burn_segments(grid, start[mine], end[mine], band[mine], n_bands=2),
            radius_cells=2.9,
            empty=2,
        )
        r, c = tiles.row0[k], tiles.col0[k]
        np.testing.assert_array_equal(claimed[r : r + grid.n_rows, c : c + grid.n_cols], alone)
        expected = trace_bands(alone, grid, n_bands=2)
        assert shapely.equals_exact(traced[2 * k : 2 * k + 2], expected, tolerance=1e-9).all()
    # the square's band 1 is a ring round a hole; the L's band 0 is its first leg only
    assert [len(p.interiors) for p in traced[1].geoms] == [1]
    assert traced[2].bounds[2] < 1040.0 < 1150.0 < traced[3].bounds[2]


def test_drop_straight_equals_the_cross_product_filter() -> None:
    grid = Grid(0.0, 0.0, 1.0, 30, 30)
    mask = np.zeros((30, 30), dtype=bool)
    mask[3:12, 4:20] = True
    mask[6:9, 8:10] = False  # a hole
    mask[15:25, 5:8] = True
    mask[20:28, 15:29] = True
    mask[24, 22] = False
    for rows in range(30):  # a staircase: diagonal runs
        mask[rows, : max(0, 14 - rows)] |= rows > 12
    poly = trace_bands(np.where(mask, 0, 1).astype(np.uint8), grid, n_bands=1)[0]
    assert not poly.is_empty
    # the same rings again, with every straight-run vertex put back (midpoints of the steps)
    rings = [np.asarray(r.coords) for p in poly.geoms for r in (p.exterior, *p.interiors)]
    dense = []
    for ring in rings:
        steps = []
        for a, b in itertools.pairwise(ring):
            n = int(max(abs(b - a)) * 2)
            steps += [a + (b - a) * t / n for t in range(n)]
        dense.append(np.vstack([*steps, steps[0]]) - 0.5)  # cell-index coordinates
    points = np.vstack(dense)
    ptr = np.cumsum([0] + [len(d) for d in dense])
    fast, fast_ptr = rt._drop_straight(points, ptr)
    slow, slow_ptr = _drop_collinear(points, ptr, 1e-6)
    np.testing.assert_array_equal(fast_ptr, slow_ptr)
    np.testing.assert_array_equal(fast, slow)
    # off the half-cell lattice: the cross-product filter is used
    moved = points + 0.1
    off, off_ptr = rt._drop_straight(moved, ptr)
    ref, ref_ptr = _drop_collinear(moved, ptr, 1e-6)
    np.testing.assert_array_equal(off, ref)
    np.testing.assert_array_equal(off_ptr, ref_ptr)


def test_trace_arrays_are_reused_and_reset() -> None:
    arrays = TraceArrays()
    z, _, _ = arrays.take(3, 4)
    z[:] = 7.0
    z2, x2, y2 = arrays.take(2, 5)  # smaller: the same memory, zeroed, renumbered
    assert np.shares_memory(z, z2)
    assert (z2 == 0).all() and z2.flags.c_contiguous
    np.testing.assert_array_equal(x2, np.tile(np.arange(5.0), (2, 1)))
    np.testing.assert_array_equal(y2, np.repeat(np.arange(2.0), 5).reshape(2, 5))
    z3, _, _ = arrays.take(10, 10)  # larger: grown
    assert z3.shape == (10, 10) and (z3 == 0).all()


# ---- the reprojection of traced polygons ------------------------------------------------------


def test_traced_polygons_in_wgs84_are_within_a_millimetre_of_pyproj(
    net: WalkNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Vertices interpolated between control points 100 m apart land within 1 mm (1e-8°) of
    where pyproj puts them; with too many control points, or a sampled vertex off by more than
    the tolerance, pyproj itself is used."""
    fac = facility_points(net, 8, seed=5)
    kwargs = {"minutes": MINUTES, "walk_speed_kmh": SPEED, "cell_m": DEFAULT_CELL_M}
    metric = facility_isochrones(net, fac, crs="metric", **kwargs)
    wgs = facility_isochrones(net, fac, **kwargs)
    exact = metric.to_crs(4326)
    assert wgs.crs.to_epsg() == 4326
    assert shapely.is_valid(wgs.geometry.values).all()
    ours = shapely.get_coordinates(wgs.geometry.values)
    theirs = shapely.get_coordinates(exact.geometry.values)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-8
    assert not np.array_equal(ours, theirs)  # interpolated, not reprojected
    for name, value in (("_CONTROL_MAX", 1), ("_CONTROL_TOLERANCE_DEG", 1e-13)):
        with monkeypatch.context() as patch:
            patch.setattr(iso, name, value)
            fallback = facility_isochrones(net, fac, **kwargs)
        np.testing.assert_allclose(
            shapely.get_coordinates(fallback.geometry.values), theirs, rtol=0, atol=1e-12
        )


# ---- hand-made grid: answers known by construction ------------------------------------------


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> WalkNetwork:
    return build_walk_network(grid_osm(tmp_path_factory.mktemp("grid") / "grid.osm"), cache=False)


def test_raster_isochrones_on_the_grid(grid: WalkNetwork) -> None:
    """Three facilities on a 3 x 3 grid of 100 m blocks, one too far off the street for its
    budget: enough time to walk round every block leaves the four blocks' cores as holes;
    nothing reached gives an empty polygon; with the same facility alone, the same polygon."""
    far_off = (GRID_STEP_DEG / 2, -0.0009)  # 100 m south of the bottom street
    points = [(GRID_STEP_DEG, GRID_STEP_DEG), far_off, (2 * GRID_STEP_DEG, 0.0)]
    fac = gpd.GeoDataFrame(
        {"service_id": ["centre", "far", "corner"]},
        geometry=shapely.points(points),
        crs=4326,
    )
    budget_m = 50.0 + 5 * GRID_STEP_M
    minutes = (50 / (SPEED * 1000 / 60), budget_m / (SPEED * 1000 / 60))
    iso = facility_isochrones(
        grid, fac, minutes=minutes, walk_speed_kmh=SPEED, buffer_m=20, cell_m=5.0, crs="metric"
    )
    polys = iso.geometry.to_numpy().reshape(3, 2)
    assert shapely.is_empty(polys[1, 0])  # 100 m off the street with a 50 m budget
    assert not shapely.is_empty(polys[[0, 2]]).any()
    # a hole holds every point farther than the buffer plus a cell diagonal from the streets
    # round its block, and no street (projected blocks differ from GRID_STEP_M by < 1 %)
    smallest = (0.99 * GRID_STEP_M - 2 * (20 + 5 * np.sqrt(2))) ** 2
    for poly in polys[[0, 1, 2], 1]:
        holes = [shapely.Polygon(h) for p in poly.geoms for h in p.interiors]
        assert len(holes) == 4
        for hole in holes:
            assert smallest < hole.area < (0.99 * GRID_STEP_M) ** 2
    alone = facility_isochrones(
        grid,
        fac.iloc[[2]],
        minutes=minutes,
        walk_speed_kmh=SPEED,
        buffer_m=20,
        cell_m=5.0,
        crs="metric",
    )
    assert shapely.equals_exact(alone.geometry.to_numpy(), polys[2], tolerance=1e-6).all()
