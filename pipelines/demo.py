"""The whole simulated network on embedded defaults: agencies → coordinator → published release.

1. the key ceremony: the coordinator, the custodian, thirteen agencies of every type and tier and
   their people each make their own keys in their own folder; only public files (and the linkage
   key sealed to each Tier 4 agency) cross between folders; one DSA;
2. generate each agency's synthetic extracts (seeded);
3. each contributing agency validates, de-identifies and seals its extracts (aggregate mode by
   default; the two Tier 4 agencies also send consented records and research extracts);
4. bundles travel to the coordinator's inbox; the central job verifies and loads them;
5. the coordinator publishes a disclosure-controlled release for evaluators.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dvnet.pipelines.contributor.report import write_report
from dvnet.pipelines.contributor.run import ContributionOptions, ContributionResult, contribute
from dvnet.pipelines.ceremony import Ceremony
from dvnet.pipelines.demo_network import DSA_ID, PERIODS, build_demo_network
from dvnet.common.network import NetworkPaths, load_agency, load_network


@dataclass
class DemoPlanItem:
    agency: str
    contract: str
    period: str
    mode: str
    extra: dict = field(default_factory=dict)


def plan(orgs, periods=PERIODS) -> list[DemoPlanItem]:
    """Which agency sends which contract in which mode (the network's agreed defaults)."""
    items = []
    for o in orgs:
        for period in periods:
            if o.tier >= 2:
                items.append(DemoPlanItem(o.id, "referral", period, "aggregate"))
            if o.tier >= 3:
                # Tier 4 partners send consented de-identified records; others send counts only.
                if o.tier >= 4:
                    items.append(DemoPlanItem(o.id, "service_episode", period, "record", {"max_withheld_share": 0.5}))
                else:
                    items.append(DemoPlanItem(o.id, "service_episode", period, "aggregate"))
            if o.tier >= 4:
                items.append(DemoPlanItem(o.id, "research_extract", period, "record", {"project": DSA_ID, "max_withheld_share": 0.9}))
    return items


def run_contributions(root: Path, items: list[DemoPlanItem], tick: Callable[[], None] = lambda: None) -> list[ContributionResult]:
    """Each planned contribution, as its steward would run it: sealed into the outbox, with the
    HTML and JSON report of what left written to the agency's reports/ folder."""
    paths = NetworkPaths(root)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    results = []
    for it in items:
        agency = load_agency(paths.agencies / it.agency)
        extract = agency.folder / "extracts" / f"{it.contract}_{it.period}.csv"
        result = contribute(agency, ContributionOptions(contract_id=it.contract, extract=extract, period=it.period, mode=it.mode, **it.extra))
        write_report(result, agency.folder / "reports", stamp)
        results.append(result)
        tick()
    return results


def deliver(root: Path) -> int:
    """Move every agency's outbox bundles to the coordinator's inbox (SFTP / share / USB in life)."""
    paths = NetworkPaths(root)
    n = 0
    for outbox in sorted(paths.agencies.glob("*/outbox")):
        for f in sorted(outbox.glob("*.dvb")):
            shutil.move(str(f), paths.inbox / f.name)
            n += 1
    return n


def return_receipts(root: Path) -> int:
    """Copy each signed receipt back to its agency's receipts/ folder."""
    paths = NetworkPaths(root)
    n = 0
    for folder in sorted(paths.receipts.glob("*")):
        target = paths.agencies / folder.name / "receipts"
        if target.exists():
            for r in folder.glob("*.json"):
                shutil.copy2(r, target / r.name)
                n += 1
    return n


def fresh_network(root: Path) -> Ceremony:
    """The demo network made afresh in ``root`` through the key ceremony; ``.organisations()`` are its agencies."""
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    return build_demo_network(root)


__all__ = ["plan", "run_contributions", "deliver", "return_receipts", "fresh_network", "load_network"]
