"""Benchmark section "city": the whole audit of a city-size case, from a cached network.

A section of ``scripts/bench.py`` (``bench_city(ctx)`` returns the figures, ``render_city(fig)``
the extra lines); run it with ``.venv/bin/python scripts/bench.py --only city``.

The case is synthetic but city-sized, built deterministically (seeded) from Heidelberg:

- network: the unsimplified Heidelberg walking network tiled 3 × 2, each copy shifted by the
  0.5-99.5 percentile extent of its largest connected component (so neighbouring copies
  overlap a little at their borders), and joined: every node gets an edge to its nearest node
  of each other copy within 150 m. About 1,000,000 nodes in one connected city (plus the
  extract's small islands), the order of a megacity's unsimplified walking network;
- communities: 800 m squares (in the network's UTM zone) over every cell holding at least 30
  network nodes, population 3,000-15,000 each; streets: blocks of 3 × 3 communities;
- services: ~8,500 facilities on random network nodes (a few metres off), a random category of
  the Wuhan pack each, ``area_m2`` for sports grounds;
- origins: ~200,000 user-given population points (random nodes, ~20 m of noise) inside the
  communities, each community's population split evenly over its points
  (``Case.from_frames(origins=...)``; no population spreading).

Generation (tiling, joining, the case frames, ``Case.from_frames``) is timed on its own and is
not part of the audit. The network is written with the package's cache writer
(``coverage.network._save_cache``), and what is timed is what a user with a cached network
pays: ``_load_cache`` + ``audit_case(case, network=net)``, all rules of the Wuhan pack, no map
or report. Peak memory is that of a fresh process doing the same (the case unpickled, the
network loaded from the cache, the audit), not of the generation.
"""

from __future__ import annotations

import gc
import pickle
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench import (
    Context,
    child_peak_memory,
    fmt_s,
    memory_row,
    ratio,
    row,
    summarize,
    time_interleaved,
    time_runs,
)

from coverage.network import WalkNetwork, _assemble, _load_cache, _ParseStats, _save_cache

TILES = (3, 2)
QUICK_TILES = (2, 1)
#: Nodes of different copies closer than this are joined by an edge.
JOIN_M = 150.0
#: Copies are shifted by the network's extent between these quantiles of lon and lat.
EXTENT_QUANTILES = (0.005, 0.995)
#: Node ids and way ids of copy k are offset by k times this (OSM ids are below 2e10).
ID_OFFSET = 10**11
CELL_M = 800.0
MIN_NODES_PER_CELL = 30
STREET_CELLS = 3
POPULATION_RANGE = (3000, 15000)
#: Facilities and origins of the full 3 × 2 city; --quick scales them to its tiles.
N_FACILITIES = 8500
N_ORIGINS = 200_000
FACILITY_NOISE_DEG = 1e-4
ORIGIN_NOISE_DEG = 2e-4
SPORTS_AREA_M2 = (500.0, 20000.0)
PACK = "wuhan-1plus10"
MAX_REPEAT = 3
GOAL_SECONDS = 30.0
GOAL_PEAK_MB = 4096.0


# ---- generation ----------------------------------------------------------------------------


