"""One call that audits a case: :func:`audit_case`.

Stages, each timed: load (when given a config path) -> network (OSM file, cached) -> origins
(population spread over where people live) -> snapping (origins and services onto walkable
edges) -> search (one multi-source search per category) -> rules (the pack's decisions).
Inputs that do not cover the same place are refused before any search
(:mod:`coverage.overlap`: the bounding boxes before the origins, the snapping shares before the
searches).
Everything returned is a (Geo)DataFrame an analyst can join, filter and plot.
"""

from __future__ import annotations

import functools
import logging
import platform
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage.access import PreparedOrigins, prepare_origins
from coverage.case import Case
from coverage.errors import DataError
from coverage.load import Finding, service_category_sets, validate_service_categories
from coverage.network import WalkNetwork, build_walk_network
from coverage.overlap import OverlapReport, check_extents, check_snapping
from coverage.population import (
    POINTS_POPULATION_TOLERANCE,
    compare_points_population,
    population_sources,
)
from coverage.rules import (
    AREA_KINDS,
    RuleInputs,
    RulePack,
    distance_categories,
    distance_column,
    evaluate_pack,
    load_pack,
    minutes_to_m,
)
from coverage.settings import check_population_share, check_walk_speed
from coverage.snapping import snap_points

if TYPE_CHECKING:
    from coverage.snapping import SnappedPoints

__all__ = [
    "AuditResult",
    "audit_case",
    "check_case_overlap",
    "check_origin_grid",
    "service_categories",
    "service_counts",
]

logger = logging.getLogger(__name__)

#: Searches stop at this multiple of the largest budget: distances beyond are reported as
#: "farther than" (``inf``), which keeps city-size searches bounded.
SEARCH_LIMIT_FACTOR = 2.0

_OSM_SUFFIXES = (".osm", ".osm.bz2", ".osm.pbf", ".pbf")


@dataclass(eq=False)
class AuditResult:
    """The audit of one case.

    Attributes
    ----------
    communities, streets
        One row per unit with, per rule, ``<id>_value``, ``<id>_threshold``, ``<id>_status``
        (``pass``/``fail``/``not_evaluable``), ``<id>_reason`` and ``<id>_reason_zh``, plus the
        measures behind them (shares, median and 90th-percentile distances per category).
    origins
        Residential origins with ``d_<category>`` (walking metres to the nearest facility;
        ``inf`` beyond the search limit, ``NaN`` off the network) and ``f_<category>`` (its id).
    services
        The service points with ``street_id`` and ``community_id`` by containment (exactly one
        unit each: the one whose interior contains it, else the lowest id among the units whose
        boundary it lies on), and the snapping (``snap_m``; ``on_network`` false beyond the
        snapping limit).
    summary
        One row per rule: units passing, failing and not evaluable, population covered.
    pack, walk_speed_kmh
        The rule pack and the speed every minute budget was converted with.
    findings
        What the data or the audit revealed that a reader must know (unsnapped points,
        islands, communities without residents, categories with no facility).
    provenance
        Input file hashes, pack, speed, software versions, time: enough to reproduce.
    timings
        Seconds per stage.
    network
        The walking network used (for isochrones and maps).
    snapped_services
        The audit's snapping of ``services`` (aligned with its rows), so that outputs
        (walking-time maps) search from the very points the audit searched from.
    case
        The case audited, so that a plan (:func:`coverage.plan.plan`) can audit it again
        with new sites.
    """

    case_name: str
    communities: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame
    origins: gpd.GeoDataFrame
    services: gpd.GeoDataFrame
    summary: pd.DataFrame
    pack: RulePack
    walk_speed_kmh: float
    findings: list[Finding]
    provenance: dict[str, Any]
    timings: dict[str, float]
    network: WalkNetwork | None = field(default=None, repr=False)
    snapped_services: SnappedPoints | None = field(default=None, repr=False)
    case: Case | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (
            f"AuditResult({self.case_name!r}, pack={self.pack.id!r}, "
            f"{len(self.communities)} communities, {len(self.streets)} streets, "
            f"{len(self.origins)} origins, {len(self.services)} services)"
        )

    def service_counts(self) -> dict[str, int]:
        """The services read, those that feed some rule, the uncategorised; see
        :func:`service_counts`."""
        return service_counts(self.services, self.pack)

    def status_table(self, unit: str = "community") -> pd.DataFrame:
        """Rule statuses of every unit, one column per rule of that unit.

        Parameters
        ----------
        unit
            ``"community"`` or ``"street"``.

        Returns
        -------
        pandas.DataFrame
            Indexed like :attr:`communities` or :attr:`streets`; values ``pass``, ``fail`` or
            ``not_evaluable``.
        """
        if unit not in {"community", "street"}:
            msg = f"unit={unit!r}: use 'community' or 'street'"
            raise ValueError(msg)
        table = self.communities if unit == "community" else self.streets
        cols = {r.id: f"{r.id}_status" for r in self.pack.rules if r.unit == unit}
        return table[list(cols.values())].rename(columns={v: k for k, v in cols.items()})

    def describe(self, lang: str = "en") -> str:
        """A readable summary: parameters, then one line per rule.

        Parameters
        ----------
        lang
            ``"en"``, or ``"zh"``: wholly Chinese (the rule titles, the counts, the words).

        Returns
        -------
        str
            The case and pack, the walking speed and the distance 15 minutes imply, the units and
            residents, and for every rule the units passing, failing and not evaluable.
        """
        km = self.walk_speed_kmh
        m15 = minutes_to_m(15, km)
        residents = self.communities["population"].sum()
        zh = lang == "zh"
        lines = [
            f"{self.case_name} — {self.pack.label(lang)}",
            f"步行速度 {km:g} 公里/小时：15 分钟 = {m15:,.0f} 米；{len(self.communities)} 个社区，"
            f"{len(self.streets)} 个街道，居民 {residents:,.0f} 人"
            if zh
            else f"walking speed {km:g} km/h: 15 min = {m15:,.0f} m;"
            f" {len(self.communities)} communities, {len(self.streets)} streets,"
            f" {residents:,.0f} residents",
        ]
        for row in self.summary.to_dict("records"):
            share = float(row["population_share_in_passing_units"])
            own = row.get("walk_speed_kmh")
            own_speed = float(own) if own is not None and not pd.isna(own) else None
            if zh:
                pct = "–" if np.isnan(share) else f"{100 * share:.1f}%"
                units = "个社区" if row["unit"] == "community" else "个街道"
                title = row["title_zh"]
                if own_speed is not None:  # a group's speed, stated as the pack's
                    title = f"{title}（步行速度 {own_speed:g} 公里/小时）"
                lines.append(
                    f"  {row['rule']:<6} {title}：通过 {row['passing']}，未通过"
                    f" {row['failing']}，不可评估 {row['not_evaluable']}（共 {row['units']}"
                    f" {units}）；通过单元内居民 {pct}"
                )
                continue
            pct = "n/a" if np.isnan(share) else f"{100 * share:.1f}%"
            units = "communities" if row["unit"] == "community" else "streets"
            title = row["title"]
            if own_speed is not None:
                title = f"{title} (at {own_speed:g} km/h)"
            lines.append(
                f"  {row['rule']:<6} {title}: {row['passing']} pass, {row['failing']} fail,"
                f" {row['not_evaluable']} not evaluable of {row['units']} {units};"
                f" residents in passing units {pct}"
            )
        return "\n".join(lines)


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - started


