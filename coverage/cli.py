"""The ``service-coverage`` command line.

Exit codes: 0 when the command ran (whatever an audit found), 1 when inputs were invalid,
2 for usage errors.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from coverage.errors import CoverageError

app = typer.Typer(
    name="service-coverage",
    help="Audit how well a city's public services reach its residents on foot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Audit how well a city's public services reach its residents on foot."""


def _setup_logging(*, quiet: bool, verbose: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _fail(exc: CoverageError) -> typer.Exit:
    console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
    return typer.Exit(code=1)


@app.command()
def network(
    osm_file: Annotated[Path, typer.Argument(help="An .osm, .osm.bz2 or .osm.pbf file.")],
    *,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Build from the file even if a cached copy exists.")
    ] = False,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Network cache folder (default ~/.cache/service-coverage).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Build the walking network of an OSM file and print what it contains."""
    from coverage.network import build_walk_network

    _setup_logging(quiet=quiet, verbose=verbose)
    try:
        net = build_walk_network(osm_file, cache=not no_cache, cache_dir=cache_dir)
    except CoverageError as exc:
        raise _fail(exc) from exc
    assert net.report is not None
    if as_json:
        typer.echo(json.dumps(net.report.as_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(str(net.report))


def main() -> None:
    """Entry point of the console script."""
    app()


if __name__ == "__main__":
    main()