def tile_network(base: WalkNetwork, tiles: tuple[int, int] = TILES) -> tuple[WalkNetwork, int]:
    """``base`` copied ``tiles`` times side by side and joined at the borders.

    Returns the network and the number of joining edges.
    """
    from scipy.spatial import cKDTree

    # shift by the extent of the main (largest) component, so that neighbouring copies of it
    # overlap at their borders and the joins make one connected city; the extract's outlying
    # islands would otherwise space the copies too far apart to meet
    lo, hi = EXTENT_QUANTILES
    main = base.component == 0
    dx = float(np.quantile(base.lon[main], hi) - np.quantile(base.lon[main], lo))
    dy = float(np.quantile(base.lat[main], hi) - np.quantile(base.lat[main], lo))
    n = base.n_nodes
    nx_, ny_ = tiles
    copies = [(i, j) for i in range(nx_) for j in range(ny_)]
    node_id = np.concatenate([base.node_id + k * ID_OFFSET for k in range(len(copies))])
    lon = np.concatenate([base.lon + i * dx for i, _ in copies])
    lat = np.concatenate([base.lat + j * dy for _, j in copies])
    u = np.concatenate([base.edge_u + k * n for k in range(len(copies))])
    v = np.concatenate([base.edge_v + k * n for k in range(len(copies))])
    way = np.concatenate([base.edge_way + k * ID_OFFSET for k in range(len(copies))])

    # join the copies: each node to its nearest node of every other copy within JOIN_M
    # (a local equirectangular projection is plenty for a 150 m radius)
    lat0 = float(np.deg2rad(lat.mean()))
    xy = np.column_stack([lon * np.cos(lat0) * 111_320.0, lat * 110_540.0])
    pairs = []
    for a in range(len(copies)):
        ia = np.arange(a * n, (a + 1) * n)
        for b in range(a + 1, len(copies)):
            ib = np.arange(b * n, (b + 1) * n)
            d, j = cKDTree(xy[ib]).query(xy[ia], distance_upper_bound=JOIN_M)
            ok = np.isfinite(d)
            pairs.append(np.column_stack([ia[ok], ib[j[ok]]]))
    joins = np.concatenate(pairs) if pairs else np.empty((0, 2), dtype=np.int64)
    u = np.concatenate([u, joins[:, 0]])
    v = np.concatenate([v, joins[:, 1]])
    way = np.concatenate([way, np.full(len(joins), -1, dtype=np.int64)])

    order = np.argsort(node_id, kind="stable")  # WalkNetwork keeps node ids sorted
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    net = _assemble(
        node_id[order],
        lon[order],
        lat[order],
        rank[u],
        rank[v],
        way,
        {},
        source=f"Heidelberg tiled {nx_} x {ny_}",
        stats=_ParseStats(),
        started=time.perf_counter(),
    )
    return net, len(joins)


def make_case(net: WalkNetwork, seed: int, n_facilities: int, n_origins: int) -> Any:
    """Communities, streets, services and origins over ``net`` (deterministic for ``seed``)."""
    import geopandas as gpd
    from shapely.geometry import box

    from coverage.case import Case
    from coverage.rules import load_pack

    rng = np.random.default_rng(seed)
    crs = net.metric_crs
    x, y = net.xy[:, 0], net.xy[:, 1]
    cells, counts = np.unique(
        np.column_stack([np.floor(x / CELL_M), np.floor(y / CELL_M)]).astype(np.int64),
        axis=0,
        return_counts=True,
    )
    cells = cells[counts >= MIN_NODES_PER_CELL]
    ids = [f"C{i}" for i in range(len(cells))]
    street_of = [f"S{a // STREET_CELLS}_{b // STREET_CELLS}" for a, b in cells.tolist()]
    communities = gpd.GeoDataFrame(
        {
            "community_id": ids,
            "name": ids,
            "street_id": street_of,
            "population": rng.integers(*POPULATION_RANGE, len(cells)).astype(float),
        },
        geometry=[
            box(a * CELL_M, b * CELL_M, (a + 1) * CELL_M, (b + 1) * CELL_M) for a, b in cells
        ],
        crs=crs,
    ).to_crs(4326)
    streets = communities.dissolve("street_id").reset_index()[["street_id", "geometry"]]
    streets["name"] = streets["street_id"]

    categories = sorted(load_pack(PACK).categories)
    at = rng.choice(net.n_nodes, n_facilities, replace=False)
    services = gpd.GeoDataFrame(
        {
            "service_id": [f"F{i}" for i in range(n_facilities)],
            "name": [f"F{i}" for i in range(n_facilities)],
            "category": rng.choice(categories, n_facilities),
        },
        geometry=gpd.points_from_xy(
            net.lon[at] + rng.normal(0, FACILITY_NOISE_DEG, n_facilities), net.lat[at]
        ),
        crs=4326,
    )
    services["area_m2"] = np.where(
        services["category"] == "sports_ground",
        rng.uniform(*SPORTS_AREA_M2, n_facilities),
        np.nan,
    )

    # population points near random nodes; those inside a community share its population
    at = rng.choice(net.n_nodes, n_origins, replace=False)
    points = gpd.GeoDataFrame(
        {"origin_id": [f"O{i}" for i in range(n_origins)]},
        geometry=gpd.points_from_xy(
            net.lon[at] + rng.normal(0, ORIGIN_NOISE_DEG, n_origins),
            net.lat[at] + rng.normal(0, ORIGIN_NOISE_DEG, n_origins),
        ),
        crs=4326,
    )
    joined = gpd.sjoin(
        points, communities[["community_id", "population", "geometry"]], predicate="within"
    )
    joined = joined[~joined.index.duplicated(keep="first")].sort_index()
    share = joined.groupby("community_id")["origin_id"].transform("count")
    origins = gpd.GeoDataFrame(
        {
            "origin_id": joined["origin_id"].to_numpy(),
            "population": (joined["population"] / share).to_numpy(),
        },
        geometry=joined.geometry.to_numpy(),
        crs=4326,
    )
    return Case.from_frames(
        streets=streets,
        communities=communities,
        services=services,
        origins=origins,
        name="city-size (Heidelberg tiled)",
        pack=PACK,
    )


