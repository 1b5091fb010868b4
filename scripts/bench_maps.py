"""Benchmark section "maps": size, write time and open time of the planner's HTML map.

A section of ``scripts/bench.py`` (``bench_maps(ctx)`` returns the figures, ``render_maps(fig)``
the extra lines); run it with ``.venv/bin/python scripts/bench.py --only maps``.

- demo: ``data/demo/case.toml`` audited, map saved online, offline (the default: walking-time
  image layers per reach category), offline without them, and offline with the dissolved
  5/10/15-minute service-area polygons (``default_service_areas``, the map's old way).
- Heidelberg-size: the synthetic case of the "city" section on ONE copy of the Heidelberg
  network (168,262 nodes; communities, streets, facilities and origins generated the same way,
  seeded), audited, and its map saved the same four ways.
- city: the "city" section's case (the network tiled 3 x 2, about 1 M nodes; 2 x 1 with
  ``--quick``), audited, and its default map written (walking-time layers, every service
  point): write time (median of up to 3), size, the PNG size per category, and the time to
  open it in headless Chromium (Playwright, ``/usr/bin/chromium``) until the page's "ready"
  signal (``window.sc_ready``: controls made and every layer shown at opening built, markers
  clustered), median of 3 opens. Goals (issue 13): under 15 s to write, under 10 MB, open in
  under 3 s.
- 100 k POIs: the city case's services replaced by 100,000 points on random network nodes
  (random pack categories, names from 240 chain-store names, ids ``P000001``), map written
  without walking-time layers: bytes per point of the service columns (goal at most 40), write
  time, open time (goal under 3 s).
- peak memory: a fresh interpreter loading the city case, auditing it and writing its map.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench import Context, child_peak_memory, fmt_s, memory_row, row, summarize
from bench_city import N_FACILITIES, N_ORIGINS, QUICK_TILES, TILES, make_case, tile_network

from coverage.audit import AuditResult, audit_case
from coverage.maps import default_service_areas, save_map
from coverage.network import _save_cache

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "case.toml"
GOAL_DEMO_MB = 5.0
GOAL_CITY_WRITE_S = 15.0
GOAL_CITY_MB = 10.0
GOAL_OPEN_S = 3.0
GOAL_POI_BYTES = 40.0
N_POIS = 100_000
CHROMIUM = Path("/usr/bin/chromium")
OPENS = 3
MAX_WRITES = 3


def _maps_of(result: AuditResult, folder: Path, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    areas = default_service_areas(result)
    out["service_areas_s"] = time.perf_counter() - t0
    for label, options in (
        ("online", {"offline": False}),
        ("offline", {"offline": True}),
        ("offline_without_walk_time", {"offline": True, "walk_time": False}),
        (
            "offline_with_service_areas",
            {"offline": True, "walk_time": False, "service_areas": areas},
        ),
    ):
        path = folder / f"{name}-{label}.html"
        t0 = time.perf_counter()
        save_map(result, path, **options)
        out[f"{label}_s"] = time.perf_counter() - t0
        out[f"{label}_mb"] = path.stat().st_size / 1e6
    return out


def open_times(path: Path, repeat: int = OPENS) -> dict[str, Any]:
    """Seconds from navigation to ``window.sc_ready`` in headless Chromium (fresh page each)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed"}
    if not CHROMIUM.exists():
        return {"skipped": f"no Chromium at {CHROMIUM}"}
    runs = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for _ in range(repeat):
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                errors: list[str] = []
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                t0 = time.perf_counter()
                page.goto(path.as_uri(), wait_until="commit")
                page.wait_for_function(
                    "() => window.sc_ready === true", timeout=120_000, polling=20
                )
                runs.append(time.perf_counter() - t0)
                page.close()
                if errors:
                    return {"error": "; ".join(errors[:3])}
        finally:
            browser.close()
    return summarize(runs)


def _png_kb(path: Path) -> dict[str, float]:
    text = path.read_text("utf-8")
    start = text.index("var sc_time = ") + len("var sc_time = ")
    images, _ = json.JSONDecoder().raw_decode(text, start)
    return {str(i): len(im["url"]) * 3 / 4 / 1e3 for i, im in enumerate(images)}


def _poi_bytes(path: Path) -> int:
    text = path.read_text("utf-8")
    start = text.index("var sc_poi = ") + len("var sc_poi = ")
    _, end = json.JSONDecoder().raw_decode(text, start)
    return len(text[start:end].encode("utf-8"))


