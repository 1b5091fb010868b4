"""Build the demo case ``data/demo/`` from the real data in ``../shared/data``.

Usage::

    .venv/bin/python scripts/build_demo.py [--shared ../shared] [--out data/demo]

Inputs: ``osm/chengdu-center.osm.bz2`` (OpenStreetMap, ODbL) and
``census/population_county_2020.csv`` (7th census, thebamboogrove/tudigong, MIT).
Outputs (deterministic: a rerun writes the same bytes): the OSM extract (copied unchanged),
``communities.geojson``, ``streets.geojson``, ``services.geojson``, ``case.toml`` and
``README.md``. Community and street boundaries are ILLUSTRATIVE: blocks bounded by the main
roads (blocks without residential land merged into a residential neighbour of their street),
not administrative boundaries. See the generated README for every step.
"""

from __future__ import annotations

import argparse
import csv
import logging
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import shapely
from shapely.geometry import LineString, box
from shapely.ops import polygonize, unary_union

from coverage.categories import CATEGORIES, category_label
from coverage.crs import local_metric_crs
from coverage.osm_features import read_osm_buildings, read_osm_landuse, read_osm_services
from coverage.population import RESIDENTIAL_BUILDING_VALUES

logger = logging.getLogger("build_demo")

REPO = Path(__file__).resolve().parents[1]
OSM_NAME = "chengdu-center.osm.bz2"
MAIN_ROADS = frozenset(
    {"motorway", "trunk", "primary", "secondary", "tertiary", "trunk_link", "primary_link"}
)
MIN_COMMUNITY_M2 = 100_000.0  # 0.1 km²
MAX_COMMUNITY_M2 = 1_000_000.0  # 1 km²
MAX_STREET_M2 = 8_000_000.0  # split street groups above 8 km² (results are ~2-8 km²)
# A block with less residential land than this (landuse=residential or residential building
# footprints) is not a community of its own: it joins a residential neighbour of its street.
# 2,000 m² rather than 0 so that a land-use polygon grazing a block across a road does not make
# it "residential" (at the demo's densities 2,000 m² hold about 270-900 people).
MIN_RESIDENTIAL_M2 = 2_000.0
MAX_MERGED_M2 = 2_000_000.0  # a merged community may grow up to 2 km², never beyond

# The five central districts of Chengdu: census code, Chinese name, English name, and land area
# (km²), approximate published figures typed in by hand from memory (not in ../shared/data; not
# checked against an official source). The area only scales each district's census population to the
# part of the district inside the extract.
DISTRICTS: dict[str, tuple[str, str, float]] = {
    "510104": ("锦江区", "Jinjiang", 62.12),
    "510105": ("青羊区", "Qingyang", 67.78),
    "510106": ("金牛区", "Jinniu", 108.29),
    "510107": ("武侯区", "Wuhou", 76.56),
    "510108": ("成华区", "Chenghua", 110.6),
}


def read_bounds(osm: Path) -> tuple[float, float, float, float]:
    """The ``<bounds>`` of the OSM file as (min_lon, min_lat, max_lon, max_lat)."""
    header = osmium.io.Reader(str(osm), osmium.osm.osm_entity_bits.NOTHING).header()
    b = header.box()
    return (b.bottom_left.lon, b.bottom_left.lat, b.top_right.lon, b.top_right.lat)


def read_lines(
    osm: Path,
) -> tuple[list[LineString], dict[int, LineString], dict[int, tuple[str, set[int]]]]:
    """Main-road lines, admin-level-6 boundary ways and the district relations."""
    relations: dict[int, tuple[str, set[int]]] = {}
    for obj in osmium.FileProcessor(str(osm), osmium.osm.RELATION):
        if isinstance(obj, osmium.osm.Relation) and obj.tags.get("admin_level") == "6":
            ways = {m.ref for m in obj.members if m.type == "w"}
            relations[obj.id] = (obj.tags.get("name") or "", ways)
    boundary_ids = set().union(*(w for _, w in relations.values())) if relations else set()
    roads: list[tuple[int, LineString]] = []
    boundaries: dict[int, LineString] = {}
    for obj in osmium.FileProcessor(str(osm)).with_locations():
        if not isinstance(obj, osmium.osm.Way):
            continue
        is_road = obj.tags.get("highway") in MAIN_ROADS
        if not is_road and obj.id not in boundary_ids:
            continue
        coords = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
        if len(coords) < 2:
            continue
        line = LineString(coords)
        if is_road:
            roads.append((obj.id, line))
        if obj.id in boundary_ids:
            boundaries[obj.id] = line
    roads.sort(key=lambda r: r[0])
    return [line for _, line in roads], boundaries, relations


