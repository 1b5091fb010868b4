"""service-coverage: audit how well a city's public services reach its residents on foot.

The package reads as a pipeline, and so does its public API::

    load      Case, read_layer, read_streets, read_communities, read_services
    network   build_walk_network, download_walk_network, WalkNetwork, snap_points
    access    nearest_facility, node_distances
    rules     load_pack, list_packs
    audit     audit_case -> AuditResult
    plan      plan -> Plan (补短板: the fewest new facilities that make every community pass)
    outputs   facility_isochrones, service_area, reach_area, isochrone, audit_map, save_map,
              write_outputs

Maps and reports import folium and friends lazily, so ``import coverage`` stays light.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from coverage.access import nearest_facility, node_distances
from coverage.audit import AuditResult, audit_case
from coverage.case import Case
from coverage.errors import ConfigError, CoverageError, DataError, NetworkError, RulePackError
from coverage.isochrones import facility_isochrones, isochrone, reach_area, service_area
from coverage.load import read_communities, read_layer, read_services, read_streets
from coverage.network import WalkNetwork, build_walk_network, download_walk_network
from coverage.plan import Plan, plan
from coverage.rules import list_packs, load_pack
from coverage.snapping import SnappedPoints, snap_points

if TYPE_CHECKING:
    from coverage.maps import audit_map, save_map
    from coverage.report import write_outputs

try:
    __version__ = version("service-coverage")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

_LAZY = {
    "audit_map": "coverage.maps",
    "save_map": "coverage.maps",
    "write_outputs": "coverage.report",
}


def __getattr__(name: str) -> Any:
    """Import the output modules (folium, HTML) only when they are used."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'coverage' has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "AuditResult",
    "Case",
    "ConfigError",
    "CoverageError",
    "DataError",
    "NetworkError",
    "Plan",
    "RulePackError",
    "SnappedPoints",
    "WalkNetwork",
    "__version__",
    "audit_case",
    "audit_map",
    "build_walk_network",
    "download_walk_network",
    "facility_isochrones",
    "isochrone",
    "list_packs",
    "load_pack",
    "nearest_facility",
    "node_distances",
    "plan",
    "reach_area",
    "read_communities",
    "read_layer",
    "read_services",
    "read_streets",
    "save_map",
    "service_area",
    "snap_points",
    "write_outputs",
]
