"""Snapping points to the nearest walkable edge.

A point (a facility, a residential origin) joins the network at its orthogonal projection on the
nearest edge: the walk goes straight from the point to that projection, then along the edge.
Snapping to the nearest *node* instead would make a resident in the middle of a 300 m block walk
to a corner first, and would attach points to intersections on the wrong side of a river.

Points farther than ``max_snap_m`` from every walkable edge are not attached to a far street:
they are reported as unsnapped, with their ids, and have no distance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import shapely

if TYPE_CHECKING:
    import geopandas as gpd

    from coverage.network import WalkNetwork

__all__ = ["DEFAULT_MAX_SNAP_M", "SnappedPoints", "snap_points"]

logger = logging.getLogger(__name__)

#: Default largest distance (m) between a point and the street it is attached to.
DEFAULT_MAX_SNAP_M = 250.0


@dataclass(frozen=True, eq=False)
class SnappedPoints:
    """Points attached to a :class:`~coverage.network.WalkNetwork`.

    Arrays are aligned with ``index`` (the input's index). For unsnapped points ``edge`` is -1
    and the other values are NaN.

    Attributes
    ----------
    index
        The input points' index (ids).
    edge
        Position of the edge each point is attached to, -1 if farther than ``max_snap_m``.
    offset_m
        Distance along the edge from its ``u`` end to the projection, in network metres
        (the edge's great-circle length scales the projected position).
    snap_m
        Straight-line distance from the point to its projection, in metres.
    max_snap_m
        The snapping limit that was applied.
    """

    index: pd.Index
    edge: npt.NDArray[np.int64]
    offset_m: npt.NDArray[np.float64]
    snap_m: npt.NDArray[np.float64]
    max_snap_m: float

    def __len__(self) -> int:
        return int(self.edge.shape[0])

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        """Mask of points attached to the network."""
        return np.asarray(self.edge >= 0)

    @property
    def unsnapped_ids(self) -> list[object]:
        """Ids of the points farther than ``max_snap_m`` from every walkable edge."""
        return list(self.index[~self.ok])

    def subset(self, mask: npt.NDArray[np.bool_]) -> SnappedPoints:
        """The points where ``mask`` is true."""
        return SnappedPoints(
            index=self.index[mask],
            edge=self.edge[mask],
            offset_m=self.offset_m[mask],
            snap_m=self.snap_m[mask],
            max_snap_m=self.max_snap_m,
        )

    def to_frame(self) -> pd.DataFrame:
        """The snapping as a DataFrame indexed like the input."""
        return pd.DataFrame(
            {"edge": self.edge, "offset_m": self.offset_m, "snap_m": self.snap_m},
            index=self.index,
        )


def _points_xy(
    network: WalkNetwork,
    points: gpd.GeoSeries | gpd.GeoDataFrame | npt.ArrayLike,
) -> tuple[npt.NDArray[np.float64], pd.Index]:
    import geopandas as gpd

    if isinstance(points, gpd.GeoDataFrame | gpd.GeoSeries):
        if points.crs is None:
            msg = "the points have no CRS; set one (e.g. .set_crs('EPSG:4326')) before snapping"
            raise ValueError(msg)
        geoms = points.geometry.to_crs(network.metric_crs)
        if not (geoms.geom_type == "Point").all():
            geoms = geoms.representative_point()
        xy = shapely.get_coordinates(geoms.values)
        if len(xy) != len(points):
            msg = "some points have empty geometries; drop or fix them before snapping"
            raise ValueError(msg)
        return xy, points.index
    lonlat = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    transformer = pyproj.Transformer.from_crs(4326, network.metric_crs, always_xy=True)
    x, y = transformer.transform(lonlat[:, 0], lonlat[:, 1])
    return np.column_stack([x, y]), pd.RangeIndex(len(lonlat))


def snap_points(
    network: WalkNetwork,
    points: gpd.GeoSeries | gpd.GeoDataFrame | npt.ArrayLike,
    *,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> SnappedPoints:
    """Attach points to their nearest walkable edge.

    Parameters
    ----------
    network
        The walking network.
    points
        A GeoSeries/GeoDataFrame in any CRS (polygons are represented by a point inside them)
        or an array of (lon, lat) pairs in EPSG:4326.
    max_snap_m
        Points farther than this from every edge are left unsnapped and listed in
        :attr:`SnappedPoints.unsnapped_ids`.

    Returns
    -------
    SnappedPoints
    """
    xy, index = _points_xy(network, points)
    n = xy.shape[0]
    edge = np.full(n, -1, dtype=np.int64)
    offset = np.full(n, np.nan)
    snap = np.full(n, np.nan)
    if n and network.n_edges:
        geoms = shapely.points(xy)
        hit, dists = network.edge_tree.query_nearest(
            geoms, max_distance=max_snap_m, return_distance=True, all_matches=False
        )
        point_pos, edge_pos = hit
        # query_nearest may return several equidistant edges for one point: keep the first
        first = np.unique(point_pos, return_index=True)[1]
        point_pos, edge_pos, dists = point_pos[first], edge_pos[first], dists[first]
        lines = network.edge_lines[edge_pos]
        along = shapely.line_locate_point(lines, geoms[point_pos])
        line_len = shapely.length(lines)
        frac = np.divide(along, line_len, out=np.zeros_like(along), where=line_len > 0)
        edge[point_pos] = edge_pos
        offset[point_pos] = np.clip(frac, 0.0, 1.0) * network.edge_length_m[edge_pos]
        snap[point_pos] = dists
    result = SnappedPoints(
        index=index, edge=edge, offset_m=offset, snap_m=snap, max_snap_m=float(max_snap_m)
    )
    missing = int((~result.ok).sum())
    if missing:
        shown = ", ".join(str(i) for i in result.unsnapped_ids[:10])
        logger.info(
            "%d of %d points are farther than %.0f m from any walkable edge (ids %s%s)",
            missing,
            n,
            max_snap_m,
            shown,
            " …" if missing > 10 else "",
        )
    return result
