"""Batch audits: many cases in parallel on Dask, one output folder each, one combined summary.

:func:`batch_audit` (and ``service-coverage batch``) runs each case as a Dask task on a local
cluster of worker processes, or on a running cluster given by its scheduler address.

Shared networks
    Large walking networks are built once, not once per case: before any task is submitted the
    client builds each distinct OSM file's network with
    :func:`~coverage.network.build_walk_network`, which stores it in the on-disk network cache.
    The tasks then load it from that cache (3 ms for the demo's network, against 140 ms to
    parse its OSM file) instead of parsing the OSM file again. With a remote scheduler,
    ``cache_dir`` (``--cache-dir``) and the case files must be on storage every worker can
    read at the same path.
Failures stay local
    Every task catches its own exceptions: a case with a bad file, an empty network or invalid
    data is reported in the combined summary with its error message, and the other cases
    complete.
Re-runs skip unchanged cases
    A case's *audit key* is the SHA-256 of the configuration file's bytes, the SHA-256 of every
    file the configuration names, the rule pack (its name and contents), the walking speed,
    the output options (language, map) and the package version. It is written to
    ``<case folder>/.audit-key`` only after a successful audit; when it matches on the next
    run the case is skipped (status ``skipped``). ``force=True`` (``--force``) re-runs all.

Failed cases never look current
    A case that fails keeps no outputs that look like its result: the files of an earlier,
    successful run are moved into ``<case folder>/stale-outputs/`` (replacing an older such
    folder), its audit key is removed, and its record says so (``stale_outputs`` and the
    error text). Within one case folder, :func:`coverage.report.write_outputs` never mixes
    the files of two runs.
Quiet
    Dask's own INFO lines (scheduler, nanny, connections) are not shown unless the root logger
    is at DEBUG (``service-coverage batch --verbose``).

Outputs in ``out_dir``: one folder per case (named after the configuration's folder and stem,
made unique) with the files of :func:`coverage.report.write_outputs`, plus
``batch_summary.csv`` (UTF-8 with BOM, for Excel) and ``batch_summary.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import tomllib
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from coverage._io import file_sha256
from coverage.errors import CoverageError
from coverage.network import build_walk_network, default_cache_dir

__all__ = ["AUDIT_KEY_FILE", "STALE_FOLDER", "BatchResult", "audit_key", "batch_audit"]

logger = logging.getLogger(__name__)

AUDIT_KEY_FILE = ".audit-key"
#: Where a failed case's earlier outputs are moved, inside its folder.
STALE_FOLDER = "stale-outputs"
DEFAULT_WORKERS = 2
OK, FAILED, SKIPPED = "ok", "failed", "skipped"
_SIDECARS = (".shx", ".dbf", ".prj", ".cpg")


@dataclass
class BatchResult:
    """What a batch did.

    Attributes
    ----------
    out_dir
        The batch folder.
    cases
        One record per case, in the order given: ``case`` (folder name), ``name``,
        ``config``, ``folder``, ``status`` (``ok``, ``failed``, ``skipped``), ``error``,
        ``rules`` ({rule id: {passing, failing, not_evaluable, population_in_passing_units}}),
        ``population``, ``communities``, ``streets``, ``timings``, ``seconds``.
    networks
        Per distinct OSM file: seconds to build (or load) it in the client, whether it came
        from the cache, the cases using it and any error.
    summary_csv, summary_json
        The combined summaries.
    seconds
        Wall time of the whole batch.
    """

    out_dir: Path
    cases: list[dict[str, Any]]
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    summary_csv: Path | None = None
    summary_json: Path | None = None
    seconds: float = 0.0

    def _with(self, status: str) -> list[dict[str, Any]]:
        return [c for c in self.cases if c["status"] == status]

    @property
    def ok(self) -> list[dict[str, Any]]:
        """Cases audited in this run."""
        return self._with(OK)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Cases that could not be audited (with ``error``)."""
        return self._with(FAILED)

    @property
    def skipped(self) -> list[dict[str, Any]]:
        """Cases skipped because nothing changed since their last successful audit."""
        return self._with(SKIPPED)

    @property
    def any_failing(self) -> bool:
        """True if any unit of any audited or skipped case fails any rule."""
        return any(
            (r.get("failing") or 0) > 0
            for c in self.cases
            if c["status"] != FAILED
            for r in (c.get("rules") or {}).values()
        )

    def table(self) -> pd.DataFrame:
        """One row per case, as in ``batch_summary.csv``."""
        return _summary_table(self.cases)


