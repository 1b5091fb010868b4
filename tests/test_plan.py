"""补短板 planning (coverage.plan): hand-made cases with known answers, brute force, spopt's
LSCP, the greedy heuristic, monotonicity, and the re-audit of the plan on the demo."""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

import coverage
from coverage.audit import audit_case
from coverage.case import Case
from coverage.errors import DataError
from coverage.network import WalkNetwork, build_walk_network
from coverage.plan import (
    COVER_TOLERANCE_M,
    CoverageProblem,
    Plan,
    candidate_coverage,
    default_candidates,
    greedy_sites,
    plan,
    read_candidates,
    solve_budgeted,
    solve_min_sites,
)
from coverage.snapping import snap_points
from tests.conftest import GRID_STEP_DEG, GRID_STEP_M, write_osm_xml

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "case.toml"


# ---- a hand-made line case: the answer by construction ----------------------------------------


def _line_pack(tmp: Path, *, share: float = 1.0, budget_m: float = 120.0) -> Path:
    pack = {
        "id": "line-test",
        "version": 1,
        "title": {"zh": "测试", "en": "test"},
        "reference": "hand-made",
        "walk_speed_kmh": 4.0,
        "walk_speed_note": "test",
        "min_population_share": share,
        "min_population_share_note": "test",
        "rules": [
            {
                "id": "R1",
                "kind": "reach",
                "unit": "community",
                "title": {"zh": "购物", "en": "shopping"},
                "categories": ["shopping"],
                "max_distance_m": budget_m,
                "source": "test",
            }
        ],
    }
    path = tmp / "line-pack.yaml"
    path.write_text(yaml.safe_dump(pack, allow_unicode=True), encoding="utf-8")
    return path


def _line_case(
    tmp: Path, n: int = 9, *, shops: tuple[int, ...] = (0,), category: str = "shopping"
) -> Case:
    """A straight street of ``n`` nodes one grid step (111.2 m) apart on the equator; one
    community around each node with 100 residents at the node; shops at the given nodes."""
    osm = write_osm_xml(
        tmp / "line.osm",
        {i + 1: (i * GRID_STEP_DEG, 0.0) for i in range(n)},
        [(100, [i + 1 for i in range(n)], {"highway": "residential"})],
    )
    half = GRID_STEP_DEG / 2
    communities = gpd.GeoDataFrame(
        {
            "community_id": [f"C{i}" for i in range(n)],
            "name": [f"社区{i}" for i in range(n)],
            "street_id": ["S1"] * n,
            "population": [100.0] * n,
        },
        geometry=[
            box(i * GRID_STEP_DEG - half, -half, i * GRID_STEP_DEG + half, half) for i in range(n)
        ],
        crs=4326,
    )
    streets = gpd.GeoDataFrame(
        {"street_id": ["S1"], "name": ["街道"]},
        geometry=[box(-half, -half, (n - 1) * GRID_STEP_DEG + half, half)],
        crs=4326,
    )
    services = gpd.GeoDataFrame(
        {
            "service_id": [f"s{i}" for i in shops],
            "name": [f"店{i}" for i in shops],
            "category": [category] * len(shops),
            "area_m2": [np.nan] * len(shops),
        },
        geometry=[Point(i * GRID_STEP_DEG, 0.0) for i in shops],
        crs=4326,
    )
    origins = gpd.GeoDataFrame(
        {
            "origin_id": [f"o{i}" for i in range(n)],
            "community_id": [f"C{i}" for i in range(n)],
            "street_id": ["S1"] * n,
            "population": [100.0] * n,
        },
        geometry=[Point(i * GRID_STEP_DEG, 0.0) for i in range(n)],
        crs=4326,
    )
    return Case.from_frames(
        streets=streets,
        communities=communities,
        services=services,
        origins=origins,
        osm_path=osm,
        name="line",
    )


def _node_candidates(n: int) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"candidate_id": [f"k{i}" for i in range(n)]},
        geometry=[Point(i * GRID_STEP_DEG, 0.0) for i in range(n)],
        crs=4326,
    )


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> tuple[Case, Path, WalkNetwork]:
    tmp = tmp_path_factory.mktemp("line")
    case = _line_case(tmp)
    return case, _line_pack(tmp), build_walk_network(case.osm_path, cache=False)


