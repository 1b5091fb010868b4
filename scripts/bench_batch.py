"""Benchmark section "batch": a batch of 8 demo cases on 1 and 2 Dask workers.

A section of ``scripts/bench.py`` (``bench_batch(ctx)`` returns the figures, ``render_batch(fig)``
the extra lines); run it with ``.venv/bin/python scripts/bench.py --only batch``.

Each case is the full demo case (``data/demo/case.toml`` and its files: the central-Chengdu
communities, streets, services, walking network and buildings) copied into its own folder, so
the 8 cases are equal and independent work. Every run uses ``force=True`` (nothing is skipped)
and no map; the network is built once (into a scratch cache) before the first run and every
task loads it from that cache. The worker counts alternate in every round, so background load
on a shared machine hits both alike. Reported per worker count: the batch's wall time
(including starting the local cluster), median (min-max) over the rounds, the summed task time
on the workers and the speed-up over one worker. Also reported: the time to build the demo
network from the OSM file and to load it from the cache (what each task pays instead).
"""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from bench import REPO, Context, row, summarize

DEMO = REPO / "data" / "demo"
CASES = 8
QUICK_CASES = 4
WORKERS = (1, 2)
MAX_REPEAT = 3


def make_cases(root: Path, n: int) -> list[Path]:
    """``n`` copies of the demo case, each in its own folder with its own copy of every input.

    Separate files (same contents) keep the cases independent, like the districts of a real
    batch: the network cache is keyed by content and shared, but nothing one task reads from
    its files is reused by the next task on the same worker.
    """
    text = (DEMO / "case.toml").read_text(encoding="utf-8")
    inputs = (
        "chengdu-center.osm.bz2",
        "streets.geojson",
        "communities.geojson",
        "services.geojson",
    )
    paths = []
    for i in range(n):
        folder = root / f"district{i + 1:02d}"
        folder.mkdir(parents=True)
        for name in inputs:
            shutil.copyfile(DEMO / name, folder / name)
        path = folder / "case.toml"
        path.write_text(text.replace("（演示）", f"（演示 {i + 1}）"), encoding="utf-8")
        paths.append(path)
    return paths


def network_times(cache: Path, repeat: int) -> dict[str, Any]:
    """Building the demo network from its OSM file vs loading it from the cache."""
    from coverage.network import build_walk_network

    osm = DEMO / "chengdu-center.osm.bz2"
    build, load = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        build_walk_network(osm, cache=False)
        build.append(time.perf_counter() - t0)
        build_walk_network(osm, cache_dir=cache)  # make sure it is cached
        t0 = time.perf_counter()
        build_walk_network(osm, cache_dir=cache)
        load.append(time.perf_counter() - t0)
    return {"build": summarize(build), "cache_load": summarize(load)}


def bench_batch(ctx: Context) -> dict[str, Any]:
    """``batch_audit`` of equal demo cases on 1 and 2 local Dask workers, alternated."""
    from coverage.batch import batch_audit

    n_cases = QUICK_CASES if ctx.quick else CASES
    repeat = 1 if ctx.quick else min(ctx.repeat, MAX_REPEAT)
    root = ctx.tmp / "batch"
    cache = root / "cache"
    configs = make_cases(root / "cases", n_cases)
    out: dict[str, Any] = {"cases": n_cases, "workers": list(WORKERS), "repeat": repeat}
    out["network"] = network_times(cache, max(repeat, 3))

    walls: dict[int, list[float]] = {n: [] for n in WORKERS}
    task_s: dict[int, list[float]] = {n: [] for n in WORKERS}
    for r in range(repeat):
        for n in WORKERS:
            t0 = time.perf_counter()
            result = batch_audit(
                configs, root / f"out-{n}-{r}", workers=n, cache_dir=cache, force=True
            )
            wall = time.perf_counter() - t0
            if result.failed:
                msg = f"batch on {n} worker(s) failed: {result.failed}"
                raise RuntimeError(msg)
            walls[n].append(wall)
            task_s[n].append(sum(c["seconds"] for c in result.ok))
    base = statistics.median(walls[WORKERS[0]])
    base_min = min(walls[WORKERS[0]])
    rows = []
    for n in WORKERS:
        med = statistics.median(walls[n])
        rows.append(
            {
                "workers": n,
                **summarize(walls[n]),
                "sum_task_s_median": statistics.median(task_s[n]),
                "speedup": base / med,
                "speedup_best": base_min / min(walls[n]),
            }
        )
    out["rows"] = rows
    out["batch_speedup_2_workers"] = rows[-1]["speedup"]
    out["batch_speedup_2_workers_best_run"] = rows[-1]["speedup_best"]
    net = out["network"]
    out["table"] = [
        row(
            f"batch_audit, {n_cases} cases, {r['workers']} worker(s)",
            r,
            f"summed task time {r['sum_task_s_median']:.2f} s; speed-up {r['speedup']:.2f}x"
            f" (best run {r['speedup_best']:.2f}x)",
        )
        for r in rows
    ] + [
        row("demo network: build from the OSM file", net["build"]),
        row("demo network: cached load (each task)", net["cache_load"]),
    ]
    return out


def render_batch(fig: dict[str, Any]) -> list[str]:
    return [
        f"  {fig['cases']} copies of the demo case, force=True, no map; local cluster, one"
        " thread per worker; wall time includes starting the cluster",
        f"  batch_speedup_2_workers {fig['batch_speedup_2_workers']:.2f}x (1-worker median /"
        f" 2-worker median; best runs: {fig['batch_speedup_2_workers_best_run']:.2f}x)",
    ]