def district_faces(
    frame: shapely.Geometry,
    boundaries: dict[int, LineString],
    relations: dict[int, tuple[str, set[int]]],
) -> dict[str, shapely.Geometry]:
    """Split the extract into district parts with the admin boundary ways inside it.

    The district relations are incomplete in the extract (most of their ways lie outside), so
    the parts are the faces of (boundary ways + extract frame); each face is labelled with the
    relation that all its bounding ways belong to, and an ambiguous face (bounded by one
    shared way only) gets the relation that its neighbour across that way does not have.
    """
    name_to_code = {v[0]: k for k, v in DISTRICTS.items()}
    rel_code: dict[int, str] = {}
    for rid, (name, _) in relations.items():
        for zh, code in name_to_code.items():
            if name.startswith(zh):
                rel_code[rid] = code
    clipped = [line.intersection(frame) for _, line in sorted(boundaries.items())]
    faces = sorted(
        polygonize(unary_union([frame.boundary, *clipped])),
        key=lambda f: (round(f.centroid.x, 9), round(f.centroid.y, 9)),
    )
    face_ways: list[dict[int, set[int]]] = []
    for face in faces:
        ways: dict[int, set[int]] = {}
        for wid, line in sorted(boundaries.items()):
            if face.boundary.intersection(line).length > 1e-9:
                ways[wid] = {r for r, (_, ws) in relations.items() if wid in ws and r in rel_code}
        face_ways.append(ways)
    labels: list[set[int]] = []
    for ways in face_ways:
        sets = list(ways.values())
        labels.append(set.intersection(*sets) if sets else set())
    for i, cand in enumerate(labels):
        if len(cand) > 1:
            for j, other in enumerate(labels):
                if j != i and len(other) == 1 and set(face_ways[i]) & set(face_ways[j]):
                    cand -= other
    parts: dict[str, list[shapely.Geometry]] = {}
    for face, cand in zip(faces, labels, strict=True):
        if len(cand) != 1:
            msg = f"cannot tell which district a part of the extract belongs to: {cand}"
            raise RuntimeError(msg)
        parts.setdefault(rel_code[next(iter(cand))], []).append(face)
    return {code: unary_union(geoms) for code, geoms in sorted(parts.items())}


def blocks_from_roads(roads: list[LineString], frame: shapely.Geometry) -> list[shapely.Geometry]:
    """Faces of the main-road network inside the extract frame."""
    clipped = [r.intersection(frame) for r in roads]
    merged = unary_union([frame.boundary, *clipped])
    return list(polygonize(merged))


def merge_small(blocks: list[shapely.Geometry], min_area: float) -> list[shapely.Geometry]:
    """Merge blocks below ``min_area`` (metric CRS) into the neighbour with the longest border."""
    geoms = [shapely.make_valid(b) for b in blocks]
    while True:
        areas = np.array([g.area for g in geoms])
        small = [i for i in np.argsort(areas, kind="stable") if areas[i] < min_area]
        if not small or len(geoms) == 1:
            return geoms
        i = int(small[0])
        tree = shapely.STRtree(geoms)
        best, best_len = -1, 0.0
        for j in sorted(int(k) for k in tree.query(geoms[i], predicate="intersects")):
            if j == i:
                continue
            shared = geoms[i].boundary.intersection(geoms[j].boundary).length
            if shared > best_len + 1e-9:
                best, best_len = j, shared
        if best < 0:  # isolated sliver: join the nearest block
            dists = [(geoms[i].distance(g), k) for k, g in enumerate(geoms) if k != i]
            best = min(dists)[1]
        geoms[best] = shapely.make_valid(unary_union([geoms[best], geoms[i]]))
        del geoms[i]


