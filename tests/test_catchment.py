"""Capacity within walking reach (2SFCA / E2SFCA): the pair distances against networkx Dijkstra
and against the reach rules' own search on the demo, the measure against a brute-force loop and
against PySAL ``access`` on the same cost matrix."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from coverage.access import nearest_facility
from coverage.audit import AuditResult, audit_case
from coverage.catchment import decay_weights, facility_distances, two_step_fca
from coverage.snapping import SnappedPoints, snap_points
from tests.reference import brute_force_snap, inserted_graph, osmnx_walk_graph

DEMO = Path(__file__).parents[1] / "data" / "demo" / "case.toml"
BUDGET_M = 1000.0


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return audit_case(DEMO, pack="national-fitness")


@pytest.fixture(scope="module")
def snapped(demo: AuditResult) -> tuple[SnappedPoints, SnappedPoints, np.ndarray]:
    """Origins and sports grounds of the demo, snapped as the audit snaps them."""
    assert demo.network is not None and demo.snapped_services is not None
    origins = snap_points(demo.network, demo.origins.set_index("origin_id"), max_snap_m=250.0)
    cats = demo.services["categories"].fillna("").str.split(";")
    mask = cats.apply(lambda c: "sports_ground" in c).to_numpy()
    assert mask.sum() > 20
    return origins, demo.snapped_services.subset(mask), mask


def _dense_by_reach_search(
    demo: AuditResult, origins: SnappedPoints, grounds: SnappedPoints
) -> np.ndarray:
    """Every (origin, ground) distance, one reach-rule search (nearest_facility) per ground."""
    assert demo.network is not None
    out = np.full((len(origins), len(grounds)), np.inf)
    for j in range(len(grounds)):
        one = np.zeros(len(grounds), dtype=bool)
        one[j] = True
        out[:, j] = nearest_facility(demo.network, origins, grounds.subset(one), cutoff_m=BUDGET_M)[
            "distance_m"
        ].to_numpy()
    return out


def test_pair_distances_equal_the_reach_search_for_every_ground(
    demo: AuditResult, snapped: tuple[SnappedPoints, SnappedPoints, np.ndarray]
) -> None:
    origins, grounds, _ = snapped
    assert demo.network is not None
    pairs = facility_distances(demo.network, origins, grounds, cutoff_m=BUDGET_M)
    dense = _dense_by_reach_search(demo, origins, grounds)
    within = dense <= BUDGET_M
    stored = pairs.distance_m.toarray()
    pattern = np.zeros(dense.shape, dtype=bool)
    coo = pairs.distance_m.tocoo()
    pattern[coo.row, coo.col] = True
    assert within.sum() > 100
    assert (pattern == within).all()
    # the same sums in another order: equal to a nanometre
    np.testing.assert_allclose(stored[within], dense[within], rtol=0, atol=1e-9)
    # and the nearest of them is the reach rules' nearest facility
    nearest = nearest_facility(demo.network, origins, grounds, cutoff_m=BUDGET_M)["distance_m"]
    best = np.where(pattern, stored, np.inf).min(axis=1)
    reached = nearest.to_numpy() <= BUDGET_M
    np.testing.assert_allclose(best[reached], nearest.to_numpy()[reached], rtol=0, atol=1e-9)
    assert np.isinf(best[~reached]).all()


def test_pair_distances_match_networkx_dijkstra(
    demo: AuditResult,
    snapped: tuple[SnappedPoints, SnappedPoints, np.ndarray],
    tmp_path: Path,
) -> None:
    """A slow reference: osmnx's graph, points snapped by checking every edge, networkx
    Dijkstra from each of a few grounds."""
    _, grounds, mask = snapped
    assert demo.network is not None
    graph = osmnx_walk_graph(DEMO.parent / "chengdu-center.osm.bz2", tmp_path)
    metric = demo.network.metric_crs
    sample = demo.origins.iloc[:400]
    sample_snapped = snap_points(demo.network, sample.set_index("origin_id"), max_snap_m=250.0)
    services = demo.services[mask].reset_index(drop=True)

    def lonlat(gdf: gpd.GeoDataFrame) -> np.ndarray:
        pts = gdf.geometry.representative_point()
        return np.column_stack([pts.x, pts.y])

    ref_o = brute_force_snap(graph, lonlat(sample), metric, 250)
    ref_f = brute_force_snap(graph, lonlat(services), metric, 250)
    g = inserted_graph(graph, ref_o, ref_f)
    pairs = facility_distances(demo.network, sample_snapped, grounds, cutoff_m=BUDGET_M)
    stored = pairs.distance_m.toarray()
    pattern = pairs.distance_m.toarray() * 0 != 0  # all False
    coo = pairs.distance_m.tocoo()
    pattern[coo.row, coo.col] = True
    checked = 0
    for k in range(len(services)):
        if ref_f[k] is None:
            continue
        dist = nx.single_source_dijkstra_path_length(g, ("f", k), cutoff=BUDGET_M + 5, weight="w")
        for i in range(len(sample)):
            expected = dist.get(("o", i), np.inf)
            if abs(expected - BUDGET_M) < 1.0:
                continue  # the two snappings may put a borderline pair on either side
            if expected <= BUDGET_M:
                assert pattern[i, k], (i, k, expected)
                assert stored[i, k] == pytest.approx(expected, abs=0.5)
                checked += 1
            else:
                assert not pattern[i, k], (i, k, expected, stored[i, k])
    assert checked > 50


def _brute_force_fca(
    pop: np.ndarray, supply: np.ndarray, dense: np.ndarray, budget: float, weight
) -> np.ndarray:
    n, m = dense.shape
    ratio = np.zeros(m)
    for j in range(m):
        served = sum(pop[i] * weight(dense[i, j]) for i in range(n) if dense[i, j] <= budget)
        ratio[j] = supply[j] / served if served > 0 else 0.0
    return np.array(
        [
            sum(ratio[j] * weight(dense[i, j]) for j in range(m) if dense[i, j] <= budget)
            for i in range(n)
        ]
    )


@pytest.mark.parametrize(
    ("decay", "weights", "weight"),
    [
        ("none", (), lambda d: 1.0),
        (
            "step",
            (1.0, 0.68, 0.22),
            lambda d: 1.0 if d < 1000 / 3 else 0.68 if d < 2000 / 3 else 0.22,
        ),
        (
            "gaussian",
            (),
            lambda d: (np.exp(-0.5 * (d / 1000) ** 2) - np.exp(-0.5)) / (1 - np.exp(-0.5)),
        ),
    ],
)
def test_two_step_fca_equals_a_brute_force_loop_on_the_demo(
    demo: AuditResult,
    snapped: tuple[SnappedPoints, SnappedPoints, np.ndarray],
    decay: str,
    weights: tuple[float, ...],
    weight,
) -> None:
    origins, grounds, mask = snapped
    assert demo.network is not None
    pairs = facility_distances(demo.network, origins, grounds, cutoff_m=BUDGET_M)
    dense = _dense_by_reach_search(demo, origins, grounds)
    pop = demo.origins["population"].to_numpy(dtype=float)
    supply = np.nan_to_num(demo.services["area_m2"].to_numpy(dtype=float)[mask], nan=0.0)
    fast = two_step_fca(
        pop, supply, pairs.distance_m, budget_m=BUDGET_M, decay=decay, step_weights=weights
    )
    slow = _brute_force_fca(pop, supply, dense, BUDGET_M, weight)
    assert (slow > 0).sum() > 100
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)
    # supply is conserved: every facility that some resident reaches is shared out in full
    reached = pairs.distance_m.tocsc().getnnz(axis=0) > 0
    if decay == "none":
        assert float(pop @ fast) == pytest.approx(float(supply[reached].sum()), rel=1e-9)


def test_two_step_fca_equals_pysal_access_on_the_same_cost_matrix(
    demo: AuditResult, snapped: tuple[SnappedPoints, SnappedPoints, np.ndarray]
) -> None:
    access = pytest.importorskip("access", reason="PySAL access is a test-only dependency")
    origins, grounds, mask = snapped
    assert demo.network is not None
    pairs = facility_distances(demo.network, origins, grounds, cutoff_m=BUDGET_M)
    pop = demo.origins["population"].to_numpy(dtype=float)
    supply = np.nan_to_num(demo.services["area_m2"].to_numpy(dtype=float)[mask], nan=0.0)
    coo = pairs.distance_m.tocoo()
    cost = pd.DataFrame({"origin": coo.row, "dest": coo.col, "cost": coo.data})
    demand_df = pd.DataFrame({"pop": pop}, index=pd.RangeIndex(len(pop), name="origin"))
    supply_df = pd.DataFrame({"area": supply}, index=pd.RangeIndex(len(supply), name="dest"))
    acc = access.Access(
        demand_df=demand_df,
        demand_value="pop",
        supply_df=supply_df,
        supply_value="area",
        cost_df=cost,
        cost_origin="origin",
        cost_dest="dest",
        cost_name="cost",
    )
    theirs = acc.two_stage_fca(name="fca", max_cost=BUDGET_M)
    column = next(c for c in theirs.columns if c.startswith("fca"))
    expected = theirs[column].reindex(demand_df.index).fillna(0.0).to_numpy()
    ours = two_step_fca(pop, supply, pairs.distance_m, budget_m=BUDGET_M)
    assert (ours > 0).sum() > 100
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)


def test_decay_weights_by_construction() -> None:
    d = np.array([0.0, 100.0, 333.0, 334.0, 700.0, 1000.0, 1000.0001, np.inf])
    np.testing.assert_array_equal(decay_weights(d, 1000.0, decay="none"), [1, 1, 1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(
        decay_weights(d, 1000.0, decay="step", step_weights=(1.0, 0.68, 0.22)),
        [1, 1, 1, 0.68, 0.22, 0.22, 0, 0],
    )
    g = decay_weights(d, 1000.0, decay="gaussian")
    assert g[0] == 1.0 and g[5] == pytest.approx(0.0, abs=1e-12) and (np.diff(g[:6]) < 0).all()
    with pytest.raises(ValueError, match="decay"):
        decay_weights(d, 1000.0, decay="linear")


def test_facility_distances_keeps_a_facility_at_the_origin() -> None:
    """A stored 0 (the facility is where the resident is) is a pair within reach."""
    cost = sp.csr_matrix(
        (np.array([0.0, 500.0]), np.array([0, 0]), np.array([0, 1, 2])), shape=(2, 1)
    )
    assert cost.nnz == 2
    access_ = two_step_fca(np.array([10.0, 30.0]), np.array([80.0]), cost, budget_m=1000.0)
    np.testing.assert_allclose(access_, [2.0, 2.0])
