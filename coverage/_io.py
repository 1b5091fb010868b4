"""Small file helpers shared by every stage (kept leftmost in the pipeline: no imports).

Besides the file hash, the on-disk cache's rules live here once, for every cache of the
package (the walking network, the buildings and land use read from an OSM file):

- one folder, :func:`default_cache_dir`, one sub-folder per kind of entry;
- :func:`write_atomically`: a unique temporary file in the same folder, renamed over the entry,
  so that concurrent writers never share a file and a reader sees no file or a whole one;
- :func:`read_cached`: an entry that cannot be read is absent (a warning says so, and the
  caller rebuilds it); never an error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

__all__ = ["default_cache_dir", "file_sha256", "read_cached", "write_atomically"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


def file_sha256(path: Path, *, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 of a file's contents (provenance and cache keys)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """``$SERVICE_COVERAGE_CACHE`` or ``~/.cache/service-coverage``."""
    env = os.environ.get("SERVICE_COVERAGE_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "service-coverage"


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write a cache file atomically: a unique temporary file in the same folder, renamed.

    Processes writing the same entry at the same time each write their own temporary file;
    the last rename wins, and a reader sees either no file or a complete one.

    Parameters
    ----------
    path
        The entry; its folder is made if needed.
    write
        Writes the contents to the open binary stream it is given.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_cached(
    path: Path, read: Callable[[Path], T], *, what: str, source: object, log: logging.Logger
) -> T | None:
    """Read a cache entry; None if there is none or it cannot be read (then with a warning).

    Parameters
    ----------
    path
        The entry.
    read
        Reads it; any exception it raises means "unreadable".
    what
        What the entry is, for the warning (``"network cache"``).
    source
        What it is rebuilt from, for the warning.
    log
        The caller's logger (the warning is the caller's).
    """
    if not path.is_file():
        return None
    try:
        return read(path)
    except Exception as exc:  # any unreadable cache is rebuilt, never fatal
        log.warning(
            "the %s %s is unreadable (%s: %s); rebuilding it from %s",
            what,
            path,
            type(exc).__name__,
            exc,
            source,
        )
        return None