# ---- the section ---------------------------------------------------------------------------

_CHILD_CITY = """
import pickle, time
from pathlib import Path
from coverage.audit import audit_case
from coverage.network import _load_cache
after = rss_mb()
with open(sys.argv[1], "rb") as fh:
    case = pickle.load(fh)
with_case = rss_mb()
t0 = time.perf_counter()
net = _load_cache(Path(sys.argv[2]), source="city", started=t0)
result = audit_case(case, network=net)
report(after, case_loaded_mb=with_case, wall_s=time.perf_counter() - t0,
       timings=result.timings, origins=len(result.origins))
"""


_CHILD_AREAS = """
import pickle, time
from pathlib import Path
from coverage.audit import audit_case
from coverage.isochrones import audit_service_areas
from coverage.network import _load_cache
with open(sys.argv[1], "rb") as fh:
    case = pickle.load(fh)
net = _load_cache(Path(sys.argv[2]), source="city", started=time.perf_counter())
result = audit_case(case, network=net)
after = rss_mb()
t0 = time.perf_counter()
areas = audit_service_areas(result)
report(after, wall_s=time.perf_counter() - t0, categories=len(areas))
"""

#: The service areas' goal on the full city (8 categories, what write_outputs computes).
GOAL_AREAS_S = 10.0


def bench_service_areas(result: Any) -> dict[str, Any]:
    """The audit's service areas (raster, as write_outputs), and one category both ways."""
    from coverage.isochrones import audit_service_areas

    timed, areas = time_runs(lambda: audit_service_areas(result), 2)
    out: dict[str, Any] = {"raster_all": timed, "categories": list(areas)}
    out["vertices"] = int(sum(a.geometry.count_coordinates().sum() for a in areas.values()))
    first = next(iter(areas), None)
    if first is not None:
        both = time_interleaved(
            {
                "raster": lambda: audit_service_areas(result, categories=[first]),
                "exact": lambda: audit_service_areas(result, categories=[first], cell_m=None),
            },
            1,
            catch=True,
        )
        out["one_category"] = {"category": first, **{k: v[0] for k, v in both.items()}}
        out["one_category"]["speedup"] = ratio(
            both["exact"][0].get("median_s"), both["raster"][0].get("median_s")
        )
    return out


def cached_audit(case: Any, path: Path) -> tuple[Any, float]:
    """Load the network from the cache file and audit the case on it (what is timed)."""
    from coverage.audit import audit_case

    t0 = time.perf_counter()
    net = _load_cache(path, source="city", started=t0)
    load_s = time.perf_counter() - t0
    return audit_case(case, network=net), load_s


