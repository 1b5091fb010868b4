"""Build the "bring your own data" case ``data/byod/`` from the demo case ``data/demo/``.

Usage::

    .venv/bin/python scripts/build_byod.py [--demo data/demo] [--out data/byod]

The demo case is clean, canonical and in WGS-84. Planners receive their data differently, so
this script re-exports a small part of it (the communities whose representative point lies in a
2 × 2 km window of central Chengdu) the way a planning office gets it:

* ``pois_amap.csv``: service POIs read from the demo's OpenStreetMap extract
  (:func:`coverage.osm_features.read_osm_services`), written like an Amap (高德) POI export:
  Chinese column names (编号, 名称, 大类, 中类, 小类, 类型编码, 地址, 经度, 纬度), Amap type codes,
  coordinates shifted WGS-84 -> GCJ-02 and text encoded in GBK, the way Excel in China saves it.
* ``boundaries.gpkg``: two layers, ``街道`` (streets: 街道代码, 街道名称) and ``社区``
  (communities: 社区代码, 社区名称, 街道代码, 常住人口), in CGCS2000 (EPSG:4490).
* ``case.toml``: the case file that reads all of it, and ``README.md``.

Every output is deterministic: a rerun writes the same bytes (the GeoPackage timestamps are
pinned with GDAL's ``OGR_CURRENT_DATE``).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from coverage.categories import CATEGORIES, load_category_map
from coverage.crs import wgs84_to_gcj02
from coverage.osm_features import read_osm_services

logger = logging.getLogger("build_byod")

REPO = Path(__file__).resolve().parents[1]
OSM_NAME = "chengdu-center.osm.bz2"

#: The window (WGS-84 lon/lat, about 2.0 × 2.0 km, UTM 48N 413,221-415,221 E and
#: 3,392,947-3,394,947 N): the demo communities whose representative point lies inside it are
#: the case. Chosen as the 2 × 2 km window with the most service POIs inside its communities.
WINDOW = (104.09416, 30.66609, 104.11487, 30.68428)
#: POIs are kept within this distance (m) of the selected communities, as an export by
#: rectangle around a study area would: residents near the edge also use services beyond it.
POI_MARGIN_M = 300.0
#: Every shipped timestamp inside the GeoPackage.
GPKG_DATE = "2026-01-01T00:00:00.000Z"

STREETS_LAYER = "街道"
COMMUNITIES_LAYER = "社区"
CSV_NAME = "pois_amap.csv"
GPKG_NAME = "boundaries.gpkg"

#: A representative Amap type code per category, with its 大类/中类/小类 names. Each code is
#: checked against the ``amap`` section of ``coverage/data/categories.yaml`` when the script
#: runs: the category must be the one the code classifies to, except where noted (categories
#: with no Amap class of their own get the nearest class, and lose their identity on the way).
AMAP_TYPES: dict[str, tuple[str, str, str, str]] = {
    "shopping": ("060000", "购物服务", "购物相关场所", "购物相关场所"),
    "convenience_store": ("060200", "购物服务", "便民商店/便利店", "便民商店/便利店"),
    "supermarket": ("060400", "购物服务", "超级市场", "超市"),
    "fresh_market": ("060703", "购物服务", "综合市场", "农副产品市场"),
    "catering": ("050000", "餐饮服务", "餐饮相关场所", "餐饮相关"),
    # Amap has no breakfast class: a breakfast shop is a restaurant (name rules may still
    # recognise 早餐/包子/豆浆 in its name).
    "breakfast": ("050000", "餐饮服务", "餐饮相关场所", "餐饮相关"),
    "express": ("070500", "生活服务", "物流速递", "物流速递"),
    "telecom": ("070600", "生活服务", "电讯营业厅", "电讯营业厅"),
    "water": ("070900", "生活服务", "自来水营业厅", "自来水营业厅"),
    "power": ("071000", "生活服务", "电力营业厅", "电力营业厅"),
    "hairdresser": ("071100", "生活服务", "美容美发店", "美容美发店"),
    "repair": ("071200", "生活服务", "维修站点", "维修站点"),
    "laundry": ("071500", "生活服务", "洗衣店", "洗衣店"),
    "housekeeping": ("071700", "生活服务", "搬家公司", "搬家公司"),
    "sports_ground": ("080100", "体育休闲服务", "运动场馆", "运动场所"),
    # no class of its own: fitness stations and gyms are filed under sports venues, which
    # classify as sports_ground (exercise_point second)
    "exercise_point": ("080100", "体育休闲服务", "运动场馆", "运动场所"),
    "clinic": ("090300", "医疗保健服务", "诊所", "诊所"),
    "pharmacy": ("090601", "医疗保健服务", "医药保健销售店", "药房"),
    "park": ("110101", "风景名胜", "公园广场", "公园"),
    "government_service_centre": (
        "130106",
        "政府机构及社会团体",
        "政府机关",
        "乡镇级政府及事业单位",
    ),
    "community_service_centre": (
        "130107",
        "政府机构及社会团体",
        "政府机关",
        "乡镇以下级政府及事业单位",
    ),
    "primary_school": ("141203", "科教文化服务", "学校", "小学"),
    "kindergarten": ("141204", "科教文化服务", "学校", "幼儿园"),
    # no Amap class in the shipped mapping: an empty code, so only name rules classify it
    "elderly_care": ("", "", "", ""),
}
#: A clinic whose name says 医院 is filed as a general hospital, as Amap does.
HOSPITAL = ("090100", "医疗保健服务", "综合医院", "综合医院")
#: Categories whose representative code classifies to another category (noted above).
SECONDARY_CODE = frozenset({"breakfast", "exercise_point", "elderly_care"})

CSV_COLUMNS = ["编号", "名称", "大类", "中类", "小类", "类型编码", "地址", "经度", "纬度"]

CASE_TOML = """\
# "Bring your own data" example: files as a planning office receives them.
# Built by scripts/build_byod.py from data/demo (see README.md). Paths are relative to this file.

