"""Benchmark section "growth": how each stage grows with the network, from 10 k to 2 M nodes.

A section of ``scripts/bench.py`` (``bench_growth(ctx)`` returns the figures,
``render_growth(fig)`` the extra lines); run it with
``.venv/bin/python scripts/bench.py --only growth``.

The networks are made from the unsimplified Heidelberg network as the ``city`` section makes
its city (``bench_city.tile_network``): below Heidelberg's size, the nodes nearest the centre of
its largest component (a compact crop, edges between kept nodes only); from its size up, copies
tiled side by side and joined at their borders. Each gets a case made like the city case
(``bench_city.make_case``), with facilities and origins in proportion to the nodes (8,500 and
200,000 per million nodes, as the city case). Per size:

- **graph from arrays**: ``_assemble`` (lengths, adjacency, components) + ``net.chains`` from
  the node and edge arrays: a build without the OSM parse, which synthetic networks do not
  have (the parse of the one real file is in the ``build`` section);
- **cached load**: ``coverage.network._load_cache`` of the network written by ``_save_cache``;
- **audit** from the cached network (``_load_cache`` + ``audit_case(case, network=net)``, all
  rules of the Wuhan pack), with its stages **snapping** (the index is built in it: a loaded
  network has none) and **search** (12 categories);
- peak memory of a fresh process loading the network and auditing (as the ``city`` section).

Timings are medians of ``min(--repeat, 3)`` runs below 500,000 nodes and of one run above.
"""

from __future__ import annotations

import gc
import pickle
import statistics
import time
from typing import Any

import numpy as np
from bench import Context, child_peak_memory, fmt_s, row, summarize, time_runs
from bench_city import _CHILD_CITY, cached_audit, make_case, tile_network

from coverage.network import WalkNetwork, _assemble, _load_cache, _ParseStats, _save_cache

#: (label, crop to this many nodes, or tile the whole network nx x ny).
SIZES: tuple[tuple[str, int | None, tuple[int, int]], ...] = (
    ("10 k", 10_000, (1, 1)),
    ("40 k", 40_000, (1, 1)),
    ("Heidelberg", None, (1, 1)),
    ("3 x 1", None, (3, 1)),
    ("3 x 2", None, (3, 2)),
    ("4 x 3", None, (4, 3)),
)
QUICK_SIZES = (*SIZES[:3], ("2 x 1", None, (2, 1)))
FACILITIES_PER_NODE = 8_500 / 1_000_000
ORIGINS_PER_NODE = 200_000 / 1_000_000
#: Sizes from this many nodes up are timed once.
ONE_RUN_FROM_NODES = 500_000
MAX_REPEAT = 3
STAGES = ("graph_from_arrays", "cached_load", "snapping", "search", "rules", "audit")


def crop_network(base: WalkNetwork, n_nodes: int) -> WalkNetwork:
    """The ``n_nodes`` nodes of ``base`` nearest the centre of its largest component."""
    xy = base.xy
    main = base.component == 0
    centre = np.median(xy[main], axis=0)
    d2 = ((xy - centre) ** 2).sum(axis=1)
    keep = np.zeros(base.n_nodes, dtype=bool)
    keep[np.argsort(d2, kind="stable")[:n_nodes]] = True
    edges = keep[base.edge_u] & keep[base.edge_v]
    rank = np.cumsum(keep) - 1  # node ids stay sorted
    return _assemble(
        base.node_id[keep],
        base.lon[keep],
        base.lat[keep],
        rank[base.edge_u[edges]],
        rank[base.edge_v[edges]],
        base.edge_way[edges],
        {},
        source=f"Heidelberg, {n_nodes:,} central nodes",
        stats=_ParseStats(),
        started=time.perf_counter(),
    )


def graph_from_arrays(net: WalkNetwork) -> WalkNetwork:
    """What a build does after the OSM parse: lengths, adjacency, components, then the chains."""
    built = _assemble(
        net.node_id,
        net.lon,
        net.lat,
        net.edge_u,
        net.edge_v,
        net.edge_way,
        {},
        source="arrays",
        stats=_ParseStats(),
        started=time.perf_counter(),
    )
    _ = built.chains
    return built