def split_large(geom: shapely.Geometry, max_area: float) -> list[shapely.Geometry]:
    """Bisect a block along the longer side of its bounds until every piece is ≤ ``max_area``."""
    if geom.area <= max_area:
        return [geom]
    minx, miny, maxx, maxy = geom.bounds
    if maxx - minx >= maxy - miny:
        mid = (minx + maxx) / 2
        halves = [box(minx, miny, mid, maxy), box(mid, miny, maxx, maxy)]
    else:
        mid = (miny + maxy) / 2
        halves = [box(minx, miny, maxx, mid), box(minx, mid, maxx, maxy)]
    out: list[shapely.Geometry] = []
    for h in halves:
        piece = shapely.make_valid(geom.intersection(h))
        polys = [g for g in getattr(piece, "geoms", [piece]) if g.geom_type == "Polygon"]
        if polys:
            out.extend(split_large(unary_union(polys), max_area))
    return out


def residential_land(osm: Path, crs: object) -> tuple[shapely.Geometry, int, int]:
    """Where people live: OSM ``landuse=residential`` plus residential building footprints.

    Residential buildings are those with a ``building`` value in
    :data:`coverage.population.RESIDENTIAL_BUILDING_VALUES` (the values the audit also uses).
    Returns the union (in ``crs``), the number of land-use polygons and of buildings.
    """
    landuse = read_osm_landuse(osm).to_crs(crs)
    buildings = read_osm_buildings(osm)
    homes = buildings[buildings["building"].isin(RESIDENTIAL_BUILDING_VALUES)].to_crs(crs)
    geom = shapely.make_valid(unary_union([*landuse.geometry, *homes.geometry]))
    return geom, len(landuse), len(homes)


def merge_unresidential(
    geoms: list[shapely.Geometry],
    streets: list[int],
    weight: list[float],
    min_weight: float,
    max_area: float,
) -> tuple[list[shapely.Geometry], list[int], list[float]]:
    """Merge blocks without residential land into a residential neighbour of the same street.

    Repeatedly, the smallest block with ``weight < min_weight`` that has an eligible neighbour
    joins it: eligible neighbours are in the same street, have ``weight >= min_weight``, share at
    least 1 m of border, and the merged block stays at most ``max_area``; among them the one with
    the longest shared border wins. Stops when no such block can merge (blocks left with
    ``weight < min_weight`` have no eligible neighbour). Weights add up on merging.
    """
    geoms, streets, weight = list(geoms), list(streets), list(weight)
    while True:
        tree = shapely.STRtree(geoms)
        poor = sorted(
            (i for i, w in enumerate(weight) if w < min_weight), key=lambda i: (geoms[i].area, i)
        )
        for i in poor:
            best, best_len = -1, 0.0
            for j in sorted(int(k) for k in tree.query(geoms[i], predicate="intersects")):
                if j == i or streets[j] != streets[i] or weight[j] < min_weight:
                    continue
                if geoms[i].area + geoms[j].area > max_area:
                    continue
                shared = geoms[i].boundary.intersection(geoms[j].boundary).length
                if shared >= 1.0 and shared > best_len + 1e-9:
                    best, best_len = j, shared
            if best >= 0:
                geoms[best] = shapely.make_valid(unary_union([geoms[best], geoms[i]]))
                weight[best] += weight[i]
                del geoms[i], streets[i], weight[i]
                break
        else:
            return geoms, streets, weight


