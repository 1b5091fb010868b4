"""Benchmark section "isochrones": our isochrone polygons vs the osmnx isochrone example.

A section of ``scripts/bench.py`` (``bench_isochrones(ctx)`` returns the figures,
``render_isochrones(fig)`` the extra lines); run it with
``.venv/bin/python scripts/bench.py --only isochrones``, or this file, which does the same;
``scripts/bench_isochrones.py --valhalla-only`` runs the Valhalla comparison and the 10,000
facilities alone (about a minute, instead of ten or more).

What is measured, on ``heidelberg.osm.pbf``:

- ours: :func:`coverage.isochrones.facility_isochrones` for 1,000 facilities on random network
  nodes (seeded) x 3 bands (5/10/15 min at 4 km/h), and :func:`coverage.isochrones.service_area`
  of the same 1,000 (one dissolved polygon per band); median wall and CPU time; peak memory of
  each in a fresh process (ru_maxrss).
- the osmnx isochrone example (osmnx-examples, notebook 13, "isolines-isochrones") on the osmnx
  graph of the same network (``WalkNetwork.to_networkx()``, projected with ``ox.project_graph``
  to the same UTM zone): ``nx.ego_graph(G, node, radius=B, distance="length")`` then (a) the
  convex hull of the subgraph's nodes, (b) ``make_iso_polys``: union of node buffers and edge
  buffers, with ``node_buff = edge_buff = buffer_m`` (the example's defaults are 50 and 25 m).
  Both run on a sample of facilities and are extrapolated linearly to 1,000 (labelled).
- accuracy (Heidelberg sample and Chengdu): the share of the example polygons' area that is not
  within ``buffer_m`` of any reached network point (= outside our polygon), median over facilities;
  for (b) also the share of our polygon it misses (partly reached edges it leaves out).
- ours from rasters (``facility_isochrones(..., cell_m=10)``, :mod:`coverage.raster`): the same
  1,000 facilities, interleaved with the exact polygons; then 10,000 facilities once (the goal:
  under a minute; ``--quick``: 2,000, extrapolated).
- Valhalla (``pyvalhalla``, or ``pyvalhalla-weekly`` where the release has no wheel for this
  Python; benchmark-only): tiles built once from the same PBF into the scratch folder with the
  wheel's ``valhalla_build_tiles`` (build time reported, not timed against us); then its
  ``isochrone`` action per facility (``costing=pedestrian``, ``walking_speed`` = our 4 km/h,
  contours 5/10/15 min, ``polygons=true``, its defaults otherwise), interleaved with ours on the
  same sample (at least :data:`VALHALLA_ROUNDS` rounds; ours exact in the first 3 only);
  per-facility time, the ratio in every round (Valhalla / ours, run back to back), and its
  over-claim: the share of its polygon's area farther than ``buffer_m`` from every network
  point we reach (outside our exact polygon), and the share of ours it leaves out; the same
  measure for our raster polygons.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench
from bench import Context, child_peak_memory, fmt_s, fmt_x, memory_row, ratio, row

from coverage.isochrones import DEFAULT_BUFFER_M, facility_isochrones, service_area
from coverage.network import WalkNetwork, build_walk_network
from coverage.rules import minutes_to_m
from coverage.snapping import _segment_index

MINUTES = (5.0, 10.0, 15.0)
WALK_SPEED_KMH = 4.0
N_FACILITIES = 1000
#: Facilities the osmnx example runs on (then scaled linearly to N_FACILITIES).
EXAMPLE_SAMPLE = 50
CHENGDU = Path(__file__).resolve().parents[1] / "tests" / "data" / "osm" / "chengdu-center.osm.bz2"
GOAL_SPEEDUP = 20.0
#: Cell size (m) of our raster isochrones.
CELL_M = 10.0
#: Facilities of the one-off "10 k isochrones" run (--quick: a fifth, extrapolated).
N_MANY = 10_000
GOAL_MANY_S = 60.0
#: Facilities Valhalla and ours run on, interleaved (--quick: 30).
VALHALLA_SAMPLE = 200
#: Rounds of the Valhalla comparison at least (each round: Valhalla, then ours, back to back).
VALHALLA_ROUNDS = 7


# ---- the osmnx example, as published (per facility) -----------------------------------------


def example_graph(net: WalkNetwork) -> Any:
    """The osmnx graph of our network, projected to its UTM zone (as the example projects)."""
    import osmnx as ox

    return ox.project_graph(net.to_networkx(), to_crs=net.metric_crs)


def example_convex_hulls(graph: Any, node: int, budgets: list[float]) -> list[Any]:
    """The example's first method: convex hull of the nodes of ``nx.ego_graph``."""
    import geopandas as gpd
    import networkx as nx
    from shapely.geometry import Point

    polys = []
    for budget in sorted(budgets, reverse=True):
        subgraph = nx.ego_graph(graph, node, radius=budget, distance="length")
        node_points = [Point((data["x"], data["y"])) for _, data in subgraph.nodes(data=True)]
        polys.append(gpd.GeoSeries(node_points).union_all().convex_hull)
    return polys[::-1]


