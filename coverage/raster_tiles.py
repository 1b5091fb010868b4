"""Many small rasters in one array: the raster isochrones of a chunk of facilities at once.

:func:`coverage.isochrones.facility_isochrones` with ``cell_m`` gives every facility its own
grid round its own reached pieces (:func:`coverage.raster.grid_around`). A facility's grid is
small (about 150 x 150 cells for 15 minutes at 10 m), so burning, growing and tracing each grid
on its own costs more in Python, numpy and contourpy calls than in cells. Here the grids of
several facilities (*tiles*) are laid one above the other in one array, and each step is one
call for all of them:

1. :func:`tiles_around`: each tile is exactly the grid :func:`coverage.raster.grid_around` makes
   for its box (same origin, same size, on the same lattice of ``cell_m``);
2. :func:`burn_tiles`: each cell's smallest band among the samples of its tile's segments, as
   :func:`coverage.raster.burn_segments` burns one grid;
3. :func:`coverage.raster.dilate_min` on the whole array;
4. :func:`trace_tiles`: marching squares (``contourpy``) once per band for all tiles, each
   polygon handed back to the tile it lies in.

Why the tiles never mix: a tile extends ``pad_m + 2 cell_m`` beyond the samples burnt into it,
and the disc of :func:`coverage.raster.dilate_min` reaches less than ``pad_m`` (the buffer), so
no claimed cell lies within two cells of a tile's border (columns right of a narrow tile are
never claimed either). Growing and tracing the stacked array therefore give every tile exactly
what its grid alone gives, and the promises of :mod:`coverage.raster` hold for each polygon
(``tests/test_raster_tiles.py`` checks the tiles against the grids one by one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from coverage._arrays import concat_ranges
from coverage.raster import _drop_collinear, _filled, segment_samples

__all__ = [
    "Tiles",
    "TraceArrays",
    "burn_tiles",
    "pack_shelves",
    "tiles_around",
    "trace_tiles",
]


def pack_shelves(
    n_rows: npt.NDArray[np.int64], n_cols: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int, int]:
    """Places for rectangles of ``n_rows`` x ``n_cols`` cells in one array, without overlap.

    Shelf packing: the rectangles, tallest first, are laid left to right in shelves as wide as
    the widest one; a shelf is as tall as its first rectangle.
    Returns each rectangle's first row and column, and the array's rows and columns.
    """
    k = n_rows.size
    row0 = np.zeros(k, dtype=np.int64)
    col0 = np.zeros(k, dtype=np.int64)
    if k == 0:
        return row0, col0, 0, 0
    width = int(n_cols.max())
    top = 0
    shelf_rows = 0
    x = width  # the first rectangle opens a shelf
    for i in np.argsort(-n_rows, kind="stable").tolist():
        w = int(n_cols[i])
        if x + w > width:
            top += shelf_rows
            shelf_rows = int(n_rows[i])
            x = 0
        row0[i] = top
        col0[i] = x
        x += w
    return row0, col0, top + shelf_rows, width


@dataclass(frozen=True)
class Tiles:
    """Grids of the same cell size placed side by side in one array (:func:`pack_shelves`).

    Tile ``k`` is the grid with lower-left corner ``(x0[k], y0[k])`` and ``n_rows[k]`` x
    ``n_cols[k]`` cells (as :class:`coverage.raster.Grid`); its cell ``(r, c)`` is cell
    ``(row0[k] + r, col0[k] + c)`` of the array of ``shape``.
    """

    x0: npt.NDArray[np.float64]
    y0: npt.NDArray[np.float64]
    n_rows: npt.NDArray[np.int64]
    n_cols: npt.NDArray[np.int64]
    row0: npt.NDArray[np.int64]
    col0: npt.NDArray[np.int64]
    shape: tuple[int, int]
    cell_m: float


def tiles_around(
    lo: npt.NDArray[np.float64],
    hi: npt.NDArray[np.float64],
    *,
    cell_m: float,
    pad_m: float,
) -> Tiles:
    """One tile per box ``lo[k]``-``hi[k]`` (rows of ``(k, 2)`` arrays), each the grid
    :func:`coverage.raster.grid_around` makes for that box, packed in one array."""
    margin = pad_m + 2.0 * cell_m
    x0 = np.floor((lo[:, 0] - margin) / cell_m) * cell_m
    y0 = np.floor((lo[:, 1] - margin) / cell_m) * cell_m
    n_cols = np.ceil((hi[:, 0] + margin - x0) / cell_m).astype(np.int64) + 1
    n_rows = np.ceil((hi[:, 1] + margin - y0) / cell_m).astype(np.int64) + 1
    row0, col0, total_rows, width = pack_shelves(n_rows, n_cols)
    return Tiles(x0, y0, n_rows, n_cols, row0, col0, (total_rows, width), float(cell_m))


def burn_tiles(
    tiles: Tiles,
    tile: npt.NDArray[np.int64],
    start: npt.NDArray[np.float64],
    end: npt.NDArray[np.float64],
    band: npt.NDArray[np.int64],
    *,
    n_bands: int,
) -> npt.NDArray[np.uint8]:
    """Each cell's smallest band among the segments of its tile sampled in it (``n_bands``:
    none), in the packed array; segment ``i`` belongs to tile ``tile[i]``.

    Segments are sampled at most one cell apart (:func:`coverage.raster.segment_samples`), and
    each tile's cells get what :func:`coverage.raster.burn_segments` gives its grid.
    """
    n_rows, width = tiles.shape
    values = np.full(n_rows * width, n_bands, dtype=np.uint8)
    order = np.argsort(-band, kind="stable")  # larger bands first: smaller ones overwrite them
    x, y, count = segment_samples(start[order], end[order], step_m=tiles.cell_m)
    sample_tile = np.repeat(tile[order], count)
    # inside a tile x > x0 and y > y0: truncation is floor
    col = ((x - tiles.x0[sample_tile]) / tiles.cell_m).astype(np.int64)
    row = ((y - tiles.y0[sample_tile]) / tiles.cell_m).astype(np.int64)
    cells = (row + tiles.row0[sample_tile]) * width + col + tiles.col0[sample_tile]
    sample_band = np.repeat(band[order], count)
    bounds = np.flatnonzero(np.diff(sample_band)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, sample_band.size], strict=True):
        values[cells[lo:hi]] = sample_band[lo]  # one band per run, runs from large to small
    return values.reshape(n_rows, width)


def _reorder_polygons(
    points: npt.NDArray[np.float64],
    ring_ptr: npt.NDArray[np.int64],
    rings: npt.NDArray[np.int64],
    order: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Polygons (``rings[i]`` rings each, points ``ring_ptr``) taken in ``order``."""
    poly_ptr = np.concatenate([[0], np.cumsum(rings)])
    ring_order = concat_ranges(poly_ptr[:-1][order], rings[order])
    ring_len = np.diff(ring_ptr)[ring_order]
    points = points[concat_ranges(ring_ptr[:-1][ring_order], ring_len)]
    return points, np.concatenate([[0], np.cumsum(ring_len)]), rings[order]


