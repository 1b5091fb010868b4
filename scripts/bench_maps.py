"""Benchmark section "maps": size and time of the planner's HTML map, demo and Heidelberg-size.

A section of ``scripts/bench.py`` (``bench_maps(ctx)`` returns the figures, ``render_maps(fig)``
the extra lines); run it with ``.venv/bin/python scripts/bench.py --only maps``.

- demo: ``data/demo/case.toml`` audited, map saved online and ``offline=True``, and with the
  5/10/15-minute service areas of the pack's reach categories (``default_service_areas``).
- Heidelberg-size: the synthetic case of the "city" section on ONE copy of the Heidelberg
  network (168,262 nodes; communities, streets, facilities and origins generated the same way,
  seeded), audited, and its map saved the same three ways. It is a stand-in for a district of
  that size: the map's size grows with the number of units, services and polygons.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench import Context, fmt_s, row, summarize
from bench_city import N_FACILITIES, N_ORIGINS, TILES, make_case

from coverage.audit import AuditResult, audit_case
from coverage.maps import default_service_areas, save_map

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "case.toml"
GOAL_DEMO_MB = 5.0


def _maps_of(result: AuditResult, folder: Path, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    areas = default_service_areas(result)
    out["service_areas_s"] = time.perf_counter() - t0
    for label, options in (
        ("online", {"offline": False}),
        ("offline", {"offline": True}),
        ("offline_with_service_areas", {"offline": True, "service_areas": areas}),
    ):
        path = folder / f"{name}-{label}.html"
        t0 = time.perf_counter()
        save_map(result, path, **options)
        out[f"{label}_s"] = time.perf_counter() - t0
        out[f"{label}_mb"] = path.stat().st_size / 1e6
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
    fig["table"] = [
        row(
            f"{key}: save_map {label.replace('_', ' ')}",
            summarize([fig[key][label + "_s"]]),
            f"{fig[key][label + '_mb']:.2f} MB",
        )
        for key in ("demo", "heidelberg")
        for label in ("online", "offline", "offline_with_service_areas")
    ]
    fig["demo_map_mb"] = fig["demo"]["offline_with_service_areas_mb"]
    fig["goal_demo_map_mb"] = GOAL_DEMO_MB
    return fig


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
            f" offline {f['offline_mb']:.2f} MB ({fmt_s(f['offline_s'])}),"
            f" offline + service areas {f['offline_with_service_areas_mb']:.2f} MB"
            f" ({fmt_s(f['offline_with_service_areas_s'])}; areas {fmt_s(f['service_areas_s'])})"
        )
    met = "met" if fig["demo_map_mb"] < fig["goal_demo_map_mb"] else "NOT met"
    lines.append(f"  demo map < {fig['goal_demo_map_mb']:g} MB: {met}")
    return lines