def example_iso_polys(
    graph: Any, node: int, budgets: list[float], *, edge_buff: float, node_buff: float
) -> list[Any]:
    """The example's ``make_iso_polys`` (``infill=False``), line for line."""
    import geopandas as gpd
    import networkx as nx
    from shapely.geometry import LineString, Point

    polys = []
    for budget in sorted(budgets, reverse=True):
        subgraph = nx.ego_graph(graph, node, radius=budget, distance="length")
        node_points = [Point((data["x"], data["y"])) for _, data in subgraph.nodes(data=True)]
        nodes_gdf = gpd.GeoDataFrame({"id": list(subgraph.nodes)}, geometry=node_points)
        nodes_gdf = nodes_gdf.set_index("id")
        edge_lines = []
        for n_fr, n_to in subgraph.edges():
            f = nodes_gdf.loc[n_fr].geometry
            t = nodes_gdf.loc[n_to].geometry
            edge_lookup = graph.get_edge_data(n_fr, n_to)[0].get("geometry", LineString([f, t]))
            edge_lines.append(edge_lookup)
        n = nodes_gdf.buffer(node_buff).geometry
        e = gpd.GeoSeries(edge_lines).buffer(edge_buff).geometry
        all_gs = list(n) + list(e)
        polys.append(gpd.GeoSeries(all_gs).union_all())
    return polys[::-1]


# ---- accuracy ------------------------------------------------------------------------------


def overclaim_share(example: list[Any], ours: list[Any]) -> list[float]:
    """Share (%) of each example polygon's area outside ours, i.e. farther than ``buffer_m``
    from every network point reachable within the time."""
    import shapely

    ex = np.asarray(example, dtype=object)
    us = np.asarray(ours, dtype=object)
    return list(100.0 * shapely.area(shapely.difference(ex, us)) / shapely.area(ex))


def missed_share(example: list[Any], ours: list[Any]) -> list[float]:
    """Share (%) of our polygon's area the example polygon leaves out."""
    import shapely

    ex = np.asarray(example, dtype=object)
    us = np.asarray(ours, dtype=object)
    return list(100.0 * shapely.area(shapely.difference(us, ex)) / shapely.area(us))


def compare_with_example(
    net: WalkNetwork, graph: Any, nodes: np.ndarray, *, buffer_m: float
) -> dict[str, Any]:
    """Per band, median (and quartiles) over facilities of the example polygons' errors."""
    import geopandas as gpd

    budgets = [minutes_to_m(m, WALK_SPEED_KMH) for m in MINUTES]
    fac = gpd.GeoDataFrame(
        {"service_id": [str(n) for n in nodes]},
        geometry=gpd.points_from_xy(net.lon[nodes], net.lat[nodes]),
        crs=4326,
    )
    ours = facility_isochrones(
        net, fac, minutes=MINUTES, walk_speed_kmh=WALK_SPEED_KMH, buffer_m=buffer_m, crs="metric"
    )
    ours_polys = ours.geometry.to_numpy().reshape(-1, len(MINUTES))
    hull_over: list[list[float]] = [[] for _ in MINUTES]
    iso_over: list[list[float]] = [[] for _ in MINUTES]
    iso_missed: list[list[float]] = [[] for _ in MINUTES]
    for k, node in enumerate(nodes):
        osm_id = int(net.node_id[node])
        hulls = example_convex_hulls(graph, osm_id, budgets)
        isos = example_iso_polys(graph, osm_id, budgets, edge_buff=buffer_m, node_buff=buffer_m)
        for b, value in enumerate(overclaim_share(hulls, list(ours_polys[k]))):
            hull_over[b].append(value)
        for b, value in enumerate(overclaim_share(isos, list(ours_polys[k]))):
            iso_over[b].append(value)
        for b, value in enumerate(missed_share(isos, list(ours_polys[k]))):
            iso_missed[b].append(value)

    def stats(values: list[float]) -> dict[str, float]:
        q = np.percentile(values, [25, 50, 75])
        return {"p25": float(q[0]), "median": float(q[1]), "p75": float(q[2])}

    return {
        "facilities": len(nodes),
        "buffer_m": buffer_m,
        "bands": {
            f"{m:g} min": {
                "hull_area_not_within_buffer_pct": stats(hull_over[b]),
                "edge_buffer_area_not_within_buffer_pct": stats(iso_over[b]),
                "edge_buffer_misses_of_ours_pct": stats(iso_missed[b]),
            }
            for b, m in enumerate(MINUTES)
        },
    }