def _drop_straight(
    points: npt.NDArray[np.float64], ring_ptr: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The closed rings of marching squares in cell-index coordinates without the vertices
    where a ring goes straight on (as :func:`coverage.raster._drop_collinear`, cheaper).

    Every step of such a ring joins the midpoints of two sides of one quad: one of eight
    steps of length 1 or ``√2/2``, so a vertex lies on a straight run exactly when it leaves
    by the same step as it came. Points off the lattice of half cells are left to
    :func:`coverage.raster._drop_collinear`.
    """
    n = points.shape[0]
    first = ring_ptr[:-1]
    last = ring_ptr[1:] - 1  # the closing vertex, a copy of the first
    doubled = np.rint(points * 2.0)
    if not np.array_equal(doubled, points * 2.0):  # not on the lattice of half cells
        return _drop_collinear(points, ring_ptr, 1e-6)
    # one integer per vertex; its difference to the next one names the step (0: none)
    place = doubled[:, 0].astype(np.int64) * (1 << 32) + doubled[:, 1].astype(np.int64)
    code = np.empty(n, dtype=np.int64)
    code[:-1] = np.diff(place)
    code[last] = 0  # from one ring to the next: no step
    incoming = np.empty(n, dtype=np.int64)
    incoming[1:] = code[:-1]
    incoming[first] = code[last - 1]
    keep = (incoming != code) & (incoming != 0)
    keep[last] = False
    ring = np.repeat(np.arange(first.size), ring_ptr[1:] - first)
    kept = np.bincount(ring[keep], minlength=first.size)
    short = kept < 3  # (never from marching squares) keep such a ring whole
    if short.any():
        keep |= short[ring]
        keep[last] = False
        kept = np.bincount(ring[keep], minlength=first.size)
    open_xy = points[keep]
    # close each ring again with its first kept vertex
    new_first = np.cumsum(kept + 1) - (kept + 1)
    out = np.empty((open_xy.shape[0] + first.size, 2))
    slot = np.repeat(new_first, kept) + concat_ranges(np.zeros_like(kept), kept)
    out[slot] = open_xy
    out[new_first + kept] = open_xy[np.cumsum(kept) - kept]
    return out, np.append(new_first, out.shape[0]).astype(np.int64)


#: Cells traced in one contourpy call by :func:`trace_tiles` (its cost per cell grows once the
#: arrays outgrow the CPU caches).
_TRACE_CELLS = 150_000


class TraceArrays:
    """The arrays :func:`trace_tiles` traces in, kept from one call to the next.

    Fresh arrays of a few MB cost more in page faults than marching squares cost on them;
    one :class:`TraceArrays` per thread, passed to every call, grows to the largest array
    needed and is then reused.
    """

    def __init__(self) -> None:
        self._z = np.zeros(0)
        self._x = np.zeros(0)
        self._y = np.zeros(0)

    def take(
        self, n_rows: int, width: int
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``z`` (zeros), ``x`` (column numbers) and ``y`` (row numbers), C-contiguous arrays
        of ``n_rows`` x ``width``."""
        size = n_rows * width
        if size > self._z.size:
            self._z = np.zeros(size)
            self._x = np.zeros(size)
            self._y = np.zeros(size)
        z = self._z[:size].reshape(n_rows, width)
        x = self._x[:size].reshape(n_rows, width)
        y = self._y[:size].reshape(n_rows, width)
        z.fill(0.0)
        x[:] = np.arange(width, dtype=np.float64)
        y[:] = np.arange(n_rows, dtype=np.float64)[:, None]
        return z, x, y


def _trace_boxes(
    values: npt.NDArray[np.uint8],
    tiles: Tiles,
    used: npt.NDArray[np.int64],
    boxes: npt.NDArray[np.int64],
    *,
    n_bands: int,
    arrays: TraceArrays,
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
]:
    """The boxes ``boxes[used]`` of :func:`trace_tiles` laid side by side in one array and
    traced: the points (tiles' CRS), ring offsets, rings per polygon and output position of
    each polygon."""
    r0, r1, c0, c1 = boxes.T
    h = r1 - r0
    w = c1 - c0
    pcol = np.cumsum(w[used]) - w[used]
    n_rows, width = int(h[used].max()), int(w[used].sum())
    claimed, xx, yy = arrays.take(n_rows, width)
    for i, pc in zip(used.tolist(), pcol.tolist(), strict=True):
        k, band = divmod(i, n_bands)
        ar, ac = int(tiles.row0[k] + r0[i]), int(tiles.col0[k] + c0[i])
        claimed[: h[i], pc : pc + w[i]] = values[ar : ar + h[i], ac : ac + w[i]] <= band
    # traced in cell-index coordinates (cell centres at integers)
    points, offsets, outer = _filled(claimed, xx, yy)
    if points is None or len(points) == 0:
        none = np.zeros(0, dtype=np.int64)
        return np.zeros((0, 2)), np.zeros(1, dtype=np.int64), none, none
    points = np.asarray(points, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.int64)
    outer = np.asarray(outer, dtype=np.int64)
    rings = np.diff(outer)
    # a polygon lies in one box: the one holding the first vertex of its outer ring (a vertex
    # is half a cell from a claimed centre; claimed cells are a cell inside their box)
    first = points[offsets[outer[:-1]], 0]
    box = np.searchsorted(pcol, np.floor(first + 0.25).astype(np.int64), side="right") - 1
    points, offsets = _drop_straight(points, offsets)
    # cell-index coordinates -> the tiles' CRS: box cell (0, 0) is tile cell (r0, c0)
    vertex_box = np.repeat(np.repeat(box, rings), np.diff(offsets))
    i = used[vertex_box]
    k = i // n_bands
    cell = tiles.cell_m
    xy = np.empty_like(points)
    xy[:, 0] = tiles.x0[k] + (points[:, 0] - pcol[vertex_box] + c0[i] + 0.5) * cell
    xy[:, 1] = tiles.y0[k] + (points[:, 1] + r0[i] + 0.5) * cell
    return xy, offsets, rings, used[box]


def trace_tiles(
    values: npt.NDArray[np.uint8],
    tiles: Tiles,
    *,
    n_bands: int,
    boxes: npt.NDArray[np.int64] | None = None,
    arrays: TraceArrays | None = None,
) -> npt.NDArray[np.object_]:
    """Per tile and band ``b``: the polygon round the tile's cell centres whose value is at most
    ``b`` (``n_bands``: not claimed), in the tiles' CRS, as
    :func:`coverage.raster.trace_bands` traces one grid.

    ``boxes[k, b]`` (``r0, r1, c0, c1``, half-open, in tile ``k``'s own cells) bounds the
    cells of tile ``k`` claimed in band ``b`` with at least one unclaimed cell to spare on each
    side; only these are traced (marching squares cost the same for every cell, claimed or not,
    and a 5-minute band claims a ninth of a 15-minute tile). ``None``: whole tiles. The boxes of
    every tile and band are laid side by side in arrays of about :data:`_TRACE_CELLS` cells,
    each traced in one call, in ``arrays`` (:class:`TraceArrays`; by
    default new ones).

    Returns
    -------
    numpy.ndarray
        MultiPolygons (empty where nothing is claimed), tile ``k`` band ``b`` at
        ``k * n_bands + b``.
    """
    n_tiles = tiles.n_rows.size
    out = np.empty(n_tiles * n_bands, dtype=object)
    out[:] = [shapely.MultiPolygon()] * out.size
    if boxes is None:
        whole = np.column_stack([np.zeros(n_tiles), tiles.n_rows, np.zeros(n_tiles), tiles.n_cols])
        boxes = np.repeat(whole.astype(np.int64)[:, None, :], n_bands, axis=1)
    # box i is tile i // n_bands, band i % n_bands: its output position
    r0, r1, c0, c1 = boxes.reshape(-1, 4).T
    h = np.maximum(r1 - r0, 0)
    w = np.maximum(c1 - c0, 0)
    used = np.flatnonzero((h >= 2) & (w >= 2))
    arrays = TraceArrays() if arrays is None else arrays
    # traced in batches of about _TRACE_CELLS cells (larger arrays fall out of the CPU caches),
    # tallest boxes first: a batch is as tall as its tallest box
    used = used[np.argsort(-h[used], kind="stable")]
    batch = np.cumsum(h[used] * w[used]) // _TRACE_CELLS
    cuts = np.flatnonzero(np.diff(batch)) + 1
    parts = [
        _trace_boxes(values, tiles, mine, boxes.reshape(-1, 4), n_bands=n_bands, arrays=arrays)
        for mine in np.split(used, cuts)
    ]
    parts = [p for p in parts if p[3].size]
    if not parts:
        return out
    xy = np.concatenate([p[0] for p in parts])
    sizes = np.cumsum([0] + [p[0].shape[0] for p in parts])
    offsets = np.concatenate(
        [p[1][:-1] + base for p, base in zip(parts, sizes[:-1], strict=True)] + [sizes[-1:]]
    )
    rings = np.concatenate([p[2] for p in parts])
    geom = np.concatenate([p[3] for p in parts])
    order = np.argsort(geom, kind="stable")
    if np.any(order != np.arange(order.size)):
        xy, offsets, rings = _reorder_polygons(xy, offsets, rings, order)
        geom = geom[order]
    out[:] = shapely.from_ragged_array(
        shapely.GeometryType.MULTIPOLYGON,
        xy,
        (
            offsets,
            np.concatenate([[0], np.cumsum(rings)]),
            np.searchsorted(geom, np.arange(out.size + 1)),
        ),
    )
    return out
