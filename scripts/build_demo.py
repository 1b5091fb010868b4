"""Build the demo case ``data/demo/`` from the real data in ``../shared/data``.

Usage::

    .venv/bin/python scripts/build_demo.py [--shared ../shared] [--out data/demo]

Inputs: ``osm/chengdu-center.osm.bz2`` (OpenStreetMap, ODbL) and
``census/population_county_2020.csv`` (7th census, thebamboogrove/tudigong, MIT).
Outputs (deterministic: a rerun writes the same bytes): the OSM extract (copied unchanged),
``communities.geojson``, ``streets.geojson``, ``services.geojson``, ``case.toml`` and
``README.md``. Community and street boundaries are ILLUSTRATIVE: blocks bounded by the main
roads, not administrative boundaries. See the generated README for every step.
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
from coverage.osm_features import read_osm_landuse, read_osm_services

logger = logging.getLogger("build_demo")

REPO = Path(__file__).resolve().parents[1]
OSM_NAME = "chengdu-center.osm.bz2"
MAIN_ROADS = frozenset(
    {"motorway", "trunk", "primary", "secondary", "tertiary", "trunk_link", "primary_link"}
)
MIN_COMMUNITY_M2 = 100_000.0  # 0.1 km²
MAX_COMMUNITY_M2 = 1_000_000.0  # 1 km²
MAX_STREET_M2 = 8_000_000.0  # split street groups above 8 km² (results are ~2-8 km²)

# The five central districts of Chengdu: census code, Chinese name, English name, and land area
# (km²), approximate published figures entered by hand (not in ../shared/data; not re-checked
# against an official source). The area only scales each district's census population to the
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

    # streets: recursive bisection, then numbering north-west first
    cent = np.array([[p.centroid.x, p.centroid.y] for p in pieces])
    area = np.array([p.area for p in pieces])
    groups = group_streets(cent, area, list(range(len(pieces))), MAX_STREET_M2)
    group_cent = [cent[g].mean(axis=0) for g in groups]
    g_order = sorted(
        range(len(groups)), key=lambda k: (-round(group_cent[k][1], -2), group_cent[k][0])
    )
    comm_rows = []
    street_rows = []
    n = 0
    for s_no, gk in enumerate(g_order, start=1):
        sid = f"S{s_no:02d}"
        members = sorted(groups[gk], key=lambda k: (-round(cent[k][1], -1), cent[k][0]))
        for k in members:
            n += 1
            comm_rows.append(
                {
                    "community_id": f"C{n:03d}",
                    "name": f"演示社区 {n:03d}",
                    "name_en": f"Demo community {n:03d}",
                    "street_id": sid,
                    "geometry": pieces[k],
                }
            )
        street_rows.append(
            {
                "street_id": sid,
                "name": f"演示街道 {s_no:02d}",
                "name_en": f"Demo street {s_no:02d}",
                "geometry": shapely.make_valid(unary_union([pieces[k] for k in members])),
            }
        )
    comms = gpd.GeoDataFrame(comm_rows, geometry="geometry", crs=utm)
    streets = gpd.GeoDataFrame(street_rows, geometry="geometry", crs=utm)

    # population: census -> district part in the extract -> communities by residential land
    census = read_census(census_csv)
    parts_ll = district_faces(frame_ll, boundaries, relations)
    parts = dict(
        zip(parts_ll, gpd.GeoSeries(list(parts_ll.values()), crs=4326).to_crs(utm), strict=True)
    )
    landuse = read_osm_landuse(osm).to_crs(utm)
    residential = shapely.make_valid(unary_union(list(landuse.geometry)))
    district_rows = []
    pop = np.zeros(len(comms), dtype=np.int64)
    res_area = np.zeros(len(comms))
    for code, part in parts.items():
        zh, en, area_km2 = DISTRICTS[code]
        part_km2 = part.area / 1e6
        in_extract = round(census[code] * min(part_km2 / area_km2, 1.0))
        w = np.array([c.intersection(part).intersection(residential).area for c in comms.geometry])
        basis = "residential land use"
        if w.sum() <= 0:
            w = np.array([c.intersection(part).area for c in comms.geometry])
            basis = "area (no residential land use mapped)"
        res_area += np.array(
            [c.intersection(part).intersection(residential).area for c in comms.geometry]
        )
        pop += largest_remainder(in_extract, w)
        district_rows.append((code, zh, en, census[code], area_km2, part_km2, in_extract, basis))
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
        "n_residential": len(landuse),
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
    "| people in extract | spread by |\n|---|---|---:|---:|---:|---:|---|"
)


def render_readme(f: dict[str, object]) -> str:
    rows = f["district_rows"]
    assert isinstance(rows, list)
    drows = "\n".join(
        f"| {code} | {zh} ({en}) | {pop:,} | {a:.2f} | {p:.2f} | {n:,} | {basis} |"
        for code, zh, en, pop, a, p, n, basis in rows
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
    assert isinstance(ckm, tuple) and isinstance(skm, tuple)
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
   merged again. Result: {f["n_communities"]} communities of {ckm[0]:.2f}–{ckm[1]:.2f} km².
4. Streets: communities are grouped by recursive bisection of their centroids (along the
   longer axis, at the area-weighted median) until each group is at most 8 km²:
   {f["n_streets"]} streets of {skm[0]:.2f}–{skm[1]:.2f} km². Streets are numbered north to
   south, communities within a street likewise (`C001`…, `S01`…).

## How the population was derived

Source: the 7th national census (2020), `population_county_2020.csv`, column `POPU`
(residents), from thebamboogrove/tudigong (MIT licence).

1. District parts: the extract holds the admin_level=6 relations of the five central
   districts, but incomplete (most member ways lie outside it). The district boundary ways that
   are in the file are polygonized together with the extract's frame; each face is labelled
   with the district relation shared by all its bounding ways (a face bounded by a single
   shared way gets the district its neighbour across that way is not).
2. District population inside the extract = census population × (area of the district part
   inside the extract ÷ the district's land area). The land areas (km², in the table) are
   approximate published figures entered by hand in the script: they are not part of the
   shared data and were not re-checked against an official source when the demo was built.
   They only scale the demo.
3. Each district's in-extract population is distributed over the communities in proportion to
   the OSM `landuse=residential` area ({f["n_residential"]} polygons) inside both the community
   and the district part, as whole people (largest-remainder rounding, so each district's
   figure is kept exactly). A community's population is the sum over the district parts it
   overlaps.
4. **{f["zero_pop"]} communities have no mapped residential land use and therefore 0 people.**
   That is a finding about the data, not about Chengdu: OSM's residential land use here is
   incomplete, so the population is concentrated in the blocks where it is mapped.

{DISTRICT_HEADER}
{drows}

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
