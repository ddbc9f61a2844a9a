"""Benchmark: information loss and time of primary-only vs complementary suppression, with audit.

Synthetic releases shaped like dvnet's (DESIGN section 3: tables of at most three dimensions,
regions nested in provinces, several tables of one measure sharing their quarter x area margins,
several measures). Counts are skewed: area sizes log-normal, category shares uneven, so most
interior cells are small and many are zero.

    .venv/bin/python benchmarks/suppression.py            # ~100, ~10,000, ~100,000, ~1,000,000 cells
    .venv/bin/python benchmarks/suppression.py --sizes 100 10000

Prints a table and writes ``results/suppression.json`` (the folder from ``run_info``). For each release: (a) primary
suppression only, (b) complementary suppression ("auto": exact MILP for blocks up to
``milp_max_cells`` cells, heuristic beyond), each followed by the LP audit; the MILP and the
heuristic are also both run on the 100-cell release.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dvnet.anonymize.disclosure import TOTAL, Table, protect  # noqa: E402
from run_info import machine, results_path, run_id  # noqa: E402


# target -> (quarters, provinces, regions per province, {table: categories}, measures, log-mean size)
SHAPES = {
    100: (1, 2, 4, {"service": 8}, 1, 3.5),
    10_000: (12, 5, 6, {"service": 10, "risk": 4, "age_band": 7}, 1, 3.0),
    100_000: (20, 8, 10, {"service": 12, "risk": 4, "age_band": 8}, 2, 3.0),
    1_000_000: (24, 10, 40, {"service": 16, "risk": 4, "age_band": 12}, 3, 2.8),
}


def _area_frame(provinces: int, per_province: int) -> pd.DataFrame:
    rows = [(f"P{p:02d}", f"P{p:02d}-R{r:02d}") for p in range(provinces) for r in range(per_province)]
    return pd.DataFrame(rows, columns=["province", "region"])


def _with_margins(interior: pd.DataFrame, dims: list[str], nested: dict[str, str]) -> pd.DataFrame:
    """Every margin of ``interior`` over ``dims`` (region only where its province is shown)."""
    import itertools

    frames = []
    for r in range(len(dims) + 1):
        for rolled in itertools.combinations(dims, r):
            if any(child not in rolled and parent in rolled for child, parent in nested.items()):
                continue
            kept = [d for d in dims if d not in rolled]
            if kept:
                g = interior.groupby(kept, sort=False, as_index=False)["value"].sum()
            else:
                g = pd.DataFrame({"value": [interior["value"].sum()]})
            for d in rolled:
                g[d] = TOTAL
            frames.append(g[[*dims, "value"]])
    return pd.concat(frames, ignore_index=True)


def synthetic_release(target: int, seed: int = 2024) -> list[Table]:
    """Tables of one or more measures: quarter x province/region x category, margins shared."""
    quarters, provinces, per_prov, tables, measures, mu = SHAPES[target]
    rng = np.random.default_rng(seed)
    areas = _area_frame(provinces, per_prov)
    out: list[Table] = []
    for m in range(measures):
        measure = ["episodes", "referrals", "outcomes"][m]
        size = rng.lognormal(mean=mu, sigma=1.1, size=len(areas))  # episodes per quarter per region
        q_factor = rng.uniform(0.8, 1.2, size=quarters)
        base = pd.DataFrame(
            {
                "quarter": np.repeat([f"Q{q + 1:02d}" for q in range(quarters)], len(areas)),
                "province": np.tile(areas["province"], quarters),
                "region": np.tile(areas["region"], quarters),
            }
        )
        base["n"] = rng.poisson(np.outer(q_factor, size).ravel())
        for table, k in tables.items():
            shares = rng.dirichlet(np.full(k, 0.6))
            split = np.array([rng.multinomial(n, shares) for n in base["n"]])
            interior = base.loc[base.index.repeat(k), ["quarter", "province", "region"]].reset_index(drop=True)
            interior[table] = np.tile([f"{table}-{j}" for j in range(k)], len(base))
            interior["value"] = split.ravel()
            dims = ["quarter", "province", "region", table] if quarters > 1 else ["province", "region", table]
            frame = _with_margins(interior, dims, {"region": "province"})
            out.append(Table(f"{measure}_by_{table}", frame, tuple(dims), measure))
    return out


def run_case(tables: list[Table], method: str, **kw) -> dict[str, object]:
    t0 = time.perf_counter()
    release = protect(tables, "dv-default", method=method, check=False, **kw)
    wall = time.perf_counter() - t0
    s = release.stats
    a = release.audit
    return {
        "method": s.method,
        "cells": s.cells,
        "primary": s.primary,
        "complementary": s.complementary,
        "suppressed_cells": s.primary + s.dominance + s.complementary,
        "suppressed_total": s.suppressed_total,
        "solve_seconds": s.solve_seconds,
        "audit_seconds": s.audit_seconds,
        "wall_seconds": round(wall, 2),
        "audit": a.to_dict(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SHAPES))
    parser.add_argument("--out", type=Path, help="where the JSON goes (default results/suppression.json, folder from run_info)")
    args = parser.parse_args(argv)
    rows = []
    for target in args.sizes:
        tables = synthetic_release(target)
        n_cells = sum(t.n_cells for t in tables)
        print(f"\n== release of {n_cells:,} cells in {len(tables)} tables (target ~{target:,})", flush=True)
        cases = [("a) primary only", "none", {}), ("b) complementary (auto)", "auto", {})]
        if target <= 100:
            cases += [("b) complementary (milp)", "milp", {}), ("b) complementary (heuristic)", "heuristic", {})]
        for label, method, kw in cases:
            r = run_case(tables, method, **kw)
            r.update({"target": target, "case": label, "tables": len(tables)})
            rows.append(r)
            a = r["audit"]
            print(
                f"{label:30s} suppressed {r['suppressed_cells']:>8,} cells (primary {r['primary']:,}, "
                f"complementary {r['complementary']:,}), total {r['suppressed_total']:>10,}; "
                f"solve {r['solve_seconds']:7.1f} s, audit {r['audit_seconds']:6.1f} s; "
                f"audit: exact {a['exact']:,}, narrow {a['narrow']:,}, unchecked {a['unchecked']:,} "
                f"of {a['suppressed']:,} ({'PASSED' if a['passed'] else 'FAILED'}; settled by {a['settled_by']})",
                flush=True,
            )
    out = args.out or results_path("suppression")
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": "suppression", "run": run_id(), "command": "benchmarks/suppression.py " + " ".join(sys.argv[1:] if argv is None else argv),
               "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(), "results": rows}
    out.write_text(json.dumps(payload, indent=2))
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