# --------------------------------------------------------------------------------------------
# keys and names


def _read_config(path: Path) -> dict[str, Any] | None:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None


def _named_files(config: dict[str, Any], base: Path) -> list[Path]:
    """Every file a configuration names (resolved; may not exist)."""
    values: list[Any] = []
    for section in ("streets", "communities", "services"):
        values.append(config.get(section, {}).get("path"))
    values.append(config.get("network", {}).get("osm"))
    values.append(config.get("categories", {}).get("extra"))
    residents = config.get("residents", {})
    values.append(residents.get("buildings"))
    points = residents.get("points")
    values.append(points.get("path") if isinstance(points, dict) else points)
    files: list[Path] = []
    for value in values:
        if not isinstance(value, str):
            continue
        path = (base / value).resolve()
        files.append(path)
        if path.suffix.lower() == ".shp":
            files += [path.with_suffix(s) for s in _SIDECARS if path.with_suffix(s).exists()]
    return list(dict.fromkeys(files))


def _osm_path(config: dict[str, Any] | None, base: Path) -> Path | None:
    value = (config or {}).get("network", {}).get("osm")
    return (base / value).resolve() if isinstance(value, str) else None


def _pack_digest(pack: str | Path | None, config: dict[str, Any] | None, base: Path) -> str:
    from coverage.case import DEFAULT_PACK

    name = pack if pack is not None else (config or {}).get("case", {}).get("pack", DEFAULT_PACK)
    candidate = Path(str(name))
    if pack is None and (base / candidate).is_file():  # a case's pack path: relative to it
        candidate = base / candidate
    try:
        if candidate.is_file():
            return f"file:{file_sha256(candidate)}"
        text = (resources.files("coverage") / "packs" / f"{name}.yaml").read_text("utf-8")
    except OSError:
        return f"name:{name}"
    return f"{name}:{hashlib.sha256(text.encode()).hexdigest()}"


