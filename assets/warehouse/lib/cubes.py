"""Indicator cubes: every agency's standard tables added up, and the release tables cut from them.

``contribution_counts`` holds one row per (bundle, standard table, dimension values) whether the
agency sent counts or rows, so every cube is a plain sum over it. Referral tables name
organisations; cubes publish organisation *types* (joined from the registry), never an agency.
Release tables are tidy and long: one column per dimension, ``Total`` for the margin over a
dimension (regions nest in provinces), then ``value``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import duckdb
import pandas as pd

from dvnet.anonymize.disclosure.tables import TOTAL
from dvnet.contracts.codes import RISK_INDICATORS
from dvnet.contracts.network import Network
from dvnet.contracts.standard_tables import EQUITY_DIMENSIONS, REFERRAL_TABLES, SERVICE_EPISODE_TABLES

# A region's parent area, from the network's geography (``load_organisations`` loads it); the
# release tables call it ``province``.
_PROVINCE_SQL = "coalesce((SELECT g.parent_area FROM regions g WHERE g.region = c.region), 'unknown')"


@dataclass(frozen=True)
class ReleaseTableSpec:
    """A release table: a standard table summed over agencies, with margins."""

    name: str
    description: str
    measure: str
    source: str  # standard table name in contribution_counts
    dims: tuple[str, ...]
    derived: dict[str, str] = field(default_factory=dict)  # release dim -> SQL over the counts row (and org joins)
    nested: dict[str, str] = field(default_factory=dict)  # child dim -> parent dim (child implies parent)


def _spec_for(standard, *, description=None) -> ReleaseTableSpec:
    dims = list(standard.dims)
    derived: dict[str, str] = {}
    nested: dict[str, str] = {}
    if "region" in dims:
        dims.insert(dims.index("region"), "province")
        derived["province"] = _PROVINCE_SQL
        nested["region"] = "province"
    for side in ("referring_org", "receiving_org"):
        if side in dims:
            dims[dims.index(side)] = f"{side}_type"
            derived[f"{side}_type"] = f"coalesce((SELECT type FROM organisations o WHERE o.id = c.{side}), 'unregistered')"
    return ReleaseTableSpec(standard.name, description or standard.description, standard.measure, standard.name, tuple(dims), derived, nested)


RELEASE_TABLES: tuple[ReleaseTableSpec, ...] = tuple(_spec_for(t) for t in (*SERVICE_EPISODE_TABLES, *REFERRAL_TABLES))


def load_organisations(con: duckdb.DuckDBPyConnection, network: Network) -> None:
    """The registry's organisations (id, type, tier, region) and geography (region, parent area)
    as temp tables for joins."""
    frames = {
        "organisations": pd.DataFrame([(o.id, o.type, o.tier, o.region) for o in network.organisations], columns=["id", "type", "tier", "region"]),
        "regions": pd.DataFrame(list(network.geography.parent_of.items()), columns=["region", "parent_area"]),
    }
    for name, frame in frames.items():
        con.register("_frame", frame)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _frame")
        con.unregister("_frame")


def single_member_categories(network: Network) -> dict[str, list[str]]:
    """Per organisation-type dimension of the release tables, the types with one member: one
    organisation in the registry, or at most one active one in the public directory. Such a
    type's cells are that organisation's caseload, published under the type's name."""
    members: dict[str, list[bool]] = {}
    for o in network.organisations:
        members.setdefault(o.type, []).append(o.active)
    sole = sorted(t for t, active in members.items() if len(active) == 1 or sum(active) <= 1)
    dims = sorted({d for spec in RELEASE_TABLES for d in spec.derived if d.endswith("_org_type")})
    return {d: sole for d in dims}


def _grouping_sets(dims: tuple[str, ...], nested: dict[str, str]) -> list[tuple[str, ...]]:
    sets = []
    for width in range(len(dims), -1, -1):
        for subset in combinations(dims, width):
            if all(nested[c] in subset for c in subset if c in nested):
                sets.append(subset)
    return sets


def _base_sql(spec: ReleaseTableSpec) -> str:
    cols = [f"{spec.derived.get(d, 'c.' + d)} AS {d}" for d in spec.dims]
    return (
        f"SELECT c.period, c.agency_id, {', '.join(cols)}, c.n FROM contribution_counts c "
        "WHERE c.table_name = $table AND list_contains($periods, c.period)"
    )


def release_frame(con: duckdb.DuckDBPyConnection, spec: ReleaseTableSpec, periods: list[str]) -> pd.DataFrame:
    """The tidy table with margins (``Total``) for ``periods``; ``period`` is a dimension without a total."""
    sets = _grouping_sets(spec.dims, spec.nested)
    gs = ", ".join("(" + ", ".join(("period", *s)) + ")" for s in sets)
    select = ", ".join(f"CASE WHEN grouping({d}) = 1 THEN '{TOTAL}' ELSE CAST({d} AS VARCHAR) END AS {d}" for d in spec.dims)
    sql = f"SELECT period, {select}, sum(n)::BIGINT AS value FROM ({_base_sql(spec)}) GROUP BY GROUPING SETS ({gs}) ORDER BY ALL"
    return con.execute(sql, {"table": spec.source, "periods": periods}).df()