# ---- Valhalla ------------------------------------------------------------------------------


def valhalla_actor(pbf: Path, folder: Path) -> tuple[Any, dict[str, Any]]:
    """Valhalla's tiles of ``pbf`` built into ``folder`` once, and an ``Actor`` on them."""
    import valhalla
    from valhalla import Actor, get_config

    tiles = folder / "valhalla_tiles"
    tiles.mkdir(parents=True, exist_ok=True)
    config = get_config(tile_extract="", tile_dir=tiles, verbose=False)
    path = folder / "valhalla.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    exe = Path(valhalla.__file__).parent / "bin" / "valhalla_build_tiles"
    t0 = time.perf_counter()
    proc = subprocess.run(  # in the scratch folder: it writes duplicateways.txt where it runs
        [str(exe), "-c", str(path), str(pbf)],
        capture_output=True,
        text=True,
        check=False,
        cwd=folder,
    )
    build_s = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        msg = f"{exe.name} -c {path} {pbf} exited {proc.returncode}: {tail}"
        raise RuntimeError(msg)
    from importlib.metadata import PackageNotFoundError, version

    dist, ver = "pyvalhalla", "?"
    for name in ("pyvalhalla", "pyvalhalla-weekly"):
        try:
            dist, ver = name, version(name)
            break
        except PackageNotFoundError:
            continue
    info = {"tiles_build_s": build_s, "package": dist, "version": ver, "tile_dir": str(tiles)}
    return Actor(str(path)), info


def valhalla_isochrones(actor: Any, lonlat: np.ndarray) -> list[list[Any]]:
    """Valhalla's polygons (EPSG:4326) per facility, bands ascending, one request each."""
    from shapely.geometry import shape

    out = []
    for lon, lat in lonlat.tolist():
        request = {
            "locations": [{"lat": lat, "lon": lon}],
            "costing": "pedestrian",
            "costing_options": {"pedestrian": {"walking_speed": WALK_SPEED_KMH}},
            "contours": [{"time": m} for m in MINUTES],
            "polygons": True,
        }
        response = actor.isochrone(request)
        if isinstance(response, str):
            response = json.loads(response)
        by_band = {
            float(f["properties"]["contour"]): shape(f["geometry"]) for f in response["features"]
        }
        out.append([by_band[float(m)] for m in MINUTES])
    return out


def polygon_errors(
    theirs: list[list[Any]], ours_exact: np.ndarray, metric_crs: Any, *, wgs84: bool
) -> dict[str, Any]:
    """Per band, median [p25-p75] over facilities: % of their area outside our exact polygon
    (farther than buffer_m from any reached point) and % of ours they leave out."""
    import geopandas as gpd
    import shapely

    flat = [g for row in theirs for g in row]
    geoms = gpd.GeoSeries(flat, crs=4326 if wgs84 else metric_crs)
    metric = np.asarray(geoms.to_crs(metric_crs).make_valid().values, dtype=object)
    metric = metric.reshape(-1, len(MINUTES))
    out: dict[str, Any] = {}
    for b, m in enumerate(MINUTES):
        them, us = metric[:, b], ours_exact[:, b]
        over = 100.0 * shapely.area(shapely.difference(them, us)) / shapely.area(them)
        missed = 100.0 * shapely.area(shapely.difference(us, them)) / shapely.area(us)
        out[f"{m:g} min"] = {
            "area_not_within_buffer_pct": _quartiles(over),
            "misses_of_ours_pct": _quartiles(missed),
        }
    return out