def test_line_case_known_optimum_and_reaudit(line: tuple[Case, Path, WalkNetwork]) -> None:
    # the shop at node 0 reaches nodes 0 and 1 (111 m < 120 m); each new site reaches itself
    # and its two neighbours, so nodes 2..8 need ceil(7 / 3) = 3 sites, e.g. at 3, 6 and 8
    case, pack, net = line
    result = audit_case(case, pack=pack, network=net)
    assert (result.communities["R1_status"] == "fail").sum() == 7
    got = plan(result, candidates=_node_candidates(9))
    assert isinstance(got, Plan)
    assert len(got.sites) == 3
    assert got.status == "optimal"
    assert got.problems["greedy_sites"].iloc[0] >= 3
    assert got.reaudit is not None
    assert (got.reaudit.communities["R1_status"] == "pass").all()
    assert got.unmet().empty
    assert set(got.targets["unit_id"]) == {f"C{i}" for i in range(2, 9)}
    assert got.sites["residents_new"].sum() >= 700
    assert got.sites.crs.to_epsg() == 4326
    # the curve: 0 sites -> the 2 passing today; the full plan -> all 9
    curve = got.curve.set_index("k")
    assert curve.loc[0, "units_passing"] == 2
    assert curve.loc[3, "units_passing"] == 9


def test_line_case_default_candidates_and_exact_curve(
    line: tuple[Case, Path, WalkNetwork],
) -> None:
    case, pack, net = line
    result = audit_case(case, pack=pack, network=net)
    got = plan(result, spacing_m=50.0, curve="exact")
    assert got.unmet().empty
    assert len(got.sites) == 4  # bends are no junctions: points at 50 m and 100 m reach 2 nodes
    exact = got.curve.set_index("k")["units_passing"]
    assert exact.is_monotonic_increasing
    assert exact.iloc[-1] == 9
    order = plan(result, spacing_m=50.0).curve.set_index("k")["units_passing"]
    assert (order <= exact).all()  # the plan-order curve is a lower bound


def test_impossible_unit_is_listed_and_the_rest_planned(tmp_path: Path) -> None:
    # candidates only at nodes 0..5: nodes 7 and 8 cannot be reached within 120 m
    case = _line_case(tmp_path)
    result = audit_case(case, pack=_line_pack(tmp_path), network=None)
    got = plan(result, candidates=_node_candidates(6))
    impossible = got.impossible.set_index("unit_id")
    assert set(impossible.index) == {"C7", "C8"}
    assert impossible["reason"].str.contains("no candidate within reach").all()
    assert impossible["reason_zh"].str.contains("候选").all()
    assert got.unmet().empty
    assert set(got.targets["unit_id"]) == {f"C{i}" for i in range(2, 7)}


def test_category_without_facilities_is_planned_from_scratch(tmp_path: Path) -> None:
    case = _line_case(tmp_path, category="catering")  # no shop at all
    result = audit_case(case, pack=_line_pack(tmp_path), network=None)
    got = plan(result, candidates=_node_candidates(9))
    assert len(got.sites) == 3  # nine nodes, three per site
    assert bool(got.problems["from_scratch"].iloc[0])
    assert any("from scratch" in en and "从零规划" in zh for en, zh in got.notes)
    assert got.unmet().empty


def test_max_new_caps_the_plan_and_maximises_residents(
    line: tuple[Case, Path, WalkNetwork],
) -> None:
    case, pack, net = line
    result = audit_case(case, pack=pack, network=net)
    got = plan(result, candidates=_node_candidates(9), max_new=1)
    assert len(got.sites) == 1
    assert len(got.targets) == 3  # one site makes three communities pass
    assert any("max-new" in en for en, _ in got.notes)
    assert got.unmet().empty