def service_categories(services: pd.DataFrame) -> pd.DataFrame:
    """One row per (service, category it serves).

    A service's ``category`` is its primary category; a ``categories`` column (";"-joined, as
    :func:`coverage.osm_features.read_osm_services` writes) adds the others, so a park that is
    also an exercise point counts for both.
    """
    frame = pd.DataFrame({"pos": np.arange(len(services)), "category": services["category"]})
    if "categories" in services:
        extra = services["categories"].fillna("").astype(str).str.split(";")
        more = pd.DataFrame({"pos": np.arange(len(services)), "category": extra}).explode(
            "category"
        )
        frame = pd.concat([frame, more[more["category"] != ""]], ignore_index=True)
    frame = frame.dropna(subset=["category"]).drop_duplicates()
    return frame.sort_values(["pos", "category"], kind="stable").reset_index(drop=True)


def service_counts(services: pd.DataFrame, pack: RulePack) -> dict[str, int]:
    """How many services there are, and how many of them the pack's rules can use.

    Parameters
    ----------
    services
        Canonical services (``category``, and ``categories`` when present).
    pack
        The rule pack.

    Returns
    -------
    dict
        ``read`` (all services), ``used`` (serving at least one category some rule of the
        pack measures: the headline count), ``uncategorised`` (no category at all) and
        ``other`` (categories that no rule of the pack measures, such as clinics under a pack
        about daily shopping).
    """
    measured = set(pack.categories)
    served = service_category_sets(services)
    used = sum(bool(cats & measured) for cats in served)
    uncategorised = sum(not cats for cats in served)
    return {
        "read": len(served),
        "used": used,
        "uncategorised": uncategorised,
        "other": len(served) - used - uncategorised,
    }


def _residential_layers(
    case: Case, *, cache_dir: str | Path | None = None
) -> tuple[gpd.GeoDataFrame | None, gpd.GeoDataFrame | None]:
    """Buildings and residential land use named in ``[residents]`` (an OSM file or a layer);
    read from an OSM file, they are cached on disk by the file's hash (``cache_dir``)."""
    source = case.residents.get("buildings")
    if not source:
        return None, None
    path = Path(source)
    if path.name.endswith(_OSM_SUFFIXES):
        stat = path.stat()
        folder = None if cache_dir is None else str(cache_dir)
        return _osm_residential(str(path), stat.st_mtime_ns, stat.st_size, folder)
    from coverage.load import read_layer

    buildings = read_layer(path)
    levels = case.residents.get("levels")
    if levels and levels in buildings:
        buildings = buildings.assign(levels=pd.to_numeric(buildings[levels], errors="coerce"))
    return buildings, None