def bench_city(ctx: Context) -> dict[str, Any]:
    """A ~1,000,000-node city: generation (untimed part), then cached load + audit."""
    tiles = QUICK_TILES if ctx.quick else TILES
    scale = (tiles[0] * tiles[1]) / (TILES[0] * TILES[1])
    n_facilities = round(N_FACILITIES * scale)
    n_origins = round(N_ORIGINS * scale)
    repeat = min(ctx.repeat, MAX_REPEAT)
    folder = ctx.tmp / "city"
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"tiles": list(tiles), "seed": ctx.seed, "pack": PACK}

    # ---- generation (not part of the audit) ----
    base = ctx.net
    gen: dict[str, float] = {}
    t0 = time.perf_counter()
    net, joins = tile_network(base, tiles)
    gen["tiling_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    case = make_case(net, ctx.seed, n_facilities, n_origins)
    gen["case_s"] = time.perf_counter() - t0
    cache_file = folder / "network.npz"
    t0 = time.perf_counter()
    _save_cache(net, cache_file)  # computes the chains, as any cached network has them
    gen["save_cache_s"] = time.perf_counter() - t0
    case_file = folder / "case.pickle"
    with case_file.open("wb") as fh:
        pickle.dump(case, fh, protocol=pickle.HIGHEST_PROTOCOL)
    out["generation"] = gen
    assert net.report is not None
    out["network"] = {
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "join_edges": joins,
        "core_nodes": int(net.chains.core_nodes.size),
        "components": net.report.components,
        "largest_component": net.report.component_sizes[0],
        "length_km": net.report.length_km,
        "cache_file_mb": cache_file.stat().st_size / 1e6,
        "base_nodes": base.n_nodes,
    }
    out["case"] = {
        "communities": len(case.communities),
        "streets": len(case.streets),
        "services": len(case.services),
        "origins": len(case.origins),
        "residents": float(case.communities["population"].sum()),
    }
    del net, case
    gc.collect()

    # ---- timed: cached load + audit, fresh network every run ----
    with case_file.open("rb") as fh:
        case = pickle.load(fh)
    walls: list[float] = []
    cpus: list[float] = []
    stages: list[dict[str, float]] = []
    result = None
    for _ in range(repeat):
        result = None
        gc.collect()
        c0 = time.process_time()
        t0 = time.perf_counter()
        result, load_s = cached_audit(case, cache_file)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        stages.append({"network_cache_load": load_s, **result.timings})
    assert result is not None
    audit = summarize(walls, cpus)
    out["audit"] = audit
    names = list(stages[0])
    out["stages_median_s"] = {k: statistics.median(s[k] for s in stages) for k in names}
    out["stages_runs_s"] = stages
    out["summary"] = result.summary.to_dict("records")
    out["findings"] = [f"{f.severity}: {f.message}" for f in result.findings]
    out["origins_reaching_shopping"] = int(np.isfinite(result.origins["d_shopping"]).sum())
    out["service_areas"] = bench_service_areas(result)
    del result
    gc.collect()

    out["peak_memory_mb"] = {
        "cached_load_audit": child_peak_memory(_CHILD_CITY, str(case_file), str(cache_file)),
        "service_areas_after_audit": child_peak_memory(
            _CHILD_AREAS, str(case_file), str(cache_file)
        ),
    }
    peak = out["peak_memory_mb"]["cached_load_audit"].get("peak_mb")
    out["city_audit_seconds"] = audit["median_s"]
    out["city_audit_peak_mb"] = peak
    out["goals"] = {"seconds": GOAL_SECONDS, "peak_mb": GOAL_PEAK_MB}
    out["goal_met"] = bool(
        audit["median_s"] < GOAL_SECONDS and peak is not None and peak < GOAL_PEAK_MB
    )

    nw, cs = out["network"], out["case"]
    out["table"] = [
        row(
            "generation: tile + join the network",
            summarize([gen["tiling_s"]]),
            f"{nw['nodes']:,} nodes, {nw['edges']:,} edges ({nw['join_edges']:,} joins)",
        ),
        row(
            "generation: case frames + Case.from_frames",
            summarize([gen["case_s"]]),
            f"{cs['communities']:,} communities, {cs['streets']:,} streets,"
            f" {cs['services']:,} services, {cs['origins']:,} origins",
        ),
        row(
            "generation: _save_cache (incl. chains)",
            summarize([gen["save_cache_s"]]),
            f"{nw['cache_file_mb']:.0f} MB .npz",
        ),
        row(
            "audit: _load_cache + audit_case(network=)",
            audit,
            f"all {PACK} rules, no map; goal < {GOAL_SECONDS:g} s",
        ),
    ]
    sa = out["service_areas"]
    out["table"].append(
        row(
            f"service areas, {len(sa['categories'])} categories (raster, as write_outputs)",
            sa["raster_all"],
            f"goal < {GOAL_AREAS_S:g} s on the full city",
        )
    )
    one = sa.get("one_category")
    if one:
        for method in ("raster", "exact"):
            out["table"].append(
                row(f"  service area of {one['category']} only: {method}", one[method])
            )
    for stage, seconds in out["stages_median_s"].items():
        out["table"].append(
            row(
                f"  stage {stage}",
                summarize([s[stage] for s in stages]),
                f"{100 * seconds / audit['median_s']:.0f} % of the median audit",
            )
        )
    return out


def render_city(fig: dict[str, Any]) -> list[str]:
    nw, cs = fig["network"], fig["case"]
    mem = fig["peak_memory_mb"]["cached_load_audit"]
    child = "" if "error" in mem else f"; that process's load + audit took {mem['wall_s']:.2f} s"
    lines = [
        f"  network: {nw['nodes']:,} nodes ({nw['core_nodes']:,} junctions/dead ends),"
        f" {nw['edges']:,} edges, {nw['length_km']:,.0f} km, {nw['components']:,} components"
        f" (largest {nw['largest_component']:,}); Heidelberg ({nw['base_nodes']:,} nodes)"
        f" tiled {fig['tiles'][0]} x {fig['tiles'][1]}",
        f"  case: {cs['communities']:,} communities, {cs['streets']:,} streets,"
        f" {cs['services']:,} services, {cs['origins']:,} origins,"
        f" {cs['residents']:,.0f} residents; {fig['origins_reaching_shopping']:,} origins"
        " reach a shop within the search limit",
        f"  city_audit_seconds {fmt_s(fig['city_audit_seconds'])}"
        f" (goal < {fig['goals']['seconds']:g} s); peak memory"
        f" {fig['city_audit_peak_mb'] or float('nan'):,.0f} MB"
        f" (goal < {fig['goals']['peak_mb']:,.0f} MB): {'met' if fig['goal_met'] else 'NOT met'}",
        "  peak memory (fresh process, ru_maxrss):",
        "  " + memory_row("unpickle case + _load_cache + audit_case", mem) + child,
        "  "
        + memory_row(
            "... then audit_service_areas", fig["peak_memory_mb"]["service_areas_after_audit"]
        ),
        *render_service_areas(fig["service_areas"]),
        "  rules:",
    ]
    for r in fig["summary"]:
        lines.append(
            f"    {r['rule']:<4} {r['passing']:>5} pass {r['failing']:>5} fail"
            f" {r['not_evaluable']:>4} n/e of {r['units']:>5} {r['unit']} units"
        )
    return lines


def render_service_areas(sa: dict[str, Any]) -> list[str]:
    total = sa["raster_all"]["median_s"]
    lines = [
        f"  service areas: {len(sa['categories'])} categories x 3 bands in {fmt_s(total)}"
        f" (raster 10 m, {sa['vertices']:,} vertices; goal < {GOAL_AREAS_S:g} s on the full"
        f" city: {'met' if total < GOAL_AREAS_S else 'NOT met'})"
    ]
    one = sa.get("one_category")
    if one:
        lines.append(
            f"  one category ({one['category']}): raster {fmt_s(one['raster'].get('median_s'))},"
            f" exact GEOS {fmt_s(one['exact'].get('median_s'))}:"
            f" {one['speedup'] or float('nan'):.1f}x"
        )
    return lines
