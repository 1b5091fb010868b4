"""Shared fixtures: real OSM extracts copied into tests/data and small hand-made networks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from coverage.network import WalkNetwork, build_walk_network

DATA = Path(__file__).parent / "data"
OSM = DATA / "osm"
BEIJING = OSM / "beijing-haidian-cau.osm.bz2"
CHENGDU = OSM / "chengdu-center.osm.bz2"


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Never write network caches into the user's home directory from the tests."""
    monkeypatch.setenv("SERVICE_COVERAGE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    yield


@pytest.fixture(scope="session")
def beijing_net() -> WalkNetwork:
    return build_walk_network(BEIJING, cache=False)


@pytest.fixture(scope="session")
def chengdu_net() -> WalkNetwork:
    return build_walk_network(CHENGDU, cache=False)


def write_osm_xml(
    path: Path,
    nodes: dict[int, tuple[float, float]],
    ways: Sequence[tuple[int, Sequence[int], dict[str, str]]],
) -> Path:
    """Write a minimal OSM XML file: ``nodes`` maps id -> (lon, lat); ways are (id, refs, tags)."""
    from xml.sax.saxutils import quoteattr

    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="tests">']
    for nid, (lon, lat) in nodes.items():
        lines.append(f'  <node id="{nid}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    for wid, refs, tags in ways:
        lines.append(f'  <way id="{wid}" version="1">')
        lines.extend(f'    <nd ref="{r}"/>' for r in refs)
        lines.extend(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


#: Grid spacing in degrees; on the equator 0.001 degree is the same great-circle length
#: east-west and north-south: 0.001 * pi / 180 * 6,371,009 m.
GRID_STEP_DEG = 0.001
GRID_STEP_M = 0.001 * 3.141592653589793 / 180 * 6_371_009


def grid_osm(path: Path, *, size: int = 3, island: bool = False) -> Path:
    """A ``size`` x ``size`` grid of residential streets on the equator, optionally with a
    separate two-node footway far away (an island)."""
    nodes: dict[int, tuple[float, float]] = {}
    for row in range(size):
        for col in range(size):
            nodes[1 + row * size + col] = (col * GRID_STEP_DEG, row * GRID_STEP_DEG)
    ways: list[tuple[int, Sequence[int], dict[str, str]]] = []
    wid = 100
    for row in range(size):
        ways.append((wid, [1 + row * size + c for c in range(size)], {"highway": "residential"}))
        wid += 1
    for col in range(size):
        ways.append((wid, [1 + r * size + col for r in range(size)], {"highway": "residential"}))
        wid += 1
    if island:
        nodes[900] = (0.02, 0.0)
        nodes[901] = (0.021, 0.0)
        ways.append((900, [900, 901], {"highway": "footway"}))
    return write_osm_xml(path, nodes, ways)


@pytest.fixture(scope="session", params=["beijing", "chengdu"])
def real_with_osmnx(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[WalkNetwork, Any]:
    """Our network of a real extract (Beijing, Chengdu) and osmnx's walking graph of the same
    file, the reference the fast paths are checked against."""
    from tests.reference import osmnx_walk_graph

    src = BEIJING if request.param == "beijing" else CHENGDU
    net = build_walk_network(src, cache=False)
    return net, osmnx_walk_graph(src, tmp_path_factory.mktemp("osmnx"))