def spread_census(
    geoms: list[shapely.Geometry],
    parts: dict[str, shapely.Geometry],
    census: dict[str, int],
    residential: shapely.Geometry,
) -> tuple[np.ndarray, np.ndarray, list[tuple[object, ...]]]:
    """Census population of each district part, spread over ``geoms`` by residential land.

    Returns whole people per geometry, residential land (m²) per geometry and the district rows
    of the README table.
    """
    homes = [g.intersection(residential) for g in geoms]
    rows: list[tuple[object, ...]] = []
    pop = np.zeros(len(geoms), dtype=np.int64)
    res_area = np.zeros(len(geoms))
    for code, part in parts.items():
        zh, en, area_km2 = DISTRICTS[code]
        part_km2 = part.area / 1e6
        in_extract = round(census[code] * min(part_km2 / area_km2, 1.0))
        w = np.array([h.intersection(part).area for h in homes])
        res_area += w
        res_km2 = float(w.sum()) / 1e6
        basis = "residential land"
        if w.sum() <= 0:
            w = np.array([g.intersection(part).area for g in geoms])
            basis = "area (no residential land mapped)"
        pop += largest_remainder(in_extract, w)
        rows.append((code, zh, en, census[code], area_km2, part_km2, in_extract, res_km2, basis))
    return pop, res_area, rows