@functools.lru_cache(maxsize=4)
def _osm_residential(
    path: str, mtime_ns: int, size: int, cache_dir: str | None
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Buildings and residential land use of an OSM file, read once per file version (what-if
    loops audit the same case many times) and, across processes, from the on-disk cache keyed
    by the file's hash. Callers must not modify the frames."""
    from coverage.osm_features import read_osm_buildings, read_osm_landuse

    del mtime_ns, size  # part of the cache key only
    return (
        read_osm_buildings(path, cache_dir=cache_dir),
        read_osm_landuse(path, cache_dir=cache_dir),
    )


def check_origin_grid(case: Case) -> None:
    """Refuse, before any work, a case whose origin grid would be too large to build.

    Only when the population is spread over a grid everywhere (no population points and no
    buildings): with buildings or points, each community's grid is checked when it is made.

    Raises
    ------
    DataError
        With the cells needed, the limit and the fix.
    """
    if case.origins is not None or case.residents.get("buildings"):
        return
    from coverage.population import check_grid_size

    check_grid_size(case.communities, grid_m=float(case.residents.get("grid_m", 50.0)))


def _origins(case: Case, *, cache_dir: str | Path | None = None) -> gpd.GeoDataFrame:
    """Residential origins, community by community from the best source the case gives.

    Population points first; a community without points falls back to residential
    buildings, then residential land use, then a grid over the whole community
    (:func:`coverage.population.spread_population`). The origins' ``source`` says which.

    The origins are cached on disk (:mod:`coverage.origin_cache`), keyed by the communities,
    the points, the buildings and land use (an OSM file by its SHA-256), the grid and the code.
    """
    from coverage._io import file_sha256
    from coverage.origin_cache import cached_spread_population, frame_digest
    from coverage.osm_features import OSM_FEATURES_VERSION

    source = case.residents.get("buildings")
    if source and Path(source).name.endswith(_OSM_SUFFIXES):
        layers_key = f"osm {file_sha256(Path(source))} features {OSM_FEATURES_VERSION}"

        def layers() -> tuple[gpd.GeoDataFrame | None, gpd.GeoDataFrame | None]:
            return _residential_layers(case, cache_dir=cache_dir)

    else:  # a vector layer (or none): its contents are the key
        read = _residential_layers(case, cache_dir=cache_dir)
        layers_key = f"layers {frame_digest(read[0])} {frame_digest(read[1])}"

        def layers() -> tuple[gpd.GeoDataFrame | None, gpd.GeoDataFrame | None]:
            return read

    return cached_spread_population(
        case.communities,
        points=case.origins,
        layers=layers,
        layers_key=layers_key,
        grid_m=float(case.residents.get("grid_m", 50.0)),
        cache_dir=cache_dir,
    )


_SOURCE_WORDS = {
    "points": "population points",
    "building": "residential buildings",
    "residential_grid": "residential land-use grid",
    "grid": "whole-community grid",
}
_SOURCE_WORDS_ZH = {
    "points": "人口点",
    "building": "住宅建筑",
    "residential_grid": "居住用地网格",
    "grid": "社区网格",
}


def _report_origins(findings: list[Finding], case: Case, sources: pd.Series) -> None:
    """Which source each community's residents were spread from, when the case's best source
    does not cover every community; and population points that sum far from a community's
    population."""
    populated = sources[sources != "none"]
    best = None
    if case.origins is not None:
        best = "points"
    elif case.residents.get("buildings"):
        best = "building"
    if best is not None and len(populated) and (populated != best).any():
        others = populated[populated != best]
        counts = others.value_counts()
        parts = ", ".join(
            f"{_SOURCE_WORDS[k]} {int(counts[k])}" for k in _SOURCE_WORDS if k in counts
        )
        findings.append(
            Finding(
                "warning",
                "origins",
                f"{_SOURCE_WORDS[best]} cover {int((populated == best).sum())} of "
                f"{len(populated)} communities with residents; the other {len(others)} fall "
                f"back to: {parts} (column population_source of the communities)",
                tuple(str(i) for i in others.index),
                message_zh=f"{_SOURCE_WORDS_ZH[best]}覆盖了有居民的 {len(populated)} 个社区中的 "
                f"{int((populated == best).sum())} 个；其余 {len(others)} 个改用："
                + "，".join(
                    f"{_SOURCE_WORDS_ZH[k]} {int(counts[k])} 个"
                    for k in _SOURCE_WORDS_ZH
                    if k in counts
                )
                + "（见社区表的人口分布依据列）",
            )
        )
    if case.origins is None:
        return
    off = compare_points_population(case.communities, case.origins)
    if len(off):
        shown = "; ".join(
            f"{r.community_id}: points {r.points_population:,.0f} vs {r.population:,.0f}"
            for r in off.head(10).itertuples()
        )
        more = f"; … ({len(off)} in all)" if len(off) > 10 else ""
        shown_zh = "；".join(
            f"{r.community_id}：人口点 {r.points_population:,.0f}，社区 {r.population:,.0f}"
            for r in off.head(10).itertuples()
        )
        more_zh = f"；…（共 {len(off)} 个）" if len(off) > 10 else ""
        findings.append(
            Finding(
                "warning",
                "origins",
                f"{len(off)} communities have population points that sum more than "
                f"{100 * POINTS_POPULATION_TOLERANCE:g}% away from their population ({shown}"
                f"{more}); the points are used as weights and scaled to the community's "
                "population. Check the points' population column and the communities' one",
                tuple(str(i) for i in off["community_id"]),
                message_zh=f"{len(off)} 个社区的人口点合计与社区人口相差超过 "
                f"{100 * POINTS_POPULATION_TOLERANCE:g}%（{shown_zh}{more_zh}）；"
                "人口点作为权重使用，并按社区人口缩放。请核对人口点和社区的人口列",
            )
        )


def _containment(services: gpd.GeoDataFrame, units: gpd.GeoDataFrame, id_column: str) -> pd.Series:
    """The id of the one unit each service belongs to (missing outside every unit).

    Each service belongs to exactly one unit, whatever the order of the layer: the unit whose
    interior contains it; a service on the boundary of units (an edge shared by two streets, a
    corner shared by four) belongs to the one with the lowest id, in text order, of the units
    that touch it. Where units overlap, the lowest id of those containing it wins too. A
    polygon service (a sports ground) is placed by a point inside it.
    """
    points = services.geometry
    if not (points.geom_type == "Point").all():
        points = points.representative_point()
    if points.crs is not None and units.crs is not None and points.crs != units.crs:
        points = points.to_crs(units.crs)
    geoms = np.asarray(units.geometry.to_numpy(), dtype=object)
    pos, unit = shapely.STRtree(geoms).query(
        np.asarray(points.to_numpy(), dtype=object), predicate="intersects"
    )
    ids = units[id_column].astype(str).to_numpy(dtype=object)
    out = np.full(len(services), np.nan, dtype=object)
    if pos.size:
        on_edge = ~shapely.within(np.asarray(points.to_numpy(), dtype=object)[pos], geoms[unit])
        # per service: interior before boundary, then the lowest id; keep the first
        order = np.lexsort((ids[unit], on_edge, pos))
        pos, unit = pos[order], unit[order]
        first = np.r_[True, pos[1:] != pos[:-1]]
        out[pos[first]] = units[id_column].to_numpy(dtype=object)[unit[first]]
    return pd.Series(out, index=services.index)


def _area_pieces(
    services: gpd.GeoDataFrame,
    categories: pd.DataFrame,
    streets: gpd.GeoDataFrame,
    metric: Any,
    *,
    area_categories: Collection[str] = (),
) -> pd.DataFrame:
    """Area of each areal service inside each street (m²), overlaps counted once.

    Polygons are clipped to the street in the metric CRS. Within a street and category, the
    pieces are taken largest first (then in input order) and each counts only what the ones
    before it do not already cover, so the rows of a street sum to the *union* of its grounds:
    a pitch inside a sports centre, or a pitch drawn twice, adds nothing. A point with a
    declared ``area_m2`` counts for the street it lies in unless it lies in a polygon of the
    same category (the same ground, already measured). A point of one of ``area_categories``
    without a declared area, outside every such polygon, is a ground of unknown area: a row
    with ``area_m2`` NaN.
    """
    rows: list[dict[str, Any]] = []
    # each service's categories, in their order (a groupby-apply took ~120 ms on a city)
    cats: dict[int, list[str]] = {}
    for p, c in zip(
        categories["pos"].to_numpy(dtype=np.int64).tolist(),
        categories["category"].to_numpy(dtype=object).tolist(),
        strict=True,
    ):
        cats.setdefault(p, []).append(c)
    geoms = services.geometry.to_crs(metric)
    street_geoms = streets.geometry.to_crs(metric)
    polygonal = geoms.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    declared = (
        services["area_m2"].to_numpy(dtype=float)
        if "area_m2" in services
        else np.full(len(services), np.nan)
    )
    poly_pos = np.flatnonzero(polygonal)
    if polygonal.any():
        poly_at, street_at, clipped = _clip_polygons(
            np.asarray(geoms.to_numpy()[polygonal], dtype=object),
            np.asarray(street_geoms.to_numpy(), dtype=object),
        )
        pieces = pd.DataFrame(
            {
                "pos": poly_pos[poly_at].astype(int),
                "street_id": streets["street_id"].to_numpy()[street_at],
                "geometry": clipped,
            }
        )
        pieces["category"] = [cats.get(int(p), []) for p in pieces["pos"]]
        pieces = pieces.explode("category").dropna(subset=["category"])
        for (_, street), group in pieces.groupby(["category", "street_id"], sort=False):
            cat = group["category"].iloc[0]
            rows.extend(
                {"pos": int(pos), "category": cat, "street_id": street, "area_m2": area}
                for pos, area in _union_shares(group["pos"].to_numpy(), group["geometry"])
            )
    tree = shapely.STRtree(geoms.to_numpy()[poly_pos]) if poly_pos.size else None
    wanted = set(area_categories)
    measured = ~np.isnan(declared)
    measured[categories.loc[categories["category"].isin(wanted), "pos"].to_numpy(dtype=int)] = True
    street_ids = services["street_id"].to_numpy()
    for pos in np.flatnonzero(~polygonal & measured):
        street = street_ids[pos]
        if pd.isna(street):
            continue
        area = float(declared[pos])
        own = [c for c in cats.get(int(pos), []) if not np.isnan(area) or c in wanted]
        if not own:
            continue
        inside: set[str] = set()
        if tree is not None:
            hits = tree.query(geoms.iloc[pos], predicate="intersects")
            for hit in poly_pos[hits]:
                inside.update(cats.get(int(hit), []))
        rows.extend(
            {"pos": int(pos), "category": c, "street_id": street, "area_m2": area}
            for c in own
            if c not in inside
        )
    frame = pd.DataFrame(rows, columns=["pos", "category", "street_id", "area_m2"])
    frame["area_m2"] = frame["area_m2"].astype(float)
    frame.insert(0, "service_id", services["service_id"].to_numpy()[frame["pos"].to_numpy(int)])
    return frame.drop(columns="pos")


_POLYGON_TYPES = (3, 6)  # shapely type ids of Polygon and MultiPolygon
_COLLECTION_TYPE = 7


def _polygonal_only(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Geometry collections reduced to the union of their polygonal parts, and the mask of
    the geometries that are then polygonal (lines, points, empty collections are not)."""
    out = geoms.copy()
    for i in np.flatnonzero(shapely.get_type_id(out) == _COLLECTION_TYPE):
        parts = shapely.get_parts(out[i])
        out[i] = shapely.union_all(parts[np.isin(shapely.get_type_id(parts), _POLYGON_TYPES)])
    return out, np.isin(shapely.get_type_id(out), _POLYGON_TYPES)


def _valid_polygons(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Invalid polygons repaired (their polygonal parts kept); positions of those kept."""
    if not np.isin(shapely.get_type_id(geoms), _POLYGON_TYPES).all():
        return geoms, np.arange(geoms.size)
    bad = ~shapely.is_valid(geoms)
    if not bad.any():
        return geoms, np.arange(geoms.size)
    fixed = geoms.copy()
    fixed[bad] = shapely.make_valid(fixed[bad])
    fixed, keep = _polygonal_only(fixed)
    return fixed[keep], np.flatnonzero(keep)


def _clip_polygons(
    polygons: np.ndarray, clips: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The polygonal pieces of every polygon inside every clip polygon it meets.

    What ``geopandas.overlay(how="intersection", keep_geom_type=True)`` gives for polygons,
    without its frames: invalid inputs repaired, pairs that intersect, their intersections
    (polygonal ones made valid), collections reduced to their polygonal parts, other results
    (lines and points where they only touch) dropped. Ordered by polygon, then clip.

    Returns
    -------
    tuple
        Positions into ``polygons``, positions into ``clips``, and the pieces.
    """
    polys, poly_kept = _valid_polygons(polygons)
    clip, clip_kept = _valid_polygons(clips)
    if polys.size == 0 or clip.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.empty(0, dtype=object)
    at_poly, at_clip = shapely.STRtree(clip).query(polys, predicate="intersects")
    order = np.lexsort((at_clip, at_poly))
    at_poly, at_clip = at_poly[order], at_clip[order]
    pieces = shapely.intersection(polys[at_poly], clip[at_clip])
    polygonal = np.isin(shapely.get_type_id(pieces), _POLYGON_TYPES)
    pieces[polygonal] = shapely.make_valid(pieces[polygonal])
    pieces, keep = _polygonal_only(pieces)
    return poly_kept[at_poly[keep]], clip_kept[at_clip[keep]], pieces[keep]


def _union_shares(positions: np.ndarray, pieces: pd.Series) -> list[tuple[int, float]]:
    """Each piece's area not covered by the pieces before it (largest first, then by input
    order); the shares sum to the area of the union."""
    geoms = np.asarray(pieces.to_numpy(), dtype=object)
    areas = shapely.area(geoms)
    order = np.lexsort((positions, -areas))
    geoms, positions, areas = geoms[order], positions[order], areas[order]
    tree = shapely.STRtree(geoms)
    out: list[tuple[int, float]] = []
    for k, (pos, geom) in enumerate(zip(positions, geoms, strict=True)):
        before = [j for j in tree.query(geom, predicate="intersects") if j < k]
        if before:
            covered = shapely.union_all(geoms[before])
            area = float(shapely.area(shapely.difference(geom, covered)))
        else:
            area = float(areas[k])
        out.append((int(pos), area))
    return out


def _software_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("service-coverage", "numpy", "scipy", "shapely", "geopandas", "osmium", "osmnx"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def audit_case(
    case: Case | str | Path,
    *,
    pack: str | Path | RulePack | None = None,
    walk_speed_kmh: float | None = None,
    min_population_share: float | None = None,
    network: WalkNetwork | None = None,
    cache_dir: str | Path | None = None,
) -> AuditResult:
    """Audit every rule of a pack for every community and street of a case.

    Parameters
    ----------
    case
        A :class:`~coverage.case.Case` or the path of a case configuration file.
    pack
        Rule pack name, file or object; default the case's pack.
    walk_speed_kmh
        Overrides the case's and the pack's walking speed.
    min_population_share
        Overrides the pack's share of residents a reach rule requires.
    network
        A walking network to use instead of building one from the case's OSM file (batch
        audits share one network between cases).
    cache_dir
        Cache folder of the network and of the buildings and land use read from the OSM
        file (default :func:`coverage.network.default_cache_dir`).

    Returns
    -------
    AuditResult
    """
    timings: dict[str, float] = {}
    if not isinstance(case, Case):
        with _timed(timings, "load"):
            case = Case.from_config(case)
    rule_pack = pack if isinstance(pack, RulePack) else load_pack(pack or case.pack)
    # the settings and the origin grid are checked before any work (coverage.settings)
    if walk_speed_kmh is not None:
        speed = check_walk_speed(walk_speed_kmh, where="walk_speed_kmh")
    elif case.walk_speed_kmh is not None:
        speed = check_walk_speed(case.walk_speed_kmh, where=f"case {case.name!r}: walk_speed_kmh")
    else:
        speed = check_walk_speed(
            rule_pack.walk_speed_kmh, where=f"rule pack {rule_pack.id!r}: walk_speed_kmh"
        )
    share = check_population_share(
        rule_pack.min_population_share if min_population_share is None else min_population_share,
        where="min_population_share",
    )
    # a combined pack (--pack all) decides each rule at its own pack's speed and share, unless
    # the call or the case overrides them for every rule
    rule_pack = rule_pack.with_overrides(
        walk_speed_kmh=speed
        if walk_speed_kmh is not None or case.walk_speed_kmh is not None
        else None,
        min_population_share=min_population_share,
    )
    if network is None and case.osm_path is None:
        msg = (
            f'case {case.name!r} names no OSM file: add [network] osm = "..." to the '
            "case file, or pass network= to audit_case"
        )
        raise DataError(msg)
    check_origin_grid(case)
    findings: list[Finding] = list(case.findings)

    with _timed(timings, "network"):
        if network is None:
            if case.osm_path is None:
                msg = (
                    f'case {case.name!r} names no OSM file: add [network] osm = "..." to the '
                    "case file, or pass network= to audit_case"
                )
                raise DataError(msg)
            network = build_walk_network(case.osm_path, cache_dir=cache_dir)
        _check_extents(case, network)  # the cheap overlap test, before origins and snapping
    metric = network.metric_crs

    with _timed(timings, "origins"):
        origins = _origins(case, cache_dir=cache_dir).reset_index(drop=True)
        if len(origins) == 0:
            msg = f"case {case.name!r}: no residential origins (every community has population 0?)"
            raise DataError(msg)
        without = origins.attrs.get("communities_without_origins") or []
        sources = population_sources(case.communities, origins)
        _report_origins(findings, case, sources)
        already = any(f.layer == "communities" and "no residents" in f.message for f in findings)
        if without and not already:
            findings.append(
                Finding(
                    "warning",
                    "communities",
                    f"{len(without)} communities have no residents (population 0 or missing);"
                    " their reach rules are not evaluable",
                    tuple(str(i) for i in without),
                    message_zh=f"{len(without)} 个社区没有居民（人口为 0 或缺失），其可达性规则"
                    "无法评估",
                )
            )

    with _timed(timings, "snapping"):
        services, snapped_origins, snapped_services, _ = _snap(case, network, origins)
        cats = service_categories(services)
        services["snap_m"] = snapped_services.snap_m
        services["on_network"] = snapped_services.ok
        _report_snapping(findings, origins, snapped_origins, services, snapped_services, case)

    with _timed(timings, "search"):
        budgets = distance_categories(rule_pack, speed)
        # what every category's search needs of the origins, made once for all of them
        prepared = prepare_origins(network, snapped_origins)
        measured: dict[str, np.ndarray] = {}
        positions_of = {  # each category's services, in their order (one pass, not one a kind)
            str(cat): group.to_numpy() for cat, group in cats.groupby("category", sort=False)["pos"]
        }
        for cat, budget in budgets.items():
            positions = positions_of.get(cat, np.zeros(0, dtype=np.int64))
            mask = np.zeros(len(services), dtype=bool)
            mask[positions] = True
            facilities = snapped_services.subset(mask)
            distance, nearest = prepared.nearest(facilities, SEARCH_LIMIT_FACTOR * budget)
            measured[distance_column(cat)] = distance
            measured[f"f_{cat}"] = _id_column(facilities.index, nearest)  # the nearest one's id
        # the columns joined at once: one at a time, a GeoDataFrame copies its blocks ~50 times
        joined = pd.concat(
            [
                origins.drop(columns=list(measured), errors="ignore"),
                # the arrays are this audit's own: not copied again (18 ms for --pack all's
                # 50 columns of 198,000 origins on the city case)
                pd.DataFrame(measured, index=origins.index, copy=False),
            ],
            axis=1,
        )
        if not isinstance(joined, gpd.GeoDataFrame):
            joined = gpd.GeoDataFrame(joined, geometry="geometry", crs=origins.crs)
        origins = joined
        catchments = _catchment_distances(rule_pack, speed, prepared, snapped_services, cats)
        findings += validate_service_categories(
            services,
            rule_categories={rule.id: rule.all_categories for rule in rule_pack.rules},
            check_share=False,
        )
        _report_islands(findings, network, origins, snapped_origins)

    with _timed(timings, "rules"):
        tables = evaluate_pack(
            rule_pack,
            RuleInputs(
                communities=_unit_table(case.communities, "community_id").assign(
                    population_source=sources.to_numpy()
                ),
                streets=_street_table(case),
                origins=origins,
                services=pd.DataFrame(
                    {
                        "service_id": services["service_id"].to_numpy()[cats["pos"].to_numpy()],
                        "category": cats["category"].to_numpy(),
                        "street_id": services["street_id"].to_numpy()[cats["pos"].to_numpy()],
                        "community_id": services["community_id"].to_numpy()[cats["pos"].to_numpy()],
                        "windows": (
                            services["windows"].to_numpy(dtype=float)
                            if "windows" in services
                            else np.full(len(services), np.nan)
                        )[cats["pos"].to_numpy()],
                    }
                ),
                areas=_area_pieces(
                    services,
                    cats,
                    case.streets,
                    metric,
                    area_categories={
                        r.category
                        for r in rule_pack.rules
                        if r.kind in AREA_KINDS and r.category is not None
                    },
                ),
                walk_speed_kmh=speed,
                min_population_share=share,
                max_snap_m=case.max_snap_m,
                catchments=catchments,
            ),
        )
        communities = _with_geometry(tables.communities, case.communities, "community_id")
        streets = _with_geometry(tables.streets, case.streets, "street_id")

    provenance = {
        "case": case.name,
        "config": str(case.config_path) if case.config_path else None,
        "inputs_sha256": dict(case.sources),
        "osm_file": str(case.osm_path) if case.osm_path else None,
        "map": dict(case.map_options),
        "network": network.report.as_dict() if network.report else None,
        "pack": {
            "id": rule_pack.id,
            "version": rule_pack.version,
            # a combined pack (``--pack all``) has no file of its own: its parts list theirs
            "file": None
            if rule_pack.parts
            else str(rule_pack.path or f"coverage/packs/{rule_pack.id}.yaml"),
            **(
                {
                    "packs": [
                        {
                            "id": part.id,
                            "version": part.version,
                            "file": str(part.path or f"coverage/packs/{part.id}.yaml"),
                        }
                        for part in rule_pack.parts
                    ]
                }
                if rule_pack.parts
                else {}
            ),
        },
        "walk_speed_kmh": speed,
        "minutes_15_in_m": minutes_to_m(15, speed),
        "min_population_share": share,
        "max_snap_m": case.max_snap_m,
        "search_limit_factor": SEARCH_LIMIT_FACTOR,
        "software": _software_versions(),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return AuditResult(
        case_name=case.name,
        communities=communities,
        streets=streets,
        origins=gpd.GeoDataFrame(origins, geometry="geometry", crs=origins.crs),
        services=services,
        summary=tables.summary,
        pack=rule_pack,
        walk_speed_kmh=speed,
        findings=findings,
        provenance=provenance,
        timings=timings,
        network=network,
        snapped_services=snapped_services,
        case=case,
    )


def _id_column(ids: pd.Index, positions: np.ndarray) -> Any:
    """``ids[positions]``, missing where a position is -1, as the array pandas makes of such a
    column (``str`` under pandas 3, ``object`` before): the dtype is read from the distinct
    ids, not inferred again from every origin's (~5 ms a category for a city)."""
    values = np.empty(len(ids) + 1, dtype=object)
    values[:-1] = np.asarray(ids, dtype=object)
    values[-1] = None
    column = pd.Series(values)  # what pandas makes of a column of these values
    if not isinstance(column.dtype, pd.api.extensions.ExtensionDtype):
        return values[positions]  # position -1: the None at the end
    return column.array[:-1].take(positions, allow_fill=True)


def _catchment_distances(
    pack: RulePack,
    speed: float,
    prepared: PreparedOrigins,
    snapped_services: SnappedPoints,
    cats: pd.DataFrame,
) -> dict[str, Any]:
    """For each category of a ``catchment_per_capita`` rule, the exact walking metres of every
    (origin, facility) pair within the largest budget (:mod:`coverage.catchment`)."""
    from coverage.catchment import facility_distances

    out: dict[str, Any] = {}
    for cat, budget in pack.catchment_budgets_m(speed).items():
        positions = cats.loc[cats["category"] == cat, "pos"].to_numpy()
        mask = np.zeros(len(snapped_services), dtype=bool)
        mask[positions] = True
        out[cat] = facility_distances(
            prepared.network,
            prepared.origins,
            snapped_services.subset(mask),
            cutoff_m=budget,
            prepared=prepared,
        )
    return out


def _check_extents(case: Case, network: WalkNetwork) -> None:
    check_extents(
        network,
        streets=case.streets,
        communities=case.communities,
        services=case.services,
        max_snap_m=case.max_snap_m,
        case_name=case.name,
    )


def _snap(
    case: Case, network: WalkNetwork, origins: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, SnappedPoints, SnappedPoints, OverlapReport]:
    """Services with their unit ids, and the snapping of origins and services; refused (by
    :func:`coverage.overlap.check_snapping`) when most of either lies off the network."""
    services = case.services.reset_index(drop=True).copy()
    services["street_id"] = _containment(services, case.streets, "street_id").to_numpy()
    services["community_id"] = _containment(services, case.communities, "community_id").to_numpy()
    # indexed by id so that what the log lists is ids, not row numbers
    snapped_origins = snap_points(
        network, origins.set_index("origin_id"), max_snap_m=case.max_snap_m
    )
    snapped_services = snap_points(
        network, services.set_index("service_id"), max_snap_m=case.max_snap_m
    )
    report = check_snapping(
        network,
        streets=case.streets,
        communities=case.communities,
        services=case.services,
        origins=origins,
        snapped_origins=snapped_origins,
        snapped_services=snapped_services,
        services_outside=int(services["street_id"].isna().sum()),
        case_name=case.name,
    )
    return services, snapped_origins, snapped_services, report


def check_case_overlap(case: Case, *, network: WalkNetwork) -> OverlapReport:
    """Check that a case's network, boundaries and services cover the same place.

    The same two tests :func:`audit_case` makes before its searches (see
    :mod:`coverage.overlap`): the bounding boxes, then the shares of residents and services
    that snap to no walkable street. ``service-coverage validate`` runs it.

    Parameters
    ----------
    case
        The case.
    network
        Its walking network.

    Returns
    -------
    OverlapReport
        The shares, when the case passes.

    Raises
    ------
    coverage.overlap.InputMismatchError
        When the inputs do not belong together; the message gives the shares, each layer's
        bounding box and the likely causes with their fixes.
    """
    _check_extents(case, network)
    origins = _origins(case).reset_index(drop=True)
    return _snap(case, network, origins)[3]


def _unit_table(units: gpd.GeoDataFrame, id_column: str) -> pd.DataFrame:
    wanted = (id_column, "name", "street_id", "population", "households")
    keep = list(dict.fromkeys(c for c in wanted if c in units))
    return pd.DataFrame(units[keep]).set_index(id_column)


def _street_table(case: Case) -> pd.DataFrame:
    streets = _unit_table(case.streets, "street_id").drop(columns="population", errors="ignore")
    pop = case.communities.groupby("street_id")["population"].sum(min_count=1)
    streets["population"] = pop.reindex(streets.index).fillna(0.0).to_numpy(dtype=float)
    return streets


def _with_geometry(
    table: pd.DataFrame, units: gpd.GeoDataFrame, id_column: str
) -> gpd.GeoDataFrame:
    geometry = units.set_index(id_column).geometry.reindex(table.index)
    return gpd.GeoDataFrame(table.reset_index(), geometry=geometry.to_numpy(), crs=units.crs)


def _report_snapping(
    findings: list[Finding],
    origins: gpd.GeoDataFrame,
    snapped_origins: SnappedPoints,
    services: gpd.GeoDataFrame,
    snapped_services: SnappedPoints,
    case: Case,
) -> None:
    lost = ~snapped_origins.ok
    if lost.any():
        ids = origins["origin_id"].to_numpy()[lost]
        pop = float(origins["population"].to_numpy()[lost].sum())
        findings.append(
            Finding(
                "warning",
                "origins",
                f"{int(lost.sum())} residential origins ({pop:,.0f} residents) are farther than "
                f"{case.max_snap_m:g} m from any walkable street; they count as not reached "
                "(farther than the search limit, in the shares and in the median and 90th "
                "percentile distances), and a community with none on the network is not "
                "evaluable. Check that the OSM file covers the communities, or raise max_snap_m",
                tuple(str(i) for i in ids),
                message_zh=f"{int(lost.sum())} 个居民点（{pop:,.0f} 人）距最近的步行道路超过 "
                f"{case.max_snap_m:g} 米，计为不可达。请检查 OSM 文件是否覆盖这些社区，"
                "或调大 max_snap_m",
            )
        )
    lost_s = ~snapped_services.ok
    if lost_s.any():
        ids = services["service_id"].to_numpy()[lost_s]
        findings.append(
            Finding(
                "warning",
                "services",
                f"{int(lost_s.sum())} services are farther than {case.max_snap_m:g} m from any "
                "walkable street and cannot be walked to; they still count where a rule counts "
                "facilities inside a unit",
                tuple(str(i) for i in ids),
                message_zh=f"{int(lost_s.sum())} 个服务设施距最近的步行道路超过 "
                f"{case.max_snap_m:g} 米，无法步行到达；在按单元内设施计数的规则中仍计入",
            )
        )


def _report_islands(
    findings: list[Finding],
    network: WalkNetwork,
    origins: pd.DataFrame,
    snapped: SnappedPoints,
) -> None:
    ok = snapped.ok
    comp = np.full(len(snapped), -1)
    comp[ok] = network.component[network.edge_u[snapped.edge[ok]]]
    island = comp > 0
    if island.any():
        pop = float(origins["population"].to_numpy()[island].sum())
        findings.append(
            Finding(
                "warning",
                "origins",
                f"{int(island.sum())} residential origins ({pop:,.0f} residents) are on walking "
                "network islands disconnected from the main network; they reach only what is on "
                "their island. Check the OSM data around them (missing crossings, footbridges)",
                tuple(str(i) for i in origins["origin_id"].to_numpy()[island]),
                message_zh=f"{int(island.sum())} 个居民点（{pop:,.0f} 人）位于与主路网不连通的"
                "步行路网孤岛上，只能到达孤岛内的设施。请检查其周边的 OSM 数据（缺失的过街、"
                "人行天桥等）",
            )
        )