def _many_pois(result: AuditResult, n: int, seed: int) -> AuditResult:
    import geopandas as gpd

    net = result.network
    assert net is not None
    rng = np.random.default_rng(seed)
    brands = [
        f"{b}{k}号店" for b in ("全家便利店", "美宜佳", "红旗连锁", "舞东风超市") for k in range(60)
    ]
    at = rng.choice(net.n_nodes, n, replace=n > net.n_nodes)
    services = gpd.GeoDataFrame(
        {
            "service_id": [f"P{i:06d}" for i in range(n)],
            "name": rng.choice(brands, n),
            "category": rng.choice(sorted(result.pack.categories), n),
            "snap_m": rng.uniform(0, 60, n),
            "on_network": rng.random(n) > 0.02,
        },
        geometry=gpd.points_from_xy(net.lon[at] + rng.normal(0, 1e-4, n), net.lat[at]),
        crs=4326,
    )
    return dataclasses.replace(result, services=services, snapped_services=None)


_CHILD_CITY_MAP = """
import pickle, time
from pathlib import Path
from coverage.audit import audit_case
from coverage.maps import save_map
from coverage.network import _load_cache
after = rss_mb()
with open(sys.argv[1], "rb") as fh:
    case = pickle.load(fh)
net = _load_cache(Path(sys.argv[2]), source="city", started=time.perf_counter())
result = audit_case(case, network=net)
audited = rss_mb()
t0 = time.perf_counter()
save_map(result, sys.argv[3])
report(after, after_audit_mb=audited, write_s=time.perf_counter() - t0)
"""


def _bench_city_map(ctx: Context, folder: Path) -> dict[str, Any]:
    tiles = QUICK_TILES if ctx.quick else TILES
    scale = (tiles[0] * tiles[1]) / (TILES[0] * TILES[1])
    net, _ = tile_network(ctx.net, tiles)
    case = make_case(net, ctx.seed, round(N_FACILITIES * scale), round(N_ORIGINS * scale))
    cache_file = folder / "city-network.npz"
    _save_cache(net, cache_file)
    case_file = folder / "city-case.pickle"
    with case_file.open("wb") as fh:
        pickle.dump(case, fh, protocol=pickle.HIGHEST_PROTOCOL)
    t0 = time.perf_counter()
    result = audit_case(case, network=net)
    out: dict[str, Any] = {
        "tiles": list(tiles),
        "nodes": net.n_nodes,
        "audit_s": time.perf_counter() - t0,
        "units": {"communities": len(result.communities), "streets": len(result.streets)},
        "services": len(result.services),
    }
    path = folder / "city-offline.html"
    writes = []
    for _ in range(min(ctx.repeat, MAX_WRITES)):
        t0 = time.perf_counter()
        save_map(result, path)
        writes.append(time.perf_counter() - t0)
    out["write"] = summarize(writes)
    out["mb"] = path.stat().st_size / 1e6
    out["png_kb"] = _png_kb(path)
    out["open"] = open_times(path)

    many = _many_pois(result, N_POIS, ctx.seed)
    ppath = folder / "city-100k-pois.html"
    t0 = time.perf_counter()
    save_map(many, ppath, walk_time=False)
    out["pois"] = {
        "n": N_POIS,
        "write_s": time.perf_counter() - t0,
        "mb": ppath.stat().st_size / 1e6,
        "bytes_per_poi": _poi_bytes(ppath) / N_POIS,
        "open": open_times(ppath),
    }
    out["peak_memory"] = child_peak_memory(
        _CHILD_CITY_MAP, str(case_file), str(cache_file), str(folder / "city-child.html")
    )
    return out


