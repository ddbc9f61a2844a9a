"""Benchmark: dvnet's suppression beside published patterns of sdcTable and GaussSuppression.

The tables and patterns are transcribed from the packages' own tests (numbers only, no code):

- sdcTable ``tests/testthat/test-simpleheuristic.R``: a 4 x 4 table (margins computed from the
  inner cells, as ``makeProblem`` does) with nine cells set primary by hand. Two suppressions in
  every row and column still let an attacker compute w|b exactly; sdcTable's SIMPLEHEURISTIC
  (with attacker problems solved) adds one secondary cell, x|b (124).
- GaussSuppression ``tests/testthat/test-GaussSuppressionFromData.R``:
  ``GaussSuppressionFromData(SSBtoolsData("z1"), 1:2, 3)`` (8 regions x 4 income types, primary
  counts 1..3) suppresses output rows 12, 13, 22, 23, 42, 43 of the 45-row cross table, i.e.
  B, D and H for "annet" (secondary) and "arbeid" (primary).

Both protect against exact disclosure only, so dvnet runs under a custom profile with protection
width 1 (a range of at least one count: not exact) and no p % rule. Counted like theirs:
secondary cells, and the suppressed total (primary + secondary true values).

    .venv/bin/python benchmarks/information_loss.py

Prints a table and writes ``benchmarks/results/information_loss.json``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dvnet.anonymize.disclosure import TOTAL, Table  # noqa: E402
from dvnet.anonymize.disclosure.profiles.base import Profile  # noqa: E402
from dvnet.anonymize.disclosure.protect import final_audit, prepare  # noqa: E402
from dvnet.anonymize.disclosure.complementary_heuristic import heuristic  # noqa: E402
from dvnet.anonymize.disclosure.complementary_milp import solve_milp  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "information_loss.json"


@dataclass(frozen=True)
class Case:
    """A two-way table (inner cells), its primary cells, and the reference tool's secondary cells."""

    name: str
    source: str
    rows: tuple[str, ...]
    cols: tuple[str, ...]
    inner: tuple[tuple[int, ...], ...]
    threshold: int  # counts 1..threshold-1 primary (1: none by count)
    primary: frozenset  # primary cells set by hand, besides small counts
    reference_secondary: frozenset


SDCTABLE = Case(
    "sdcTable simpleheuristic 4x4",
    "sdcTable tests/testthat/test-simpleheuristic.R, SIMPLEHEURISTIC",
    ("w", "x", "y", "z"),
    ("a", "b", "c", "d"),
    ((30, 47, 64, 89), (90, 124, 5, 31), (92, 100, 59, 85), (800, 991, 651, 685)),
    1,
    frozenset({("w", "a"), ("w", "b"), ("w", "c"), ("x", "a"), ("x", "c"), ("y", "b"), ("y", "d"), ("z", "b"), ("z", "d")}),
    frozenset({("x", "b")}),
)

GAUSS_Z1 = Case(
    "GaussSuppression z1 (maxN = 3)",
    "GaussSuppression tests/testthat/test-GaussSuppressionFromData.R, SSBtools z1",
    tuple("ABCDEFGH"),
    ("annet", "arbeid", "soshjelp", "trygd"),
    (
        (11, 11, 55, 36), (7, 1, 29, 18), (5, 8, 35, 25), (13, 2, 17, 13),
        (9, 14, 63, 52), (12, 9, 24, 22), (6, 4, 22, 8), (9, 3, 38, 15),
    ),  # fmt: skip
    4,
    frozenset(),
    frozenset({("B", "annet"), ("D", "annet"), ("H", "annet")}),
)

CASES = (SDCTABLE, GAUSS_Z1)


def table_of(case: Case) -> Table:
    grid = np.asarray(case.inner)
    rows = [(r, c, int(grid[i, j])) for i, r in enumerate(case.rows) for j, c in enumerate(case.cols)]
    rows += [(r, TOTAL, int(grid[i].sum())) for i, r in enumerate(case.rows)]
    rows += [(TOTAL, c, int(grid[:, j].sum())) for j, c in enumerate(case.cols)]
    rows.append((TOTAL, TOTAL, int(grid.sum())))
    return Table(case.name, pd.DataFrame(rows, columns=["row", "col", "value"]), ("row", "col"), "count")


def profile_of(case: Case) -> Profile:
    return Profile(name="custom", threshold=case.threshold, dominance_p=None, protection_width=1)


def dvnet_pattern(case: Case, method: str) -> tuple[set, dict]:
    """dvnet's secondary cells for ``case`` (``method``: "milp" or "heuristic"), audited."""
    table = table_of(case)
    prep = prepare([table], profile_of(case))
    frame = table.frame
    q = prep.model.cell_qids[table.name]
    forced = np.zeros(prep.model.n, dtype=bool)
    forced[q[[(r, c) in case.primary for r, c in zip(frame["row"], frame["col"], strict=True)]]] = True
    sensitive = prep.problem.sensitive | forced
    problem = replace(prep.problem, sensitive=sensitive, can_suppress=prep.problem.can_suppress & ~sensitive)
    pattern, _ = solve_milp(problem) if method == "milp" else heuristic(problem)
    assert pattern is not None, f"{case.name}: no {method} pattern"
    report = final_audit(replace(prep, problem=problem), pattern, time_limit=None)
    assert report.passed, f"{case.name} ({method}): {report.summary}"
    hidden = pattern[q]
    secondary = {(r, c) for r, c, h, s in zip(frame["row"], frame["col"], hidden, sensitive[q], strict=True) if h and not s}
    return secondary, {"primary": int(sensitive[q].sum()), "suppressed_total": int(frame["value"].to_numpy()[hidden].sum())}


def reference_total(case: Case) -> int:
    frame = table_of(case).frame
    cells = set(case.reference_secondary) | set(case.primary) | {(r, c) for r, c, v in frame[["row", "col", "value"]].itertuples(index=False) if 0 < v < case.threshold}
    return int(sum(v for r, c, v in frame[["row", "col", "value"]].itertuples(index=False) if (r, c) in cells))


def compare() -> list[dict]:
    out = []
    for case in CASES:
        row = {"table": case.name, "source": case.source, "reference_secondary": len(case.reference_secondary), "reference_suppressed_total": reference_total(case)}
        for method in ("milp", "heuristic"):
            secondary, info = dvnet_pattern(case, method)
            row |= {f"dvnet_{method}_secondary": len(secondary), f"dvnet_{method}_suppressed_total": info["suppressed_total"], f"dvnet_{method}_cells": sorted("|".join(c) for c in secondary)}
        out.append(row)
    return out


def main() -> None:
    rows = compare()
    print(f"{'table':<32} {'reference':>16} {'dvnet milp':>16} {'dvnet heuristic':>16}   (secondary cells / suppressed total)")
    for r in rows:
        print(f"{r['table']:<32} {r['reference_secondary']:>7} / {r['reference_suppressed_total']:>6} "
              f"{r['dvnet_milp_secondary']:>7} / {r['dvnet_milp_suppressed_total']:>6} {r['dvnet_heuristic_secondary']:>7} / {r['dvnet_heuristic_suppressed_total']:>6}")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
