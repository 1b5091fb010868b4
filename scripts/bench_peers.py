"""Benchmark section "peers": the osmnx isochrone example on the graph its users load.

A section of ``scripts/bench.py`` (``bench_peers(ctx)`` returns the figures, ``render_peers(fig)``
the extra lines); run it with ``.venv/bin/python scripts/bench.py --only peers``.

The ``isochrones`` section runs the osmnx isochrone example on the *unsimplified* osmnx graph of
our network, where ``nx.ego_graph`` walks every interstitial node. An osmnx user has the
simplified graph (``ox.simplify_graph``: junctions and dead ends only, each edge with its
geometry and summed length), on which the example is much faster. This section times the
example's edge-buffer polygons (``make_iso_polys``, ``bench_isochrones.example_iso_polys``) on
that graph, projected to the network's UTM zone, against ours
(:func:`coverage.isochrones.facility_isochrones` on our network) for the same facilities:
nodes kept by the simplification (so both start exactly there), 3 bands of 5/10/15 min at
4 km/h, buffer 30 m. The example and ours run on the same sample, alternately in every round
(the measured ratio); ours also runs on all the facilities and the example's sample time is
scaled to them (the extrapolated ratio, as the ``isochrones`` section's headline).

:func:`isochrones_vs_example_on_simplified_graph` is the whole measurement, callable from the
``isochrones`` section as ``isochrones_vs_example_on_simplified_graph(ctx)``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import Context, child_peak_memory, fmt_x, memory_row, ratio, row, time_interleaved
from bench_isochrones import MINUTES, WALK_SPEED_KMH, example_iso_polys

from coverage.isochrones import DEFAULT_BUFFER_M, facility_isochrones
from coverage.rules import minutes_to_m

N_FACILITIES = 1000
EXAMPLE_SAMPLE = 50

_CHILD_EXAMPLE_SIMPLIFIED = """
import numpy as np
import osmnx as ox
sys.path.insert(0, "scripts")
from bench_isochrones import example_iso_polys
from coverage.network import build_walk_network
after = rss_mb()
net = build_walk_network(sys.argv[1], cache=False)
graph = ox.project_graph(net.to_networkx(simplify=True), to_crs=net.metric_crs)
ids = [int(i) for i in sys.argv[2].split(",")]
budgets = [float(b) for b in sys.argv[3].split(",")]
for i in ids:
    example_iso_polys(graph, i, budgets, edge_buff=float(sys.argv[4]), node_buff=float(sys.argv[4]))
report(after, facilities=len(ids))
"""


def isochrones_vs_example_on_simplified_graph(ctx: Context) -> dict[str, Any]:
    """Ours vs the osmnx example's edge-buffer isochrones on the osmnx-simplified graph."""
    import geopandas as gpd
    import osmnx as ox

    net = ctx.net
    n_fac = 200 if ctx.quick else N_FACILITIES
    sample_n = 10 if ctx.quick else EXAMPLE_SAMPLE
    repeat = 1 if ctx.quick else min(ctx.repeat, 2)
    budgets = [minutes_to_m(m, WALK_SPEED_KMH) for m in MINUTES]
    out: dict[str, Any] = {"facilities": n_fac, "sample": sample_n, "buffer_m": DEFAULT_BUFFER_M}

    t0 = time.perf_counter()
    graph = ox.project_graph(net.to_networkx(simplify=True), to_crs=net.metric_crs)
    out["example_graph_build_s"] = time.perf_counter() - t0
    out["graph"] = {"nodes": len(graph), "edges": graph.number_of_edges()}
    kept = np.searchsorted(net.node_id, np.fromiter(graph.nodes, dtype=np.int64))
    rng = np.random.default_rng(ctx.seed)
    nodes = rng.choice(kept, size=n_fac, replace=False)
    fac = gpd.GeoDataFrame(
        {"service_id": nodes.astype(str)},
        geometry=gpd.points_from_xy(net.lon[nodes], net.lat[nodes]),
        crs=4326,
    )
    ids = [int(net.node_id[n]) for n in nodes[:sample_n]]
    sample_fac = fac.iloc[:sample_n]
    _ = facility_isochrones(net, sample_fac, minutes=MINUTES)  # one-off set-ups out of timings

    def example() -> list[Any]:
        return [
            example_iso_polys(
                graph, i, budgets, edge_buff=DEFAULT_BUFFER_M, node_buff=DEFAULT_BUFFER_M
            )
            for i in ids
        ]

    timed = time_interleaved(
        {
            "example_simplified": example,
            "ours_sample": lambda: facility_isochrones(net, sample_fac, minutes=MINUTES),
            "ours_all": lambda: facility_isochrones(net, fac, minutes=MINUTES),
        },
        repeat,
    )
    runs = {name: stats for name, (stats, _) in timed.items()}
    out["runs"] = runs
    scale = n_fac / sample_n
    example_s = runs["example_simplified"].get("median_s")
    out["example_extrapolated_to_all_s"] = None if example_s is None else example_s * scale
    out["speedup_vs_example_simplified_graph"] = ratio(
        out["example_extrapolated_to_all_s"], runs["ours_all"].get("median_s")
    )
    out["speedup_vs_example_simplified_graph_on_sample"] = ratio(
        example_s, runs["ours_sample"].get("median_s")
    )
    out["peak_memory_mb"] = {
        "example_simplified_graph": child_peak_memory(
            _CHILD_EXAMPLE_SIMPLIFIED,
            str(ctx.pbf),
            ",".join(map(str, ids)),
            ",".join(map(str, budgets)),
            str(DEFAULT_BUFFER_M),
        )
    }
    out["table"] = [
        row(
            f"osmnx example, edge buffers, simplified graph, {sample_n} fac. x 3",
            runs["example_simplified"],
            f"{out['graph']['nodes']:,} nodes; EXTRAPOLATED x {scale:g} for the headline",
        ),
        row(f"ours facility_isochrones, same {sample_n} fac. x 3", runs["ours_sample"]),
        row(f"ours facility_isochrones, {n_fac:,} fac. x 3", runs["ours_all"]),
    ]
    return out


def bench_peers(ctx: Context) -> dict[str, Any]:
    """The section: the isochrone example on the simplified graph."""
    return isochrones_vs_example_on_simplified_graph(ctx)


def render_peers(fig: dict[str, Any]) -> list[str]:
    return [
        f"  speedup_vs_example_simplified_graph {fmt_x(fig['speedup_vs_example_simplified_graph'])}"
        f" (example's {fig['sample']} facilities extrapolated to {fig['facilities']:,});"
        f" measured on the same {fig['sample']}:"
        f" {fmt_x(fig['speedup_vs_example_simplified_graph_on_sample'])}",
        "  peak memory (fresh process, ru_maxrss; includes our build and the conversion):",
        "  "
        + memory_row(
            "example on the simplified graph", fig["peak_memory_mb"]["example_simplified_graph"]
        ),
    ]