def audit_key(
    config_path: str | Path,
    *,
    pack: str | Path | None = None,
    speed_kmh: float | None = None,
    lang: str = "zh",
    map: bool = False,
    hashes: dict[Path, str] | None = None,
) -> str:
    """The key that says whether a case must be audited again (see the module docstring).

    Parameters
    ----------
    config_path
        The case configuration file.
    pack, speed_kmh, lang, map
        The batch's options.
    hashes
        A cache of file SHA-256s shared between cases (an OSM file used by many cases is
        hashed once).

    Returns
    -------
    str
        A hex SHA-256.
    """
    from coverage import __version__

    hashes = {} if hashes is None else hashes
    path = Path(config_path).resolve()
    raw = path.read_bytes() if path.is_file() else b""
    config = _read_config(path) if raw else None
    inputs: dict[str, str] = {}
    for file in _named_files(config or {}, path.parent):
        if file not in hashes:
            hashes[file] = file_sha256(file) if file.is_file() else "missing"
        inputs[str(file)] = hashes[file]
    payload = {
        "config_sha256": hashlib.sha256(raw).hexdigest(),
        "inputs": inputs,
        "pack": _pack_digest(pack, config, path.parent),
        "speed_kmh": speed_kmh,
        "lang": lang,
        "map": map,
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


#: Longest folder name (UTF-8 bytes) made from a case's path; file systems allow 255.
_FOLDER_NAME_BYTES = 120


def _folder_names(configs: Sequence[Path]) -> list[str]:
    """One output folder name per case: letters, digits, ``.``, ``_`` and ``-`` only.

    No name is ``.``, ``..`` or holds a separator, so every folder stays inside the batch
    folder; long names are cut to :data:`_FOLDER_NAME_BYTES` bytes.
    """
    names: list[str] = []
    seen: set[str] = set()
    for path in configs:
        base = re.sub(r"[^\w.\-]+", "_", f"{path.parent.name}-{path.stem}").strip("._")
        base = base.encode()[:_FOLDER_NAME_BYTES].decode(errors="ignore").strip("._") or "case"
        name, n = base, 2
        while name.lower() in seen:
            name, n = f"{base}-{n}", n + 1
        seen.add(name.lower())
        names.append(name)
    return names


# --------------------------------------------------------------------------------------------
# the task


def _rules_from_summary(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        str(r["rule"]): {
            "passing": r.get("passing"),
            "failing": r.get("failing"),
            "not_evaluable": r.get("not_evaluable"),
            "population_in_passing_units": r.get("population_in_passing_units"),
        }
        for r in summary.get("rules", [])
    }


def _fill_from_summary(record: dict[str, Any], summary: dict[str, Any]) -> None:
    totals = summary.get("totals", {})
    record.update(
        name=summary.get("case", record.get("name")),
        rules=_rules_from_summary(summary),
        population=totals.get("population"),
        communities=totals.get("communities"),
        streets=totals.get("streets"),
        timings=summary.get("timings", {}),
    )


def _warm_up() -> None:
    """Import the pipeline once per worker, all workers at the same time."""
    import coverage.audit
    import coverage.report  # noqa: F401


def _audit_one(
    config: str,
    folder: str,
    key: str | None,
    *,
    pack: str | None,
    speed_kmh: float | None,
    lang: str,
    map: bool,
    cache_dir: str,
) -> dict[str, Any]:
    """Audit one case into ``folder``; never raises (the error is in the record)."""
    started = time.perf_counter()
    record: dict[str, Any] = {"status": FAILED, "error": None}
    key_file = Path(folder) / AUDIT_KEY_FILE
    try:
        from coverage.audit import audit_case
        from coverage.report import write_outputs

        key_file.unlink(missing_ok=True)  # a half-written folder is never "up to date"
        result = audit_case(config, pack=pack, walk_speed_kmh=speed_kmh, cache_dir=cache_dir)
        written = write_outputs(result, folder, lang=lang, map=map, service_areas=map)
        summary = json.loads(written["summary_json"].read_text(encoding="utf-8"))
        _fill_from_summary(record, summary)
        net = result.provenance.get("network") or {}
        record["network_from_cache"] = net.get("from_cache")
        if key is not None:
            key_file.write_text(key + "\n", encoding="utf-8")
        record["status"] = OK
    except CoverageError as exc:
        record["error"] = str(exc)
    except Exception as exc:  # one case must never cancel the batch
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
    record["seconds"] = time.perf_counter() - started
    return record


# --------------------------------------------------------------------------------------------
# the batch


def _summary_table(cases: list[dict[str, Any]]) -> pd.DataFrame:
    rule_ids: dict[str, None] = {}
    for c in cases:
        for rid in c.get("rules") or {}:
            rule_ids.setdefault(rid, None)
    rows = []
    for c in cases:
        row: dict[str, Any] = {
            "case": c["case"],
            "name": c.get("name"),
            "status": c["status"],
            "error": c.get("error"),
            "communities": c.get("communities"),
            "streets": c.get("streets"),
            "population": c.get("population"),
        }
        for rid in rule_ids:
            counts = (c.get("rules") or {}).get(rid, {})
            for what in ("passing", "failing", "not_evaluable"):
                row[f"{rid}_{what}"] = counts.get(what)
        row["seconds"] = c.get("seconds")
        row["config"] = c["config"]
        row["folder"] = c["folder"]
        rows.append(row)
    return pd.DataFrame(rows)


def _client(scheduler: str | None, workers: int | None) -> tuple[Any, Any]:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        msg = (
            "batch audits need Dask, a dependency of service-coverage: reinstall it "
            f"(pip install 'dask[distributed]'); import failed: {exc}"
        )
        raise CoverageError(msg) from exc
    _quiet_distributed()
    if scheduler:
        if workers is not None:
            logger.info("--workers is ignored with a scheduler address (%s)", scheduler)
        try:
            return Client(scheduler, timeout="20s"), None
        except (OSError, TimeoutError) as exc:
            msg = f"cannot reach the Dask scheduler at {scheduler}: {exc}"
            raise CoverageError(msg) from exc
    cluster = LocalCluster(
        n_workers=workers or DEFAULT_WORKERS,
        threads_per_worker=1,
        processes=True,
        # a free port, never the default 8787 that another cluster may hold
        dashboard_address=":0",
    )
    return Client(cluster), cluster


def batch_audit(
    configs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    pack: str | None = None,
    speed_kmh: float | None = None,
    lang: str = "zh",
    map: bool = False,
    force: bool = False,
    cache_dir: str | Path | None = None,
    on_step: Callable[[str], None] | None = None,
) -> BatchResult:
    """Audit many cases on Dask; see the module docstring for sharing, failures and re-runs.

    Parameters
    ----------
    configs
        Case configuration files.
    out_dir
        Batch folder: one sub-folder per case and ``batch_summary.csv``/``.json``.
    workers
        Worker processes of the local cluster (default 2, one thread each).
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``) to use instead of a local
        cluster. The case files and ``cache_dir`` must be readable by every worker.
    pack, speed_kmh
        Override every case's rule pack and walking speed.
    lang, map
        Report language; whether to write ``map.html`` and the service areas per case.
    force
        Re-run cases whose audit key is unchanged.
    cache_dir
        Network cache shared by the client and the workers (default
        :func:`coverage.network.default_cache_dir`, resolved in the client).
    on_step
        Called with a short text as the batch advances (progress displays).

    Returns
    -------
    BatchResult

    Raises
    ------
    ConfigError
        Before any case runs, if ``out_dir`` is a file or cannot be written.
    """
    if not configs:
        msg = "batch_audit needs at least one case configuration file"
        raise ValueError(msg)
    from coverage.report import check_output_folder

    started = time.perf_counter()
    out = check_output_folder(Path(out_dir).resolve())  # before any work
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache = cache.resolve()
    paths = [Path(c).resolve() for c in configs]
    names = _folder_names(paths)

    def step(text: str) -> None:
        logger.info("%s", text)
        if on_step is not None:
            on_step(text)

    step(f"checking {len(paths)} cases for changes")
    hashes: dict[Path, str] = {}
    records: list[dict[str, Any]] = []
    todo: list[int] = []
    parsed: list[dict[str, Any] | None] = []
    for path, name in zip(paths, names, strict=True):
        folder = out / name
        config = _read_config(path) if path.is_file() else None
        parsed.append(config)
        record: dict[str, Any] = {
            "case": name,
            "name": (config or {}).get("case", {}).get("name", name),
            "config": str(path),
            "folder": str(folder),
            "status": FAILED,
            "error": None,
        }
        key = audit_key(path, pack=pack, speed_kmh=speed_kmh, lang=lang, map=map, hashes=hashes)
        record["key"] = key
        key_file = folder / AUDIT_KEY_FILE
        summary_file = folder / "summary.json"
        if (
            not force
            and key_file.is_file()
            and summary_file.is_file()
            and key_file.read_text(encoding="utf-8").strip() == key
        ):
            record["status"] = SKIPPED
            try:
                _fill_from_summary(record, json.loads(summary_file.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                logger.warning("%s: unreadable summary (%s); re-running", summary_file, exc)
                record["status"] = FAILED
        if record["status"] != SKIPPED:
            folder.mkdir(parents=True, exist_ok=True)
            todo.append(len(records))
        records.append(record)

    networks = _prebuild_networks(
        [(i, _osm_path(parsed[i], paths[i].parent)) for i in todo], records, cache, step
    )
    todo = [i for i in todo if records[i]["error"] is None]

    if todo:
        _run_on_dask(
            todo,
            records,
            scheduler=scheduler,
            workers=workers,
            options={
                "pack": pack,
                "speed_kmh": speed_kmh,
                "lang": lang,
                "map": map,
                "cache_dir": str(cache),
            },
            step=step,
        )
    for record in records:
        record.pop("key", None)
        if record["status"] == FAILED:
            _set_aside_outputs(record)

    result = BatchResult(out_dir=out, cases=records, networks=networks)
    result.seconds = time.perf_counter() - started
    result.summary_csv = out / "batch_summary.csv"
    result.summary_json = out / "batch_summary.json"
    from coverage.report import write_spreadsheet_csv

    write_spreadsheet_csv(result.table(), result.summary_csv)  # no cell runs as a formula
    from coverage import __version__

    payload = {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "version": __version__,
        "parameters": {
            "pack": pack,
            "speed_kmh": speed_kmh,
            "lang": lang,
            "map": map,
            "force": force,
            "workers": None if scheduler else (workers or DEFAULT_WORKERS),
            "scheduler": scheduler,
            "cache_dir": str(cache),
        },
        "seconds": result.seconds,
        "counts": {s: len(result._with(s)) for s in (OK, FAILED, SKIPPED)},
        "networks": networks,
        "cases": records,
    }
    from coverage.report import to_jsonable

    result.summary_json.write_text(
        json.dumps(to_jsonable(payload), ensure_ascii=False, indent=2, allow_nan=False),
        encoding="utf-8",
    )
    step(
        f"batch done in {result.seconds:.1f} s: {len(result.ok)} ok, {len(result.failed)} "
        f"failed, {len(result.skipped)} skipped"
    )
    return result


def _set_aside_outputs(record: dict[str, Any]) -> None:
    """Move a failed case's earlier outputs out of sight, and say so in its record."""
    import shutil

    from coverage.report import OUTPUT_FILES

    folder = Path(record["folder"])
    (folder / AUDIT_KEY_FILE).unlink(missing_ok=True)
    earlier = [folder / name for name in OUTPUT_FILES.values() if (folder / name).is_file()]
    if not earlier:
        return
    stale = folder / STALE_FOLDER
    try:
        if stale.exists():
            shutil.rmtree(stale)
        stale.mkdir()
        for path in earlier:
            path.replace(stale / path.name)
    except OSError as exc:
        note = f"the outputs of an earlier run in {folder} could not be moved aside ({exc})"
        logger.warning("case %s: %s", record["case"], note)
    else:
        record["stale_outputs"] = str(stale)
        note = f"the outputs of an earlier run were moved to {stale}"
    record["error"] = f"{record.get('error') or 'failed'} ({note})"


def _quiet_distributed() -> None:
    """Keep Dask's INFO lines (scheduler, nanny, connections) for debug logging only.

    Importing ``distributed`` sets its loggers from the Dask configuration (INFO), after the
    command line has set the levels, so they are set again here.
    """
    verbose = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
    logging.getLogger("distributed").setLevel(logging.INFO if verbose else logging.WARNING)


def _prebuild_networks(
    osm_files: list[tuple[int, Path | None]],
    records: list[dict[str, Any]],
    cache: Path,
    step: Callable[[str], None],
) -> dict[str, dict[str, Any]]:
    """Build each distinct OSM file's network once, into the shared cache."""
    users: dict[Path, list[int]] = {}
    for i, osm in osm_files:
        if osm is not None and osm.is_file():  # a missing file fails in its task, with context
            users.setdefault(osm, []).append(i)
    networks: dict[str, dict[str, Any]] = {}
    for osm, cases in users.items():
        step(f"walking network of {osm.name} (shared by {len(cases)} cases)")
        t0 = time.perf_counter()
        info: dict[str, Any] = {"cases": [records[i]["case"] for i in cases]}
        try:
            net = build_walk_network(osm, cache_dir=cache)
        except CoverageError as exc:
            info["error"] = str(exc)
            for i in cases:
                records[i]["error"] = str(exc)
                records[i]["status"] = FAILED
        else:
            info["from_cache"] = bool(net.report and net.report.from_cache)
            info["nodes"] = net.n_nodes
            info["edges"] = net.n_edges
        info["seconds"] = time.perf_counter() - t0
        logger.info(
            "network of %s %s once in the client in %.2f s for %d cases",
            osm,
            "loaded from the cache" if info.get("from_cache") else "built",
            info["seconds"],
            len(cases),
        )
        networks[str(osm)] = info
    return networks


def _run_on_dask(
    todo: list[int],
    records: list[dict[str, Any]],
    *,
    scheduler: str | None,
    workers: int | None,
    options: dict[str, Any],
    step: Callable[[str], None],
) -> None:
    step(f"starting Dask ({scheduler or f'{workers or DEFAULT_WORKERS} local workers'})")
    client, cluster = _client(scheduler, workers)
    try:
        from dask.distributed import as_completed

        client.run(_warm_up)
        futures = {
            client.submit(
                _audit_one,
                records[i]["config"],
                records[i]["folder"],
                records[i]["key"],
                pure=False,
                key=f"audit-{records[i]['case']}-{time.time_ns()}",
                **options,
            ): i
            for i in todo
        }
        for done, future in enumerate(as_completed(futures), start=1):
            i = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # e.g. a worker that died
                outcome = {"status": FAILED, "error": f"{type(exc).__name__}: {exc}"}
            records[i].update(outcome)
            rec = records[i]
            if rec["status"] == FAILED:
                logger.warning("case %s failed: %s", rec["case"], rec["error"])
            step(f"{done}/{len(todo)} cases done ({rec['case']}: {rec['status']})")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