def bench_maps(ctx: Context) -> dict[str, Any]:
    """Map sizes and times for the demo and a Heidelberg-size case."""
    folder = ctx.tmp / "maps"
    folder.mkdir(parents=True, exist_ok=True)
    demo = audit_case(DEMO)
    fig: dict[str, Any] = {"demo": _maps_of(demo, folder, "demo")}
    fig["demo"]["units"] = {"communities": len(demo.communities), "streets": len(demo.streets)}
    fig["demo"]["services"] = len(demo.services)
    copies = TILES[0] * TILES[1]
    case = make_case(ctx.net, ctx.seed, N_FACILITIES // copies, N_ORIGINS // copies)
    t0 = time.perf_counter()
    result = audit_case(case, network=ctx.net)
    audit_s = time.perf_counter() - t0
    fig["heidelberg"] = _maps_of(result, folder, "heidelberg")
    fig["heidelberg"]["audit_s"] = audit_s
    fig["heidelberg"]["units"] = {
        "communities": len(result.communities),
        "streets": len(result.streets),
    }
    fig["heidelberg"]["services"] = len(result.services)
    del result
    fig["city"] = city = _bench_city_map(ctx, folder)
    labels = ("online", "offline", "offline_without_walk_time", "offline_with_service_areas")
    fig["table"] = [
        row(
            f"{key}: save_map {label.replace('_', ' ')}",
            summarize([fig[key][label + "_s"]]),
            f"{fig[key][label + '_mb']:.2f} MB",
        )
        for key in ("demo", "heidelberg")
        for label in labels
    ]
    fig["table"].append(
        row("city: save_map (walking-time layers)", city["write"], f"{city['mb']:.2f} MB")
    )
    fig["table"].append(row("city: open in Chromium until ready", city["open"]))
    pois = city["pois"]
    fig["table"].append(
        row(
            f"{N_POIS:,} POIs: save_map",
            summarize([pois["write_s"]]),
            f"{pois['mb']:.2f} MB, {pois['bytes_per_poi']:.1f} B/POI",
        )
    )
    fig["table"].append(row(f"{N_POIS:,} POIs: open in Chromium until ready", pois["open"]))
    fig["demo_map_mb"] = fig["demo"]["offline_mb"]
    fig["goal_demo_map_mb"] = GOAL_DEMO_MB
    fig["city_map_write_seconds"] = city["write"]["median_s"]
    fig["city_map_mb"] = city["mb"]
    fig["city_map_open_seconds"] = city["open"].get("median_s")
    fig["poi_bytes_per_poi"] = pois["bytes_per_poi"]
    fig["poi_100k_open_seconds"] = pois["open"].get("median_s")
    fig["goals"] = {
        "city_write_s": GOAL_CITY_WRITE_S,
        "city_mb": GOAL_CITY_MB,
        "open_s": GOAL_OPEN_S,
        "poi_bytes": GOAL_POI_BYTES,
    }
    return fig


def _met(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "NOT met")


def _lt(value: float | None, goal: float) -> bool | None:
    return None if value is None else value < goal


def render_maps(fig: dict[str, Any]) -> list[str]:
    """Readable lines for the section."""
    lines = []
    for key, title in (("demo", "demo (data/demo)"), ("heidelberg", "Heidelberg-size case")):
        f = fig[key]
        units = f["units"]
        lines.append(
            f"  {title}: {units['communities']:,} communities, {units['streets']:,} streets,"
            f" {f['services']:,} services"
        )
        lines.append(
            f"    map online {f['online_mb']:.2f} MB ({fmt_s(f['online_s'])}),"
            f" offline with walking time {f['offline_mb']:.2f} MB ({fmt_s(f['offline_s'])}),"
            f" without {f['offline_without_walk_time_mb']:.2f} MB"
            f" ({fmt_s(f['offline_without_walk_time_s'])}),"
            f" with service-area polygons instead {f['offline_with_service_areas_mb']:.2f} MB"
            f" ({fmt_s(f['offline_with_service_areas_s'])}; areas {fmt_s(f['service_areas_s'])})"
        )
    met = "met" if fig["demo_map_mb"] < fig["goal_demo_map_mb"] else "NOT met"
    lines.append(f"  demo map < {fig['goal_demo_map_mb']:g} MB: {met}")
    city, goals = fig["city"], fig["goals"]
    units = city["units"]
    lines.append(
        f"  city ({city['tiles'][0]} x {city['tiles'][1]} tiles, {city['nodes']:,} nodes,"
        f" {units['communities']:,} communities, {city['services']:,} services;"
        f" audit {fmt_s(city['audit_s'])})"
    )
    pngs = sorted(city["png_kb"].values())
    png = f"{pngs[0]:.0f}-{pngs[-1]:.0f} KB" if pngs else "none"
    opened = city["open"].get("median_s")
    write_s = city["write"]["median_s"]
    lines.append(
        f"    map: write {fmt_s(write_s)}"
        f" (goal < {goals['city_write_s']:g} s: {_met(_lt(write_s, goals['city_write_s']))}),"
        f" {city['mb']:.2f} MB"
        f" (goal < {goals['city_mb']:g} MB: {_met(city['mb'] < goals['city_mb'])}),"
        f" {len(pngs)} walking-time PNGs of {png},"
        f" open {fmt_s(opened) if opened is not None else city['open']}"
        f" (goal < {goals['open_s']:g} s: {_met(_lt(opened, goals['open_s']))})"
    )
    pois = city["pois"]
    opened = pois["open"].get("median_s")
    lines.append(
        f"    {pois['n']:,} POIs: {pois['bytes_per_poi']:.1f} bytes per POI"
        f" (goal <= {goals['poi_bytes']:g}: {_met(pois['bytes_per_poi'] <= goals['poi_bytes'])}),"
        f" {pois['mb']:.2f} MB, write {fmt_s(pois['write_s'])},"
        f" open {fmt_s(opened) if opened is not None else pois['open']}"
        f" (goal < {goals['open_s']:g} s: {_met(_lt(opened, goals['open_s']))})"
    )
    mem = city["peak_memory"]
    lines.append(memory_row("city: fresh load + audit + map (peak)", mem))
    return lines
