"""Benchmarks of service-coverage, against osmnx, pyrosm, networkx and pandana (its peers).

Usage::

    .venv/bin/python scripts/bench.py [--shared ../shared] [--repeat 5] [--json PATH]
                                      [--quick] [--only build,query,...] [--osmnx | --no-osmnx]

Input: ``<shared>/data/osm/heidelberg.osm.pbf`` and the demo case ``data/demo/case.toml``.
Every timing is run ``--repeat`` times (fewer where a section says so) and reported as median
(min-max). Sections (``--only``), one function each, registered in :data:`SECTIONS`:

``build``
    our network build (``build_walk_network(pbf, cache=False)``) against, alternately in every
    round: the bare pyosmium read with the same filter (the floor), pyrosm on the same PBF
    (default, and ``nodes=True``: the same graph), ``osmnx.graph_from_xml`` on the same data
    converted once to OSM XML (simplified and not), and ours turned into the simplified osmnx
    graph; our cached load; peak memory of every build.
``query``
    "distance from every network node to its nearest facility within 1,000 m" for 50, 500 and
    5,000 facilities placed exactly on random network nodes: ours (snapping + one multi-source
    search), networkx multi-source Dijkstra, pandana (contraction hierarchies) and one networkx
    search per facility (the osmnx isochrone example's approach); largest differences in metres
    against ours; then pandana on the osmnx-simplified graph (its users' input), 5,000
    facilities in 1 and in 12 categories; peak memory of ours and pandana.
``query-simplified``
    only that last comparison (pandana on the osmnx-simplified graph), to rerun it alone.
``audit``
    the whole audit of the demo case (``Case.from_config`` + ``audit_case``, every rule and
    category of the Wuhan pack) with a warm network cache: wall time, time per stage, peak
    memory of a fresh process; one run with a cold cache (network built from the OSM file).
``isochrones`` (``scripts/bench_isochrones.py``)
    isochrone polygons of 1,000 facilities vs the osmnx isochrone example, and how much area
    the example's polygons claim or miss.
``batch`` (``scripts/bench_batch.py``)
    a batch of 8 copies of the demo case on a local Dask cluster of 1 and 2 workers.
``city`` (``scripts/bench_city.py``)
    the audit of a city-size case (~1,000,000 network nodes, Heidelberg tiled 3 x 2) from a
    cached network: wall time, stages, peak memory of a fresh process.
``maps`` (``scripts/bench_maps.py``)
    the planner's HTML map: file size and time, demo and a Heidelberg-size case.

``peers`` (``scripts/bench_peers.py``)
    the osmnx isochrone example on the osmnx-simplified graph vs ours.
``packs`` (``scripts/bench_packs.py``)
    every rule pack in one audit (``--pack all``) against each pack alone and their sum, on
    the demo and on the city-size case; goal: all packs < 1.5 × the slowest single pack.
``growth`` (``scripts/bench_growth.py``)
    each stage (graph from arrays, cached load, snapping, search, rules, audit) and the audit's
    peak memory on networks of 10 k to 2 M nodes made from Heidelberg.
``plan`` (``scripts/bench_plan.py``)
    补短板 planning: the demo (every W1 category: time, peak memory, sites exact vs greedy,
    spopt's LSCP on the full-coverage form) and one category of the city-size case.

Headline keys name the peer's input (``build_speedup_vs_pyrosm_pbf_nodes``,
``query12_speedup_vs_pandana_simplified_graph``, ...); see ``docs/benchmarks.md``.

``--quick`` is a smoke run of every section (2 repeats, smaller samples and cases, no osmnx
build unless ``--osmnx``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import gc
import importlib
import importlib.metadata
import io
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from bench_baselines import bare_pyosmium_walk_read

from coverage.access import node_distances
from coverage.network import WalkNetwork, build_walk_network
from coverage.snapping import _segment_index, snap_points

REPO = Path(__file__).resolve().parents[1]
PBF_NAME = "heidelberg.osm.pbf"
CUTOFF_M = 1000.0
SIZES = (50, 500, 5000)
#: Size whose pandana ratio is the headline ``query_speedup_vs_pandana`` (fixed in advance: the
#: largest workload, where our single search has to cover most of the network).
HEADLINE_SIZE = 5000
#: The per-facility (one search per facility) method runs in full up to this many facilities;
#: above it a random sample is timed and the time scaled linearly ("extrapolated").
PER_FACILITY_FULL_MAX = 500
OSMNX_MAX_REPEAT = 3
#: When a method reaches nodes that ours does not, ours is rerun (untimed) with this much more
#: cutoff to show how far beyond the cutoff those nodes really are.
EXPLAIN_MARGIN_M = 5.0
GOALS = {
    "build_speedup_vs_osmnx": 20.0,
    "cache_speedup_vs_build": 10.0,
    "build_ratio_to_bare_pyosmium_pbf": 3.0,
}
DEMO_CASE = REPO / "data" / "demo" / "case.toml"
#: Stages of an audit, in order: ``load`` is Case.from_config, the rest ``AuditResult.timings``.
AUDIT_STAGES = ("load", "network", "origins", "snapping", "search", "rules")
GOAL_DEMO_AUDIT_S = 5.0
RESULT_MARK = "BENCH_RESULT "


# ---- helpers -------------------------------------------------------------------------------


@dataclasses.dataclass
class Context:
    """What every section needs: options, input file, a scratch directory, the network."""

    pbf: Path
    tmp: Path
    repeat: int
    quick: bool
    run_osmnx: bool
    seed: int

    @cached_property
    def net(self) -> WalkNetwork:
        """Our network of the input file (built once, not from the cache)."""
        return build_walk_network(self.pbf, cache=False)


def summarize(wall: list[float], cpu: list[float] | None = None) -> dict[str, Any]:
    """Median, min and max of a list of run times (seconds)."""
    out: dict[str, Any] = {
        "median_s": statistics.median(wall),
        "min_s": min(wall),
        "max_s": max(wall),
        "repeats": len(wall),
        "runs_s": wall,
    }
    if cpu is not None:
        out["cpu_median_s"] = statistics.median(cpu)
    return out


def time_interleaved(
    fns: dict[str, Callable[[], Any]],
    repeat: int,
    *,
    catch: bool = True,
    max_repeat: dict[str, int] | None = None,
) -> dict[str, tuple[dict[str, Any], Any]]:
    """Run every method ``repeat`` times, alternating them in every round.

    Returns, per method, its wall and CPU (process, all threads) time summary and its last
    result. On a shared machine, background load then hits every method alike instead of
    whichever happened to run at that moment. With ``catch``, a method that raises is dropped
    and its error (verbatim) is returned in place of its timings. ``max_repeat`` caps the runs
    of slow methods: they run in the first rounds only, still alternating with the others.
    """
    caps = max_repeat or {}
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    last: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for round_ in range(repeat):
        for name, fn in fns.items():
            if name in errors or round_ >= caps.get(name, repeat):
                continue
            gc.collect()
            c0 = time.process_time()
            t0 = time.perf_counter()
            try:
                last[name] = fn()
            except Exception as exc:  # report whatever a third-party method raises
                if not catch:
                    raise
                errors[name] = f"{type(exc).__name__}: {exc}"
                continue
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {
        name: ({"error": errors[name]}, None)
        if name in errors
        else (summarize(wall[name], cpu[name]), last[name])
        for name in fns
    }


def time_runs(fn: Callable[[], Any], repeat: int) -> tuple[dict[str, Any], Any]:
    """Run ``fn`` ``repeat`` times: wall and CPU time summary, last result (errors propagate)."""
    return time_interleaved({"run": fn}, repeat, catch=False)["run"]


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence C/C++ code that prints to file descriptor 1 (pandana's progress messages)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with Path(os.devnull).open("w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def fmt_s(seconds: float | None) -> str:
    """Seconds as a readable duration."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 1.0:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def ratio(slow: float | None, fast: float | None) -> float | None:
    """``slow / fast``, None when either is missing."""
    if slow is None or fast is None or fast <= 0:
        return None
    return slow / fast


def fmt_x(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}×"


def row(what: str, stats: dict[str, Any] | None, note: str = "") -> dict[str, Any]:
    """One line of a section's timing table."""
    if stats is None or "median_s" not in stats:
        error = (stats or {}).get("error") or (stats or {}).get("skipped") or "not run"
        return {
            "what": what,
            "median_s": None,
            "min_s": None,
            "max_s": None,
            "repeats": 0,
            "cpu_median_s": None,
            "note": f"{note}; {error}" if note else error,
        }
    return {
        "what": what,
        "median_s": stats["median_s"],
        "min_s": stats["min_s"],
        "max_s": stats["max_s"],
        "repeats": stats["repeats"],
        "cpu_median_s": stats.get("cpu_median_s"),
        "note": note,
    }