def contributions_frame(con: duckdb.DuckDBPyConnection, spec: ReleaseTableSpec, periods: list[str]) -> pd.DataFrame:
    """Per-agency contributions to each interior cell (for the dominance rule); never published."""
    dims = ", ".join(spec.dims)
    sql = f"SELECT period, {dims}, agency_id, sum(n)::BIGINT AS value FROM ({_base_sql(spec)}) GROUP BY period, {dims}, agency_id"
    return con.execute(sql, {"table": spec.source, "periods": periods}).df()


def unduplicated_people_frame(con: duckdb.DuckDBPyConnection, periods: list[str]) -> pd.DataFrame:
    """People (distinct linkage tokens, Tier 4 research extracts) by how many agencies saw them."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'staged_research_extract'").fetchall()[0][0]  # fetchall: a pending result would block con.register
    if not exists:
        return pd.DataFrame(columns=["period", "agencies_seen", "value"])
    sql = """
        WITH people AS (
            SELECT period, linkage_token, count(DISTINCT agency_id) AS k FROM staged_research_extract
            WHERE list_contains($periods, period) GROUP BY period, linkage_token)
        SELECT period, CASE WHEN grouping(seen) = 1 THEN $total ELSE seen END AS agencies_seen, count(*)::BIGINT AS value
        FROM (SELECT period, CASE WHEN k >= 3 THEN '3+' ELSE CAST(k AS VARCHAR) END AS seen FROM people)
        GROUP BY GROUPING SETS ((period, seen), (period)) ORDER BY ALL
    """
    return con.execute(sql, {"periods": periods, "total": TOTAL}).df()


CUBE_FAMILIES = {
    "service_indicator_cubes": lambda n: n == "episodes_by_region_service_risk" or n == "risk_indicators_by_service" or n.endswith("_by_service"),
    "equity_cubes": lambda n: any(n.endswith(f"_by_{d}") for d in EQUITY_DIMENSIONS),
    "referral_flow_cubes": lambda n: n.startswith("referral"),
}


def rebuild_cubes(con: duckdb.DuckDBPyConnection, network: Network, family: str | None = None) -> dict[str, int]:
    """Materialise ``cube_<table>`` (all periods, interior cells, with agency counts) in the warehouse.

    ``family`` limits it to one of ``CUBE_FAMILIES``. Returns cells per cube. Cubes are internal
    (unsuppressed): only releases leave the coordinator.
    """
    load_organisations(con, network)
    sizes = {}
    wanted = CUBE_FAMILIES[family] if family else (lambda _n: True)
    for spec in (s for s in RELEASE_TABLES if wanted(s.name)):
        dims = ", ".join(spec.dims)
        con.execute(
            f"CREATE OR REPLACE TABLE cube_{spec.name} AS SELECT period, {dims}, sum(n)::BIGINT AS n, "
            f"count(DISTINCT agency_id) AS agencies FROM ({_base_sql(spec).replace('$table', '?').replace('list_contains($periods, c.period)', 'TRUE')}) "
            f"GROUP BY period, {dims}",
            [spec.source],
        )
        sizes[spec.name] = con.execute(f"SELECT count(*) FROM cube_{spec.name}").fetchall()[0][0]
    return sizes


def cube_reconciles(con: duckdb.DuckDBPyConnection, name: str) -> tuple[int, int]:
    """(sum in cube_<name>, sum in contribution_counts for that table): equal when the cube is whole."""
    cube = con.execute(f"SELECT coalesce(sum(n), 0) FROM cube_{name}").fetchall()[0][0]
    source = con.execute("SELECT coalesce(sum(n), 0) FROM contribution_counts WHERE table_name = ?", [name]).fetchall()[0][0]
    return int(cube), int(source)


def unduplicated_people_table(con: duckdb.DuckDBPyConnection) -> int:
    """``cube_unduplicated_people`` over every period; returns distinct people overall."""
    periods = [r[0] for r in con.execute("SELECT DISTINCT period FROM ledger").fetchall()]
    frame = unduplicated_people_frame(con, periods)
    con.register("_p", frame)
    con.execute("CREATE OR REPLACE TABLE cube_unduplicated_people AS SELECT * FROM _p")
    con.unregister("_p")
    return int(frame.loc[frame["agencies_seen"] == TOTAL, "value"].sum()) if len(frame) else 0


__all__ = ["CUBE_FAMILIES", "cube_reconciles", "unduplicated_people_table", "RELEASE_TABLES", "EQUITY_DIMENSIONS", "RISK_INDICATORS", "ReleaseTableSpec", "release_frame", "contributions_frame", "rebuild_cubes", "single_member_categories", "unduplicated_people_frame"]