def _quartiles(values: np.ndarray) -> dict[str, float]:
    q = np.nanpercentile(values, [25, 50, 75])
    return {"p25": float(q[0]), "median": float(q[1]), "p75": float(q[2])}


def bench_valhalla(ctx: Context, net: WalkNetwork, fac: Any) -> dict[str, Any]:
    """Valhalla vs ours (exact and raster) on the same facilities, interleaved; over-claims."""
    n = len(fac)
    out: dict[str, Any] = {"facilities": n}
    try:
        actor, info = valhalla_actor(ctx.pbf, ctx.tmp / "valhalla")
    except Exception as exc:  # reported verbatim: why the peer could not run
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    out.update(info)
    lonlat = np.column_stack([fac.geometry.x, fac.geometry.y])
    valhalla_isochrones(actor, lonlat[:3])  # tiles into Valhalla's cache, as any session
    timed = bench.time_interleaved(
        {
            "valhalla": lambda: valhalla_isochrones(actor, lonlat),
            "ours_raster": lambda: facility_isochrones(net, fac, minutes=MINUTES, cell_m=CELL_M),
            "ours_exact": lambda: facility_isochrones(net, fac, minutes=MINUTES),
        },
        1 if ctx.quick else max(ctx.repeat, VALHALLA_ROUNDS),
        catch=True,
        max_repeat={"ours_exact": 3},  # 20 ms a facility: 3 runs are enough
    )
    for name, (stats, _) in timed.items():
        out[name] = dict(stats)
        if "median_s" in stats:
            out[name]["per_facility_ms"] = 1000.0 * stats["median_s"] / n
    if "error" in out["valhalla"]:
        return out
    theirs = timed["valhalla"][1]
    exact = facility_isochrones(net, fac, minutes=MINUTES, crs="metric")
    raster = facility_isochrones(net, fac, minutes=MINUTES, crs="metric", cell_m=CELL_M)
    ours = exact.geometry.to_numpy().reshape(-1, len(MINUTES))
    out["valhalla_errors"] = polygon_errors(theirs, ours, net.metric_crs, wgs84=True)
    out["ours_raster_errors"] = polygon_errors(
        [list(r) for r in raster.geometry.to_numpy().reshape(-1, len(MINUTES))],
        ours,
        net.metric_crs,
        wgs84=False,
    )
    out["speedup_raster_vs_valhalla"] = ratio(
        out["valhalla"].get("median_s"), out["ours_raster"].get("median_s")
    )
    out["speedup_raster_vs_valhalla_cpu"] = ratio(
        out["valhalla"].get("cpu_median_s"), out["ours_raster"].get("cpu_median_s")
    )
    # the ratio in every round (the two ran back to back, under the same load)
    paired = [
        v / r
        for v, r in zip(out["valhalla"]["runs_s"], out["ours_raster"]["runs_s"], strict=True)
        if r > 0
    ]
    out["speedup_raster_vs_valhalla_per_round"] = {
        "median": float(np.median(paired)),
        "min": min(paired),
        "max": max(paired),
        "rounds": len(paired),
    }
    out["speedup_exact_vs_valhalla"] = ratio(
        out["valhalla"].get("median_s"), out["ours_exact"].get("median_s")
    )
    return out


# ---- the section ---------------------------------------------------------------------------

_CHILD_OURS = """
import numpy as np, geopandas as gpd
from coverage.network import build_walk_network
from coverage.isochrones import facility_isochrones, service_area
from coverage.snapping import _segment_index
net = build_walk_network(sys.argv[1], cache=False)
_ = net.adjacency, net.xy
_segment_index(net)
rng = np.random.default_rng(int(sys.argv[2]))
nodes = rng.choice(net.n_nodes, int(sys.argv[3]), replace=False)
fac = gpd.GeoDataFrame({"service_id": nodes.astype(str)},
                       geometry=gpd.points_from_xy(net.lon[nodes], net.lat[nodes]), crs=4326)
after = rss_mb()
if sys.argv[4] == "facility":
    out = facility_isochrones(net, fac, minutes=(5, 10, 15))
elif sys.argv[4] == "raster":
    out = facility_isochrones(net, fac, minutes=(5, 10, 15), cell_m=10.0)
else:
    out = service_area(net, fac, minutes=(5, 10, 15))
report(after, rows=len(out))
"""


