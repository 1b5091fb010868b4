"""Time the warm demo audit of two versions of the package, alternating fresh processes.

Usage::

    git archive 104c727 coverage | tar -x -C /tmp/old      # an older version's package
    .venv/bin/python scripts/compare_versions.py /tmp/old [--rounds 3] [--case data/demo/case.toml]

Each round starts one fresh interpreter per version (old, then this checkout), each with its own
cache folder; the interpreter audits the case once to warm its caches, then times five more
audits (clearing the in-process memo of OSM buildings and land use, as the benchmark does) and
prints their median. Versions alternate, so background load hits both alike; the load
average before and after is printed so that a loaded machine shows. The new version's warm-up
audit also fills its caches (network, OSM features, residential origins), as a user's first
audit of a case does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CHILD = """
import statistics, sys, time
import coverage
import coverage.audit as audit
case = sys.argv[1]
coverage.audit_case(case)
times = []
for _ in range(5):
    memo = getattr(audit, "_osm_residential", None)
    if memo is not None and hasattr(memo, "cache_clear"):
        memo.cache_clear()
    t = time.perf_counter()
    coverage.audit_case(case)
    times.append(time.perf_counter() - t)
print(statistics.median(times))
"""


def _median_seconds(package_root: Path, case: Path, cache: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(package_root), SERVICE_COVERAGE_CACHE=str(cache))
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(case)],
        env=env,
        cwd=tempfile.gettempdir(),  # not the repository, whose package would win
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="folder holding the older version's coverage/")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--case", type=Path, default=REPO / "data" / "demo" / "case.toml")
    args = parser.parse_args()
    print(f"load average before: {_load()}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        versions = {"old": args.old.resolve(), "new": REPO}
        seconds: dict[str, list[float]] = {name: [] for name in versions}
        for i in range(args.rounds):
            for name, root in versions.items():
                s = _median_seconds(root, args.case.resolve(), Path(scratch) / name)
                seconds[name].append(s)
                print(f"round {i + 1} {name}: {s * 1000:.1f} ms", flush=True)
    old = sorted(seconds["old"])[len(seconds["old"]) // 2]
    new = sorted(seconds["new"])[len(seconds["new"]) // 2]
    print(f"median of rounds: old {old * 1000:.1f} ms, new {new * 1000:.1f} ms: {old / new:.2f}x")
    ratios = sorted(o / n for o, n in zip(seconds["old"], seconds["new"], strict=True))
    print(f"ratio of each round: {', '.join(f'{r:.2f}x' for r in ratios)}")
    print(f"load average after: {_load()}")


def _load() -> str:
    """The 1, 5 and 15 minute load averages (the machine has os.cpu_count() cores)."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


if __name__ == "__main__":
    main()
