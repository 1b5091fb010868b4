"""service-coverage: audit how well a city's public services reach its residents on foot.

The package reads as a pipeline: load -> network -> access -> rules -> audit -> report/maps.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from coverage.access import nearest_facility, node_distances
from coverage.errors import ConfigError, CoverageError, DataError, NetworkError, RulePackError
from coverage.network import WalkNetwork, build_walk_network, download_walk_network
from coverage.snapping import SnappedPoints, snap_points

try:
    __version__ = version("service-coverage")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

__all__ = [
    "ConfigError",
    "CoverageError",
    "DataError",
    "NetworkError",
    "RulePackError",
    "SnappedPoints",
    "WalkNetwork",
    "__version__",
    "build_walk_network",
    "download_walk_network",
    "nearest_facility",
    "node_distances",
    "snap_points",
]