def group_streets(
    cent: np.ndarray, area: np.ndarray, idx: list[int], max_area: float
) -> list[list[int]]:
    """Recursive bisection of communities (by centroid, at the area-weighted median)."""
    if area[idx].sum() <= max_area or len(idx) < 2:
        return [idx]
    xy = cent[idx]
    axis = 0 if np.ptp(xy[:, 0]) >= np.ptp(xy[:, 1]) else 1
    order = [idx[k] for k in np.lexsort((xy[:, 1 - axis], xy[:, axis]))]
    cum = np.cumsum(area[order])
    cut = int(np.searchsorted(cum, cum[-1] / 2)) + 1
    cut = min(max(cut, 1), len(order) - 1)
    return group_streets(cent, area, order[:cut], max_area) + group_streets(
        cent, area, order[cut:], max_area
    )


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` that sum exactly to ``total``."""
    if total == 0 or weights.sum() <= 0:
        return np.zeros(len(weights), dtype=np.int64)
    exact = total * weights / weights.sum()
    base = np.floor(exact).astype(np.int64)
    rest = total - int(base.sum())
    order = np.lexsort((np.arange(len(weights)), -(exact - base)))
    base[order[:rest]] += 1
    return base


def _stats(area_km2: np.ndarray, pop: np.ndarray) -> dict[str, float]:
    return {
        "area_min": float(np.min(area_km2)),
        "area_med": float(np.median(area_km2)),
        "area_max": float(np.max(area_km2)),
        "pop_min": float(np.min(pop)),
        "pop_med": float(np.median(pop)),
        "pop_max": float(np.max(pop)),
    }


def read_census(path: Path) -> dict[str, int]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return {
            row["CODE"]: int(row["POPU"]) for row in csv.DictReader(fh) if row["CODE"] in DISTRICTS
        }


def write_geojson(frame: gpd.GeoDataFrame, path: Path) -> None:
    if path.exists():
        path.unlink()
    frame.to_file(path, driver="GeoJSON", engine="pyogrio", COORDINATE_PRECISION=7, RFC7946=True)


def build(shared: Path, out: Path) -> dict[str, object]:
    src = shared / "data" / "osm" / OSM_NAME
    census_csv = shared / "data" / "census" / "population_county_2020.csv"
    out.mkdir(parents=True, exist_ok=True)
    osm = out / OSM_NAME
    shutil.copyfile(src, osm)

    bounds = read_bounds(osm)
    frame_ll = box(*bounds)
    utm = local_metric_crs(list(bounds))

    roads, boundaries, relations = read_lines(osm)
    # polygonize in degrees (noding of lines clipped to the frame is exact there), then project
    blocks = list(gpd.GeoSeries(blocks_from_roads(roads, frame_ll), crs=4326).to_crs(utm))
    n_blocks = len(blocks)
    merged = merge_small(blocks, MIN_COMMUNITY_M2)
    pieces: list[shapely.Geometry] = []
    for g in merged:
        pieces.extend(split_large(g, MAX_COMMUNITY_M2))
    pieces = merge_small(pieces, MIN_COMMUNITY_M2)

    # residential land and the census population of each district part in the extract
    residential, n_landuse, n_homes = residential_land(osm, utm)
    census = read_census(census_csv)
    parts_ll = district_faces(frame_ll, boundaries, relations)
    parts = dict(
        zip(parts_ll, gpd.GeoSeries(list(parts_ll.values()), crs=4326).to_crs(utm), strict=True)
    )

    # streets: recursive bisection, then numbering north-west first
    cent = np.array([[p.centroid.x, p.centroid.y] for p in pieces])
    area = np.array([p.area for p in pieces])
    groups = group_streets(cent, area, list(range(len(pieces))), MAX_STREET_M2)
    group_cent = [cent[g].mean(axis=0) for g in groups]
    g_order = sorted(
        range(len(groups)), key=lambda k: (-round(group_cent[k][1], -2), group_cent[k][0])
    )
    street_of = np.zeros(len(pieces), dtype=np.int64)
    for s_no, gk in enumerate(g_order, start=1):
        street_of[groups[gk]] = s_no

    # communities: blocks without residential land join a residential neighbour of their street
    piece_res = [p.intersection(residential).area for p in pieces]
    n_pieces = len(pieces)
    n_poor_pieces = sum(w < MIN_RESIDENTIAL_M2 for w in piece_res)
    geoms, comm_street, _ = merge_unresidential(
        pieces, [int(s) for s in street_of], piece_res, MIN_RESIDENTIAL_M2, MAX_MERGED_M2
    )
    ccent = np.array([[g.centroid.x, g.centroid.y] for g in geoms])
    comm_rows = []
    street_rows = []
    n = 0
    for s_no in range(1, len(groups) + 1):
        sid = f"S{s_no:02d}"
        members = sorted(
            (k for k, s in enumerate(comm_street) if s == s_no),
            key=lambda k: (-round(ccent[k][1], -1), ccent[k][0]),
        )
        for k in members:
            n += 1
            comm_rows.append(
                {
                    "community_id": f"C{n:03d}",
                    "name": f"演示社区 {n:03d}",
                    "name_en": f"Demo community {n:03d}",
                    "street_id": sid,
                    "geometry": geoms[k],
                }
            )
        street_rows.append(
            {
                "street_id": sid,
                "name": f"演示街道 {s_no:02d}",
                "name_en": f"Demo street {s_no:02d}",
                "geometry": shapely.make_valid(unary_union([geoms[k] for k in members])),
            }
        )
    comms = gpd.GeoDataFrame(comm_rows, geometry="geometry", crs=utm)
    streets = gpd.GeoDataFrame(street_rows, geometry="geometry", crs=utm)

    # population: census -> district part in the extract -> communities by residential land
    pop, res_area, district_rows = spread_census(list(comms.geometry), parts, census, residential)
    comms["population"] = pop.astype(float)
    comms["area_km2"] = (comms.geometry.area / 1e6).round(4)
    comms["residential_km2"] = (res_area / 1e6).round(4)
    streets["area_km2"] = (streets.geometry.area / 1e6).round(4)
    streets["population"] = [
        float(comms.loc[comms.street_id == s, "population"].sum()) for s in streets.street_id
    ]

    services = read_osm_services(osm)
    services = services.drop(columns=["windows"])

    comms_ll = comms.to_crs(4326)
    streets_ll = streets.to_crs(4326)
    write_geojson(comms_ll, out / "communities.geojson")
    write_geojson(streets_ll, out / "streets.geojson")
    write_geojson(services, out / "services.geojson")
    (out / "case.toml").write_text(CASE_TOML, encoding="utf-8")

    counts = services["category"].value_counts()
    all_counts = {
        c: int(services["categories"].str.split(";").apply(lambda x, c=c: c in x).sum())
        for c in CATEGORIES
    }
    facts = {
        "n_blocks": n_blocks,
        "n_communities": len(comms),
        "n_streets": len(streets),
        "total_population": int(pop.sum()),
        "zero_pop": int((pop == 0).sum()),
        "comm_km2": (float(comms.area_km2.min()), float(comms.area_km2.max())),
        "street_km2": (float(streets.area_km2.min()), float(streets.area_km2.max())),
        "district_rows": district_rows,
        "primary_counts": {c: int(counts.get(c, 0)) for c in CATEGORIES},
        "all_counts": all_counts,
        "n_services": len(services),
        "n_residential": n_landuse,
        "n_homes": n_homes,
        "n_pieces": n_pieces,
        "n_poor_pieces": n_poor_pieces,
        "poor_left": [
            (cid, sid, float(a), float(r) / 1e6, int(p))
            for cid, sid, a, r, p in zip(
                comms.community_id, comms.street_id, comms.area_km2, res_area, pop, strict=True
            )
            if r < MIN_RESIDENTIAL_M2
        ],
        "comm_stats": _stats(comms.area_km2.to_numpy(), pop),
        "street_stats": _stats(
            streets.area_km2.to_numpy(), streets.population.to_numpy(dtype=np.int64)
        ),
        "comm_pop_low": int((pop < 3_000).sum()),
        "comm_pop_high": int((pop > 15_000).sum()),
        "comm_km2_high": int((comms.area_km2 > 1.0).sum()),
        "street_pop_low": int((streets.population < 50_000).sum()),
        "street_pop_high": int((streets.population > 150_000).sum()),
    }
    (out / "README.md").write_text(render_readme(facts), encoding="utf-8")
    return facts


CASE_TOML = """[case]
name = "成都中心城区（演示）"
pack = "wuhan-1plus10"

[network]
osm = "chengdu-center.osm.bz2"

[streets]
path = "streets.geojson"
id = "street_id"
name = "name"
crs = "EPSG:4326"

[communities]
path = "communities.geojson"
id = "community_id"
name = "name"
street = "street_id"
population = "population"
crs = "EPSG:4326"

[services]
path = "services.geojson"
id = "service_id"
name = "name"
category = "category"
area = "area_m2"
crs = "EPSG:4326"

[residents]
buildings = "chengdu-center.osm.bz2"   # residential buildings and landuse are read """ + (
    """from the OSM file
grid_m = 50
"""
)


DISTRICT_HEADER = (
    "| code | district | census 2020 | land area km² | area in extract km² "
    "| people in extract | residential land km² | people per residential km² | spread by |"
    "\n|---|---|---:|---:|---:|---:|---:|---:|---|"
)


def render_readme(f: dict[str, object]) -> str:
    rows = f["district_rows"]
    assert isinstance(rows, list)
    drows = "\n".join(
        f"| {code} | {zh} ({en}) | {pop:,} | {a:.2f} | {p:.2f} | {n:,} | {r:.3f} "
        f"| {n / r if r > 0 else 0:,.0f} | {basis} |"
        for code, zh, en, pop, a, p, n, r, basis in rows
    )
    prim = f["primary_counts"]
    allc = f["all_counts"]
    assert isinstance(prim, dict) and isinstance(allc, dict)
    crows = "\n".join(
        f"| `{c}` | {category_label(c)} | {prim[c]} | {allc[c]} |" for c in CATEGORIES
    )
    zero = [c for c in CATEGORIES if allc[c] == 0]
    ckm = f["comm_km2"]
    skm = f["street_km2"]
    cs = f["comm_stats"]
    ss = f["street_stats"]
    poor = f["poor_left"]
    assert isinstance(ckm, tuple) and isinstance(skm, tuple)
    assert isinstance(cs, dict) and isinstance(ss, dict) and isinstance(poor, list)
    size_rows = "\n".join(
        f"| {unit} | {count} | {st['area_min']:.2f} / {st['area_med']:.2f} / {st['area_max']:.2f} "
        f"| {st['pop_min']:,.0f} / {st['pop_med']:,.0f} / {st['pop_max']:,.0f} |"
        for unit, count, st in (
            ("community", f["n_communities"], cs),
            ("street", f["n_streets"], ss),
        )
    )
    poor_rows = "\n".join(
        f"   - `{cid}` (street `{sid}`): {a:.2f} km², residential land {r:.4f} km², {p:,} residents"
        for cid, sid, a, r, p in poor
    )
    return f"""# Demo case: central Chengdu (成都中心城区，演示)

Built by `scripts/build_demo.py` from the project's shared real data; rerunning it writes the
same bytes. **The community and street boundaries are illustrative: they are NOT real
administrative boundaries** (no public ones exist for this area); the populations are census
figures spread by a documented rule, not counts of real communities.

- `chengdu-center.osm.bz2`: the OpenStreetMap extract of central Chengdu
  (104.042–104.130 E, 30.653–30.728 N), copied unchanged: walking network, POIs, buildings,
  land use.
- `communities.geojson`: {f["n_communities"]} illustrative communities: `community_id`,
  `name`, `name_en`, `street_id`, `population`, `area_km2`, `residential_km2`.
- `streets.geojson`: {f["n_streets"]} illustrative streets (街道): `street_id`, `name`,
  `name_en`, `area_km2`, `population`.
- `services.geojson`: {f["n_services"]} service POIs read from the extract with
  `coverage.osm_features.read_osm_services`.
- `case.toml`: the case description read by `coverage.case`.

**Total population: {f["total_population"]}**

## How the boundaries were made

1. Main roads: every OSM way with `highway` = motorway, trunk, trunk_link, primary,
   primary_link, secondary or tertiary, clipped to the extract's `<bounds>`.
2. Blocks: the faces of those roads plus the extract's frame (`shapely.ops.polygonize`, in
   longitude/latitude; every area below is then computed in UTM zone 48N, EPSG:32648):
   {f["n_blocks"]} faces, many of them slivers between dual carriageways.
3. Blocks smaller than 0.1 km² are merged, smallest first, into the neighbour with which they
   share the longest border; blocks larger than 1 km² are then cut in half along the longer
   side of their bounding box until every piece is at most 1 km², and small pieces are
   merged again: {f["n_pieces"]} blocks of 0.1–1 km².
4. Streets: the blocks are grouped by recursive bisection of their centroids (along the
   longer axis, at the area-weighted median) until each group is at most 8 km²:
   {f["n_streets"]} streets of {skm[0]:.2f}–{skm[1]:.2f} km², numbered north to south
   (`S01`…).
5. Residential land: the union of the OSM `landuse=residential` areas ({f["n_residential"]}
   polygons) and the footprints of the residential buildings ({f["n_homes"]} buildings tagged
   `building` = residential, apartments, house, detached, semidetached_house, terrace,
   dormitory or bungalow, the values the audit also treats as homes).
6. Communities are residential units, so a block without housing is not a community of its
   own: {f["n_poor_pieces"]} of the {f["n_pieces"]} blocks have less than
   {MIN_RESIDENTIAL_M2:,.0f} m² of residential land (0 in most of them; the threshold keeps a
   land-use polygon that barely crosses a road from making a block "residential"). Each of
   them is merged, smallest first and repeatedly until nothing changes, into the neighbouring
   block **of the same street** with at least {MIN_RESIDENTIAL_M2:,.0f} m² of residential land
   with which it shares the longest border, provided the merged block stays at most
   {MAX_MERGED_M2 / 1e6:.0f} km². Merged communities may therefore exceed the 1 km² of a
   typical central-city community (up to {MAX_MERGED_M2 / 1e6:.0f} km²). Result:
   {f["n_communities"]} communities of {ckm[0]:.2f}–{ckm[1]:.2f} km², numbered north to
   south within each street (`C001`…). The streets are unchanged by this step.
7. **Blocks that could not be merged** (no residential neighbour in their street within the
   {MAX_MERGED_M2 / 1e6:.0f} km² cap) stay communities of their own: {len(poor)}.
{poor_rows}

## How the population was derived

Source: the 7th national census (2020), `population_county_2020.csv`, column `POPU`
(residents), from thebamboogrove/tudigong (MIT licence).

1. District parts: the extract holds the admin_level=6 relations of the five central
   districts, but incomplete (most member ways lie outside it). The district boundary ways that
   are in the file are polygonized together with the extract's frame; each face is labelled
   with the district relation shared by all its bounding ways (a face bounded by a single
   shared way gets the district its neighbour across that way is not).
2. District population inside the extract = census population × (area of the district part
   inside the extract ÷ the district's land area). **Caveat: the land areas (km², in the
   table) are approximate published figures typed in by hand from memory: they are not part of
   the shared data and were not checked against an official source.** They only scale the demo;
   a different land area changes every population of that district in proportion.
3. Each district's in-extract population is distributed over the communities in proportion to
   the residential land (step 5 above: residential land use plus residential building
   footprints) inside both the community and the district part, as whole people
   (largest-remainder rounding, so each district's figure is kept exactly). A community's
   population is the sum over the district parts it overlaps; the column `residential_km2` is
   that residential land. Every community of one district thus has the same number of people
   per km² of residential land (the table's "people per residential km²"), up to rounding.
4. **{f["zero_pop"]} communities have 0 people**: no residential land is mapped in them.
   That is a finding about the data, not about Chengdu: OSM's residential land use here is
   incomplete, so the population is concentrated in the blocks where it is mapped. The
   "people per residential km²" of the table are far above any real residential density for
   the same reason (OSM maps only part of the housing); they show how concentrated the demo's
   population is, not how densely anyone lives.

{DISTRICT_HEADER}
{drows}

## Sizes against the rules

`../shared/RULES.md`: a central-city community is typically 0.1–1 km² with 3,000–15,000
residents, a street 2–10 km² with 50,000–150,000 residents.

| unit | count | area km² min / median / max | residents min / median / max |
|---|---:|---|---|
{size_rows}

- {f["comm_km2_high"]} communities are larger than 1 km² (merged blocks without housing,
  step 6; none above {MAX_MERGED_M2 / 1e6:.0f} km²).
- {f["comm_pop_low"]} communities have fewer than 3,000 residents ({f["zero_pop"]} of them
  none) and {f["comm_pop_high"]} more than 15,000. The spread follows the mapped residential
  land: where OSM maps a whole residential quarter as land use the block gets many people,
  where it maps only a few buildings (or nothing) it gets few. Real communities are drawn to
  hold similar numbers of people; these blocks are drawn by roads.
- {f["street_pop_low"]} of the {f["n_streets"]} streets have fewer than 50,000 residents and
  {f["street_pop_high"]} more than 150,000, for the same reason: the streets are grouped by
  area, and the residential land mapped in OSM is uneven across the extract (the streets
  with few residents are those where little housing is mapped).

## Services: category counts

Read from the OSM extract with the shipped category mapping (`coverage/data/categories.yaml`).
"primary" counts each POI once (its first category); "serves" counts every POI that serves the
category (a supermarket also serves `shopping`). OpenStreetMap's coverage of Chinese shops and
services is thin, so many categories are under-counted and the audit of this demo will show
gaps that are gaps in the map, not necessarily in the city.

| category | 中文 | primary | serves |
|---|---|---:|---:|
{crows}

Categories with no POI at all in the extract: {", ".join(f"`{c}`" for c in zero) or "none"}.

## Attribution and licences

- Map data © OpenStreetMap contributors, ODbL (https://www.openstreetmap.org/copyright). The
  `.osm.bz2` file and every layer derived from it (boundaries, services, populations spread by
  land use) are under the ODbL.
- Census figures: 7th national population census of China (2020), county level, via
  thebamboogrove/tudigong (MIT licence).
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--out", type=Path, default=REPO / "data" / "demo")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    facts = build(args.shared.resolve(), args.out.resolve())
    logger.info(
        "demo: %d communities, %d streets, population %d, %d services",
        facts["n_communities"],
        facts["n_streets"],
        facts["total_population"],
        facts["n_services"],
    )


if __name__ == "__main__":
    main()
