"""Do the network, the boundaries and the services belong together? Checked before any search.

An OSM file of another city, layers whose CRS is declared wrong (metres of EPSG:4547 read as
EPSG:3857 land in Africa) or longitude and latitude swapped all load without error. Audited,
they give a full and confident report in which every unit fails. This module refuses them
instead, with :class:`InputMismatchError` (a :class:`~coverage.errors.DataError`: exit code 1
on the command line).

Two tests, the cheap one first:

1. :func:`check_extents`, before origins and snapping: the bounding boxes. A community whose
   box lies wholly outside the network's box enlarged by the snapping limit has every resident
   off the network; a service outside that enlarged box is off the network. These are lower
   bounds of the shares of test 2, found in microseconds, so that a wrong OSM file costs no
   snapping at all. A services layer whose box is disjoint from the boundaries' box is refused
   here too.
2. :func:`check_snapping`, after snapping and before the searches: the exact shares, from the
   snapping the audit does anyway (no extra work).

The limit, :data:`MAX_MISMATCH_SHARE`, is one definition for both tests: **more than half**
of the residents off the network (farther than ``max_snap_m`` from any walkable street), or
of the residents' origins outside every community boundary, or of the services off the
network, refuses the case. Why half: a real district misses a few per cent at most (the
demo: 0% of residents, 0.9% of services); an extract clipped too tight or a river park can
reach a quarter, and those cases still deserve an audit (their off-network residents count as
not reached, and a community with none on the network is not evaluable). Above half, most of
the report would be an artefact of the inputs, never a finding about the area: the inputs do
not belong together. Services outside every boundary are normal (a city-wide POI file serves
residents across the boundary; the demo has 7 of 444), so they refuse a case only when the
services' box does not meet the boundaries' box at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import shapely

from coverage.errors import DataError

if TYPE_CHECKING:
    import geopandas as gpd
    import numpy.typing as npt

    from coverage.network import WalkNetwork
    from coverage.snapping import SnappedPoints

__all__ = [
    "MAX_MISMATCH_SHARE",
    "InputMismatchError",
    "OverlapReport",
    "check_extents",
    "check_snapping",
]

#: Largest share of residents (off the network, or outside every community) or of services (off
#: the network) that a case may have; above it the inputs do not belong together and the audit
#: is refused. See the module docstring for why one half.
MAX_MISMATCH_SHARE = 0.5

#: Services farther than this from the communities' bounding box cannot serve any resident (no
#: budget of the shipped packs at the fastest allowed walking speed, 15 min at 8 km/h = 2 km,
#: searched to twice that, reaches them), so they do not count in the services' share: a
#: city-wide POI file audited with a district's OSM extract is not refused for the POIs of the
#: other districts. A services layer none of whose points lies this close is refused.
SERVICE_MARGIN_M = 5_000.0

#: Metres per degree of latitude, rounded down so that the enlarged box is never too small.
_M_PER_DEG = 110_000.0

BBox = tuple[float, float, float, float]
_EMPTY: BBox = (math.nan, math.nan, math.nan, math.nan)


class InputMismatchError(DataError):
    """The network, boundaries and services do not cover the same place."""


@dataclass(frozen=True)
class OverlapReport:
    """How much of the residents and services lie off the network or outside the boundaries.

    Attributes
    ----------
    residents
        Residents of the case.
    residents_off_network
        Residents farther than ``max_snap_m`` from any walkable street.
    residents_outside
        Residents whose origin lies outside every community (population points only).
    services, services_off_network
        Services within :data:`SERVICE_MARGIN_M` of the communities, and those of them farther
        than ``max_snap_m`` from any walkable street.
    services_outside
        Services outside every street boundary.
    layers_disjoint
        True when the services' box does not meet the boundaries' box at all.
    bboxes
        (west, south, east, north) in degrees of each layer: network, streets, communities,
        services.
    sources
        The file (or layer name) of each layer, for the message.
    max_snap_m
        The snapping limit.
    lower_bounds
        True for :func:`check_extents`: the shares are lower bounds found from the boxes.
    services_far
        Services farther than :data:`SERVICE_MARGIN_M` from the communities' box: left out of
        the shares (they cannot serve any resident).
    """

    residents: float
    residents_off_network: float
    residents_outside: float
    services: int
    services_off_network: int
    services_outside: int
    layers_disjoint: bool
    bboxes: Mapping[str, BBox]
    sources: Mapping[str, str] = field(default_factory=dict)
    max_snap_m: float = 250.0
    lower_bounds: bool = False
    services_far: int = 0

    @property
    def share_residents_off_network(self) -> float:
        """Share of residents off the network (0 when there are none)."""
        return _share(self.residents_off_network, self.residents)

    @property
    def share_residents_outside(self) -> float:
        """Share of residents whose origin lies outside every community."""
        return _share(self.residents_outside, self.residents)

    @property
    def share_services_off_network(self) -> float:
        """Share of services off the network."""
        return _share(self.services_off_network, self.services)

    @property
    def ok(self) -> bool:
        """False when any share is above :data:`MAX_MISMATCH_SHARE` or the layers are disjoint."""
        return not (
            self.share_residents_off_network > MAX_MISMATCH_SHARE
            or self.share_residents_outside > MAX_MISMATCH_SHARE
            or self.share_services_off_network > MAX_MISMATCH_SHARE
            or self.layers_disjoint
            or (self.services_far > 0 and self.services == 0)
        )

    def message(self, case_name: str) -> str:
        """The refusal: the shares, each layer's box, the likely causes and their fixes."""

        def at_least(share: float) -> str:
            return "at least " if self.lower_bounds and share < 1.0 else ""

        limit = f"{self.max_snap_m:g} m"
        shares = [
            f"{at_least(self.share_residents_off_network)}"
            f"{_pct(self.share_residents_off_network)} of residents "
            f"({self.residents_off_network:,.0f} of {self.residents:,.0f}) lie more than {limit} "
            "from any walkable street of the network",
            f"{at_least(self.share_services_off_network)}"
            f"{_pct(self.share_services_off_network)} of services "
            f"({self.services_off_network:,} of {self.services:,}) lie more than {limit} from "
            "any walkable street",
        ]
        if self.services_far:
            shares.append(
                f"{self.services_far:,} more services lie farther than {SERVICE_MARGIN_M:,.0f} m "
                "from the communities' extent and are not counted"
                + ("; no service lies closer" if self.services == 0 else "")
            )
        if self.residents_outside:
            shares.append(
                f"{_pct(self.share_residents_outside)} of residents "
                f"({self.residents_outside:,.0f}) have their origin outside every community"
            )
        if self.services_outside or self.layers_disjoint:
            shares.append(
                f"{self.services_outside:,} of {self.services:,} services lie outside every "
                "street boundary"
                + (
                    "; the services do not even overlap the boundaries"
                    if self.layers_disjoint
                    else ""
                )
            )
        lines = [
            f"case {case_name!r}: the network, boundaries and services do not cover the same "
            f"place, so the audit is refused (it would report every unit as failing): "
            + "; ".join(shares)
            + f". A case is refused above {_pct(MAX_MISMATCH_SHARE)} of residents or services.",
            "  extents (west, south, east, north in degrees, WGS-84):",
        ]
        for name in ("network", "streets", "communities", "services"):
            if name in self.bboxes:
                source = self.sources.get(name)
                where = f"  ({source})" if source else ""
                lines.append(f"    {name:<12} {_fmt_bbox(self.bboxes[name])}{where}")
        lines.append("  likely causes, most likely first:")
        lines += [f"    - {cause}" for cause in self._causes()]
        return "\n".join(lines)

    def _causes(self) -> list[str]:
        net = _enlarge(self.bboxes["network"], self.max_snap_m)
        layers = [n for n in ("streets", "communities", "services") if n in self.bboxes]
        off = [n for n in layers if not _meets(self.bboxes[n], net)]
        swapped = [n for n in off if _meets(_swap(self.bboxes[n]), net)]
        covers = _fmt_bbox(_union([self.bboxes[n] for n in layers if n != "services"] or [net]))
        wrong_osm = (
            f"wrong OSM file: the network covers {_fmt_bbox(self.bboxes['network'])}; use an "
            f"extract that covers the boundaries, {covers} (e.g. `osmium extract -b "
            f"{covers.replace(' ', '')} city.osm.pbf -o area.osm.pbf`), in [network] osm"
        )
        crs = (
            "CRS declared wrong: a layer's coordinates were read in another system than they are "
            "in (e.g. projected metres such as EPSG:4547 declared as EPSG:3857 or EPSG:4326 "
            "put the data in Africa or the ocean); set the layer's true system with "
            'crs = "EPSG:…" in its section of the case file, or fix its .prj'
        )
        axes = (
            "swapped axes: longitude and latitude exchanged"
            + (f" (swapping them puts {', '.join(swapped)} on the network)" if swapped else "")
            + "; give the longitude column as lon and the latitude column as lat, or export "
            "the file with x = longitude"
        )
        if swapped:
            return [axes, crs, wrong_osm]
        boundaries_agree = all(
            _meets(self.bboxes[a], _enlarge(self.bboxes[b], self.max_snap_m))
            for a in layers
            for b in layers
        )
        if (
            off
            and boundaries_agree
            and _in_china(net)
            and not _in_china(_union([self.bboxes[n] for n in layers]))
        ):
            return [crs, wrong_osm, axes]  # a Chinese network, layers outside China
        if off and boundaries_agree:
            return [wrong_osm, crs, axes]
        return [crs, wrong_osm, axes]