def facilities_on_nodes(net: WalkNetwork, n: int, seed: int) -> tuple[np.ndarray, Any]:
    import geopandas as gpd

    rng = np.random.default_rng(seed)
    nodes = rng.choice(net.n_nodes, n, replace=False)
    fac = gpd.GeoDataFrame(
        {"service_id": nodes.astype(str)},
        geometry=gpd.points_from_xy(net.lon[nodes], net.lat[nodes]),
        crs=4326,
    )
    return nodes, fac


def bench_isochrones(ctx: Context) -> dict[str, Any]:
    """1,000 facilities x 3 bands and one dissolved service area; the osmnx example alongside."""
    net = ctx.net
    _ = net.adjacency, net.xy  # built once, as in any session
    _segment_index(net)  # the snapping index, also built once per network
    n_fac = 200 if ctx.quick else N_FACILITIES
    sample_n = 10 if ctx.quick else EXAMPLE_SAMPLE
    repeat = min(ctx.repeat, 3)
    nodes, fac = facilities_on_nodes(net, n_fac, ctx.seed)
    out: dict[str, Any] = {
        "network": {"nodes": net.n_nodes, "edges": net.n_edges},
        "facilities": n_fac,
        "minutes": list(MINUTES),
        "walk_speed_kmh": WALK_SPEED_KMH,
        "buffer_m": DEFAULT_BUFFER_M,
    }

    timed = bench.time_interleaved(
        {
            "facility_isochrones": lambda: facility_isochrones(net, fac, minutes=MINUTES),
            "facility_isochrones_raster": lambda: facility_isochrones(
                net, fac, minutes=MINUTES, cell_m=CELL_M
            ),
            "service_area": lambda: service_area(net, fac, minutes=MINUTES),
            "service_area_raster": lambda: service_area(net, fac, minutes=MINUTES, cell_m=CELL_M),
        },
        repeat,
        catch=False,
    )
    ours, ours_result = timed["facility_isochrones"]
    area, _ = timed["service_area"]
    out["ours_facility_isochrones"] = ours
    out["ours_facility_isochrones_raster"] = timed["facility_isochrones_raster"][0]
    out["ours_service_area"] = area
    out["ours_service_area_raster"] = timed["service_area_raster"][0]
    out["per_facility_ms"] = {
        "exact": 1000.0 * ours["median_s"] / n_fac,
        "raster": 1000.0 * out["ours_facility_isochrones_raster"]["median_s"] / n_fac,
    }

    # many facilities once: the "10 k isochrones in under a minute" goal
    n_many = N_MANY // 5 if ctx.quick else N_MANY
    _, many_fac = facilities_on_nodes(net, min(n_many, net.n_nodes), ctx.seed + 1)
    many, _ = bench.time_runs(
        lambda: facility_isochrones(net, many_fac, minutes=MINUTES, cell_m=CELL_M), 1
    )
    many["facilities"] = len(many_fac)
    many["for_10k_s"] = many["median_s"] * N_MANY / len(many_fac)
    out["ours_raster_many"] = many

    # Valhalla on a sample, interleaved with ours on the same facilities
    out["valhalla"] = bench_valhalla(
        ctx, net, fac.iloc[: 30 if ctx.quick else min(VALHALLA_SAMPLE, n_fac)]
    )
    out["polygons"] = len(ours_result)
    out["valid"] = bool(ours_result.geometry.is_valid.all())

    # the example on a sample (and ours on the same sample, for a measured like-for-like ratio)
    t0 = time.perf_counter()
    graph = example_graph(net)
    out["example_graph_build_s"] = time.perf_counter() - t0
    sample = nodes[:sample_n]
    budgets = [minutes_to_m(m, WALK_SPEED_KMH) for m in MINUTES]
    ids = [int(net.node_id[n]) for n in sample]
    sample_fac = fac.iloc[:sample_n]
    timed = bench.time_interleaved(
        {
            "hull": lambda: [example_convex_hulls(graph, i, budgets) for i in ids],
            "edge_buffers": lambda: [
                example_iso_polys(
                    graph, i, budgets, edge_buff=DEFAULT_BUFFER_M, node_buff=DEFAULT_BUFFER_M
                )
                for i in ids
            ],
            "ours_sample": lambda: facility_isochrones(net, sample_fac, minutes=MINUTES),
        },
        1 if ctx.quick else min(repeat, 2),
        catch=True,
    )
    scale = n_fac / sample_n
    for name in ("hull", "edge_buffers", "ours_sample"):
        stats = dict(timed[name][0])
        if "median_s" in stats:
            stats["extrapolated_to_all_s"] = stats["median_s"] * scale
            stats["cpu_extrapolated_to_all_s"] = stats["cpu_median_s"] * scale
        out[f"example_{name}" if name != "ours_sample" else name] = stats
    out["sample"] = sample_n
    ours_s = ours["median_s"]
    out["speedup_vs_example_edge_buffers_extrapolated"] = ratio(
        out["example_edge_buffers"].get("extrapolated_to_all_s"), ours_s
    )
    out["speedup_vs_example_hull_extrapolated"] = ratio(
        out["example_hull"].get("extrapolated_to_all_s"), ours_s
    )
    out["speedup_vs_example_edge_buffers_on_sample"] = ratio(
        out["example_edge_buffers"].get("median_s"), out["ours_sample"].get("median_s")
    )
    out["speedup_vs_example_hull_on_sample"] = ratio(
        out["example_hull"].get("median_s"), out["ours_sample"].get("median_s")
    )
    out["cpu_speedup_vs_example_edge_buffers_extrapolated"] = ratio(
        out["example_edge_buffers"].get("cpu_extrapolated_to_all_s"), ours.get("cpu_median_s")
    )

    # accuracy of the example's polygons: Heidelberg sample and Chengdu
    accuracy_n = 10 if ctx.quick else 30
    out["accuracy"] = {
        "heidelberg": compare_with_example(
            net, graph, nodes[:accuracy_n], buffer_m=DEFAULT_BUFFER_M
        )
    }
    chengdu = build_walk_network(CHENGDU, cache=False)
    ch_nodes, _ = facilities_on_nodes(chengdu, accuracy_n, ctx.seed)
    out["accuracy"]["chengdu"] = compare_with_example(
        chengdu, example_graph(chengdu), ch_nodes, buffer_m=DEFAULT_BUFFER_M
    )

    out["peak_memory_mb"] = {
        "facility_isochrones": child_peak_memory(
            _CHILD_OURS, str(ctx.pbf), str(ctx.seed), str(n_fac), "facility"
        ),
        "facility_isochrones_raster": child_peak_memory(
            _CHILD_OURS, str(ctx.pbf), str(ctx.seed), str(n_fac), "raster"
        ),
        "service_area": child_peak_memory(
            _CHILD_OURS, str(ctx.pbf), str(ctx.seed), str(n_fac), "area"
        ),
    }
    label = f"{n_fac:,} fac. x {len(MINUTES)} bands"
    out["table"] = [
        row(f"ours facility_isochrones, {label}", ours),
        row(
            f"ours facility_isochrones, raster {CELL_M:g} m, {label}",
            out["ours_facility_isochrones_raster"],
        ),
        row(
            f"ours facility_isochrones, raster, {many['facilities']:,} fac. x 3",
            many,
            f"-> {fmt_s(many['for_10k_s'])} for 10,000 (goal < {GOAL_MANY_S:g} s)",
        ),
        row(f"ours service_area of the {n_fac:,} (dissolved)", area),
        row(f"ours service_area, raster {CELL_M:g} m", out["ours_service_area_raster"]),
        row(f"ours facility_isochrones, {sample_n} fac. x 3", out["ours_sample"]),
        row(
            f"osmnx example: edge+node buffers, {sample_n} fac. x 3",
            out["example_edge_buffers"],
            f"-> {fmt_s(out['example_edge_buffers'].get('extrapolated_to_all_s'))}"
            f" for {n_fac:,} (extrapolated)",
        ),
        row(
            f"osmnx example: convex hull, {sample_n} fac. x 3",
            out["example_hull"],
            f"-> {fmt_s(out['example_hull'].get('extrapolated_to_all_s'))}"
            f" for {n_fac:,} (extrapolated)",
        ),
    ]
    return out


