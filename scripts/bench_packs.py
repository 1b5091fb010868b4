"""Benchmark section "packs": every rule pack in one audit (``--pack all``) against each alone.

A section of ``scripts/bench.py`` (``bench_packs(ctx)`` returns the figures, ``render_packs(fig)``
the extra lines); run it with ``.venv/bin/python scripts/bench.py --only packs``.

``audit_case(case, pack="all")`` shares the network, the origins, the snapping and the searches
between the packs: a category that several packs measure is searched once (to the largest
budget any of them gives it), and the catchment rules' pair distances once per category. The
goal: all packs together in under 1.5 × the time of the slowest single pack.

Cases, each audited on a network already in memory (``network=``; the network's build or cache
load is the same whatever the packs, and is left out):

- the demo case (``data/demo/case.toml``): 101 communities, 444 services;
- the city-size case of ``scripts/bench_city.py`` (Heidelberg tiled 3 × 2, ~1,000,000 nodes,
  ~8,500 services, ~200,000 population points), with the services' categories drawn from every
  category of every shipped pack (not only the Wuhan pack's), and an ``area_m2`` for the
  categories the area rules measure. ``--quick``: 2 × 1 tiles.

Per case: every pack alone and all packs at once, alternating in every round (background load
on a shared machine hits all alike); median (min-max). Reported: ``all`` / slowest single pack
and ``all`` / sum of the single packs.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from bench import REPO, Context, fmt_s, ratio, row, time_interleaved

DEMO = REPO / "data" / "demo" / "case.toml"
GOAL_VS_SLOWEST = 1.5
MAX_REPEAT = 5
CITY_MAX_REPEAT = 3


def _audit_all_ways(case: Any, net: Any, repeat: int) -> dict[str, Any]:
    from coverage.audit import audit_case
    from coverage.rules import list_packs

    fns = {name: (lambda n=name: audit_case(case, pack=n, network=net)) for name in list_packs()}
    fns["all"] = lambda: audit_case(case, pack="all", network=net)
    # one audit before the timing, not timed: the network's lazily built structures (its
    # chains, their search graph, the component labels: part of the network's build, which
    # is left out) and the origins' disk cache would otherwise be paid by whichever pack
    # runs first (seconds on the city case), skewing its median at 2 repeats
    audit_case(case, pack="all", network=net)
    timed = time_interleaved(fns, repeat, catch=True)
    singles = {k: v[0] for k, v in timed.items() if k != "all"}
    medians = {k: s.get("median_s") for k, s in singles.items()}
    known = {k: v for k, v in medians.items() if v is not None}
    slowest = max(known, key=known.__getitem__) if known else None
    total = sum(known.values()) if known else None
    every = timed["all"][0]
    result = timed["all"][1]
    out: dict[str, Any] = {
        "all": every,
        "single": singles,
        "slowest_single": slowest,
        "slowest_single_s": known.get(slowest) if slowest else None,
        "sum_single_s": total,
        "all_vs_slowest": ratio(every.get("median_s"), known.get(slowest) if slowest else None),
        "all_vs_sum": ratio(every.get("median_s"), total),
        "rules": len(result.pack.rules) if result is not None else None,
        "stages_all_s": dict(result.timings) if result is not None else None,
    }
    # CPU time too: on a loaded machine wall times swing more than the work they measure
    cpu = {k: s.get("cpu_median_s") for k, s in singles.items() if s.get("cpu_median_s")}
    slowest_cpu = max(cpu, key=cpu.__getitem__) if cpu else None
    out["slowest_single_cpu"] = slowest_cpu
    out["all_vs_slowest_cpu"] = ratio(
        every.get("cpu_median_s"), cpu.get(slowest_cpu) if slowest_cpu else None
    )
    out["all_vs_sum_cpu"] = ratio(every.get("cpu_median_s"), sum(cpu.values()) if cpu else None)
    out["goal_met"] = bool(
        out["all_vs_slowest"] is not None and out["all_vs_slowest"] < GOAL_VS_SLOWEST
    )
    return out


def _city_case(ctx: Context) -> tuple[Any, Any, dict[str, Any]]:
    """The city-size case of bench_city, with services of every pack's categories."""
    import bench_city
    import numpy as np

    from coverage.rules import AREA_KINDS, load_pack

    tiles = bench_city.QUICK_TILES if ctx.quick else bench_city.TILES
    scale = (tiles[0] * tiles[1]) / (bench_city.TILES[0] * bench_city.TILES[1])
    t0 = time.perf_counter()
    net, _ = bench_city.tile_network(ctx.net, tiles)
    saved = bench_city.PACK
    bench_city.PACK = "all"  # make_case draws the categories of this pack's rules
    try:
        case = bench_city.make_case(
            net,
            ctx.seed,
            round(bench_city.N_FACILITIES * scale),
            round(bench_city.N_ORIGINS * scale),
        )
    finally:
        bench_city.PACK = saved
    every = load_pack("all")
    areal = {r.category for r in every.rules if r.kind in AREA_KINDS and r.category}
    rng = np.random.default_rng(ctx.seed + 1)
    services = case.services
    services["area_m2"] = np.where(
        services["category"].isin(areal),
        rng.uniform(*bench_city.SPORTS_AREA_M2, len(services)),
        np.nan,
    )
    info = {
        "tiles": list(tiles),
        "nodes": net.n_nodes,
        "communities": len(case.communities),
        "services": len(services),
        "origins": len(case.origins),
        "categories": int(services["category"].nunique()),
        "generation_s": time.perf_counter() - t0,
    }
    return case, net, info