def check_extents(
    network: WalkNetwork,
    *,
    streets: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
    max_snap_m: float,
    case_name: str = "case",
) -> OverlapReport:
    """The cheap test on bounding boxes, before origins and snapping.

    Parameters
    ----------
    network
        The walking network.
    streets, communities, services
        The canonical layers (EPSG:4326); communities with ``population``.
    max_snap_m
        The snapping limit: the network's box is enlarged by it.
    case_name
        Named in the message.

    Returns
    -------
    OverlapReport
        With lower bounds of the off-network shares.

    Raises
    ------
    InputMismatchError
        When the lower bounds already exceed :data:`MAX_MISMATCH_SHARE`, or the services do not
        overlap the boundaries at all.
    """
    net = _enlarge(network.bbox, max_snap_m) if network.n_edges else None
    c_bounds = communities.geometry.bounds.to_numpy(dtype=float)
    population = _residents(communities)
    s_xy = _points_lonlat(services)
    near = _near_communities(s_xy, communities)
    s_xy = s_xy[near]
    if net is None:
        c_off = np.ones(len(communities), dtype=bool)
        s_off = np.ones(len(s_xy), dtype=bool)
    else:
        w, s, e, n = net
        c_off = (c_bounds[:, 0] > e) | (c_bounds[:, 2] < w) | (c_bounds[:, 1] > n)
        c_off |= c_bounds[:, 3] < s
        s_off = (s_xy[:, 0] < w) | (s_xy[:, 0] > e) | (s_xy[:, 1] < s) | (s_xy[:, 1] > n)
    boxes = _bboxes(network, streets, communities, services)
    boundaries = _union([boxes["streets"], boxes["communities"]])
    disjoint = len(services) > 0 and not _meets(boxes["services"], boundaries)
    report = OverlapReport(
        residents=float(population.sum()),
        residents_off_network=float(population[c_off].sum()),
        residents_outside=0.0,
        services=int(near.sum()),
        services_off_network=int(s_off.sum()),
        services_outside=len(services) if disjoint else 0,
        layers_disjoint=disjoint,
        bboxes=boxes,
        sources=_sources(network, streets, communities, services),
        max_snap_m=float(max_snap_m),
        lower_bounds=True,
        services_far=int((~near).sum()),
    )
    if not report.ok:
        raise InputMismatchError(report.message(case_name))
    return report