def render_isochrones(fig: dict[str, Any]) -> list[str]:
    n = fig["facilities"]
    goal = fig["speedup_vs_example_edge_buffers_extrapolated"]
    lines = [
        f"  {fig['polygons']:,} polygons, all valid: {fig['valid']}; buffer {fig['buffer_m']:g} m;"
        f" osmnx graph for the example built in {fig['example_graph_build_s']:.1f} s (not timed)",
        f"  speed-up vs osmnx example, edge+node buffers: {fmt_x(goal)} ({n:,} vs sample x"
        f" {n / fig['sample']:g}, extrapolated); on the same {fig['sample']} facilities:"
        f" {fmt_x(fig['speedup_vs_example_edge_buffers_on_sample'])}"
        f"; CPU time: {fmt_x(fig['cpu_speedup_vs_example_edge_buffers_extrapolated'])}"
        f"  [goal >= {GOAL_SPEEDUP:g}x: {'met' if goal and goal >= GOAL_SPEEDUP else 'NOT met'}]",
        f"  speed-up vs osmnx example, convex hull: "
        f"{fmt_x(fig['speedup_vs_example_hull_extrapolated'])} (extrapolated); on the sample:"
        f" {fmt_x(fig['speedup_vs_example_hull_on_sample'])}",
        "",
        "  example polygons vs the reached network (median [p25-p75] over facilities, % of area):",
    ]
    for place, acc in fig["accuracy"].items():
        lines.append(f"  {place} ({acc['facilities']} facilities on random nodes):")
        for band, s in acc["bands"].items():
            h = s["hull_area_not_within_buffer_pct"]
            e = s["edge_buffer_area_not_within_buffer_pct"]
            m = s["edge_buffer_misses_of_ours_pct"]
            lines.append(
                f"    {band:>7}: convex hull {h['median']:5.1f} % [{h['p25']:.1f}-{h['p75']:.1f}]"
                f" farther than {acc['buffer_m']:g} m from any reached point;"
                f" edge buffers {e['median']:4.1f} % [{e['p25']:.1f}-{e['p75']:.1f}] too much,"
                f" miss {m['median']:4.1f} % [{m['p25']:.1f}-{m['p75']:.1f}] of the reached area"
            )
    lines += ["", *render_valhalla(fig)]
    lines += ["", "  peak memory (fresh process each, ru_maxrss):"]
    for key, mem in fig["peak_memory_mb"].items():
        lines.append("  " + memory_row(f"ours {key}, {n:,} facilities", mem))
    return lines