def bench_packs(ctx: Context) -> dict[str, Any]:
    """--pack all vs each pack alone, on the demo and on the city-size case."""
    from coverage.case import Case
    from coverage.network import build_walk_network

    out: dict[str, Any] = {"goal_vs_slowest": GOAL_VS_SLOWEST}
    demo = Case.from_config(DEMO)
    assert demo.osm_path is not None
    demo_net = build_walk_network(demo.osm_path, cache=False)
    out["demo"] = _audit_all_ways(demo, demo_net, min(ctx.repeat, MAX_REPEAT))
    del demo_net
    gc.collect()
    case, net, info = _city_case(ctx)
    out["city_case"] = info
    out["city"] = _audit_all_ways(case, net, min(ctx.repeat, CITY_MAX_REPEAT))
    out["packs_all_vs_slowest_demo"] = out["demo"]["all_vs_slowest"]
    out["packs_all_vs_slowest_city"] = out["city"]["all_vs_slowest"]
    out["goal_met"] = bool(out["demo"]["goal_met"] and out["city"]["goal_met"])
    table = []
    for name in ("demo", "city"):
        fig = out[name]
        note = (
            f"{fig['rules']} rules; {fmt_x(fig['all_vs_slowest'])} the slowest single pack "
            f"({fig['slowest_single']}), {fmt_x(fig['all_vs_sum'])} their sum; goal < "
            f"{GOAL_VS_SLOWEST:g}×"
        )
        table.append(row(f"{name}: --pack all", fig["all"], note))
        for pack, stats in fig["single"].items():
            table.append(row(f"{name}:   {pack}", stats))
    out["table"] = table
    return out


def fmt_x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}×"


def render_packs(fig: dict[str, Any]) -> list[str]:
    city = fig["city_case"]
    lines = [
        f"  city case: {city['nodes']:,} nodes ({'×'.join(map(str, city['tiles']))} tiles),"
        f" {city['communities']:,} communities, {city['services']:,} services in"
        f" {city['categories']} categories, {city['origins']:,} origins"
        f" (generated in {fmt_s(city['generation_s'])}, not timed)",
    ]
    for name in ("demo", "city"):
        f = fig[name]
        lines.append(
            f"  {name}: all packs {fmt_s(f['all'].get('median_s'))}; slowest single"
            f" {f['slowest_single']} {fmt_s(f['slowest_single_s'])}; sum of singles"
            f" {fmt_s(f['sum_single_s'])}; all / slowest {fmt_x(f['all_vs_slowest'])},"
            f" all / sum {fmt_x(f['all_vs_sum'])}; goal met: {f['goal_met']}"
        )
        lines.append(
            f"    CPU time: all / slowest single ({f['slowest_single_cpu']})"
            f" {fmt_x(f['all_vs_slowest_cpu'])}, all / sum {fmt_x(f['all_vs_sum_cpu'])}"
        )
        stages = f.get("stages_all_s") or {}
        if stages:
            lines.append(
                "    stages of --pack all: "
                + ", ".join(f"{k} {fmt_s(v)}" for k, v in stages.items())
            )
    return lines