[case]
name = "自带数据示例（成都中心城区 2×2 km）"
pack = "wuhan-1plus10"

[network]
# the walking network: the demo's OpenStreetMap extract
osm = "../demo/{osm}"

[streets]
path = "{gpkg}"
layer = "{streets_layer}"
id = "街道代码"
name = "街道名称"
crs = "EPSG:4490"                    # CGCS2000 lon/lat

[communities]
path = "{gpkg}"
layer = "{communities_layer}"
id = "社区代码"
name = "社区名称"
street = "街道代码"
population = "常住人口"
crs = "EPSG:4490"

[services]
path = "{csv}"
encoding = "gb18030"                 # saved by Excel in GBK; gb18030 is its superset
lon = "经度"
lat = "纬度"
coordinate_system = "gcj02"          # Amap coordinates carry the GCJ-02 offset
id = "编号"
name = "名称"
classify = "amap"                    # categories from the Amap type codes and names
typecode = "类型编码"

[residents]
# where people live: residential buildings and land use mapped in OpenStreetMap
buildings = "../demo/{osm}"
grid_m = 50
"""


def _check_codes() -> None:
    """Fail if a code of :data:`AMAP_TYPES` disagrees with the shipped category mapping."""
    cmap = load_category_map()
    missing = sorted(set(CATEGORIES) - set(AMAP_TYPES))
    if missing:
        msg = f"AMAP_TYPES lacks categories {missing}"
        raise RuntimeError(msg)
    for category, (code, *_names) in [*AMAP_TYPES.items(), ("clinic", HOSPITAL)]:
        if not code:
            continue
        found = cmap.classify_amap_all(code, None)
        ok = bool(found) if category in SECONDARY_CODE else found[:1] == [category]
        if not ok:
            msg = f"Amap code {code} classifies as {found}, not {category!r}"
            raise RuntimeError(msg)


def select_communities(communities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The demo communities whose representative point lies in :data:`WINDOW`."""
    points = communities.representative_point()
    inside = points.within(shapely.box(*WINDOW))
    return communities[inside.to_numpy()].sort_values("community_id").reset_index(drop=True)