def bench_growth(ctx: Context) -> dict[str, Any]:
    """Each stage's time and the audit's peak memory for networks of 10 k to 2 M nodes."""
    sizes = QUICK_SIZES if ctx.quick else SIZES
    folder = ctx.tmp / "growth"
    folder.mkdir(parents=True, exist_ok=True)
    base = ctx.net
    out: dict[str, Any] = {"seed": ctx.seed, "base_nodes": base.n_nodes, "sizes": []}
    for label, crop, tiles in sizes:
        if crop is not None:
            net = crop_network(base, crop)
        else:
            net, _ = tile_network(base, tiles)
        n = net.n_nodes
        repeat = 1 if n >= ONE_RUN_FROM_NODES else min(ctx.repeat, MAX_REPEAT)
        case = make_case(
            net,
            ctx.seed,
            max(24, round(FACILITIES_PER_NODE * n)),
            max(500, round(ORIGINS_PER_NODE * n)),
        )
        entry: dict[str, Any] = {
            "label": label,
            "nodes": n,
            "edges": net.n_edges,
            "repeats": repeat,
            "services": len(case.services),
            "origins": len(case.origins),
            "communities": len(case.communities),
        }
        built, _ = time_runs(lambda net=net: graph_from_arrays(net), repeat)
        entry["graph_from_arrays"] = built
        cache_file = folder / f"network-{n}.npz"
        _save_cache(net, cache_file)
        entry["cache_file_mb"] = cache_file.stat().st_size / 1e6
        del net
        gc.collect()
        cached, _ = time_runs(
            lambda f=cache_file: _load_cache(f, source="growth", started=time.perf_counter()),
            repeat,
        )
        entry["cached_load"] = cached
        walls: list[float] = []
        stages: list[dict[str, float]] = []
        for _ in range(repeat):
            gc.collect()
            t0 = time.perf_counter()
            result, load_s = cached_audit(case, cache_file)
            walls.append(time.perf_counter() - t0)
            stages.append({"network_cache_load": load_s, **result.timings})
            del result
        entry["audit"] = summarize(walls)
        for stage in ("snapping", "search", "rules"):
            entry[stage] = summarize([s[stage] for s in stages])
        case_file = folder / f"case-{n}.pickle"
        with case_file.open("wb") as fh:
            pickle.dump(case, fh, protocol=pickle.HIGHEST_PROTOCOL)
        del case
        gc.collect()
        entry["peak_memory_mb"] = child_peak_memory(_CHILD_CITY, str(case_file), str(cache_file))
        cache_file.unlink()
        case_file.unlink()
        out["sizes"].append(entry)
        print(
            f"  growth {label}: {n:,} nodes; audit {fmt_s(entry['audit']['median_s'])},"
            f" peak {entry['peak_memory_mb'].get('peak_mb', float('nan')):.0f} MB",
            flush=True,
        )

    # time per million nodes, smallest vs largest size: 1.0 is linear growth
    first, last = out["sizes"][0], out["sizes"][-1]
    out["per_million_nodes_s"] = {
        stage: {
            e["label"]: e[stage]["median_s"] / e["nodes"] * 1e6
            for e in out["sizes"]
            if "median_s" in e[stage]
        }
        for stage in STAGES
    }
    out["growth_exponent"] = {
        stage: float(
            np.log(last[stage]["median_s"] / first[stage]["median_s"])
            / np.log(last["nodes"] / first["nodes"])
        )
        for stage in STAGES
    }
    out["table"] = [
        row(
            f"[{e['label']}, {e['nodes']:,} nodes] {stage}",
            e[stage],
            f"{e['origins']:,} origins, {e['services']:,} services" if stage == "audit" else "",
        )
        for e in out["sizes"]
        for stage in STAGES
    ]
    return out


def render_growth(fig: dict[str, Any]) -> list[str]:
    """The growth table: one line per size, one column per stage, then the peak memory."""
    head = "".join(f"{s:>19}" for s in STAGES)
    lines = ["", f"  {'nodes':>11}{head}{'peak MB':>10}"]
    for e in fig["sizes"]:
        cells = "".join(f"{fmt_s(e[s]['median_s']):>19}" for s in STAGES)
        peak = e["peak_memory_mb"].get("peak_mb")
        lines.append(f"  {e['nodes']:>11,}{cells}{'-' if peak is None else f'{peak:.0f}':>10}")
    lines.append(
        "  growth exponent (log time ratio / log size ratio, smallest to largest; 1 = linear): "
        + ", ".join(f"{s} {v:.2f}" for s, v in fig["growth_exponent"].items())
    )
    med = statistics.median
    per_m = fig["per_million_nodes_s"]["audit"]
    lines.append(f"  audit seconds per million nodes: median {med(per_m.values()):.2f}")
    return lines