def render_valhalla(fig: dict[str, Any]) -> list[str]:
    per = fig["per_facility_ms"]
    many = fig["ours_raster_many"]
    scaled = f" (extrapolated from {many['facilities']:,})" if many["facilities"] != N_MANY else ""
    lines = [
        f"  ours per facility ({fig['facilities']:,} fac. x 3 bands): exact {per['exact']:.2f} ms,"
        f" raster {CELL_M:g} m {per['raster']:.2f} ms; 10,000 facilities (raster):"
        f" {fmt_s(many['for_10k_s'])}{scaled}"
        f" [goal < {GOAL_MANY_S:g} s: {'met' if many['for_10k_s'] < GOAL_MANY_S else 'NOT met'}]",
    ]
    v = fig["valhalla"]
    if "error" in v:
        return [*lines, f"  Valhalla: not run: {v['error']}"]
    lines.append(
        f"  Valhalla {v['package']} {v['version']} (tiles built in {v['tiles_build_s']:.1f} s,"
        f" not timed), {v['facilities']} facilities, one isochrone request each, interleaved:"
    )
    for name in ("valhalla", "ours_raster", "ours_exact"):
        stats = v[name]
        text = stats.get("error") or f"{stats['per_facility_ms']:.2f} ms per facility"
        lines.append(f"    {name:<12} {text}")
    raster_x = v.get("speedup_raster_vs_valhalla")
    lines.append(
        f"    ours raster vs Valhalla: {fmt_x(raster_x)}; ours exact vs Valhalla:"
        f" {fmt_x(v.get('speedup_exact_vs_valhalla'))}"
        f"  [goal raster faster: {'met' if raster_x and raster_x > 1 else 'NOT met'}]"
    )
    rounds = v.get("speedup_raster_vs_valhalla_per_round")
    if rounds:
        lines.append(
            f"    ours raster vs Valhalla in each round: median {fmt_x(rounds['median'])}"
            f" ({fmt_x(rounds['min'])}-{fmt_x(rounds['max'])}, {rounds['rounds']} rounds);"
            f" in CPU time: {fmt_x(v.get('speedup_raster_vs_valhalla_cpu'))}"
        )
    for who in ("valhalla_errors", "ours_raster_errors"):
        if who not in v:
            continue
        lines.append(
            f"    {who.removesuffix('_errors')} polygons vs our exact ones"
            " (median [p25-p75] over facilities, % of area):"
        )
        for band, e in v[who].items():
            o, m = e["area_not_within_buffer_pct"], e["misses_of_ours_pct"]
            lines.append(
                f"      {band:>7}: {o['median']:5.1f} % [{o['p25']:.1f}-{o['p75']:.1f}] farther"
                f" than {fig['buffer_m']:g} m from any reached point; leaves out"
                f" {m['median']:4.1f} % [{m['p25']:.1f}-{m['p75']:.1f}] of ours"
            )
    return lines