def child_peak_memory(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it prints ``RESULT_MARK`` + JSON with its ru_maxrss."""
    prelude = f"""
import json, resource, sys
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def report(after_imports_mb, **extra):
    # VmHWM (the address space's own high-water mark) cross-checks ru_maxrss
    with open("/proc/self/status") as fh:
        hwm = [int(ln.split()[1]) / 1024 for ln in fh if ln.startswith("VmHWM:")]
    out = {{"after_imports_mb": after_imports_mb, "peak_mb": rss_mb(),
            "vmhwm_mb": hwm[0] if hwm else None, **extra}}
    print({RESULT_MARK!r} + json.dumps(out))
"""
    started = time.perf_counter()
    # On Linux a process's ru_maxrss survives execve and starts at the RSS of the address space
    # it replaced: a child forked straight from this (large) process would report at least our
    # own peak. A tiny launcher interpreter forks the measured child instead.
    launcher = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-c", launcher, sys.executable, "-c", prelude + code, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=900,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARK)]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"child exited {proc.returncode}: " + " | ".join(tail)}
    out: dict[str, Any] = json.loads(lines[-1][len(RESULT_MARK) :])
    out["child_wall_s"] = time.perf_counter() - started
    return out


def memory_row(what: str, mem: dict[str, Any]) -> str:
    if "error" in mem:
        return f"  {what:<44} {mem['error']}"
    return (
        f"  {what:<44} peak {mem['peak_mb']:8.1f} MB"
        f"   (after imports {mem['after_imports_mb']:.1f} MB;"
        f" VmHWM {mem['vmhwm_mb']:.1f} MB)"
    )


# ---- section: build ------------------------------------------------------------------------

_CHILD_OURS_BUILD = """
from coverage.network import build_walk_network
after = rss_mb()
net = build_walk_network(sys.argv[1], cache=False)
report(after, nodes=net.n_nodes)
"""

_CHILD_OSMNX_BUILD = """
import osmnx as ox
after = rss_mb()
G = ox.graph_from_xml(sys.argv[1], bidirectional=True, simplify=sys.argv[2] == "1")
report(after, nodes=len(G))
"""

_CHILD_OURS_SIMPLIFIED = """
from coverage.network import build_walk_network
after = rss_mb()
G = build_walk_network(sys.argv[1], cache=False).to_networkx(simplify=True)
report(after, nodes=len(G))
"""

_CHILD_PYROSM_BUILD = """
import pyrosm
after = rss_mb()
got = pyrosm.OSM(sys.argv[1]).get_network(network_type="walking", nodes=sys.argv[2] == "1")
report(after, rows=[len(frame) for frame in (got if isinstance(got, tuple) else (got,))])
"""

_CHILD_BARE_PYOSMIUM = """
sys.path.insert(0, "scripts")
from bench import bare_pyosmium_walk_read
after = rss_mb()
refs = bare_pyosmium_walk_read(sys.argv[1])
report(after, node_refs=len(refs) // 3)
"""


def pyrosm_walk_read(path: str | os.PathLike[str], *, nodes: bool = False) -> Any:
    """pyrosm's walking network of the same PBF.

    By default (``nodes=False``, pyrosm's default) one row per way, no nodes: not yet a graph
    to route on. With ``nodes=True`` the ways are split at every node into segments and the
    nodes returned too: the same graph as ours (one edge per way segment).
    """
    import pyrosm

    with contextlib.redirect_stdout(io.StringIO()):  # pyrosm prints how long the read took
        return pyrosm.OSM(str(path)).get_network(network_type="walking", nodes=nodes)


def pbf_to_xml(pbf: Path, xml: Path) -> None:
    """Copy every object of ``pbf`` into an uncompressed OSM XML file (osmnx reads only XML)."""
    import osmium

    with osmium.SimpleWriter(str(xml), overwrite=True) as writer:
        for obj in osmium.FileProcessor(str(pbf)):
            writer.add(obj)


#: Build-section methods: key -> label (the peer's input is part of the label).
BUILD_METHODS = {
    "ours": "ours: build_walk_network(pbf, cache=False)",
    "bare_pyosmium": "floor: bare pyosmium read of the PBF, same filter",
    "pyrosm": "pyrosm: OSM(pbf).get_network('walking')",
    "pyrosm_nodes": "pyrosm: same, nodes=True (the same graph)",
    "ours_simplified": "ours: build + to_networkx(simplify=True)",
    "osmnx_xml_simplified": "osmnx: graph_from_xml(xml) (simplifies)",
    "osmnx_xml_unsimplified": "osmnx: graph_from_xml(xml, simplify=False)",
}


def bench_build(ctx: Context) -> dict[str, Any]:
    """Network build: ours vs the bare pyosmium read, pyrosm and osmnx; our cached load.

    Every method runs alternately in every round (osmnx in the first ``OSMNX_MAX_REPEAT``
    rounds only, the others in all of them).
    """
    out: dict[str, Any] = {"input": str(ctx.pbf)}
    methods: dict[str, Callable[[], Any]] = {
        "ours": lambda: build_walk_network(ctx.pbf, cache=False),
        "bare_pyosmium": lambda: bare_pyosmium_walk_read(ctx.pbf),
    }
    try:
        import pyrosm  # noqa: F401

        methods["pyrosm"] = lambda: pyrosm_walk_read(ctx.pbf)
        methods["pyrosm_nodes"] = lambda: pyrosm_walk_read(ctx.pbf, nodes=True)
    except ImportError as exc:
        out["pyrosm_skipped"] = f"pyrosm not installed ({exc}); pip install -e '.[bench]'"
    caps: dict[str, int] = {}
    xml = ctx.tmp / "heidelberg.osm"
    if ctx.run_osmnx:
        import osmnx as ox

        t0 = time.perf_counter()
        pbf_to_xml(ctx.pbf, xml)
        out["xml_conversion_s"] = time.perf_counter() - t0
        out["xml_mb"] = xml.stat().st_size / 1e6
        osmnx_repeat = min(ctx.repeat, 1 if ctx.quick else OSMNX_MAX_REPEAT)
        # what an osmnx user gets: the simplified graph. Ours: build + convert + simplify.
        methods["ours_simplified"] = lambda: build_walk_network(ctx.pbf, cache=False).to_networkx(
            simplify=True
        )
        methods["osmnx_xml_simplified"] = lambda: ox.graph_from_xml(xml, bidirectional=True)
        methods["osmnx_xml_unsimplified"] = lambda: ox.graph_from_xml(
            xml, bidirectional=True, simplify=False
        )
        caps = {
            "ours_simplified": osmnx_repeat,
            "osmnx_xml_simplified": osmnx_repeat,
            "osmnx_xml_unsimplified": osmnx_repeat,
        }
    timed = time_interleaved(methods, ctx.repeat, max_repeat=caps)
    runs: dict[str, Any] = {name: stats for name, (stats, _) in timed.items()}
    net = timed["ours"][1]
    ours = runs["ours"]
    out["ours_build"] = ours
    out["runs"] = runs
    out["network"] = {
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "core_nodes": int(net.chains.core_nodes.size),
    }
    if timed["bare_pyosmium"][1] is not None:
        out["bare_pyosmium_node_refs"] = len(timed["bare_pyosmium"][1])
    if "pyrosm" in timed and timed["pyrosm"][1] is not None:
        out["pyrosm_edges"] = len(timed["pyrosm"][1])
    if "pyrosm_nodes" in timed and timed["pyrosm_nodes"][1] is not None:
        pyrosm_nodes, pyrosm_edges = timed["pyrosm_nodes"][1]
        out["pyrosm_graph"] = {"nodes": len(pyrosm_nodes), "edges": len(pyrosm_edges)}
    graphs = {}
    for key in ("ours_simplified", "osmnx_xml_simplified", "osmnx_xml_unsimplified"):
        graph = timed.get(key, ({}, None))[1]
        if graph is not None:
            graphs[key] = {"nodes": len(graph), "edges": graph.number_of_edges()}
    out["graphs"] = graphs
    del timed
    gc.collect()
    if not ctx.run_osmnx:
        skipped = {"skipped": "osmnx build skipped (--quick; pass --osmnx to run it)"}
        for key in ("ours_simplified", "osmnx_xml_simplified", "osmnx_xml_unsimplified"):
            runs[key] = skipped
    out["osmnx_build"] = runs["osmnx_xml_simplified"]  # the key earlier runs used

    def build_ready() -> WalkNetwork:
        # a fresh build has the adjacency and components (its report needs them) but computes
        # the chains a search runs on lazily; a cached load has all three
        built = build_walk_network(ctx.pbf, cache=False)
        _ = built.chains
        return built

    ready, _ = time_runs(build_ready, ctx.repeat)
    out["ours_build_ready"] = ready

    cache_dir = ctx.tmp / "cache"
    first = build_walk_network(ctx.pbf, cache=True, cache_dir=cache_dir)
    assert first.report is not None and not first.report.from_cache
    cached, loaded = time_runs(
        lambda: build_walk_network(ctx.pbf, cache=True, cache_dir=cache_dir), ctx.repeat
    )
    assert loaded.report is not None and loaded.report.from_cache
    assert {"adjacency", "component", "chains"} <= set(vars(loaded)), "cache restores these"
    out["ours_cached_load"] = cached
    cache_files = list(cache_dir.rglob("*.npz"))
    out["cache_file_mb"] = cache_files[0].stat().st_size / 1e6 if cache_files else None

    pbf = str(ctx.pbf)
    mem: dict[str, Any] = {
        "ours_build": child_peak_memory(_CHILD_OURS_BUILD, pbf),
        "bare_pyosmium": child_peak_memory(_CHILD_BARE_PYOSMIUM, pbf),
    }
    if "pyrosm" in runs:
        mem["pyrosm"] = child_peak_memory(_CHILD_PYROSM_BUILD, pbf, "0")
        mem["pyrosm_nodes"] = child_peak_memory(_CHILD_PYROSM_BUILD, pbf, "1")
    if ctx.run_osmnx:
        mem["ours_simplified"] = child_peak_memory(_CHILD_OURS_SIMPLIFIED, pbf)
        mem["osmnx_xml_simplified"] = child_peak_memory(_CHILD_OSMNX_BUILD, str(xml), "1")
        mem["osmnx_xml_unsimplified"] = child_peak_memory(_CHILD_OSMNX_BUILD, str(xml), "0")
    out["peak_memory_mb"] = mem

    def vs(key: str, mine: str = "ours") -> float | None:
        return ratio(runs.get(key, {}).get("median_s"), runs[mine].get("median_s"))

    out["build_speedup_vs_osmnx_xml_simplified"] = vs("osmnx_xml_simplified")
    out["build_speedup_vs_osmnx_xml_unsimplified"] = vs("osmnx_xml_unsimplified")
    out["build_speedup_vs_pyrosm_pbf"] = vs("pyrosm")
    out["build_speedup_vs_pyrosm_pbf_nodes"] = vs("pyrosm_nodes")
    # ours / floor: how many times the bare read ours costs (goal <= 3)
    out["build_ratio_to_bare_pyosmium_pbf"] = ratio(
        ours["median_s"], runs["bare_pyosmium"].get("median_s")
    )
    out["simplified_graph_speedup_vs_osmnx_xml_simplified"] = vs(
        "osmnx_xml_simplified", "ours_simplified"
    )
    out["build_speedup_vs_osmnx"] = out["build_speedup_vs_osmnx_xml_simplified"]  # old name
    # the same ratios in CPU time (a loaded machine stretches wall times unevenly)
    out["cpu_ratios"] = {
        key: ratio(runs.get(key, {}).get("cpu_median_s"), ours.get("cpu_median_s"))
        for key in BUILD_METHODS
        if key not in ("ours", "ours_simplified")
    }
    out["cpu_ratios"]["osmnx_xml_simplified_vs_ours_simplified"] = ratio(
        runs.get("osmnx_xml_simplified", {}).get("cpu_median_s"),
        runs.get("ours_simplified", {}).get("cpu_median_s"),
    )
    out["cache_speedup_vs_build"] = ratio(ours["median_s"], cached["median_s"])
    out["cache_speedup_vs_build_ready_to_query"] = ratio(ready["median_s"], cached["median_s"])
    out["goals"] = GOALS

    nodes = f"{net.n_nodes:,} nodes, {net.n_edges:,} edges, unsimplified, all components"
    notes = {
        "ours": nodes,
        "bare_pyosmium": f"{out.get('bare_pyosmium_node_refs', 0):,} way-node refs; no graph",
        "pyrosm": f"{out.get('pyrosm_edges', 0):,} ways (GeoDataFrame); no nodes, no segments",
        "pyrosm_nodes": "nodes + way segments (GeoDataFrames)",
        "ours_simplified": "MultiDiGraph via ox.simplify_graph; all components",
        "osmnx_xml_simplified": "no walk filter; simplify, largest component",
        "osmnx_xml_unsimplified": "no walk filter; largest component",
    }
    if "pyrosm_graph" in out:
        graphs["pyrosm_nodes"] = out["pyrosm_graph"]
    for key, g in graphs.items():
        notes[key] += f"; {g['nodes']:,} nodes, {g['edges']:,} edges"
    out["table"] = [
        row(label, runs.get(key), notes[key] + ("; interleaved" if key in caps else ""))
        for key, label in BUILD_METHODS.items()
        if key in runs
    ]
    out["table"] += [
        row(
            "ours: build + net.chains (ready to query)",
            ready,
            f"{out['network']['core_nodes']:,} junctions and dead ends",
        ),
        row(
            "ours: cached load (.npz, incl. file SHA-256)",
            cached,
            "warm cache; holds adjacency, components, chains",
        ),
    ]
    if "xml_conversion_s" in out:
        out["table"].append(
            row(
                "(one-off) PBF -> OSM XML with pyosmium",
                summarize([out["xml_conversion_s"]]),
                f"{out['xml_mb']:.1f} MB XML; not part of any build time",
            )
        )
    return out


def render_build(fig: dict[str, Any]) -> list[str]:
    lines = [
        "  ratios (the other method's median / ours; methods alternated in every round):",
        f"  build_speedup_vs_osmnx_xml_simplified     "
        f"{fmt_x(fig['build_speedup_vs_osmnx_xml_simplified'])}"
        "   (osmnx parses all the XML, no walk filter, then simplifies)",
        f"  build_speedup_vs_osmnx_xml_unsimplified   "
        f"{fmt_x(fig['build_speedup_vs_osmnx_xml_unsimplified'])}",
        f"  build_speedup_vs_pyrosm_pbf               {fmt_x(fig['build_speedup_vs_pyrosm_pbf'])}"
        "   (pyrosm's default: one row per way, no graph yet)",
        f"  build_speedup_vs_pyrosm_pbf_nodes         "
        f"{fmt_x(fig['build_speedup_vs_pyrosm_pbf_nodes'])}"
        "   (the fair one: same PBF, same graph of way segments)",
        f"  build_ratio_to_bare_pyosmium_pbf          "
        f"{fmt_x(fig['build_ratio_to_bare_pyosmium_pbf'])}"
        "   (ours / the bare read; goal <= 3×)",
        f"  simplified_graph_speedup_vs_osmnx_xml_simplified "
        f"{fmt_x(fig['simplified_graph_speedup_vs_osmnx_xml_simplified'])}"
        "   (osmnx build / ours build + to_networkx(simplify=True))",
        f"  cache_speedup_vs_build  {fmt_x(fig['cache_speedup_vs_build'])}"
        f"   (goal >= {GOALS['cache_speedup_vs_build']:.0f}×; ours build / cached load)",
        f"  ... ready to query      {fmt_x(fig['cache_speedup_vs_build_ready_to_query'])}"
        "   ((ours build + chains) / cached load)",
        "  in CPU time (the other's / ours): "
        + ", ".join(f"{k} {fmt_x(v)}" for k, v in fig["cpu_ratios"].items()),
        "  peak memory (fresh process each, ru_maxrss):",
    ]
    for key, mem in fig["peak_memory_mb"].items():
        label = BUILD_METHODS.get(key, key).split(":", 1)[-1].strip()
        lines.append("  " + memory_row(f"{key}: {label}"[:44], mem))
    return lines


# ---- section: query ------------------------------------------------------------------------

_CHILD_OURS_QUERY = """
import numpy as np
from coverage.access import node_distances
from coverage.network import build_walk_network
from coverage.snapping import snap_points
after = rss_mb()
net = build_walk_network(sys.argv[1], cache=False)
lonlat = np.load(sys.argv[2])
nd = node_distances(net, snap_points(net, lonlat), cutoff_m=float(sys.argv[3]))
reached = int(np.isfinite(nd.distance_m).sum())
report(after, reached=reached)
"""

# Standalone (same calls as build_pandana and pandana_query): importing this script would
# import the coverage package too and count it in pandana's memory.
_CHILD_PANDANA_QUERY = """
import numpy as np
import pandas as pd
import pandana
after = rss_mb()
a = np.load(sys.argv[1])
net = pandana.Network(
    pd.Series(a["lon"], index=a["node_id"]),
    pd.Series(a["lat"], index=a["node_id"]),
    pd.Series(a["edge_from"]),
    pd.Series(a["edge_to"]),
    pd.DataFrame({"length": a["length"]}),
    twoway=True,
)
cutoff = float(sys.argv[2])
net.set_pois("fac", maxdist=cutoff, maxitems=1, x_col=pd.Series(a["fac_lon"]),
             y_col=pd.Series(a["fac_lat"]))
d = net.nearest_pois(cutoff, "fac", num_pois=1)[1].to_numpy()
reached = int((d < cutoff).sum())
report(after, reached=reached)
"""


def compare(
    ours: np.ndarray, other: np.ndarray, explain: Callable[[], np.ndarray] | None = None
) -> dict[str, Any]:
    """Reached sets and the largest absolute difference (m) of two per-node distance arrays.

    ``explain`` gives ours with a slightly larger cutoff; it is called only when the reached
    sets differ, to show how far (by our distances) the nodes reached by one method only are.
    """
    ro = np.isfinite(ours)
    rt = np.isfinite(other)
    both = ro & rt
    out: dict[str, Any] = {
        "reached_ours": int(ro.sum()),
        "reached_other": int(rt.sum()),
        "reached_sets_equal": bool((ro == rt).all()),
        "reached_only_by_ours": int((ro & ~rt).sum()),
        "reached_only_by_other": int((rt & ~ro).sum()),
        "max_abs_diff_m": float(np.abs(ours[both] - other[both]).max()) if both.any() else None,
    }
    only_other = rt & ~ro
    if explain is not None and only_other.any():
        wide = explain()
        out["our_distance_of_nodes_only_other_reached_m"] = [
            float(wide[only_other].min()),
            float(wide[only_other].max()),
        ]
        out["their_distance_of_those_nodes_m"] = [
            float(other[only_other].min()),
            float(other[only_other].max()),
        ]
    return out


def dict_to_array(net: WalkNetwork, dist: dict[int, float]) -> np.ndarray:
    """networkx's {OSM node id: distance} as an array over our node positions (inf = absent).

    Relies on ``net.node_id`` being sorted, as :func:`build_walk_network` makes it.
    """
    out = np.full(net.n_nodes, np.inf)
    if dist:
        ids = np.fromiter(dist.keys(), dtype=np.int64, count=len(dist))
        out[np.searchsorted(net.node_id, ids)] = np.fromiter(
            dist.values(), dtype=np.float64, count=len(dist)
        )
    return out


def per_facility_search(graph: Any, sources: list[int], cutoff_m: float) -> dict[int, float]:
    """One Dijkstra search per facility (what ``nx.ego_graph`` runs inside), min over them."""
    import networkx as nx

    best: dict[int, float] = {}
    for src in sources:
        reached = nx.single_source_dijkstra_path_length(
            graph, src, cutoff=cutoff_m, weight="length"
        )
        for node, d in reached.items():
            if d < best.get(node, math.inf):
                best[node] = d
    return best


def build_pandana(net: WalkNetwork) -> Any:
    """A pandana Network of our nodes and edges (lengths in metres, both directions)."""
    import pandana
    import pandas as pd

    return pandana.Network(
        pd.Series(net.lon, index=net.node_id),
        pd.Series(net.lat, index=net.node_id),
        pd.Series(net.node_id[net.edge_u]),
        pd.Series(net.node_id[net.edge_v]),
        pd.DataFrame({"length": net.edge_length_m}),
        twoway=True,
    )


def pandana_query(pnet: Any, lonlat: np.ndarray, cutoff_m: float) -> Any:
    """set_pois + nearest_pois: distance from every node to the nearest POI within the cutoff."""
    import pandas as pd

    pnet.set_pois(
        "fac",
        maxdist=cutoff_m,
        maxitems=1,
        x_col=pd.Series(lonlat[:, 0]),
        y_col=pd.Series(lonlat[:, 1]),
    )
    return pnet.nearest_pois(cutoff_m, "fac", num_pois=1)


def pandana_to_array(net: WalkNetwork, frame: Any, cutoff_m: float) -> np.ndarray:
    """pandana's column 1 over our node positions; its "none within" value (= cutoff) -> inf."""
    values = frame[1].reindex(net.node_id).to_numpy(dtype=np.float64)
    return np.where(values >= cutoff_m, np.inf, values)


# ---- query on the simplified graph (what pandana users load) -------------------------------

#: Categories of the audit-like query: facilities split evenly among them, as the Wuhan pack's.
N_CATEGORIES = 12

_CHILD_OURS_QUERY12 = """
import numpy as np
from coverage.access import node_distances
from coverage.network import build_walk_network
from coverage.snapping import snap_points
after = rss_mb()
net = build_walk_network(sys.argv[1], cache=False)
a = np.load(sys.argv[2])
cutoff = float(sys.argv[3])
at = np.searchsorted(net.node_id, a["node_id"])  # the nodes pandana answers for
snapped = snap_points(net, np.column_stack([a["fac_lon"], a["fac_lat"]]))
reached = 0
for c in np.unique(a["fac_cat"]):
    nd = node_distances(net, snapped.subset(a["fac_cat"] == c), cutoff_m=cutoff, at=at)
    reached += int(np.isfinite(nd.distance_m).sum())
report(after, reached=reached)
"""

_CHILD_PANDANA_QUERY12 = """
import numpy as np
import pandas as pd
import pandana
after = rss_mb()
a = np.load(sys.argv[1])
net = pandana.Network(
    pd.Series(a["lon"], index=a["node_id"]),
    pd.Series(a["lat"], index=a["node_id"]),
    pd.Series(a["edge_from"]),
    pd.Series(a["edge_to"]),
    pd.DataFrame({"length": a["length"]}),
    twoway=False,
)
cutoff = float(sys.argv[2])
reached = 0
for c in np.unique(a["fac_cat"]):
    m = a["fac_cat"] == c
    net.set_pois(f"c{c}", maxdist=cutoff, maxitems=1, x_col=pd.Series(a["fac_lon"][m]),
                 y_col=pd.Series(a["fac_lat"][m]))
    d = net.nearest_pois(cutoff, f"c{c}", num_pois=1)[1].to_numpy()
    reached += int((d < cutoff).sum())
report(after, reached=reached)
"""


def simplified_graph_arrays(graph: Any) -> dict[str, np.ndarray]:
    """Nodes and directed edges (with ``length``) of an osmnx graph, as a pandana user loads it."""
    node_id = np.fromiter(graph.nodes, dtype=np.int64, count=graph.number_of_nodes())
    x = np.array([graph.nodes[n]["x"] for n in node_id.tolist()], dtype=np.float64)
    y = np.array([graph.nodes[n]["y"] for n in node_id.tolist()], dtype=np.float64)
    edges = list(graph.edges(data="length"))
    return {
        "node_id": node_id,
        "lon": x,
        "lat": y,
        "edge_from": np.array([e[0] for e in edges], dtype=np.int64),
        "edge_to": np.array([e[1] for e in edges], dtype=np.int64),
        "length": np.array([e[2] for e in edges], dtype=np.float64),
    }


def build_pandana_arrays(arrays: dict[str, np.ndarray]) -> Any:
    """A pandana Network of directed edges (an osmnx graph holds both directions already)."""
    import pandana
    import pandas as pd

    return pandana.Network(
        pd.Series(arrays["lon"], index=arrays["node_id"]),
        pd.Series(arrays["lat"], index=arrays["node_id"]),
        pd.Series(arrays["edge_from"]),
        pd.Series(arrays["edge_to"]),
        pd.DataFrame({"length": arrays["length"]}),
        twoway=False,
    )


def pandana_query_categories(
    pnet: Any, lonlat: np.ndarray, category: np.ndarray, cutoff_m: float
) -> dict[int, Any]:
    """What a pandana user does per category: ``set_pois`` + ``nearest_pois`` for each."""
    import pandas as pd

    out = {}
    for c in np.unique(category).tolist():
        m = category == c
        pnet.set_pois(
            f"c{c}",
            maxdist=cutoff_m,
            maxitems=1,
            x_col=pd.Series(lonlat[m, 0]),
            y_col=pd.Series(lonlat[m, 1]),
        )
        out[c] = pnet.nearest_pois(cutoff_m, f"c{c}", num_pois=1)
    return out


def ours_query_categories(
    net: WalkNetwork,
    lonlat: np.ndarray,
    category: np.ndarray,
    cutoff_m: float,
    at: np.ndarray | None = None,
) -> dict[int, np.ndarray]:
    """The audit's way: every facility snapped once, one search per category; distances at
    the node positions ``at`` (aligned with it), or at every node."""
    snapped = snap_points(net, lonlat)
    return {
        c: node_distances(net, snapped.subset(category == c), cutoff_m=cutoff_m, at=at).distance_m
        for c in np.unique(category).tolist()
    }


def bench_query_simplified(
    ctx: Context, graph: Any, pool: np.ndarray, rng: np.random.Generator
) -> dict[str, Any]:
    """Ours (on our unsimplified network) vs pandana on the osmnx-simplified graph.

    ``graph`` is ``net.to_networkx()``; pandana gets ``ox.simplify_graph`` of it (the graph
    pandana users normally load: junctions and dead ends only, edge lengths summed along the
    chains). Facilities are ``HEADLINE_SIZE`` nodes kept by the simplification (and not sharing
    their coordinates), so both snap them exactly; one category (all of them) and
    ``N_CATEGORIES`` categories (split evenly at random), each method alternated in every round.

    Both answer the same question: the distance to the nearest facility of each category at
    the simplified graph's nodes (pandana's nodes; ours answers there with
    ``node_distances(..., at=)``: the search of each category on our contracted graph, whose
    nodes are those junctions and dead ends, then the interiors asked for, none here). For
    continuity ``ours_12_every_node`` also answers at all the unsimplified network's nodes
    (what the runs before 2026-11-30 timed). Distances are compared at the simplified graph's
    nodes.
    """
    import osmnx as ox

    net = ctx.net
    out: dict[str, Any] = {"facilities": HEADLINE_SIZE, "categories": N_CATEGORIES}
    t0 = time.perf_counter()
    simple = ox.simplify_graph(graph)
    out["simplify_s"] = time.perf_counter() - t0
    arrays = simplified_graph_arrays(simple)
    del simple
    out["graph"] = {"nodes": int(arrays["node_id"].size), "edges": int(arrays["edge_from"].size)}
    pos_of_simple = np.searchsorted(net.node_id, arrays["node_id"])
    candidates = np.intersect1d(pool, pos_of_simple)
    fac = rng.choice(candidates, size=min(HEADLINE_SIZE, candidates.size), replace=False)
    lonlat = np.column_stack([net.lon[fac], net.lat[fac]])
    category = rng.permutation(np.arange(fac.size) % N_CATEGORIES)
    one = np.zeros(fac.size, dtype=np.int64)
    try:
        with quiet_stdout():
            setup, pnet = time_runs(lambda: build_pandana_arrays(arrays), ctx.repeat)
    except Exception as exc:  # report, verbatim, whatever pandana raises
        out["error"] = f"pandana: {type(exc).__name__}: {exc}"
        return out
    out["pandana_setup"] = setup
    at = pos_of_simple
    methods: dict[str, Callable[[], Any]] = {
        "ours_1": lambda: ours_query_categories(net, lonlat, one, CUTOFF_M, at),
        "pandana_1": lambda: pandana_query_categories(pnet, lonlat, one, CUTOFF_M),
        "ours_12": lambda: ours_query_categories(net, lonlat, category, CUTOFF_M, at),
        "pandana_12": lambda: pandana_query_categories(pnet, lonlat, category, CUTOFF_M),
        "ours_12_every_node": lambda: ours_query_categories(net, lonlat, category, CUTOFF_M),
    }
    timed = time_interleaved(methods, ctx.repeat)
    out["runs"] = {name: stats for name, (stats, _) in timed.items()}

    # agreement at the simplified graph's nodes (largest difference over all categories)
    accuracy: dict[str, Any] = {}
    for n in ("1", "12"):
        ours_d, theirs = timed[f"ours_{n}"][1], timed[f"pandana_{n}"][1]
        if theirs is None:
            continue
        worst: dict[str, Any] = {"max_abs_diff_m": 0.0, "reached_only_by_one": 0}
        for c, frame in theirs.items():
            values = frame[1].reindex(arrays["node_id"]).to_numpy(dtype=np.float64)
            other = np.where(values >= CUTOFF_M, np.inf, values)
            cmp = compare(ours_d[c], other)  # ours answered at pos_of_simple
            worst["max_abs_diff_m"] = max(worst["max_abs_diff_m"], cmp["max_abs_diff_m"] or 0.0)
            worst["reached_only_by_one"] += (
                cmp["reached_only_by_ours"] + cmp["reached_only_by_other"]
            )
        accuracy[n] = worst
    out["accuracy"] = accuracy
    r = out["runs"]
    out["query1_speedup_vs_pandana_simplified_graph"] = ratio(
        r["pandana_1"].get("median_s"), r["ours_1"].get("median_s")
    )
    out["query12_speedup_vs_pandana_simplified_graph"] = ratio(
        r["pandana_12"].get("median_s"), r["ours_12"].get("median_s")
    )
    out["query12_speedup_vs_pandana_simplified_graph_cpu"] = ratio(
        r["pandana_12"].get("cpu_median_s"), r["ours_12"].get("cpu_median_s")
    )
    # ours answering at every unsimplified node too (more than pandana answers), for continuity
    out["query12_every_node_speedup_vs_pandana_simplified_graph"] = ratio(
        r["pandana_12"].get("median_s"), r["ours_12_every_node"].get("median_s")
    )
    every = timed["ours_12_every_node"][1]
    if every is not None and timed["ours_12"][1] is not None:
        out["max_abs_diff_m_at_vs_every_node"] = max(
            float(np.nanmax(np.abs(np.where(np.isinf(d), 0.0, d) - np.where(np.isinf(e), 0.0, e))))
            for d, e in ((timed["ours_12"][1][c], every[c][pos_of_simple]) for c in every)
        )
        out["same_reach_at_vs_every_node"] = all(
            np.array_equal(np.isinf(timed["ours_12"][1][c]), np.isinf(every[c][pos_of_simple]))
            for c in every
        )

    npz = ctx.tmp / "pandana_simplified.npz"
    np.savez(npz, **arrays, fac_lon=lonlat[:, 0], fac_lat=lonlat[:, 1], fac_cat=category)
    out["peak_memory_mb"] = {
        "ours_build_query12": child_peak_memory(
            _CHILD_OURS_QUERY12, str(ctx.pbf), str(npz), str(CUTOFF_M)
        ),
        "pandana_simplified_setup_query12": child_peak_memory(
            _CHILD_PANDANA_QUERY12, str(npz), str(CUTOFF_M)
        ),
    }
    return out


def bench_query(ctx: Context) -> dict[str, Any]:
    """Nearest facility within 1,000 m of every node: ours vs networkx vs pandana."""
    import networkx as nx

    net = ctx.net
    rng = np.random.default_rng(ctx.seed)
    out: dict[str, Any] = {
        "cutoff_m": CUTOFF_M,
        "sizes": list(SIZES),
        "seed": ctx.seed,
        "network": {"nodes": net.n_nodes, "edges": net.n_edges},
    }

    # Facilities sit exactly on network nodes, so every method snaps them exactly. Nodes that
    # share their coordinates with another node are left out: there the nearest edge/node is
    # ambiguous and methods could legitimately attach a facility to different nodes.
    coords = np.column_stack([net.lon, net.lat])
    _, inverse, counts = np.unique(coords, axis=0, return_inverse=True, return_counts=True)
    pool = np.flatnonzero(counts[inverse.ravel()] == 1)
    out["candidate_nodes"] = int(pool.size)
    out["excluded_shared_coordinate_nodes"] = int(net.n_nodes - pool.size)
    facilities = {k: rng.choice(pool, size=k, replace=False) for k in SIZES}

    # one-off set-ups, reported separately
    setup: dict[str, Any] = {}
    t0 = time.perf_counter()
    _segment_index(net)  # projection + points sampled along the edges in a k-d tree (snapping)
    setup["ours_snap_index_s"] = time.perf_counter() - t0
    fresh = dataclasses.replace(net)  # same arrays, no cached adjacency or chains
    t0 = time.perf_counter()
    _ = fresh.adjacency
    setup["ours_adjacency_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    _ = fresh.chains
    setup["ours_chains_s"] = time.perf_counter() - t0
    del fresh
    _ = net.chains  # the network the queries use gets them too (a cached load has them)
    t0 = time.perf_counter()
    graph = net.to_networkx()
    setup["networkx_conversion_s"] = time.perf_counter() - t0
    pnet = None
    try:
        with quiet_stdout():
            pandana_setup, pnet = time_runs(lambda: build_pandana(net), ctx.repeat)
    except Exception as exc:  # report, verbatim, whatever pandana raises
        pandana_setup = {"error": f"{type(exc).__name__}: {exc}"}
    setup["pandana_setup"] = pandana_setup
    out["setup"] = setup

    sample_size = 100 if ctx.quick else PER_FACILITY_FULL_MAX
    results: dict[str, Any] = {}
    accuracy: dict[str, Any] = {}
    for k in SIZES:
        fac = facilities[k]
        lonlat = coords[fac]
        ids = net.node_id[fac].tolist()
        sources = set(ids)
        extrapolated = k > PER_FACILITY_FULL_MAX
        pf_fac = rng.choice(fac, size=sample_size, replace=False) if extrapolated else fac
        pf_ids = net.node_id[pf_fac].tolist()
        split: dict[str, list[float]] = {"snap": [], "search": []}

        def ours_query(ll: np.ndarray = lonlat, split: dict[str, list[float]] = split) -> Any:
            t0 = time.perf_counter()
            snapped = snap_points(net, ll)
            t1 = time.perf_counter()
            nodes = node_distances(net, snapped, cutoff_m=CUTOFF_M)
            split["snap"].append(t1 - t0)
            split["search"].append(time.perf_counter() - t1)
            return snapped, nodes

        methods: dict[str, Callable[[], Any]] = {
            # (a) ours: snapping + one multi-source search
            "ours": ours_query,
            # (b) networkx multi-source Dijkstra
            "networkx": lambda s=sources: nx.multi_source_dijkstra_path_length(
                graph, s, cutoff=CUTOFF_M, weight="length"
            ),
            # (d) one search per facility (a sample of them above PER_FACILITY_FULL_MAX)
            "per_facility": lambda i=pf_ids: per_facility_search(graph, i, CUTOFF_M),
        }
        if pnet is not None:
            # (c) pandana: set_pois + nearest_pois
            methods["pandana"] = lambda ll=lonlat: pandana_query(pnet, ll, CUTOFF_M)
        timed = time_interleaved(methods, ctx.repeat)
        res: dict[str, Any] = {name: stats for name, (stats, _) in timed.items()}
        acc: dict[str, Any] = {}

        snapped, nodes = timed["ours"][1]
        ours = nodes.distance_m
        res["ours"]["snap_median_s"] = statistics.median(split["snap"])
        res["ours"]["search_median_s"] = statistics.median(split["search"])
        res["ours"]["max_snap_distance_m"] = float(np.nanmax(snapped.snap_m))
        res["ours"]["all_snapped"] = bool(snapped.ok.all())

        acc["networkx"] = compare(ours, dict_to_array(net, timed["networkx"][1]))

        if pnet is None:
            res["pandana"] = {"error": pandana_setup.get("error", "pandana set-up failed")}
        elif "error" not in res["pandana"]:
            acc["pandana"] = compare(
                ours,
                pandana_to_array(net, timed["pandana"][1], CUTOFF_M),
                explain=lambda ll=lonlat: (
                    node_distances(
                        net, snap_points(net, ll), cutoff_m=CUTOFF_M + EXPLAIN_MARGIN_M
                    ).distance_m
                ),
            )

        pf = dict_to_array(net, timed["per_facility"][1])
        if extrapolated:
            stats = res["per_facility"]
            scale = k / sample_size
            res["per_facility"] = {
                **{
                    key: stats[key] * scale
                    for key in ("median_s", "min_s", "max_s", "cpu_median_s")
                },
                "repeats": stats["repeats"],
                "extrapolated": True,
                "sample_size": sample_size,
                "sample_runs_s": stats["runs_s"],
            }
            # compared against ours run (untimed) on the same sample
            ours_sample = node_distances(net, snap_points(net, coords[pf_fac]), cutoff_m=CUTOFF_M)
            acc["per_facility"] = compare(ours_sample.distance_m, pf)
            acc["per_facility"]["against"] = f"ours on the same {sample_size}-facility sample"
        else:
            res["per_facility"]["extrapolated"] = False
            acc["per_facility"] = compare(ours, pf)
        results[str(k)] = res
        accuracy[str(k)] = acc
    out["results"] = results
    out["accuracy"] = accuracy

    def speedups(method: str, key: str = "median_s") -> dict[str, Any]:
        per_size = {
            str(k): ratio(results[str(k)][method].get(key), results[str(k)]["ours"][key])
            for k in SIZES
        }
        known = [v for v in per_size.values() if v is not None]
        return {
            **per_size,
            "median_over_sizes": statistics.median(known) if known else None,
            "headline": per_size[str(HEADLINE_SIZE)],
            "headline_is": f"{HEADLINE_SIZE:,} facilities",
        }

    out["query_speedup_vs_pandana"] = speedups("pandana")
    out["query_speedup_vs_pandana_cpu"] = speedups("pandana", "cpu_median_s")
    out["query_speedup_vs_networkx"] = speedups("networkx")
    out["query_speedup_vs_per_facility"] = speedups("per_facility")

    out["query_speedup_vs_pandana_unsimplified_graph"] = out["query_speedup_vs_pandana"]
    out["simplified_graph"] = bench_query_simplified(ctx, graph, pool, rng)

    # peak memory, 5,000 facilities, each in a fresh interpreter
    big = facilities[max(SIZES)]
    fac_file = ctx.tmp / "facilities.npy"
    np.save(fac_file, coords[big])
    arrays = ctx.tmp / "pandana_input.npz"
    np.savez(
        arrays,
        node_id=net.node_id,
        lon=net.lon,
        lat=net.lat,
        edge_from=net.node_id[net.edge_u],
        edge_to=net.node_id[net.edge_v],
        length=net.edge_length_m,
        fac_lon=coords[big, 0],
        fac_lat=coords[big, 1],
    )
    out["peak_memory_mb"] = {
        "ours_build_query_5000": child_peak_memory(
            _CHILD_OURS_QUERY, str(ctx.pbf), str(fac_file), str(CUTOFF_M)
        ),
        "pandana_setup_query_5000": child_peak_memory(
            _CHILD_PANDANA_QUERY, str(arrays), str(CUTOFF_M)
        ),
    }

    table = [
        row(
            "ours: one-off snapping index (k-d tree)",
            summarize([setup["ours_snap_index_s"]]),
            "projection + edge samples every 10 m; before the timed queries",
        ),
        row(
            "ours: one-off adjacency (net.adjacency)",
            summarize([setup["ours_adjacency_s"]]),
            "sparse matrix; built by build_walk_network, cached",
        ),
        row(
            "ours: one-off chains (net.chains)",
            summarize([setup["ours_chains_s"]]),
            "contraction to junctions; cached with the network",
        ),
        row(
            "networkx: net.to_networkx() (not timed)",
            summarize([setup["networkx_conversion_s"]]),
            "MultiDiGraph for (b) and (d)",
        ),
        row(
            "pandana: Network(...) set-up (CH)",
            pandana_setup,
            "contraction hierarchies; outside the query times",
        ),
    ]
    for k in SIZES:
        r = results[str(k)]
        o = r["ours"]
        table.append(
            row(
                f"[{k:,}] ours: snap_points + node_distances",
                o,
                f"snap {fmt_s(o['snap_median_s'])} + search {fmt_s(o['search_median_s'])}",
            )
        )
        table.append(row(f"[{k:,}] networkx: multi_source_dijkstra", r["networkx"]))
        table.append(row(f"[{k:,}] pandana: set_pois + nearest_pois", r["pandana"]))
        pf = r["per_facility"]
        note = (
            f"EXTRAPOLATED: {pf['sample_size']} sampled searches × {k // pf['sample_size']}"
            if pf.get("extrapolated")
            else "one single_source_dijkstra per facility"
        )
        table.append(row(f"[{k:,}] networkx: one search per facility", pf, note))
    sg = out["simplified_graph"]
    if "runs" in sg:
        g = sg["graph"]
        on = f"ox.simplify_graph: {g['nodes']:,} nodes, {g['edges']:,} directed edges"
        table.append(row("pandana (simplified graph): Network(...)", sg["pandana_setup"], on))
        for n, what in (("1", "1 category"), ("12", f"{N_CATEGORIES} categories")):
            table.append(
                row(
                    f"[{sg['facilities']:,}, {what}] ours: snap once + search per category",
                    sg["runs"][f"ours_{n}"],
                    "our unsimplified network",
                )
            )
            table.append(
                row(
                    f"[{sg['facilities']:,}, {what}] pandana: set_pois + nearest_pois each",
                    sg["runs"][f"pandana_{n}"],
                    "simplified graph",
                )
            )
        table.append(
            row(
                f"[{sg['facilities']:,}, {N_CATEGORIES} categories] ours, at every node",
                sg["runs"]["ours_12_every_node"],
                "all unsimplified nodes (more than pandana answers)",
            )
        )
    out["table"] = table
    return out


def render_query(fig: dict[str, Any]) -> list[str]:
    lines = [
        f"  facilities on random nodes (seed {fig['seed']}), cutoff {fig['cutoff_m']:.0f} m;"
        f" {fig['excluded_shared_coordinate_nodes']} nodes sharing coordinates excluded",
        "",
        "  speed-up of ours (other method's median / ours):",
        f"  {'':<22}" + "".join(f"{f'{k:,}':>12}" for k in SIZES) + f"{'median':>12}",
    ]
    for key, label in (
        ("query_speedup_vs_pandana", "vs pandana"),
        ("query_speedup_vs_pandana_cpu", "vs pandana, CPU time"),
        ("query_speedup_vs_networkx", "vs networkx multi"),
        ("query_speedup_vs_per_facility", "vs per-facility"),
    ):
        s = fig[key]
        cells = "".join(f"{fmt_x(s[str(k)]):>12}" for k in SIZES)
        lines.append(f"  {label:<22}{cells}{fmt_x(s['median_over_sizes']):>12}")
    headline = fig["query_speedup_vs_pandana"]
    lines.append(
        f"  headline query_speedup_vs_pandana = {fmt_x(headline['headline'])}"
        f" ({headline['headline_is']})"
    )
    if fig["results"][str(max(SIZES))]["per_facility"].get("extrapolated"):
        lines.append(f"  (per-facility at {max(SIZES):,} is extrapolated from a sample)")
    lines += ["", "  agreement with ours (nodes reached within the cutoff; largest |difference|):"]
    for k in SIZES:
        for method, acc in fig["accuracy"][str(k)].items():
            diff = acc["max_abs_diff_m"]
            same = (
                "equal"
                if acc["reached_sets_equal"]
                else (
                    f"DIFFER (+{acc['reached_only_by_other']} only {method},"
                    f" +{acc['reached_only_by_ours']} only ours)"
                )
            )
            against = f" [{acc['against']}]" if "against" in acc else ""
            if "our_distance_of_nodes_only_other_reached_m" in acc:
                lo, hi = acc["our_distance_of_nodes_only_other_reached_m"]
                tlo, thi = acc["their_distance_of_those_nodes_m"]
                against += (
                    f"\n{'':>10}(nodes only {method} reached: ours says {lo:.3f}-{hi:.3f} m,"
                    f" {method} says {tlo:.3f}-{thi:.3f} m)"
                )
            lines.append(
                f"  [{k:>5,}] {method:<13} reached {acc['reached_other']:>7,} vs"
                f" {acc['reached_ours']:>7,}  sets {same}; max |diff| "
                f"{'-' if diff is None else f'{diff:.3g} m'}{against}"
            )
    lines.append("")
    lines.append("  peak memory (fresh process each, ru_maxrss):")
    labels = {
        "ours_build_query_5000": "ours build + snap + query, 5,000 fac.",
        "pandana_setup_query_5000": "pandana set-up + query, 5,000 fac.",
    }
    for key, label in labels.items():
        lines.append("  " + memory_row(label, fig["peak_memory_mb"][key]))
    return lines + render_simplified_graph(fig)


def render_simplified_graph(fig: dict[str, Any]) -> list[str]:
    """The lines of section 2b (pandana on the osmnx-simplified graph)."""
    sg = fig["simplified_graph"]
    lines = ["", "  pandana on the osmnx-simplified graph (its users' usual input):"]
    if "error" in sg:
        lines.append(f"  {sg['error']}")
        return lines
    lines += [
        f"  query1_speedup_vs_pandana_simplified_graph  "
        f"{fmt_x(sg['query1_speedup_vs_pandana_simplified_graph'])}"
        f"   ({sg['facilities']:,} facilities, one category)",
        f"  query12_speedup_vs_pandana_simplified_graph "
        f"{fmt_x(sg['query12_speedup_vs_pandana_simplified_graph'])}"
        f"   (the same split in {sg['categories']} categories; goal >= 10×;"
        f" CPU time {fmt_x(sg['query12_speedup_vs_pandana_simplified_graph_cpu'])})",
        f"  ours answering at every unsimplified node instead: "
        f"{fmt_x(sg['query12_every_node_speedup_vs_pandana_simplified_graph'])}"
        f" (same distances at the simplified graph's nodes:"
        f" max |diff| {sg.get('max_abs_diff_m_at_vs_every_node')},"
        f" same reach {sg.get('same_reach_at_vs_every_node')})",
    ]
    for n, acc in sg["accuracy"].items():
        lines.append(
            f"  [{n:>2} cat.] at the simplified graph's nodes: max |diff|"
            f" {acc['max_abs_diff_m']:.3g} m, {acc['reached_only_by_one']} nodes reached by one"
        )
    for key, mem in sg["peak_memory_mb"].items():
        lines.append("  " + memory_row(key, mem))
    return lines


def bench_query_simplified_only(ctx: Context) -> dict[str, Any]:
    """Section ``query-simplified``: only the comparison with pandana on the osmnx-simplified
    graph (what ``query`` ends with), to rerun it alone. The facilities are drawn with the
    same seed but not after the other sizes' draws, so they differ from those of ``query``."""
    net = ctx.net
    _ = net.chains  # as in ``query``: a cached load has them
    _segment_index(net)
    coords = np.column_stack([net.lon, net.lat])
    _, inverse, counts = np.unique(coords, axis=0, return_inverse=True, return_counts=True)
    pool = np.flatnonzero(counts[inverse.ravel()] == 1)
    graph = net.to_networkx()
    sg = bench_query_simplified(ctx, graph, pool, np.random.default_rng(ctx.seed))
    out: dict[str, Any] = {"simplified_graph": sg, "seed": ctx.seed}
    table = []
    if "runs" in sg:
        for name, stats in sg["runs"].items():
            table.append(row(name, stats))
    out["table"] = table
    return out


# ---- section: audit -----------------------------------------------------------------------

_CHILD_AUDIT = """
import time
t0 = time.perf_counter()
from coverage.audit import audit_case
from coverage.case import Case
imports_s = time.perf_counter() - t0
after = rss_mb()
t0 = time.perf_counter()
case = Case.from_config(sys.argv[1])
load_s = time.perf_counter() - t0
result = audit_case(case)
report(after, imports_s=imports_s, wall_s=time.perf_counter() - t0,
       timings={"load": load_s, **result.timings})
"""


def bench_audit(ctx: Context) -> dict[str, Any]:
    """The whole demo audit (Case.from_config + audit_case): warm cache, cold cache, memory."""
    from coverage.audit import audit_case
    from coverage.case import Case
    from coverage.network import default_cache_dir

    out: dict[str, Any] = {
        "case": str(DEMO_CASE.relative_to(REPO)),
        "cache_dir": str(default_cache_dir()),
    }

    import coverage.audit

    # audit.py may keep the OSM file's buildings and land use in memory between audits of the
    # same file (what-if loops); each timed run clears that, to pay what a single audit pays
    osm_memo = getattr(coverage.audit, "_osm_residential", None)
    out["osm_layers_memoised"] = osm_memo is not None

    def forget_osm_layers() -> None:
        if osm_memo is not None:
            osm_memo.cache_clear()

    def one_run(cache_dir: Path | None = None) -> tuple[Any, dict[str, float]]:
        forget_osm_layers()
        t0 = time.perf_counter()
        case = Case.from_config(DEMO_CASE)
        load_s = time.perf_counter() - t0
        result = audit_case(case, cache_dir=cache_dir)
        return result, {"load": load_s, **result.timings}

    # the first run in this process warms the default cache and the lazy imports
    t0 = time.perf_counter()
    first, first_stages = one_run()
    out["first_run_in_process"] = {"wall_s": time.perf_counter() - t0, "stages_s": first_stages}

    stages: list[dict[str, float]] = []

    def warm() -> Any:
        result, times = one_run()
        stages.append(times)
        return result

    stats, result = time_runs(warm, ctx.repeat)
    out["audit"] = stats
    assert result.network is not None and result.network.report is not None
    assert result.network.report.from_cache, "the warm runs load the network from the cache"
    out["stages_median_s"] = {
        k: statistics.median(s.get(k, 0.0) for s in stages) for k in AUDIT_STAGES
    }
    out["stages_share_pct"] = {
        k: 100.0 * v / stats["median_s"] for k, v in out["stages_median_s"].items()
    }
    out["stages_runs_s"] = stages
    out["counts"] = {
        "communities": len(result.communities),
        "streets": len(result.streets),
        "services": len(result.services),
        "origins": len(result.origins),
        "network_nodes": result.network.n_nodes,
        "network_edges": result.network.n_edges,
        "rules": len(result.summary),
    }
    out["summary"] = result.summary.to_dict("records")

    if osm_memo is not None:
        # repeated audits of the same case in one process, the OSM layers read once
        memo_stages: list[dict[str, float]] = []

        def memoised() -> Any:
            t0 = time.perf_counter()
            case = Case.from_config(DEMO_CASE)
            load_s = time.perf_counter() - t0
            res = audit_case(case)
            memo_stages.append({"load": load_s, **res.timings})
            return res

        forget_osm_layers()
        memoised()  # reads them
        out["repeat_in_process"], _ = time_runs(memoised, ctx.repeat)
        out["repeat_in_process"]["origins_median_s"] = statistics.median(
            s["origins"] for s in memo_stages[1:]
        )

    # one run with a cold cache: the network is built from the OSM file (and written)
    t0 = time.perf_counter()
    cold, cold_stages = one_run(ctx.tmp / "audit-cold-cache")
    out["cold_cache"] = {"wall_s": time.perf_counter() - t0, "stages_s": cold_stages}
    assert cold.network is not None and cold.network.report is not None
    assert not cold.network.report.from_cache
    out["cold_cache"]["same_summary_as_warm"] = bool(cold.summary.equals(result.summary))
    del first, cold, result
    gc.collect()

    out["peak_memory_mb"] = {"demo_audit": child_peak_memory(_CHILD_AUDIT, str(DEMO_CASE))}
    out["demo_audit_seconds"] = stats["median_s"]
    out["goal_s"] = GOAL_DEMO_AUDIT_S
    out["goal_met"] = bool(stats["median_s"] < GOAL_DEMO_AUDIT_S)

    c = out["counts"]
    table = [
        row(
            "whole audit: Case.from_config + audit_case",
            stats,
            f"warm default cache; goal < {GOAL_DEMO_AUDIT_S:g} s",
        )
    ]
    for stage in AUDIT_STAGES:
        table.append(
            row(
                f"  stage {stage}",
                summarize([s.get(stage, 0.0) for s in stages]),
                f"{out['stages_share_pct'][stage]:.0f} % of the median audit",
            )
        )
    if "repeat_in_process" in out:
        rep = out["repeat_in_process"]
        table.append(
            row(
                "same, OSM buildings/land use kept in memory",
                rep,
                f"repeat audits in one process; origins {fmt_s(rep['origins_median_s'])}",
            )
        )
    table.append(
        row(
            "cold cache: network built from the OSM file",
            summarize([out["cold_cache"]["wall_s"]]),
            f"network stage {fmt_s(cold_stages['network'])}; one run",
        )
    )
    table.append(
        row(
            "first run in this process",
            summarize([out["first_run_in_process"]["wall_s"]]),
            "lazy imports, first-use set-ups; default cache as found",
        )
    )
    mem = out["peak_memory_mb"]["demo_audit"]
    if "wall_s" in mem:
        table.append(
            row(
                "fresh process: load + audit (after imports)",
                summarize([mem["wall_s"]]),
                f"importing coverage.audit/case took {fmt_s(mem['imports_s'])} more",
            )
        )
    out["table"] = table
    out["note"] = (
        f"{c['communities']} communities, {c['streets']} streets, {c['services']} services,"
        f" {c['origins']:,} origins, network {c['network_nodes']:,} nodes; {c['rules']} rules"
    )
    return out


def render_audit(fig: dict[str, Any]) -> list[str]:
    mem = fig["peak_memory_mb"]["demo_audit"]
    cold = fig["cold_cache"]
    lines = [
        f"  {fig['case']}: {fig['note']}",
        f"  demo_audit_seconds {fmt_s(fig['demo_audit_seconds'])}"
        f"  [goal < {fig['goal_s']:g} s: {'met' if fig['goal_met'] else 'NOT met'}]",
        "  cold-cache stages: "
        + ", ".join(f"{k} {fmt_s(v)}" for k, v in cold["stages_s"].items())
        + f"; same rule summary as warm: {cold['same_summary_as_warm']}",
        "  peak memory (fresh process, ru_maxrss):",
        "  " + memory_row("Case.from_config + audit_case (warm cache)", mem),
        "  rules:",
    ]
    for r in fig["summary"]:
        lines.append(
            f"    {r['rule']:<4} {r['passing']:>4} pass {r['failing']:>4} fail"
            f" {r['not_evaluable']:>4} n/e of {r['units']:>4} {r['unit']} units"
        )
    return lines


# ---- registry, environment, output ---------------------------------------------------------

Section = tuple[Callable[[Context], dict[str, Any]], Callable[[dict[str, Any]], list[str]]]


def _section_module(name: str) -> Callable[[], Section]:
    """A section kept in ``scripts/bench_<name>.py``, imported only when it runs (the module
    imports this one for its helpers)."""

    def load() -> Section:
        module = importlib.import_module(f"bench_{name}")
        return getattr(module, f"bench_{name}"), getattr(module, f"render_{name}")

    return load


#: Sections in run order: name -> loader of (function returning its figures, renderer of its
#: extra lines).
SECTIONS: dict[str, Callable[[], Section]] = {
    "build": lambda: (bench_build, render_build),
    "query": lambda: (bench_query, render_query),
    "query-simplified": lambda: (bench_query_simplified_only, render_simplified_graph),
    "audit": lambda: (bench_audit, render_audit),
    "isochrones": _section_module("isochrones"),
    "batch": _section_module("batch"),
    "city": _section_module("city"),
    "maps": _section_module("maps"),
    "peers": _section_module("peers"),
    "growth": _section_module("growth"),
    "packs": _section_module("packs"),
    "plan": _section_module("plan"),
}


#: What runs without ``--only``: ``query-simplified`` repeats the end of ``query``.
DEFAULT_SECTIONS = [name for name in SECTIONS if name != "query-simplified"]


def environment() -> dict[str, Any]:
    """Machine and library versions."""
    versions = {}
    for dist in (
        "numpy",
        "scipy",
        "pandas",
        "geopandas",
        "shapely",
        "pyproj",
        "osmnx",
        "networkx",
        "pandana",
        "osmium",
        "dask",
        "distributed",
    ):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    cpu_model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    import shapely

    def git(*args: str) -> str | None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=30
            )
            return done.stdout.strip()
        return None

    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": git("rev-parse", "HEAD"),
        "git_modified_files": dirty.splitlines() if dirty else [],
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "geos": shapely.geos_version_string,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "load_average_at_start": list(os.getloadavg()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **versions,
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    width = max(len(r["what"]) for r in rows)
    print(
        f"  {'':<{width}}  {'median':>10}  {'min':>10}  {'max':>10}  {'n':>2}  {'CPU median':>10}"
    )
    for r in rows:
        print(
            f"  {r['what']:<{width}}  {fmt_s(r['median_s']):>10}  {fmt_s(r['min_s']):>10}"
            f"  {fmt_s(r['max_s']):>10}  {r['repeats']:>2}  {fmt_s(r['cpu_median_s']):>10}"
            f"  {r['note']}"
        )


def finite_or_none(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=REPO.parent / "shared",
        help="the shared folder holding data/osm/heidelberg.osm.pbf (default: %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs per timing (default 5, or 2 with --quick; osmnx at most 3)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write all figures to this file")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: fewer repeats, smaller samples, no osmnx build",
    )
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT_SECTIONS),
        help=f"comma-separated sections among {', '.join(SECTIONS)} (default all but"
        " query-simplified, which query includes)",
    )
    parser.add_argument(
        "--osmnx",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="time osmnx.graph_from_xml in 'build' (default: yes unless --quick)",
    )
    parser.add_argument("--seed", type=int, default=20240611, help="facility placement seed")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in SECTIONS]
    if unknown or not only:
        parser.error(f"--only: unknown section(s) {unknown}; choose among {', '.join(SECTIONS)}")
    args.only = only
    if args.repeat is None:
        args.repeat = 2 if args.quick else 5
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pbf = args.shared / "data" / "osm" / PBF_NAME
    if not pbf.is_file():
        print(f"{pbf}: not found; pass --shared pointing at the folder that holds data/osm/")
        return 2
    env = environment()
    print(
        f"service-coverage benchmarks - {env['date']} - {env['cpu_count']} CPUs"
        f" ({env['cpu_model']}), load {env['load_average_at_start'][0]:.2f}\n"
        f"python {env['python']}, numpy {env['numpy']}, scipy {env['scipy']},"
        f" pandas {env['pandas']}, osmnx {env['osmnx']}, networkx {env['networkx']},"
        f" pandana {env['pandana']}, pyosmium {env['osmium']}\n"
        f"input {pbf}; medians of {args.repeat} runs (min, max); CPU = process CPU time,"
        " all threads" + (" [--quick]" if args.quick else "")
    )
    figures: dict[str, Any] = {"environment": env}
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="coverage-bench-") as tmp:
        ctx = Context(
            pbf=pbf,
            tmp=Path(tmp),
            repeat=args.repeat,
            quick=args.quick,
            run_osmnx=(not args.quick) if args.osmnx is None else args.osmnx,
            seed=args.seed,
        )
        for name in args.only:
            print(f"\n== {name} ==", flush=True)
            started = time.perf_counter()
            try:
                run, render = SECTIONS[name]()
                fig = run(ctx)
            except Exception as exc:  # report it and go on with the other sections
                traceback.print_exc()
                failed.append(name)
                figures[name] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            fig["section_seconds"] = time.perf_counter() - started
            fig["load_average_after"] = list(os.getloadavg())
            figures[name] = fig
            print_table(fig["table"])
            print("\n".join(render(fig)))
            print(
                f"  ({name}: {fig['section_seconds']:.0f} s;"
                f" load average after: {fig['load_average_after'][0]:.2f})",
                flush=True,
            )

    def pick(section: str, *keys: str) -> Any:
        value: Any = figures.get(section, {})
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    # Headline keys name the peer's input; every ratio among them comes from methods run
    # alternately in the same rounds. docs/benchmarks.md says which comparison is the fair one.
    out = {
        "build_speedup_vs_pyrosm_pbf_nodes": pick("build", "build_speedup_vs_pyrosm_pbf_nodes"),
        "build_speedup_vs_pyrosm_pbf": pick("build", "build_speedup_vs_pyrosm_pbf"),
        "build_ratio_to_bare_pyosmium_pbf": pick("build", "build_ratio_to_bare_pyosmium_pbf"),
        "build_speedup_vs_osmnx_xml_unsimplified": pick(
            "build", "build_speedup_vs_osmnx_xml_unsimplified"
        ),
        "build_speedup_vs_osmnx_xml_simplified": pick(
            "build", "build_speedup_vs_osmnx_xml_simplified"
        ),
        "simplified_graph_speedup_vs_osmnx_xml_simplified": pick(
            "build", "simplified_graph_speedup_vs_osmnx_xml_simplified"
        ),
        "cache_speedup_vs_build": pick("build", "cache_speedup_vs_build"),
        "query1_speedup_vs_pandana_simplified_graph": pick(
            "query", "simplified_graph", "query1_speedup_vs_pandana_simplified_graph"
        )
        or pick(
            "query-simplified", "simplified_graph", "query1_speedup_vs_pandana_simplified_graph"
        ),
        "query12_speedup_vs_pandana_simplified_graph": pick(
            "query", "simplified_graph", "query12_speedup_vs_pandana_simplified_graph"
        )
        or pick(
            "query-simplified", "simplified_graph", "query12_speedup_vs_pandana_simplified_graph"
        ),
        "query_speedup_vs_pandana_unsimplified_graph": pick(
            "query", "query_speedup_vs_pandana", "headline"
        ),
        "isochrone_speedup_vs_osmnx_example_simplified_graph": pick(
            "isochrones", "speedup_vs_example_simplified_graph"
        )
        or pick("peers", "speedup_vs_example_simplified_graph"),
        "isochrone_speedup_vs_osmnx_example_unsimplified_graph": pick(
            "isochrones", "speedup_vs_example_edge_buffers_extrapolated"
        ),
        "demo_audit_seconds": pick("audit", "demo_audit_seconds"),
        "city_audit_seconds": pick("city", "city_audit_seconds"),
        "city_audit_peak_mb": pick("city", "city_audit_peak_mb"),
        "batch_speedup_2_workers": pick("batch", "batch_speedup_2_workers"),
        "load_average_at_end": list(os.getloadavg()),
        "settings": {
            "failed_sections": failed,
            "repeat": args.repeat,
            "quick": args.quick,
            "sections": args.only,
            "input": str(pbf),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
        },
        **figures,
    }
    print(f"\n== headline figures (load average at end {out['load_average_at_end'][0]:.2f}) ==")
    for key, value in out.items():
        if key == "load_average_at_end":
            break
        shown = "-" if value is None else f"{value:,.2f}"
        print(f"  {key:<52} {shown}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(finite_or_none(out), indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        print(f"\nfigures written to {args.json}")
    if failed:
        print(f"\nFAILED sections: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    # section modules ``import bench`` for the helpers: let them share this module
    sys.modules.setdefault("bench", sys.modules[__name__])
    sys.exit(main())
