"""Build a release request: cut tables from the cubes, protect them, audit, write its files.

A request is not published: it waits in ``coordinator/release-requests/<id>/`` for two reviewers
(``review.py``), whose ``publish_request`` records the ledger and moves it into ``releases/``.

The disclosure gate is enforced here, in code, not only by Dagster checks: ``protect`` raises
``AUDIT_FAILED`` unless every suppressed cell's attacker range (given this release, every earlier
release in the ledger, and non-negativity) is wide enough, and nothing is written before that.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from dvnet.anonymize.disclosure import SUPPRESSED_MARK, protect
from dvnet.anonymize.disclosure.limits import TIME_LIMIT_SECONDS
from dvnet.anonymize.disclosure.errors import INVALID_PROFILE, DisclosureError
from dvnet.anonymize.disclosure.profiles import Profile, get_profile
from dvnet.anonymize.disclosure.rates import rates
from dvnet.anonymize.disclosure.tables import TOTAL, Table
from dvnet.contracts.codes import DAYS_TO_CONTACT_BUCKETS
from dvnet.contracts.errors import DvnetError
from dvnet.contracts.periods import Period
from dvnet.contracts.standard_tables import EQUITY_DIMENSIONS
from dvnet.common import audit
from dvnet.common.faults import maybe_crash
from dvnet.assets.releases.lib import history, recover, review
from dvnet.assets.releases.lib.files import write_release_files
from dvnet.assets.releases.lib.internal import write_internal_record
from dvnet.assets.releases.lib.report import write_report
from dvnet.assets.warehouse.lib.cubes import RELEASE_TABLES, contributions_frame, load_organisations, release_frame, single_member_categories, unduplicated_people_frame
from dvnet.assets.warehouse.lib import schema as warehouse_schema
from dvnet.common.files import atomic_write, make_private, private_dir
from dvnet.common.network import NetworkPaths, coordinator_actor, load_network


@dataclass
class ReleaseResult:
    """A release request. ``internal``: the coordinator's figures (suppressed cells per reason,
    information loss), for its own output only: they are in no file of the release folder."""

    release_id: str
    folder: Path
    manifest: dict
    summary: str
    internal: dict


def _tables(con: duckdb.DuckDBPyConnection, periods: list[str]) -> tuple[list[Table], dict[str, pd.DataFrame]]:
    tables, contributions = [], {}
    for spec in RELEASE_TABLES:
        frame = release_frame(con, spec, periods)
        if frame.empty:
            continue
        dims = ("period", *spec.dims)
        tables.append(Table(spec.name, frame, dims, spec.measure, spec.description))
        contributions[spec.name] = contributions_frame(con, spec, periods)
    people = unduplicated_people_frame(con, periods)
    if not people.empty:
        tables.append(Table("unduplicated_people", people, ("period", "agencies_seen"), "people",
                            "People seen by one, two, or three or more Tier 4 agencies (distinct project-scoped linkage tokens)."))
    return tables, contributions


def _rate_tables(t: dict[str, pd.DataFrame]) -> dict[str, tuple[pd.DataFrame, str]]:
    """Rates from published (rounded) counts; a rate over a suppressed count is suppressed."""
    out: dict[str, tuple[pd.DataFrame, str]] = {}

    def finish(frame: pd.DataFrame, dims: list[str]) -> pd.DataFrame:
        f = frame[dims].copy()
        f["value"] = frame["rate"].round(4)
        f["status"] = frame["status"]
        return f

    if "risk_indicators_by_service" in t and "episodes_by_region_service_risk" in t:
        num = t["risk_indicators_by_service"]
        num = num[num["indicator"] != TOTAL]
        eps = t["episodes_by_region_service_risk"]
        den = eps[(eps["province"] == TOTAL) & (eps["region"] == TOTAL) & (eps["risk_level"] == TOTAL)][["period", "service_type", "value", "status"]]
        den = den.merge(num[["indicator"]].drop_duplicates(), how="cross")
        r = rates(num, den, ["period", "service_type", "indicator"])
        out["risk_indicator_prevalence"] = (finish(r, ["period", "service_type", "indicator"]), "Share of service episodes with each shared risk indicator, by service type.")
    if "referral_flows" in t:
        f = t["referral_flows"]
        num = f[f["outcome"] == "accepted"].drop(columns="outcome")
        den = f[f["outcome"] == TOTAL].drop(columns="outcome")
        r = rates(num, den, ["period", "referring_org_type", "receiving_org_type"])
        out["referral_acceptance_rate"] = (finish(r, ["period", "referring_org_type", "receiving_org_type"]), "Share of referrals accepted, by referring and receiving organisation type.")
    if "referral_handoffs" in t:
        f = t["referral_handoffs"]
        num = f[f["outcome"] == "accepted"].drop(columns="outcome")
        den = f[f["outcome"] == TOTAL].drop(columns="outcome")
        r = rates(num, den, ["period", "receiving_org_type", "handoff_type"])
        out["handoff_acceptance_rate"] = (finish(r, ["period", "receiving_org_type", "handoff_type"]), "Share of referrals accepted, warm versus standard handoff.")
    equity = []
    for dim in EQUITY_DIMENSIONS:
        name = f"safety_plan_completed_by_{dim}"
        if name not in t:
            continue
        f = t[name]
        if "province" in f.columns:  # regions nest in provinces: rate per region only
            f = f[f["region"] != TOTAL].drop(columns="province")
        num = f[f["safety_plan_completed"] == "true"].drop(columns="safety_plan_completed")
        den = f[f["safety_plan_completed"] == TOTAL].drop(columns="safety_plan_completed")
        r = rates(num, den, ["period", dim]).rename(columns={dim: "group"})
        r.insert(1, "dimension", dim)
        equity.append(finish(r, ["period", "dimension", "group"]))
    if equity:
        out["safety_plan_rate_by_equity_group"] = (pd.concat(equity, ignore_index=True), "Share of episodes with a completed safety plan, by equity dimension and group (watch for inequitable impacts).")
    if "referral_first_contact" in t:
        f = t["referral_first_contact"]
        f = f[(f["receiving_org_type"] == TOTAL) & (f["handoff_type"] != TOTAL)]
        rows = []
        for (period, handoff), g in f.groupby(["period", "handoff_type"]):
            parts = g[g["days_to_first_contact_bucket"].isin(DAYS_TO_CONTACT_BUCKETS)].set_index("days_to_first_contact_bucket")
            parts = parts.reindex([b for b in DAYS_TO_CONTACT_BUCKETS if b in parts.index])
            if (parts["status"] != "published").any() or parts.empty:
                rows.append((period, handoff, None, SUPPRESSED_MARK))
                continue
            cum = parts["value"].astype(int).cumsum()
            half = cum.iloc[-1] / 2
            rows.append((period, handoff, str(cum[cum >= half].index[0]) if cum.iloc[-1] else None, "published" if cum.iloc[-1] else "undefined: zero denominator"))
        # The bucket's label ("2-3"), typed as text even when every median is suppressed (a column of
        # nulls alone would be published with no type at all).
        medians = pd.DataFrame(rows, columns=["period", "handoff_type", "value", "status"]).astype({"value": "string"})
        out["median_days_to_first_contact"] = (medians, "Median days to first contact (bucket), among contacted referrals, warm versus standard handoff.")
    return out


def _refuse_hidden_zeros(prof: Profile) -> None:
    """A release table lists the combinations the data holds (``cubes.release_frame``): a zero is
    published by its row's absence, whatever the profile says. So a profile that treats zeros as
    disclosive (``zeros="suppress"``, ACRO's practice) cannot be honoured here: refused, not
    published with a disclosure record claiming what the folder does not do."""
    if prof.zeros != "publish":
        raise DisclosureError(INVALID_PROFILE, f"profile {prof.name} suppresses zeros, but a release table shows a zero by leaving its row out",
                              hint="publish zeros (the built-in profiles do), or give release tables every combination first", profile=prof.name)  # fmt: skip


def latest_periods(root: Path) -> list[str]:
    """The latest period with loaded contributions (what ``publish`` releases by default)."""
    warehouse = NetworkPaths(Path(root)).warehouse
    if not warehouse_schema.exists(warehouse):
        raise DvnetError("NOTHING_TO_PUBLISH", "no loaded contributions yet (no warehouse)", hint="run `dvnet ingest` first")
    con = warehouse_schema.connect(warehouse, read_only=True)
    try:
        row = con.execute("SELECT max(period) FROM ledger WHERE superseded_by IS NULL").fetchone()
    finally:
        con.close()
    if not row or row[0] is None:
        raise DvnetError("NOTHING_TO_PUBLISH", "no loaded contributions yet", hint="run `dvnet ingest` first")
    return [row[0]]


def build_request(root: Path, profile: str, periods: list[str], author: str, *, now: dt.datetime | None = None, method: str = "auto",
                  release_id: str | None = None, overrides: dict | None = None, step: Callable[[str], None] = lambda name: None,
                  time_limit: float = TIME_LIMIT_SECONDS) -> ReleaseResult:  # fmt: skip
    """Request a release for ``periods`` under ``profile`` (``author``: the person asking);
    refuses (AUDIT_FAILED) rather than leak. ``step(name)`` is told when each stage starts.
    ``time_limit`` (seconds): what suppression, and each audit, may take; a release not proven
    safe by then is refused (AUDIT_INCOMPLETE)."""
    now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    periods = sorted({str(Period.parse(p)) for p in periods})
    prof = get_profile(profile, **(overrides or {}))
    _refuse_hidden_zeros(prof)
    paths = NetworkPaths(Path(root))
    network = load_network(paths.root)
    release_id = release_id or f"{'_'.join(periods)}_{prof.name}_{now.strftime('%Y%m%dT%H%M%SZ')}"
    folder = review.requests_root(paths) / release_id
    if not warehouse_schema.exists(paths.warehouse):
        raise DvnetError("NOTHING_TO_PUBLISH", "no loaded contributions yet (no warehouse)", hint="run `dvnet ingest` first")
    con = warehouse_schema.connect(paths.warehouse)
    make_private(paths.warehouse)
    coordinator = coordinator_actor(paths.root, network)
    try:
        recover.finish_interrupted(paths, con, coordinator)  # first: an interrupted release may hold this id
        if folder.exists() or (paths.releases / release_id).exists():
            raise DvnetError("RELEASE_EXISTS", f"release {release_id} already exists")
        step("reading the cubes")
        load_organisations(con, network)
        tables, contributions = _tables(con, periods)
        if not tables:
            raise DvnetError("NOTHING_TO_PUBLISH", f"no loaded contributions for {', '.join(periods)}", hint="run `dvnet ingest` first")
        agencies = con.execute("SELECT count(DISTINCT agency_id) FROM ledger WHERE superseded_by IS NULL AND list_contains(?, period)", [periods]).fetchone()[0]
        earlier = history.earlier_cells(con, paths.releases, paths.coordinator, periods)  # from the folders, cross-checked with the ledger
        step("suppression and audit")
        protected = protect(tables, prof, contributions=contributions, earlier=earlier, sole_categories=single_member_categories(network), method=method,
                            time_limit=time_limit, audit_time_limit=time_limit)  # fmt: skip
        published = {t.name: (protected.tables[t.name], t.description) for t in tables}
        rate_tables = _rate_tables({k: v[0] for k, v in published.items()})
        stats = protected.stats.to_dict()  # the coordinator's: per reason, information loss
        manifest = {
            "release_id": release_id,
            "published_at": now.isoformat(),
            "profile": {"name": prof.name, **{k: v for k, v in prof.__dict__.items() if k != "name"}},
            "periods": periods,
            "contributing_agencies": int(agencies),
            "tables": {t.name: {"description": t.description, "cells": len(published[t.name][0]), "kind": "count", "measure": t.measure, "dims": list(t.dims)} for t in tables}
            | {name: {"description": d, "cells": len(f), "kind": "rate"} for name, (f, d) in rate_tables.items()},
            "suppression": protected.stats.public(),
            "audit": {"summary": protected.audit.summary, "passed": protected.audit.passed, "earlier_cells": protected.audit.earlier_cells},
            "format": f"tidy long: one column per dimension ('{TOTAL}' = margin), then value and status",
            # The coordinator's audit log as it stood: a published anchor, so a later cut or
            # rewrite of the log shows against every copy of this manifest.
            "audit_head": audit.head(paths.audit_log).to_dict(),
        }
        step("writing the release files")
        # A killed request leaves only its unfinished folder: requests are made one at a time (the
        # warehouse lock), so every one found now is such a leftover, whatever its id.
        for leftover in folder.parent.glob(f".*{recover.PARTIAL}") if folder.parent.is_dir() else ():
            shutil.rmtree(leftover)
        tmp = folder.with_name(f".{release_id}{recover.PARTIAL}")
        private_dir(tmp)
        write_release_files(tmp, {**published, **rate_tables})
        atomic_write(tmp / "manifest.json", json.dumps(manifest, indent=2, default=str).encode())
        write_report(tmp / "report.html", manifest, {**published, **rate_tables})
        disclosure = review.write_disclosure(tmp, manifest, stats, author, now)
        make_private(tmp)  # DuckDB, pandas and pyarrow write with the umask's mode
        # The coordinator's internal record (reasons, true counts) and the request's audit line
        # first, then the rename that makes the request appear whole: a kill in between leaves a
        # logged attempt and no request, never a request nobody logged. The ledger is written at
        # publication.
        write_internal_record(paths.coordinator, release_id, stats, protected)
        audit.append(paths.audit_log, review.REQUESTED, actor=coordinator, head_key=coordinator.key, objects={"request": release_id}, now=now,
                     # content_sha256: what the audit passed, the only content review can ever let out
                     author=author, profile=prof.name, periods=periods, audit=protected.audit.summary,
                     content_sha256=disclosure["content_sha256"])  # fmt: skip
        maybe_crash("after_request_audit")
        tmp.rename(folder)
    finally:
        con.close()
    return ReleaseResult(release_id, folder, manifest, protected.audit.summary, stats)
