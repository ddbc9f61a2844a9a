"""The whole simulated network on embedded defaults: agencies → coordinator → published release.

1. the key ceremony: the coordinator, the custodian, thirteen agencies of every type and tier and
   their people each make their own keys in their own folder; only public files (and the linkage
   key sealed to each Tier 4 agency) cross between folders; one DSA;
2. generate each agency's synthetic extracts (seeded);
3. each contributing agency validates, de-identifies and seals its extracts (aggregate mode by
   default; the three Tier 4 agencies also send consented records and research extracts);
4. each agency sends its bundles to the coordinator's drop (a shared folder on one machine); the
   central job verifies and loads them; each agency fetches and verifies its receipts;
5. the coordinator publishes a disclosure-controlled release for evaluators;
6. the coordinator makes the DSA's research extract, sealed to its named researcher, who opens it.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dvnet.contracts.errors import DvnetError
from dvnet.pipelines.contributor.report import write_report
from dvnet.pipelines.contributor.run import ContributionOptions, ContributionResult, contribute
from dvnet.pipelines.ceremony import Ceremony
from dvnet.pipelines.delivery.drop import drop_of, save_drop
from dvnet.pipelines.delivery.receipts import fetch
from dvnet.pipelines.delivery.send import send_outbox
from dvnet.pipelines.demo_network import DSA_ID, PERIODS, build_demo_network
from dvnet.common import decisions
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
                    items.append(DemoPlanItem(o.id, "service_episode", period, "record", {"max_withheld_share": 0.6}))
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
        write_report(result, agency.folder / "reports", stamp, decisions.in_agency_folder(agency.folder))
        results.append(result)
        tick()
    return results


def _agencies_with_drops(root: Path) -> list:
    """Every agency folder, its drop the coordinator's own folders: on one machine the shared-folder
    drop is the coordinator's inbox and the agency's receipts folder (SFTP in a real network)."""
    paths = NetworkPaths(root)
    agencies = []
    for config in sorted(paths.agencies.glob("*/agency.yaml")):
        agency = load_agency(config.parent)
        if not agency.drop:
            save_drop(agency, {"inbox": str(paths.inbox), "receipts": str(paths.receipts / agency.agency_id)})
            agency = load_agency(config.parent)
        agencies.append(agency)
    return agencies


def deliver(root: Path) -> int:
    """Each agency sends its outbox to the coordinator's drop, as `dvnet send` does."""
    return sum(len(send_outbox(agency, drop_of(agency))) for agency in _agencies_with_drops(root))


def return_receipts(root: Path) -> int:
    """Each agency fetches and verifies its receipts, as `dvnet receipts` does; how many it kept."""
    return sum(fetch(agency, drop_of(agency)).kept for agency in _agencies_with_drops(root))


#: Written into the folder `dvnet demo` makes; only a folder holding it is ever deleted by the demo.
DEMO_MARKER = ".dvnet-demo"


def fresh_network(root: Path) -> Ceremony:
    """The demo network made afresh in ``root`` through the key ceremony; ``.organisations`` are its
    agencies. A folder the demo did not make (no marker file; an empty folder is fine) is refused
    untouched: `--out` is deleted whole."""
    root = Path(root)
    if root.exists() or root.is_symlink():
        ours = root.is_dir() and not root.is_symlink() and (root / DEMO_MARKER).is_file()
        if not ours and (not root.is_dir() or root.is_symlink() or any(root.iterdir())):
            raise DvnetError(
                "USAGE_DEMO_OUT_NOT_OURS", f"{root} holds files `dvnet demo` did not make, and the demo deletes its whole folder",
                hint="choose another --out (a new or empty folder), or empty that one yourself",
            )
        shutil.rmtree(root)
    root.mkdir(mode=0o700, parents=True)
    (root / DEMO_MARKER).write_text("Made by `dvnet demo`: the next `dvnet demo` with this folder as --out deletes it whole.\n")
    return build_demo_network(root)


__all__ = ["plan", "run_contributions", "deliver", "return_receipts", "fresh_network", "load_network"]