def valhalla_only(shared: Path, *, repeat: int, seed: int) -> dict[str, Any]:
    """The section's Valhalla comparison (:func:`bench_valhalla`, the same 200 facilities) and
    its 10,000-facility raster run, without the rest of the section (minutes of osmnx)."""
    import tempfile

    pbf = shared / "data" / "osm" / bench.PBF_NAME
    with tempfile.TemporaryDirectory(prefix="bench-valhalla-") as tmp:
        ctx = Context(
            pbf=pbf, tmp=Path(tmp), repeat=repeat, quick=False, run_osmnx=False, seed=seed
        )
        net = ctx.net
        _ = net.adjacency, net.xy
        _segment_index(net)
        _, fac = facilities_on_nodes(net, N_FACILITIES, seed)
        out = bench_valhalla(ctx, net, fac.iloc[:VALHALLA_SAMPLE])
    _, many_fac = facilities_on_nodes(net, N_MANY, seed + 1)
    many, _ = bench.time_runs(
        lambda: facility_isochrones(net, many_fac, minutes=MINUTES, cell_m=CELL_M), 1
    )
    fig = {
        "facilities": VALHALLA_SAMPLE,
        "buffer_m": DEFAULT_BUFFER_M,
        "valhalla": out,
        "per_facility_ms": {
            key: out[name].get("per_facility_ms", float("nan"))
            for key, name in (("exact", "ours_exact"), ("raster", "ours_raster"))
        },
        "ours_raster_many": {**many, "facilities": N_MANY, "for_10k_s": many["median_s"]},
    }
    print("\n".join(render_valhalla(fig)))
    return fig


def main(argv: list[str] | None = None) -> int:
    """``scripts/bench.py --only isochrones`` plus any other options given; with
    ``--valhalla-only [--shared DIR] [--json PATH]``, :func:`valhalla_only` alone."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--valhalla-only" in args:
        import argparse

        parser = argparse.ArgumentParser(description=valhalla_only.__doc__)
        parser.add_argument("--valhalla-only", action="store_true")
        parser.add_argument("--shared", type=Path, default=bench.REPO.parent / "shared")
        parser.add_argument("--repeat", type=int, default=VALHALLA_ROUNDS)
        parser.add_argument("--seed", type=int, default=20240611)
        parser.add_argument("--json", type=Path, default=None)
        opts = parser.parse_args(args)
        fig = valhalla_only(opts.shared, repeat=opts.repeat, seed=opts.seed)
        if opts.json is not None:
            opts.json.write_text(json.dumps(fig, indent=1, default=str), encoding="utf-8")
        return 0
    if "--only" not in args:
        args += ["--only", "isochrones"]
    return bench.main(args)


if __name__ == "__main__":
    sys.exit(main())