def street_parts(streets: gpd.GeoDataFrame, communities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Each street of the selected communities, cut down to the area of those communities."""
    parts = communities.dissolve(by="street_id", as_index=False)[["street_id", "geometry"]]
    parts["geometry"] = shapely.make_valid(parts.geometry.to_numpy())
    parts = parts.merge(streets[["street_id", "name"]], on="street_id", how="left")
    return parts.sort_values("street_id").reset_index(drop=True)


def amap_table(services: gpd.GeoDataFrame) -> pd.DataFrame:
    """Services as an Amap export: Chinese columns, type codes, GCJ-02 lon/lat (6 decimals)."""
    rows = []
    for record in services.sort_values("service_id").itertuples(index=False):
        code, big, middle, small = AMAP_TYPES[record.category]
        if record.category == "clinic" and "医院" in record.name:
            code, big, middle, small = HOSPITAL
        lon, lat = wgs84_to_gcj02(record.geometry.x, record.geometry.y)
        rows.append(
            {
                "编号": record.service_id,
                "名称": record.name,
                "大类": big,
                "中类": middle,
                "小类": small,
                "类型编码": code,
                "地址": "",
                "经度": f"{lon:.6f}",
                "纬度": f"{lat:.6f}",
            }
        )
    return pd.DataFrame(rows, columns=CSV_COLUMNS)


def gbk_safe(text: str) -> tuple[str, int]:
    """``text`` with every character GBK cannot encode replaced by "?", and how many."""
    out = []
    replaced = 0
    for char in text:
        try:
            char.encode("gbk")
        except UnicodeEncodeError:
            out.append("?")
            replaced += 1
        else:
            out.append(char)
    return "".join(out), replaced


def write_csv(table: pd.DataFrame, path: Path) -> int:
    """Write the table in GBK with CRLF line ends; return how many characters were replaced."""
    replaced = 0
    lines = [",".join(CSV_COLUMNS)]
    for values in table.itertuples(index=False):
        cells = []
        for value in values:
            text, n = gbk_safe(str(value))
            replaced += n
            if any(c in text for c in ',"\r\n'):
                text = '"' + text.replace('"', '""') + '"'
            cells.append(text)
        lines.append(",".join(cells))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    return replaced


def write_gpkg(streets: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, path: Path) -> None:
    """Both layers in CGCS2000 (EPSG:4490) with Chinese column names, reproducibly."""
    path.unlink(missing_ok=True)
    s = gpd.GeoDataFrame(
        {"街道代码": streets["street_id"], "街道名称": streets["name"]},
        geometry=streets.geometry.values,
        crs=streets.crs,
    ).to_crs("EPSG:4490")
    c = gpd.GeoDataFrame(
        {
            "社区代码": communities["community_id"],
            "社区名称": communities["name"],
            "街道代码": communities["street_id"],
            "常住人口": communities["population"].round().astype("int64"),
        },
        geometry=communities.geometry.values,
        crs=communities.crs,
    ).to_crs("EPSG:4490")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": GPKG_DATE})
    try:
        s.to_file(path, layer=STREETS_LAYER, driver="GPKG", engine="pyogrio")
        c.to_file(path, layer=COMMUNITIES_LAYER, driver="GPKG", engine="pyogrio", append=True)
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def build(demo: Path, out: Path) -> dict[str, object]:
    """Write every file of ``data/byod`` and return the facts the README reports."""
    _check_codes()
    out.mkdir(parents=True, exist_ok=True)
    communities = select_communities(gpd.read_file(demo / "communities.geojson"))
    streets = street_parts(gpd.read_file(demo / "streets.geojson"), communities)

    services = read_osm_services(demo / OSM_NAME)
    metric = "EPSG:32648"  # UTM 48N, the demo's metric CRS
    area = communities.to_crs(metric).union_all().buffer(POI_MARGIN_M)
    near = services.to_crs(metric).within(area).to_numpy()
    named = services["name"].fillna("").str.strip().ne("").to_numpy()
    pois = services[near & named]
    table = amap_table(pois)
    replaced = write_csv(table, out / CSV_NAME)
    write_gpkg(streets, communities, out / GPKG_NAME)
    (out / "case.toml").write_text(
        CASE_TOML.format(
            osm=OSM_NAME,
            gpkg=GPKG_NAME,
            csv=CSV_NAME,
            streets_layer=STREETS_LAYER,
            communities_layer=COMMUNITIES_LAYER,
        ),
        encoding="utf-8",
    )
    facts: dict[str, object] = {
        "communities": len(communities),
        "streets": len(streets),
        "street_ids": ", ".join(streets["street_id"]),
        "population": int(communities["population"].sum()),
        "pois": len(table),
        "unnamed_dropped": int((near & ~named).sum()),
        "replaced": replaced,
        "codes": table["类型编码"].value_counts().sort_index().to_dict(),
        "bounds": tuple(np.round(communities.total_bounds, 4)),
    }
    sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.name != "README.md"}
    (out / "README.md").write_text(_readme(facts, sizes), encoding="utf-8")
    return facts


def _readme(facts: dict[str, object], sizes: dict[str, int]) -> str:
    codes = facts["codes"]
    assert isinstance(codes, dict)
    code_rows = "\n".join(
        f"| `{code or '(empty)'}` | {_code_names(code)} | {n} |" for code, n in codes.items()
    )
    size_rows = "\n".join(f"| `{name}` | {size / 1024:.1f} KB |" for name, size in sizes.items())
    bounds = facts["bounds"]
    assert isinstance(bounds, tuple)
    return f"""\
# Bring-your-own-data example (自带数据示例)

Built by `scripts/build_byod.py` from the demo case `data/demo/` (which
`scripts/build_demo.py` builds from the project's shared real data); rerunning it writes the
same bytes. It is the demo data **re-exported the way a planning office receives its own data**,
for `notebooks/02-bring-your-own-data.ipynb`. The community and street boundaries are the
demo's illustrative ones (not real administrative boundaries) and the populations are the
demo's (see `data/demo/README.md`).

## What is here

| file | size |
|---|---:|
{size_rows}

- `{GPKG_NAME}`: a GeoPackage in **CGCS2000 (EPSG:4490)** with two layers:
  - `{STREETS_LAYER}`: {facts["streets"]} streets ({facts["street_ids"]}), columns `街道代码`,
    `街道名称`. Each is the part of the demo street covered by the selected communities
    (the union of their boundaries), so that every community nests in its street.
  - `{COMMUNITIES_LAYER}`: {facts["communities"]} communities, columns `社区代码`, `社区名称`,
    `街道代码`, `常住人口` (integer); {facts["population"]:,} residents in all.
    These are the demo communities whose representative point lies in the window
    {WINDOW[0]}-{WINDOW[2]} E, {WINDOW[1]}-{WINDOW[3]} N (about 2 × 2 km), kept whole: they
    span {bounds[0]}-{bounds[2]} E, {bounds[1]}-{bounds[3]} N.
- `{CSV_NAME}`: {facts["pois"]} service POIs written like an **Amap (高德) POI export**:
  columns `编号` (the OSM id, `n…`/`w…`), `名称`, `大类`, `中类`, `小类`, `类型编码`, `地址`
  (empty), `经度`, `纬度`. They are the POIs that
  `coverage.osm_features.read_osm_services` reads from `data/demo/{OSM_NAME}` within
  {POI_MARGIN_M:g} m of the selected communities; {facts["unnamed_dropped"]} unnamed ones were
  left out (an Amap export has a name for every POI).
- `case.toml`: the case file that reads them (`classify = "amap"`, `coordinate_system =
  "gcj02"`, `crs = "EPSG:4490"`, `encoding = "gb18030"`); the walking network and the homes
  come from `../demo/{OSM_NAME}`.

## Transformations applied on purpose

To imitate an Amap export, the CSV differs from the demo's clean data in three ways:

1. **GCJ-02 coordinates.** Longitude and latitude were converted WGS-84 -> GCJ-02 with
   `coverage.crs.wgs84_to_gcj02` and rounded to 6 decimals (about 0.1 m), as Amap gives them.
   Read as WGS-84 they lie about 300-600 m from where they are; `coordinate_system = "gcj02"`
   converts them back.
2. **GBK text.** The file is encoded in GBK with Windows line ends, as Excel in China saves a
   CSV. Characters that GBK cannot encode are replaced by `?`: {facts["replaced"]} were
   {"(every name of this area is in GBK)" if facts["replaced"] == 0 else "replaced"}.
   Read it with `encoding = "gb18030"` (a superset of GBK) or `"auto"`.
3. **Amap type codes instead of categories.** Each POI's primary category (from the OSM tags
   and the shipped mapping `coverage/data/categories.yaml`) was turned into one representative
   Amap code (table below; a clinic whose name contains 医院 gets 综合医院). The case reads the
   categories back with `classify = "amap"`: name rules first, then the codes. The class names
   follow Amap's POI classification as far as this project knows it; the script checks every
   code against the `amap` section of the mapping.

| 类型编码 | 大类;中类;小类 | POIs |
|---|---|---:|
{code_rows}

Apart from the street parts described above, the GeoPackage differs from the demo only in
its CRS (EPSG:4490 instead of EPSG:4326: the two agree to a few centimetres and the coordinate
values are unchanged) and its column names.

## Attribution and licences

Map data © OpenStreetMap contributors, ODbL (https://www.openstreetmap.org/copyright). Every
file here is derived from the OpenStreetMap extract `data/demo/{OSM_NAME}` and is
under the ODbL; the populations come from the 7th national census (2020) via the demo case (see
`data/demo/README.md`).
"""


def _code_names(code: str) -> str:
    for value in (*AMAP_TYPES.values(), HOSPITAL):
        if value[0] == code:
            return ";".join(value[1:]) if code else "(none)"
    return "?"


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=REPO / "data" / "demo")
    parser.add_argument("--out", type=Path, default=REPO / "data" / "byod")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = args.out.resolve()
    facts = build(args.demo.resolve(), out)
    logger.info(
        "byod: %d communities, %d streets, population %d, %d POIs; digest %s",
        facts["communities"],
        facts["streets"],
        facts["population"],
        facts["pois"],
        _digest(out),
    )


if __name__ == "__main__":
    main()
