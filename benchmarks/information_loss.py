"""Information loss beside published suppression patterns: dvnet's protect on the public example
tables of Statistics Norway's GaussSuppression and of sdcTable, each run under the rules that
produced the published pattern, and the two results side by side.

    .venv/bin/python benchmarks/information_loss.py            # prints the table, writes results
    .venv/bin/python benchmarks/information_loss.py --check    # exit 1 if dvnet suppresses more anywhere

The tables and their published patterns are transcribed from GaussSuppression's reference manual
(``GaussSuppressionFromData`` examples, which print every cell with ``primary`` and ``suppressed``;
data ``z1`` from SSBtools' ``SSBtoolsData``) and its test ``test-GaussSuppressionFromData.R``
(``z1``: cells 12, 13, 22, 23, 42, 43 suppressed). Only the numbers are carried over.

Matching rules: GaussSuppression's default primary rule is ``freq <= maxN`` with ``maxN = 3``, so
dvnet's threshold is 4; ``protectZeros = TRUE`` (its default) is dvnet's ``zeros="suppress"``, and
``protectZeros = FALSE, secondaryZeros = FALSE`` is ``zeros="publish"`` (a zero is never hidden).
GaussSuppression guarantees that no primary cell can be computed exactly from the published cells
by linear algebra; dvnet's audit is stronger (non-negative integers, interval width), so dvnet is
run at its weakest width (1: not exact) for the like-for-like figure, and at the width its custom
profile derives for threshold 4 (3, the width of the band 1..3) to show what the stronger
guarantee costs. Information loss is the number of suppressed cells and the sum of their values.

sdcTable: the table of its test ``test-simpleheuristic.R`` (a 4 x 4 table; margins computed from
the interior, as ``makeProblem`` does from the rows it is given: the test's own margin rows for
columns a and c do not add up and are not used), nine primaries marked by hand
(``change_cellstatus(rule = "u")``, dvnet's ``protect(primary=...)``), and the one secondary
cell its comment names (x|b) and its ``expect_equal`` counts for ``SIMPLEHEURISTIC`` with the
attacker problems solved. sdcTable's attacker takes suppressed cells as at least 0, dvnet's
``zeros="suppress"``; it asks only that no primary be exact (width 1). Not carried over: its
other tests' tables live in R data files (``microdata1``), link the same regions under two
hierarchies (dvnet keys a cell by its coordinates, so a region under "county-1" and under "small"
are two cells), or name only how many secondary cells a run adds, not which.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dvnet.anonymize.disclosure import SUPPRESSED_MARK, Table, audit, get_profile, protect  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "information_loss.json"
THRESHOLD = 4  # GaussSuppression's maxN = 3: counts 1..3 are primary
WIDTHS = (1, THRESHOLD - 1)


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    rows: tuple[str, ...]
    cols: tuple[str, ...]
    values: tuple[int, ...]  # row-major
    zeros: str  # dvnet's rule matching the published run's zero handling
    published: frozenset[tuple[str, str]]  # (row, col) of every suppressed cell in the published output
    package: str = "GaussSuppression"
    marked: frozenset[tuple[str, str]] = frozenset()  # primaries set by hand, whatever their count

    def frame(self) -> pd.DataFrame:
        """The interior cells and every margin (``Total``), one row per cell."""
        inner = pd.DataFrame(
            [(r, c, self.values[i * len(self.cols) + j]) for i, r in enumerate(self.rows) for j, c in enumerate(self.cols)],
            columns=["row", "col", "value"],
        )
        total = int(inner["value"].sum())
        return pd.concat(
            [
                inner,
                inner.groupby("row", as_index=False)["value"].sum().assign(col="Total"),
                inner.groupby("col", as_index=False)["value"].sum().assign(row="Total"),
                pd.DataFrame([("Total", "Total", total)], columns=["row", "col", "value"]),
            ],
            ignore_index=True,
        )


Z1_ROWS = tuple("ABCDEFGH")
Z1_COLS = ("annet", "arbeid", "soshjelp", "trygd")
Z1_BY_COLUMN = {  # SSBtoolsData("z1"): count by region within each hovedint
    "annet": (11, 7, 5, 13, 9, 12, 6, 9),
    "arbeid": (11, 1, 8, 2, 14, 9, 4, 3),
    "soshjelp": (55, 29, 35, 17, 63, 24, 22, 38),
    "trygd": (36, 18, 25, 13, 52, 22, 8, 15),
}
SDC_VALUES = (30, 47, 64, 89, 90, 124, 5, 31, 92, 100, 59, 85, 800, 991, 651, 685)  # test-simpleheuristic.R: v1 w..z x v2 a..d
SDC_MARKED = frozenset({("w", "a"), ("w", "b"), ("w", "c"), ("x", "a"), ("x", "c"), ("y", "b"), ("y", "d"), ("z", "b"), ("z", "d")})
DF_VALUES = (1, 1, 1, 5, 5, 9, 9, 9, 9, 9, 0, 0, 0, 7, 7)  # the manual's `df`: var1 1..3 x var2 A..E
Z_VALUES = (0, 2, 5, 0, 0, 6, 7, 8, 9)  # the manual's `z`: row 1..3 x col 1..3

CASES = (
    Case("z1", "GaussSuppressionFromData(z1, 1:2, 3) (manual example and package test)",
         Z1_ROWS, Z1_COLS, tuple(Z1_BY_COLUMN[c][i] for i in range(len(Z1_ROWS)) for c in Z1_COLS), "suppress",
         frozenset({("B", "annet"), ("B", "arbeid"), ("D", "annet"), ("D", "arbeid"), ("H", "annet"), ("H", "arbeid")})),
    Case("df, zeros primary", 'GaussSuppressionFromData(df, c("var1", "var2"), "values")',
         ("1", "2", "3"), tuple("ABCDE"), DF_VALUES, "suppress",
         frozenset({("1", "A"), ("1", "B"), ("1", "C"), ("1", "E"), ("3", "A"), ("3", "B"), ("3", "C"), ("3", "E")})),
    Case("df, zeros published", 'GaussSuppressionFromData(df, ..., formula = ~var1 * var2, protectZeros = FALSE, secondaryZeros = FALSE)',
         ("1", "2", "3"), tuple("ABCDE"), DF_VALUES, "publish",
         frozenset({("1", "A"), ("1", "B"), ("1", "C"), ("1", "E"), ("2", "A"), ("2", "B"), ("2", "C"), ("2", "E")})),
    Case("z, zeros as singletons", "GaussSuppressionFromData(z, 1:2, 3)",
         ("1", "2", "3"), ("1", "2", "3"), Z_VALUES, "suppress",
         frozenset({("1", "1"), ("1", "2"), ("1", "3"), ("2", "1"), ("2", "2"), ("2", "3"), ("3", "1"), ("3", "2")})),
    Case("sdcTable 4 x 4, primaries by hand", 'protectTable(sdc, method = "SIMPLEHEURISTIC") in test-simpleheuristic.R',
         tuple("wxyz"), tuple("abcd"), SDC_VALUES, "suppress", SDC_MARKED | {("x", "b")}, package="sdcTable", marked=SDC_MARKED),
)  # fmt: skip


def _loss(frame: pd.DataFrame, cells: set[tuple[str, str]]) -> dict:
    values = {(r, c): int(v) for r, c, v in frame[["row", "col", "value"]].itertuples(index=False)}
    return {"cells": len(cells), "total": sum(values[c] for c in cells)}


def _profile(case: Case, width: int):
    return get_profile("custom", threshold=THRESHOLD, protection_width=width, dominance_share=None, zeros=case.zeros)


def dvnet_pattern(case: Case, width: int, method: str) -> set[tuple[str, str]]:
    """The cells dvnet suppresses (its release has passed dvnet's own LP audit)."""
    profile = _profile(case, width)
    frame = case.frame()
    marked = {case.name: [(r, c) in case.marked for r, c in frame[["row", "col"]].itertuples(index=False)]} if case.marked else None
    release = protect([Table(case.name, frame, ("row", "col"), "n")], profile, method=method, primary=marked)
    out = release.tables[case.name]
    return {(r, c) for r, c, s in out[["row", "col", "status"]].itertuples(index=False) if s != "published"}


def their_pattern_audited(case: Case, width: int) -> str:
    """The published pattern under dvnet's audit at ``width``: "passes", or what an attacker pins."""
    report = audit_pattern(case, case.published, width)
    return "passes" if report.passed else f"{report.n_exact} exact, {report.n_narrow} narrow"


def audit_pattern(case: Case, published: frozenset[tuple[str, str]], width: int):
    """dvnet's audit (``AuditReport``) of ``case``'s table with the cells ``published`` suppressed."""
    frame = case.frame()
    hidden = [(r, c) in published for r, c in frame[["row", "col"]].itertuples(index=False)]
    cells = list(frame[["row", "col"]].itertuples(index=False, name=None))
    small = [v < THRESHOLD and (v > 0 or case.zeros == "suppress") for v in frame["value"]]
    sensitive = [h and (s or c in case.marked) for h, s, c in zip(hidden, small, cells)]
    public = frame.assign(value=frame["value"].where(~pd.Series(hidden)), status=[SUPPRESSED_MARK if h else "published" for h in hidden])
    reasons = ["primary" if s else "complementary" if h else "published" for h, s in zip(hidden, sensitive)]
    return audit([Table(case.name, public, ("row", "col"), "n")], _profile(case, width), reasons={case.name: reasons})


def compare() -> list[dict]:
    rows = []
    for case in CASES:
        frame = case.frame()
        theirs = _loss(frame, set(case.published))
        for width in WIDTHS:
            verdict = their_pattern_audited(case, width)
            for method in ("auto", "heuristic"):
                ours = _loss(frame, dvnet_pattern(case, width, method))
                rows.append({"case": case.name, "package": case.package, "source": case.source, "zeros": case.zeros, "width": width, "method": method,
                             "published_cells": theirs["cells"], "published_total": theirs["total"], "published_under_dvnet_audit": verdict,
                             "dvnet_cells": ours["cells"], "dvnet_total": ours["total"]})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes (default benchmarks/results/information_loss.json)")
    parser.add_argument("--check", action="store_true", help="exit 1 if, at width 1 with the default method, dvnet suppresses more cells or a larger total")
    args = parser.parse_args(argv)
    rows = compare()
    print(f"{'case':34s} {'width':>5s} {'method':>9s}   {'published pattern':>18s} {'(under dvnet audit)':>20s}   {'dvnet':>14s}")
    for r in rows:
        print(f"{r['case']:34s} {r['width']:>5d} {r['method']:>9s}   {r['published_cells']:>6d} cells {r['published_total']:>5d} {r['published_under_dvnet_audit']:>20s}   "
              f"{r['dvnet_cells']:>4d} cells {r['dvnet_total']:>4d}", flush=True)  # fmt: skip
    like_for_like = [r for r in rows if r["width"] == 1 and r["method"] == "auto"]
    worse = [r["case"] for r in like_for_like if r["dvnet_cells"] > r["published_cells"] or r["dvnet_total"] > r["published_total"]]
    packages = ", ".join(f"{p} {sum(r['package'] == p for r in like_for_like)}" for p in sorted({r["package"] for r in like_for_like}))
    headline = (f"information loss: {len(like_for_like)} published patterns ({packages}), dvnet worse on {len(worse)}; "
                f"suppressed total {sum(r['dvnet_total'] for r in like_for_like)} vs {sum(r['published_total'] for r in like_for_like)}")  # fmt: skip
    print(headline)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": {"python": platform.python_version()}, "command": "benchmarks/information_loss.py",
                                    "headline": headline, "results": rows}, indent=2) + "\n")  # fmt: skip
    print(f"written {args.out}")
    return 1 if args.check and worse else 0


if __name__ == "__main__":
    raise SystemExit(main())
