"""Bare baselines the benchmark compares the package's own work with.

``bare_pyosmium_walk_read(path)`` is the floor of the network build: one pass of pyosmium over
the file, reading the ways that pass the project's walk filter
(:func:`coverage.network.is_walkable`) with their node locations, in the cheapest pyosmium idiom
(``FileProcessor(...).with_locations()`` with a ``KeyFilter("highway")`` so that only highway
ways reach Python). It builds nothing: it only touches every kept way's node ids and locations,
which any builder has to do too. ``build_walk_network(path, cache=False)`` divided by this is
the "build / bare read" ratio of issue 13.
"""

from __future__ import annotations

import os

__all__ = ["bare_pyosmium_walk_read"]


def bare_pyosmium_walk_read(path: str | os.PathLike[str]) -> list[int]:
    """Read the walkable ways of an OSM file with pyosmium, with node locations, and nothing else.

    The same reader, the same tag filter (:func:`coverage.network.is_walkable` on osmium's tag
    list) and the same per-node copy as :func:`coverage.network.build_walk_network`, and
    nothing else: no segments, node table, lengths, adjacency or components.

    Parameters
    ----------
    path
        An ``.osm``, ``.osm.bz2`` or ``.osm.pbf`` file.

    Returns
    -------
    list of int
        ``node id, x, y`` of every node reference of every walkable way, flat (x and y in 1e-7
        degrees), so the work cannot be optimised away and a caller can check that it read
        what the build reads.
    """
    import osmium

    from coverage.network import is_walkable

    processor = (
        osmium.FileProcessor(os.fspath(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    entries: list[int] = []
    push = entries.append
    for way in processor:
        if not is_walkable(way.tags):
            continue
        for nd in way.nodes:
            loc = nd.location
            push(nd.ref)
            push(loc.x)
            push(loc.y)
    return entries