def test_bad_options_are_refused(line: tuple[Case, Path, WalkNetwork]) -> None:
    case, pack, net = line
    result = audit_case(case, pack=pack, network=net)
    with pytest.raises(ValueError, match="not in pack"):
        plan(result, rules=["W9"])
    with pytest.raises(ValueError, match="not required"):
        plan(result, categories=["repair"])
    with pytest.raises(ValueError, match="max_new"):
        plan(result, max_new=-1)
    # a candidate frame is checked like a file: one in Beijing misses this case
    elsewhere = gpd.GeoDataFrame(
        {"candidate_id": ["x"], "source": ["layer"]}, geometry=[Point(116.4, 39.9)], crs=4326
    )
    with pytest.raises(DataError, match="lies inside"):
        plan(result, candidates=elsewhere)


# ---- candidate layers -------------------------------------------------------------------------


def test_candidate_layer_points_and_polygons(
    line: tuple[Case, Path, WalkNetwork], tmp_path: Path
) -> None:
    case, _, _ = line
    d = GRID_STEP_DEG
    layer = gpd.GeoDataFrame(
        {"lot": ["a", "b", "far"]},
        geometry=[Point(2 * d, 0.0), box(4.9 * d, -0.1 * d, 5.1 * d, 0.1 * d), Point(50 * d, 0.0)],
        crs=4326,
    )
    path = tmp_path / "lots.gpkg"
    layer.to_file(path)
    got = read_candidates(path, area=case.streets, id_column="lot")
    assert list(got["candidate_id"]) == ["a", "b"]  # the far one lies outside the case
    assert np.isnan(got["area_m2"].iloc[0])
    assert got["area_m2"].iloc[1] == pytest.approx((0.2 * GRID_STEP_M) ** 2, rel=0.01)


def test_candidate_layer_missing_the_case_is_refused(
    line: tuple[Case, Path, WalkNetwork], tmp_path: Path
) -> None:
    case, _, _ = line
    # projected metres declared as lon/lat degrees: refused by the CRS check
    wrong = gpd.GeoDataFrame(geometry=[Point(500000.0, 3400000.0)], crs=4326)
    with pytest.raises(DataError):
        read_candidates(wrong, area=case.streets)
    # a layer elsewhere (Beijing) misses the case: refused, naming both extents
    elsewhere = gpd.GeoDataFrame(geometry=[Point(116.4, 39.9)], crs=4326)
    with pytest.raises(DataError, match="none of the 1 candidate sites lies inside"):
        read_candidates(elsewhere, area=case.streets)
    bad_column = gpd.GeoDataFrame({"x": [1]}, geometry=[Point(0.0, 0.0)], crs=4326)
    with pytest.raises(DataError, match="no column 'id'"):
        read_candidates(bad_column, area=case.streets, id_column="id")


# ---- the coverage against networkx Dijkstra on real data --------------------------------------