def check_snapping(
    network: WalkNetwork,
    *,
    streets: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
    origins: gpd.GeoDataFrame,
    snapped_origins: SnappedPoints,
    snapped_services: SnappedPoints,
    services_outside: int = 0,
    case_name: str = "case",
) -> OverlapReport:
    """The exact test, from the snapping the audit did (before any search).

    Parameters
    ----------
    network
        The walking network.
    streets, communities, services
        The canonical layers (for the boxes in the message).
    origins
        Residential origins with ``population`` and ``community_id`` (missing outside every
        community), aligned with ``snapped_origins``.
    snapped_origins, snapped_services
        Their snapping onto ``network``.
    services_outside
        Services outside every street boundary (shown in the message).
    case_name
        Named in the message.

    Returns
    -------
    OverlapReport

    Raises
    ------
    InputMismatchError
        When a share exceeds :data:`MAX_MISMATCH_SHARE`.
    """
    population = _residents(origins)
    outside = origins["community_id"].isna().to_numpy()
    near = _near_communities(_points_lonlat(services), communities)
    report = OverlapReport(
        residents=float(population.sum()),
        residents_off_network=float(population[~snapped_origins.ok].sum()),
        residents_outside=float(population[outside].sum()),
        services=int(near.sum()),
        services_off_network=int((~snapped_services.ok & near).sum()),
        services_outside=int(services_outside),
        layers_disjoint=False,
        bboxes=_bboxes(network, streets, communities, services),
        sources=_sources(network, streets, communities, services),
        max_snap_m=float(snapped_origins.max_snap_m),
        services_far=int((~near).sum()),
    )
    if not report.ok:
        raise InputMismatchError(report.message(case_name))
    return report


