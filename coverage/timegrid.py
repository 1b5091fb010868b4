"""Walking time to the nearest facility as a raster: the heat map layer of the city map.

:func:`walk_time_grids` turns what the audit computed into one raster of minutes per
category, and :func:`encode_png` writes a colour-classed raster as a small indexed PNG that
:mod:`coverage.maps` inlines (``L.imageOverlay``): a few hundred KB per category for a whole
city, where dissolved service-area polygons took tens of MB and minutes to build.

What a pixel means
------------------
A pixel's walking time is that of a resident standing at the pixel's centre, counted the way
the audit counts a residential origin: the straight walk to the nearest point of the walking
network, then the network distance from that point to the nearest facility of the category
(searched from the audit's own snapped facilities with :func:`coverage.access.node_distances`),
divided by the walking speed. Pixels whose centre is farther than ``buffer_m`` (default
:data:`coverage.isochrones.DEFAULT_BUFFER_M`, 30 m) from every walkable street are transparent:
the map claims nothing there. A pixel that is near a street but not reached within the search
limit (``search_limit_factor`` times the largest band, as in the audit) is "not reached".

The network point is the nearest of points sampled along every edge at most ``sample_m`` apart
(half the cell size), so a pixel's time is within ``sample_m`` metres of walking (half a sample
spacing to the true nearest point, half along the street) of the exact definition; the tests
check this against networkx Dijkstra on the demo.

Cells are square in Web Mercator (EPSG:3857), so that the image lies exactly where
``L.imageOverlay`` stretches it; their ground size is ``cell_m`` at the grid's centre
latitude. The cell size is the smallest of 10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200,
300 and 500 m that keeps the grid under ``max_pixels`` (default 1.5 million pixels, which
encodes to a few hundred KB or less on a city; see :data:`MAX_PIXELS`).
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from coverage._arrays import concat_ranges

if TYPE_CHECKING:
    from coverage.audit import AuditResult
    from coverage.network import WalkNetwork
    from coverage.snapping import SnappedPoints

__all__ = [
    "CELL_SIZES_M",
    "MAX_PIXELS",
    "TIME_PALETTE",
    "WalkTimeGrid",
    "encode_png",
    "time_classes",
    "walk_time_grids",
]

logger = logging.getLogger(__name__)

#: Candidate ground cell sizes, smallest first.
CELL_SIZES_M: tuple[float, ...] = (10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200, 300, 500)

#: The largest grid (pixels) a category's raster may have. A city of 1,000 km² gets 30 m cells;
#: an indexed PNG of it is a few hundred KB (streets, not fields of colour, fill it).
MAX_PIXELS = 1_500_000

#: Colours of the time classes: ColorBrewer Purples (sequential, colour-blind safe), darkest =
#: fewest minutes, the hue of the service-area bands; then the class "beyond the last band but
#: within the search limit" and "not reached" (grey).
TIME_PALETTE: tuple[str, ...] = ("#3f007d", "#6a51a3", "#9e9ac8", "#dadaeb", "#969696")

_EARTH_R = 6378137.0


@dataclass(frozen=True, eq=False)
class WalkTimeGrid:
    """Walking minutes to the nearest facility of one category on a Web Mercator grid.

    Attributes
    ----------
    category
        The service category.
    minutes
        Shape (rows, cols), row 0 the northern edge: walking minutes at each cell centre;
        ``inf`` near a street but not reached within the search limit, ``NaN`` farther than
        ``buffer_m`` from every walkable street (transparent).
    bounds
        (west, south, east, north) of the grid's outer edges in degrees.
    cell_m
        Ground size of a cell at the grid's centre latitude, metres.
    buffer_m
        Cells farther than this from every walkable street are ``NaN``.
    sample_m
        Spacing of the network points sampled along the edges.
    limit_minutes
        The search limit (minutes); times beyond it are ``inf``.
    """

    category: str
    minutes: npt.NDArray[np.float32]
    bounds: tuple[float, float, float, float]
    cell_m: float
    buffer_m: float
    sample_m: float
    limit_minutes: float

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return (int(self.minutes.shape[0]), int(self.minutes.shape[1]))


@dataclass(frozen=True, eq=False)
class _Grid:
    """Pixel centres and their nearest sampled network point (shared by every category)."""

    bounds: tuple[float, float, float, float]
    shape: tuple[int, int]
    cell_m: float
    near: npt.NDArray[np.int64]  # pixel (flat) -> sample, -1 beyond the buffer
    straight_m: npt.NDArray[np.float64]  # pixel (flat) -> metres to that sample
    sample_edge: npt.NDArray[np.int64]
    sample_t: npt.NDArray[np.float64]  # metres along the edge from its u end
    sample_m: float


def _mercator(
    lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    x = np.radians(lon) * _EARTH_R
    y = np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * _EARTH_R
    return x, y


def _lonlat(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    lon = np.degrees(x / _EARTH_R)
    lat = np.degrees(2 * np.arctan(np.exp(y / _EARTH_R)) - np.pi / 2)
    return lon, lat


def _cell_size(extent_m2: float, *, max_pixels: int, min_cell_m: float) -> float:
    for cell in CELL_SIZES_M:
        if cell >= min_cell_m and extent_m2 / (cell * cell) <= max_pixels:
            return float(cell)
    return float(np.sqrt(extent_m2 / max_pixels))


def _grid(
    network: WalkNetwork,
    bbox: tuple[float, float, float, float],
    *,
    buffer_m: float,
    max_pixels: int,
    min_cell_m: float,
) -> _Grid:
    from scipy.spatial import cKDTree

    west, south, east, north = bbox
    lat0 = (south + north) / 2
    k = 1.0 / np.cos(np.radians(lat0))  # Mercator metres per ground metre at lat0
    (x0, x1), (y0, y1) = _mercator(np.array([west, east]), np.array([south, north]))
    ground_m2 = float((x1 - x0) * (y1 - y0)) / (k * k)
    cell_m = _cell_size(ground_m2, max_pixels=max_pixels, min_cell_m=min_cell_m)
    step = cell_m * k
    cols = max(1, int(np.ceil((x1 - x0) / step)))
    rows = max(1, int(np.ceil((y1 - y0) / step)))
    x_edge = x0 + np.arange(cols + 1) * step
    y_edge = y1 - np.arange(rows + 1) * step
    lon_e, lat_e = _lonlat(np.array([x_edge[0], x_edge[-1]]), np.array([y_edge[-1], y_edge[0]]))
    bounds = (float(lon_e[0]), float(lat_e[0]), float(lon_e[1]), float(lat_e[1]))

    # network points every sample_m metres along each edge (at the middles of equal pieces)
    sample_m = max(cell_m / 2.0, 2.5)
    length = network.edge_length_m
    pieces = np.maximum(1, np.ceil(length / sample_m)).astype(np.int64)
    sample_edge = np.repeat(np.arange(network.n_edges, dtype=np.int64), pieces)
    starts = np.cumsum(pieces) - pieces
    i = np.arange(sample_edge.size, dtype=np.int64) - np.repeat(starts, pieces)
    frac = (i + 0.5) / pieces[sample_edge]
    xy = network.xy
    u, v = network.edge_u[sample_edge], network.edge_v[sample_edge]
    sxy = xy[u] + (xy[v] - xy[u]) * frac[:, None]
    sample_t = frac * length[sample_edge]

    # pixel centres, in the network's metric CRS, row by row (north first)
    cx = x0 + (np.arange(cols) + 0.5) * step
    cy = y1 - (np.arange(rows) + 0.5) * step
    lon_c, _ = _lonlat(cx, np.full(cols, cy[0]))
    _, lat_c = _lonlat(np.full(rows, cx[0]), cy)
    lon_g = np.broadcast_to(lon_c[None, :], (rows, cols)).ravel()
    lat_g = np.broadcast_to(lat_c[:, None], (rows, cols)).ravel()
    px, py = network.to_metric.transform(lon_g, lat_g)
    tree = cKDTree(sxy)
    straight, near = tree.query(
        np.column_stack([px, py]), k=1, distance_upper_bound=buffer_m, workers=-1
    )
    near = np.where(np.isfinite(straight), near, -1).astype(np.int64)
    return _Grid(
        bounds=bounds,
        shape=(rows, cols),
        cell_m=cell_m,
        near=near,
        straight_m=np.asarray(straight, dtype=np.float64),
        sample_edge=sample_edge,
        sample_t=sample_t,
        sample_m=sample_m,
    )


def _sample_distances(
    network: WalkNetwork, grid: _Grid, sources: SnappedPoints, *, cutoff_m: float
) -> npt.NDArray[np.float64]:
    """Network metres from the nearest source to every sampled point (``inf`` beyond)."""
    from coverage.access import node_distances

    nodes = node_distances(network, sources, cutoff_m=cutoff_m).distance_m
    e, t = grid.sample_edge, grid.sample_t
    length = network.edge_length_m[e]
    d = np.minimum(nodes[network.edge_u[e]] + t, nodes[network.edge_v[e]] + length - t)
    # a point on a source's own edge is also reached along the edge itself
    ok = np.flatnonzero(sources.ok)
    if ok.size:
        counts = np.bincount(grid.sample_edge, minlength=network.n_edges)
        first = np.cumsum(counts) - counts
        src_edge = sources.edge[ok]
        at = concat_ranges(first[src_edge], counts[src_edge])
        which = np.repeat(np.arange(ok.size), counts[src_edge])
        direct = sources.snap_m[ok][which] + np.abs(grid.sample_t[at] - sources.offset_m[ok][which])
        np.minimum.at(d, at, direct)
    d[d > cutoff_m] = np.inf
    return d


def walk_time_grids(
    result: AuditResult,
    *,
    categories: Sequence[str] | None = None,
    minutes: Sequence[float] = (5.0, 10.0, 15.0),
    buffer_m: float | None = None,
    max_pixels: int = MAX_PIXELS,
    min_cell_m: float = CELL_SIZES_M[0],
) -> dict[str, WalkTimeGrid]:
    """One raster of walking minutes per category, from the audit's network and facilities.

    Parameters
    ----------
    result
        An audit result with its walking network.
    categories
        Categories to draw (default: every category of the pack's reach rules that has a
        facility on the network).
    minutes
        The time bands; the search stops at ``search_limit_factor`` (the audit's, 2) times the
        largest.
    buffer_m
        Cells farther than this from every walkable street are transparent (default
        :data:`coverage.isochrones.DEFAULT_BUFFER_M`).
    max_pixels
        The largest grid; the cell size is the smallest of :data:`CELL_SIZES_M` that fits.
    min_cell_m
        The smallest cell size considered.

    Returns
    -------
    dict
        Category -> :class:`WalkTimeGrid`, in the order of ``categories``.
    """
    from coverage.audit import service_categories
    from coverage.isochrones import DEFAULT_BUFFER_M
    from coverage.rules import minutes_to_m

    network = result.network
    if network is None:
        msg = "the audit result has no walking network; run audit_case again to get one"
        raise ValueError(msg)
    if not minutes or min(minutes) <= 0:
        msg = f"minutes must be positive time bands, got {list(minutes)}"
        raise ValueError(msg)
    buffer = DEFAULT_BUFFER_M if buffer_m is None else float(buffer_m)
    if not np.isfinite(buffer) or buffer <= 0:
        msg = f"buffer_m must be a positive number of metres, got {buffer_m!r}"
        raise ValueError(msg)
    snapped = result.snapped_services
    services = result.services
    ids = services["service_id"].to_numpy() if "service_id" in services else None
    if (
        snapped is None
        or len(snapped) != len(services)
        or ids is None
        or not np.array_equal(np.asarray(snapped.index, dtype=object), ids.astype(object))
    ):
        from coverage.snapping import DEFAULT_MAX_SNAP_M, snap_points

        logger.info("the audit result carries no snapping of its services: snapping them")
        limit = float(result.provenance.get("max_snap_m") or DEFAULT_MAX_SNAP_M)
        snapped = snap_points(network, services.reset_index(drop=True), max_snap_m=limit)
    cats = service_categories(services)
    wanted = (
        list(result.pack.reach_categories)
        if categories is None
        else list(dict.fromkeys(categories))
    )
    chosen: list[tuple[str, npt.NDArray[np.bool_]]] = []
    for cat in wanted:
        mask = np.zeros(len(services), dtype=bool)
        mask[cats.loc[cats["category"] == cat, "pos"].to_numpy()] = True
        mask &= snapped.ok
        if mask.any():
            chosen.append((cat, mask))
    if not chosen:
        return {}
    factor = float(result.provenance.get("search_limit_factor", 2.0))
    limit_minutes = factor * float(max(minutes))
    cutoff_m = minutes_to_m(limit_minutes, result.walk_speed_kmh)
    grid = _grid(
        network,
        _bbox(result),
        buffer_m=buffer,
        max_pixels=max_pixels,
        min_cell_m=min_cell_m,
    )
    per_minute_m = minutes_to_m(1.0, result.walk_speed_kmh)
    on = grid.near >= 0
    out: dict[str, WalkTimeGrid] = {}
    for cat, mask in chosen:
        d = _sample_distances(network, grid, snapped.subset(mask), cutoff_m=cutoff_m)
        total = np.full(grid.near.size, np.nan)
        total[on] = d[grid.near[on]] + grid.straight_m[on]
        values = total / per_minute_m
        values[values > limit_minutes] = np.inf
        out[cat] = WalkTimeGrid(
            category=cat,
            minutes=values.reshape(grid.shape).astype(np.float32),
            bounds=grid.bounds,
            cell_m=grid.cell_m,
            buffer_m=buffer,
            sample_m=grid.sample_m,
            limit_minutes=limit_minutes,
        )
    return out


def _bbox(result: AuditResult) -> tuple[float, float, float, float]:
    """The extent drawn: the communities and streets (the audited area), plus the buffer."""
    boxes = [
        f.to_crs(4326).total_bounds for f in (result.communities, result.streets) if len(f) > 0
    ]
    arr = np.array(boxes, dtype=float)
    arr = arr[np.isfinite(arr).all(axis=1)]
    if not len(arr):
        assert result.network is not None
        return result.network.bbox
    west, south = float(arr[:, 0].min()), float(arr[:, 1].min())
    east, north = float(arr[:, 2].max()), float(arr[:, 3].max())
    return (west, south, east, north)


def time_classes(
    minutes: npt.NDArray[np.floating], breaks: Sequence[float]
) -> npt.NDArray[np.uint8]:
    """Palette index of each cell: 0 transparent, 1.. the bands ``≤ breaks[0]``,
    ``breaks[0]–breaks[1]``, ..., then "beyond the last band" and "not reached" (``inf``).

    A time equal to a break belongs to the band it ends (``≤ 5 min`` holds 5.0).
    """
    values = np.asarray(minutes, dtype=np.float64)
    edges = np.asarray(sorted(float(b) for b in breaks))
    out = np.zeros(values.shape, dtype=np.uint8)
    finite = np.isfinite(values)
    out[finite] = (np.searchsorted(edges, values[finite], side="left") + 1).astype(np.uint8)
    out[np.isinf(values)] = len(edges) + 2
    return out


def encode_png(
    indices: npt.NDArray[np.uint8], palette: Sequence[tuple[int, int, int, int]]
) -> bytes:
    """An indexed-colour PNG (8 bits per pixel) of ``indices`` with an RGBA ``palette``.

    A minimal encoder (zlib level 6 and the PNG chunk layout only; level 9 is 20 times slower
    for 15 % less) so that the package needs no
    imaging library: filter type 0 on every row, one IDAT chunk, alpha in a tRNS chunk.
    """
    rows, cols = indices.shape
    if len(palette) == 0 or len(palette) > 256 or int(indices.max(initial=0)) >= len(palette):
        msg = f"a palette of 1-256 colours covering every index is needed, got {len(palette)}"
        raise ValueError(msg)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    raw = np.zeros((rows, cols + 1), dtype=np.uint8)  # a leading 0 (filter "none") per row
    raw[:, 1:] = indices
    header = struct.pack(">IIBBBBB", cols, rows, 8, 3, 0, 0, 0)
    plte = bytes(c for rgba in palette for c in rgba[:3])
    trns = bytes(rgba[3] for rgba in palette)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"PLTE", plte)
        + chunk(b"tRNS", trns)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def decode_png(data: bytes) -> tuple[npt.NDArray[np.uint8], list[tuple[int, int, int, int]]]:
    """The indices and RGBA palette of a PNG written by :func:`encode_png` (for tests)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        msg = "not a PNG"
        raise ValueError(msg)
    pos = 8
    idat = b""
    plte = trns = b""
    cols = rows = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            cols, rows = struct.unpack(">II", body[:8])
        elif kind == b"PLTE":
            plte = body
        elif kind == b"tRNS":
            trns = body
        elif kind == b"IDAT":
            idat += body
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(rows, cols + 1)
    n = len(plte) // 3
    palette = [
        (plte[3 * i], plte[3 * i + 1], plte[3 * i + 2], trns[i] if i < len(trns) else 255)
        for i in range(n)
    ]
    return raw[:, 1:].copy(), palette
