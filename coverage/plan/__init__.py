"""补短板: the fewest new facilities that make every community pass, existing ones kept.

A plan turns an audit (:class:`coverage.audit.AuditResult`) into proposed sites. It follows the
shape of PySAL spopt's models: a problem built from a coverage matrix, solved, then inspected.

Reach rules (W1 per category, the national packs' reach circles)
----------------------------------------------------------------
Per rule and required category, every community that can pass must get at least the pack's
share of its residents (``min_population_share``) within the walking budget of an existing
facility or of a new site.

1. **Candidates** (:func:`default_candidates`, or a user layer read by :func:`read_candidates`):
   by default points on the walking network inside the case's streets: junctions first, then
   points every ``spacing_m`` along the edges, thinned so that at most one candidate stands in
   each ``spacing_m`` × ``spacing_m`` square (:data:`DEFAULT_CANDIDATE_SPACING_M`; the first
   junction of a square wins, then the first point along an edge). Every candidate is snapped
   to the network with :func:`coverage.snapping.snap_points`, the function the audit snaps
   services with, so that the re-audit measures the very distances the plan was made with.
2. **Coverage** (:func:`candidate_coverage`): a candidate covers an origin when the exact
   network walk (the formula of :mod:`coverage.access`: snapping offsets, both ends of the
   origin's edge, the direct walk along a shared edge) is within the budget, less
   :data:`COVER_TOLERANCE_M` so that floating-point noise can never turn a planned pass into a
   fail. The candidates are grouped in square tiles of :data:`TILE_M`; each tile runs one
   bounded multi-source search on the part of the network within the budget (straight-line,
   plus a margin for the map projection's scale) of the tile, where every walk within the
   budget must stay. Memory is one tile's search, and the result a sparse matrix.
3. **Reduction**: only the residents not yet within reach, in communities that fail and can
   pass, enter the problem. Residents of one community with the same covering candidates are
   merged into one class (their populations add up). A candidate is **pruned** when the classes
   it covers are a subset of another candidate's (of identical candidates the first is kept):
   replacing it by the other in any solution keeps every constraint satisfied, so some optimal
   solution uses kept candidates only.
4. **Exact programs** (``scipy.optimize.milp``, HiGHS): *min sites*: binary ``x_j`` per
   candidate, ``0 <= y_q <= 1`` per class with ``y_q <= sum(x_j covering q)``, and per
   community ``sum(pop_q y_q) >= need - reached today``; minimise ``sum(x)``. *Budgeted*
   (the k-curve): at most ``k`` sites, binary ``z_i`` per community with
   ``sum(pop_q y_q) >= gap_i z_i`` for every category the community lacks; maximise the
   residents in passing communities. ``y`` needs no integrality: with integral ``x`` the
   optimum sets ``y_q = min(1, sum x_j)``. The min-sites program is solved in two steps: first
   the per-unit program of small sets (:mod:`coverage.plan.unit_sets`: each unit chooses one
   candidate or one pair that reaches it; its relaxation is tight and HiGHS finds good plans
   fast), exact when no unit can be reached only by three or more candidates; otherwise the
   class-by-class program above proves its plan, or bounds it when the time runs out.
5. **Impossible units** are listed with their reason (no residents; every resident off the
   network; no candidate brings enough residents within reach) and the rest is planned.

A category with no facility in the data is planned from scratch (nobody is within reach today),
and the plan says so. A solver stopped by ``time_limit`` returns its best plan with its gap.

Count rules (W2) and the W5 + W6 exercise points are planned per street
(:func:`plan` with those rules), area rules (W4) as the area deficit per street.

The plan is proven by **re-auditing** the case with the proposed sites added as services:
:attr:`Plan.reaudit`, and :meth:`Plan.unmet` lists any targeted unit that still fails (none,
unless the data changed).
"""

from __future__ import annotations

from coverage.plan.matrix import COVER_TOLERANCE_M, TILE_M, candidate_coverage
from coverage.plan.planner import PLANNABLE_KINDS, Plan, case_with_sites, plan
from coverage.plan.problem import (
    CoverageProblem,
    Solution,
    greedy_sites,
    solve_budgeted,
    solve_min_sites,
)
from coverage.plan.sites import DEFAULT_CANDIDATE_SPACING_M, default_candidates, read_candidates

__all__ = [
    "COVER_TOLERANCE_M",
    "DEFAULT_CANDIDATE_SPACING_M",
    "PLANNABLE_KINDS",
    "TILE_M",
    "CoverageProblem",
    "Plan",
    "Solution",
    "candidate_coverage",
    "case_with_sites",
    "default_candidates",
    "greedy_sites",
    "plan",
    "read_candidates",
    "solve_budgeted",
    "solve_min_sites",
]
