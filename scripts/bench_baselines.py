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


def bare_pyosmium_walk_read(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Read the walkable ways of an OSM file with pyosmium, with node locations, and nothing else.

    Parameters
    ----------
    path
        An ``.osm``, ``.osm.bz2`` or ``.osm.pbf`` file.

    Returns
    -------
    tuple[int, int]
        The number of walkable ways and of node references read (so the work cannot be
        optimised away, and a caller can check it read what the build reads).
    """
    import osmium

    from coverage.network import is_walkable

    processor = (
        osmium.FileProcessor(os.fspath(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    ways = 0
    refs = 0
    for way in processor:
        if not is_walkable(way.tags):
            continue
        ways += 1
        for node in way.nodes:
            node.x  # noqa: B018 - the location is part of the read
            refs += 1
    return ways, refs