def _reference_cover(
    net: WalkNetwork, cands: object, origins: object, budget_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Walks from every candidate to every origin by networkx Dijkstra on the graph with both
    inserted on their edges (and the direct walk along a shared edge)."""
    g = nx.Graph()
    for u, v, w in zip(net.edge_u, net.edge_v, net.edge_length_m, strict=True):
        if not g.has_edge(u, v) or g.edges[u, v]["w"] > w:
            g.add_edge(int(u), int(v), w=float(w))
    for tag, pts in (("c", cands), ("o", origins)):
        for i in np.flatnonzero(pts.ok):
            e = pts.edge[i]
            u, v = int(net.edge_u[e]), int(net.edge_v[e])
            s, t, length = pts.snap_m[i], pts.offset_m[i], net.edge_length_m[e]
            g.add_edge((tag, i), u, w=s + t)
            if v != u:
                g.add_edge((tag, i), v, w=s + length - t)
    for i in np.flatnonzero(origins.ok):
        for k in np.flatnonzero(cands.ok):
            if origins.edge[i] == cands.edge[k]:
                w = (
                    origins.snap_m[i]
                    + abs(origins.offset_m[i] - cands.offset_m[k])
                    + cands.snap_m[k]
                )
                g.add_edge(("o", i), ("c", k), w=w)
    dist = np.full((len(cands), len(origins)), np.inf)
    for k in np.flatnonzero(cands.ok):
        reach = nx.single_source_dijkstra_path_length(g, ("c", k), cutoff=budget_m + 1, weight="w")
        for node, d in reach.items():
            if isinstance(node, tuple) and node[0] == "o":
                dist[k, node[1]] = d
    return dist <= budget_m - COVER_TOLERANCE_M, dist


def test_coverage_matches_networkx_dijkstra_on_real_data(chengdu_net: WalkNetwork) -> None:
    rng = np.random.default_rng(7)
    # points around network nodes of a 2 km window, so that many pairs are within reach
    centre = np.array([chengdu_net.lon.mean(), chengdu_net.lat.mean()])
    near = np.flatnonzero(
        (np.abs(chengdu_net.lon - centre[0]) < 0.01) & (np.abs(chengdu_net.lat - centre[1]) < 0.01)
    )

    def pts(n: int) -> np.ndarray:
        at = rng.choice(near, n)
        jitter = rng.normal(0, 3e-4, (n, 2))
        return np.column_stack([chengdu_net.lon[at], chengdu_net.lat[at]]) + jitter

    cands = snap_points(chengdu_net, pts(40), max_snap_m=250.0)
    origins = snap_points(chengdu_net, pts(300), max_snap_m=250.0)
    budget = 400.0
    got = candidate_coverage(chengdu_net, cands, origins, budget_m=budget, tile_m=150.0)
    want, dist = _reference_cover(chengdu_net, cands, origins, budget)
    clear = np.abs(dist - budget) > 1e-6  # no ties at the budget
    assert want.sum() > 50
    np.testing.assert_array_equal(got.toarray()[clear], want[clear])


# ---- the optimum against brute force, spopt's LSCP and the greedy heuristic -------------------


def _brute_force(
    cover: np.ndarray, unit: np.ndarray, pop: np.ndarray, share: float, reached: np.ndarray
) -> int | None:
    """Fewest candidates (over every subset) that make every unit that can pass pass."""
    n_c = cover.shape[0]
    units = np.unique(unit)

    def ok(chosen: tuple[int, ...], must: np.ndarray) -> bool:
        hit = reached | (cover[list(chosen)].any(axis=0) if chosen else False)
        return all(
            (pop[(unit == u) & hit].sum() >= share * pop[unit == u].sum() - 1e-9) for u in must
        )

    everything = tuple(range(n_c))
    must = np.array([u for u in units if ok(everything, np.array([u]))])
    for size in range(n_c + 1):
        for chosen in itertools.combinations(range(n_c), size):
            if ok(chosen, must):
                return size
    return None


@st.composite
def _instances(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]:
    n_c = draw(st.integers(1, 7))
    n_o = draw(st.integers(1, 9))
    cover = np.array(
        draw(
            st.lists(
                st.lists(st.booleans(), min_size=n_o, max_size=n_o), min_size=n_c, max_size=n_c
            )
        )
    )
    unit = np.array(draw(st.lists(st.integers(0, 2), min_size=n_o, max_size=n_o)))
    pop = np.array(draw(st.lists(st.integers(1, 50), min_size=n_o, max_size=n_o)), dtype=float)
    share = draw(st.sampled_from([0.5, 0.8, 0.9, 1.0]))
    reached = np.array(draw(st.lists(st.booleans(), min_size=n_o, max_size=n_o)))
    return cover, unit, pop, share, reached


def _optimum(
    cover: np.ndarray, unit: np.ndarray, pop: np.ndarray, share: float, reached: np.ndarray
) -> int:
    problem = CoverageProblem.from_coverage(
        cover, unit=unit, population=pop, share=share, reached=reached
    )
    solution = solve_min_sites(problem)
    assert problem.passing(solution.rows[0]).all()
    return int(solution.rows[0].size)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_instances())
def test_min_sites_equals_brute_force(instance: tuple) -> None:
    cover, unit, pop, share, reached = instance
    assert _optimum(cover, unit, pop, share, reached) == _brute_force(
        cover, unit, pop, share, reached
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_instances())
def test_greedy_is_never_better_than_exact(instance: tuple) -> None:
    cover, unit, pop, share, reached = instance
    problem = CoverageProblem.from_coverage(
        cover, unit=unit, population=pop, share=share, reached=reached
    )
    greedy = greedy_sites(problem)
    assert problem.passing(greedy).all()
    assert solve_min_sites(problem).rows[0].size <= greedy.size


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_instances(), st.lists(st.booleans(), min_size=9, max_size=9))
def test_adding_a_candidate_never_increases_the_optimum(instance: tuple, extra: list) -> None:
    cover, unit, pop, share, reached = instance
    more = np.vstack([cover, np.array(extra[: cover.shape[1]])])
    # the same targets: those that can pass with the original candidates
    base = CoverageProblem.from_coverage(
        cover, unit=unit, population=pop, share=share, reached=reached
    )
    grown = CoverageProblem.from_coverage(
        more, unit=unit, population=pop, share=share, reached=reached
    )
    assume(set(grown.units) == set(base.units))
    assert solve_min_sites(grown).rows[0].size <= solve_min_sites(base).rows[0].size


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, 6),
    st.integers(1, 8),
    st.randoms(use_true_random=False),
    st.floats(50, 400),
    st.floats(0, 300),
)
def test_raising_the_budget_never_increases_the_optimum(
    n_c: int, n_o: int, rnd: object, budget: float, more: float
) -> None:
    rng = np.random.default_rng(rnd.randint(0, 2**31))  # type: ignore[attr-defined]
    dist = rng.uniform(0, 500, (n_c, n_o))
    today = rng.uniform(0, 800, n_o)
    unit = rng.integers(0, 3, n_o)
    pop = rng.integers(1, 50, n_o).astype(float)
    low = CoverageProblem.from_coverage(
        dist <= budget, unit=unit, population=pop, share=0.8, reached=today <= budget
    )
    high = CoverageProblem.from_coverage(
        dist <= budget + more, unit=unit, population=pop, share=0.8, reached=today <= budget + more
    )
    # units that pass at the higher budget today are no longer targets: compare on the rest
    assume(set(high.units) <= set(low.units))
    assert solve_min_sites(high).rows[0].size <= solve_min_sites(low).rows[0].size


def test_full_coverage_equals_spopt_lscp(line: tuple[Case, Path, WalkNetwork]) -> None:
    """share = 1.0 and no facility today is the location set covering problem: LSCP."""
    spopt_locate = pytest.importorskip("spopt.locate", reason="spopt is a test-only dependency")
    pulp = pytest.importorskip("pulp")
    result = audit_case(DEMO)
    net = result.network
    rng = np.random.default_rng(3)
    origins = result.origins.sample(200, random_state=3)
    cands = default_candidates(net, result.streets, spacing_m=400.0)
    c_snap = snap_points(net, cands.set_index("candidate_id"))
    o_snap = snap_points(net, origins.set_index("origin_id"))
    budget = 600.0
    cover = candidate_coverage(net, c_snap, o_snap, budget_m=budget)
    covered = np.asarray(cover.sum(axis=0)).ravel() > 0
    cover = cover[:, np.flatnonzero(covered)]
    n_o = cover.shape[1]
    # every origin its own unit with share 1.0: every origin must be covered
    problem = CoverageProblem.from_coverage(
        cover, unit=np.arange(n_o), population=np.ones(n_o), share=1.0
    )
    ours = solve_min_sites(problem).rows[0].size
    cost = np.where(cover.T.toarray(), 1.0, 10.0)  # origins x candidates
    lscp = spopt_locate.LSCP.from_cost_matrix(cost, service_radius=5.0)
    lscp = lscp.solve(pulp.PULP_CBC_CMD(msg=False))
    assert ours == round(pulp.value(lscp.problem.objective))
    del rng


# ---- the demo: the plan is audited -------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_plan() -> Plan:
    result = audit_case(DEMO)
    return plan(result, categories=["shopping", "housekeeping"])


def test_demo_plan_passes_its_reaudit(demo_plan: Plan) -> None:
    assert demo_plan.status == "optimal"
    assert demo_plan.unmet().empty
    re = demo_plan.reaudit
    assert re is not None
    planned = demo_plan.targets["unit_id"].unique()
    comm = re.communities.set_index("community_id")
    share = re.provenance["min_population_share"]
    for cat in ("shopping", "housekeeping"):
        assert (comm.loc[planned, f"W1_share_{cat}"].fillna(0) >= share - 1e-12).all() or (
            demo_plan.impossible["category"] == cat
        ).any()
    # every community with residents is a target or listed as impossible
    residents = re.communities.loc[re.communities["population"] > 0, "community_id"]
    listed = set(demo_plan.targets["unit_id"]) | set(demo_plan.impossible["unit_id"])
    today = demo_plan.result.communities.set_index("community_id")
    passing_today = set(today.index[today["W1_share_shopping"] >= share])
    assert set(residents) - passing_today <= listed


def test_demo_exact_needs_no_more_sites_than_greedy(demo_plan: Plan) -> None:
    problems = demo_plan.problems.set_index("category")
    assert (problems["sites"] <= problems["greedy_sites"]).all()
    assert bool(problems.loc["housekeeping", "from_scratch"])
    assert problems.loc["housekeeping", "sites"] > 0


def test_time_limit_returns_the_best_plan_labelled(tmp_path: Path) -> None:
    result = audit_case(DEMO)
    got = plan(result, categories=["housekeeping"], time_limit=0.01, curve=None, reaudit=True)
    assert got.status == "time_limit"
    assert got.gap > 0
    # never worse than the greedy plan, and the gap is measured against the solver's bound
    assert (got.problems["sites"] <= got.problems["greedy_sites"]).all()
    assert got.unmet().empty  # the best plan found still makes every target pass


def test_budgeted_program_equals_brute_force() -> None:
    rng = np.random.default_rng(11)
    for _ in range(10):
        cover = rng.random((6, 10)) < 0.35
        unit = rng.integers(0, 4, 10)
        pop = rng.integers(1, 30, 10).astype(float)
        problem = CoverageProblem.from_coverage(cover, unit=unit, population=pop, share=0.8)
        if not len(problem.units):
            continue
        for k in range(4):
            sol = solve_budgeted([problem], k, units=problem.units, residents=problem.total)
            best = max(
                problem.total[problem.passing(list(rows))].sum()
                for size in range(k + 1)
                for rows in itertools.combinations(range(problem.cover.shape[0]), size)
            )
            assert sol.objective == pytest.approx(best)


def test_plan_is_exported() -> None:
    assert coverage.plan is plan
    assert coverage.Plan is Plan
    assert isinstance(sp.csr_matrix((1, 1)), sp.csr_matrix)
    assert isinstance(pd.DataFrame(), pd.DataFrame)


# ---- count, community-share and area rules -----------------------------------------------------


@pytest.fixture(scope="module")
def demo_counts() -> Plan:
    return plan(audit_case(DEMO), rules=["W2", "W4", "W5", "W6"])


def test_w2_every_street_gets_its_centre_at_the_least_mean_walk(demo_counts: Plan) -> None:
    from coverage.plan.counts import mean_walk_m

    re = demo_counts.reaudit
    assert re is not None
    before = demo_counts.result.streets.set_index("street_id")
    after = re.streets.set_index("street_id")
    failing = before.index[before["W2_status"] == "fail"]
    assert len(failing) == 14
    assert (after.loc[failing, "W2_status"] == "pass").all()
    w2 = demo_counts.sites[demo_counts.sites["rules"] == "W2"]
    assert sorted(w2["units"]) == sorted(failing)  # one new centre per street without one
    # the centre of one street is the candidate with the least mean walk of its residents:
    # no other candidate inside the street does better (checked by brute force)
    result = demo_counts.result
    net = result.network
    sid = str(failing[0])
    cands = default_candidates(net, result.streets)
    cands = cands[cands.within(result.streets.set_index("street_id").loc[sid, "geometry"])]
    c_snap = snap_points(net, cands.set_index("candidate_id"))
    mask = (result.origins["street_id"] == sid).to_numpy()
    o_snap = snap_points(net, result.origins[mask].set_index("origin_id"))
    means = mean_walk_m(net, c_snap, o_snap, result.origins.loc[mask, "population"].to_numpy())
    chosen = w2.loc[w2["units"] == sid, "candidate_id"].iloc[0]
    assert means[list(cands["candidate_id"]).index(chosen)] == pytest.approx(means.min())


def test_mean_walk_matches_networkx(line: tuple[Case, Path, WalkNetwork]) -> None:
    from coverage.plan.counts import mean_walk_m

    _, _, net = line
    # nodes 0..8 on a line 111.2 m apart: from node 4 the mean walk to every node is
    # (4 + 3 + 2 + 1 + 0 + 1 + 2 + 3 + 4) / 9 steps
    pts = np.array([[i * GRID_STEP_DEG, 0.0] for i in range(9)])
    cands = snap_points(net, pts[[0, 4]])
    origins = snap_points(net, pts)
    got = mean_walk_m(net, cands, origins, np.ones(9))
    assert got[1] == pytest.approx(20 / 9 * GRID_STEP_M, rel=1e-9)
    assert got[0] == pytest.approx(36 / 9 * GRID_STEP_M, rel=1e-9)


def test_w5_and_w6_planned_jointly(demo_counts: Plan) -> None:
    before = demo_counts.result.streets.set_index("street_id")
    re = demo_counts.reaudit
    assert re is not None
    after = re.streets.set_index("street_id")
    ex = demo_counts.sites[demo_counts.sites["category"] == "exercise_point"]
    # per street, the new points are exactly max(W5 lacking, W6 lacking): one point in a
    # community without one counts for both rules
    comms = demo_counts.result.communities
    for sid, row in before.iterrows():
        n_comm = int((comms["street_id"] == sid).sum())
        lack5 = max(5 - int(row["W5_value"]), 0)
        lack6 = max(int(np.ceil(0.8 * n_comm - 1e-9)) - int(row["W6_communities_with"]), 0)
        got = (
            ex["units"].isin(comms.loc[comms["street_id"] == sid, "community_id"]).sum()
            + (ex["units"] == sid).sum()
        )
        if sid in set(demo_counts.impossible["unit_id"]):
            continue
        assert got == max(lack5, lack6), sid
        assert after.loc[sid, "W5_status"] == "pass" and after.loc[sid, "W6_status"] == "pass"
    assert demo_counts.unmet().empty


def test_w4_area_deficit_per_street(demo_counts: Plan) -> None:
    deficits = demo_counts.deficits.set_index("street_id")
    streets = demo_counts.result.streets.set_index("street_id")
    failing = streets.index[streets["W4_status"] == "fail"]
    assert set(deficits.index) == set(failing)
    want = 1.6 * streets.loc[failing, "population"] - (
        streets.loc[failing, "W4_value"] * streets.loc[failing, "population"]
    )
    np.testing.assert_allclose(deficits.loc[failing, "deficit_m2"], want, rtol=1e-9)
    assert (deficits["sites"] == 0).all()  # the default candidates carry no area


def test_w4_lots_with_areas_cover_the_deficit(line: tuple[Case, Path, WalkNetwork]) -> None:
    from coverage.rules import load_pack

    case, _, net = line
    result = audit_case(case, pack="wuhan-1plus10", network=net)
    # 900 residents need more than 1,440 m² of sports ground; lots of 1,000, 600 and 300 m²:
    # the fewest lots covering it are the two largest
    lots = gpd.GeoDataFrame(
        {"candidate_id": ["a", "b", "c"], "source": "layer", "area_m2": [300.0, 1000.0, 600.0]},
        geometry=[Point(i * GRID_STEP_DEG, 0.0) for i in (1, 3, 5)],
        crs=4326,
    )
    got = plan(result, rules=["W4"], candidates=lots)
    assert load_pack("wuhan-1plus10").rule("W4").min_value == 1.6
    assert sorted(got.sites["candidate_id"]) == ["b", "c"]
    assert got.deficits["deficit_m2"].iloc[0] == pytest.approx(1440.0)
    re = got.reaudit
    assert re is not None
    assert re.streets["W4_status"].iloc[0] == "pass"
    assert got.unmet().empty
