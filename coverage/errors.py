"""The one exception family of the package.

Every error a user can act on derives from :class:`CoverageError` and says what was wrong,
where (file, layer, rows or ids) and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CoverageError",
    "DataError",
    "NetworkError",
    "RulePackError",
]


class CoverageError(Exception):
    """Base class of every error raised by service-coverage."""


class DataError(CoverageError, ValueError):
    """An input layer (boundaries, services, population) is unusable as given."""


class NetworkError(CoverageError):
    """The walking network cannot be built or used (unreadable file, no walkable ways)."""


class RulePackError(CoverageError, ValueError):
    """A rule pack file is malformed; the message names the key."""


class ConfigError(CoverageError, ValueError):
    """A case configuration file is malformed; the message names the key."""