# ---- helpers ---------------------------------------------------------------------------------


def _residents(frame: gpd.GeoDataFrame) -> npt.NDArray[np.float64]:
    """The ``population`` column, with missing, infinite and negative values as 0."""
    population = frame["population"].to_numpy(dtype=float)
    return np.where(np.isfinite(population) & (population > 0), population, 0.0)


def _near_communities(
    xy: npt.NDArray[np.float64], communities: gpd.GeoDataFrame
) -> npt.NDArray[np.bool_]:
    """Which points (lon, lat) lie within :data:`SERVICE_MARGIN_M` of the communities' box."""
    bounds = communities.geometry.bounds.to_numpy(dtype=float)
    bounds = bounds[np.isfinite(bounds).all(axis=1)]
    if len(bounds) == 0:
        return np.ones(len(xy), dtype=bool)
    box = (bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max())
    w, s, e, n = _enlarge(box, SERVICE_MARGIN_M)
    return (xy[:, 0] >= w) & (xy[:, 0] <= e) & (xy[:, 1] >= s) & (xy[:, 1] <= n)


def _share(part: float, total: float) -> float:
    return float(part) / float(total) if total > 0 else 0.0


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _fmt_bbox(box: BBox) -> str:
    if not all(math.isfinite(v) for v in box):
        return "(empty)"
    return ", ".join(f"{v:.4f}" for v in box)


def _enlarge(box: BBox, metres: float) -> BBox:
    """The box enlarged by at least ``metres`` on every side (degrees per metre rounded up)."""
    w, s, e, n = box
    dlat = metres / _M_PER_DEG
    cos = math.cos(math.radians(min(max(abs(s), abs(n)) + dlat, 89.0)))
    dlon = metres / (_M_PER_DEG * cos)
    return (w - dlon, s - dlat, e + dlon, n + dlat)


def _in_china(box: BBox) -> bool:
    """Whether the box's centre lies in China's rough box (73.66-135.05 E, 3.86-53.55 N)."""
    lon, lat = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return 73.66 <= lon <= 135.05 and 3.86 <= lat <= 53.55


def _meets(a: BBox, b: BBox) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _swap(box: BBox) -> BBox:
    return (box[1], box[0], box[3], box[2])


def _union(boxes: list[BBox]) -> BBox:
    finite = [b for b in boxes if all(math.isfinite(v) for v in b)]
    if not finite:
        return _EMPTY
    arr = np.asarray(finite, dtype=float)
    return (
        float(arr[:, 0].min()),
        float(arr[:, 1].min()),
        float(arr[:, 2].max()),
        float(arr[:, 3].max()),
    )


def _layer_bbox(gdf: gpd.GeoDataFrame) -> BBox:
    if len(gdf) == 0:
        return _EMPTY
    w, s, e, n = (float(v) for v in gdf.geometry.total_bounds)
    return (w, s, e, n)


def _bboxes(
    network: WalkNetwork,
    streets: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
) -> dict[str, BBox]:
    return {
        "network": network.bbox if network.n_nodes else _EMPTY,
        "streets": _layer_bbox(streets),
        "communities": _layer_bbox(communities),
        "services": _layer_bbox(services),
    }


def _sources(
    network: WalkNetwork,
    streets: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
) -> dict[str, str]:
    out: dict[str, str] = {}
    if network.report is not None and network.report.source:
        out["network"] = str(network.report.source)
    for name, gdf in (("streets", streets), ("communities", communities), ("services", services)):
        source = gdf.attrs.get("source")
        if source:
            out[name] = str(source)
    return out


def _points_lonlat(gdf: gpd.GeoDataFrame) -> npt.NDArray[np.float64]:
    """One (lon, lat) per feature: points as they are, other shapes by a point inside them."""
    geoms = gdf.geometry
    if len(geoms) and not (geoms.geom_type == "Point").all():
        geoms = geoms.representative_point()
    xy = shapely.get_coordinates(np.asarray(geoms.values, dtype=object))
    if xy.shape[0] != len(gdf):  # empty geometries: count them as on the network (not found)
        return np.zeros((0, 2)) if len(gdf) == 0 else np.full((len(gdf), 2), np.nan)
    return np.asarray(xy, dtype=float)
