"""Every audited change of the network's governance is logged before it is made: a command killed
right after its audit line (for real: ``DVNET_FAULT_AT=after_audit:<action>`` makes `audit.append`
exit there) has not made its change yet, so what a kill can leave is a logged attempt, never a
change nobody logged; run again, the command makes the change (and logs it).

The other audited steps have their own crash tests: ingest (``central/test_central_crash.py``),
release requests, publication and withdrawal (``releases/test_release_crash.py``), research extracts
(``network/test_research_extracts.py``), `dvnet send` (``delivery/test_delivery_folder.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from dvnet.common import agreements, audit
from dvnet.common import network as store
from dvnet.common.authority import authorise
from dvnet.common.faults import AFTER_AUDIT, DECISION_POINTS, REGISTER_POINTS
from dvnet.common.people import init_person, read_person_file
from dvnet.pipelines.ceremony import FOUNDER

REPO = Path(__file__).resolve().parents[3]
DSA = "dsa-2026-01"  # the researcher_and_dsa fixture's agreement
DECISION = ["--org", "coordinator", "--change", "adopted", "--kind", "tool", "--subject", "Danger Assessment", "--decided-by", "Board",
            "--why", "a shared risk tool", "--review-date", "2027-06-30"]  # fmt: skip


def _suspended(root: Path) -> bool:
    return store.load_network(root).organisation("shelter-north").status == "suspended"


def _revoked(root: Path) -> bool:
    return agreements.require(root, DSA).status == "revoked"


def _decided(root: Path) -> bool:
    return any((store.NetworkPaths(root).coordinator / "decisions").rglob("coordinator-*.yaml"))


def _registered(root: Path) -> bool:
    return store.load_network(root).person("eve-reviewer") is not None


def _agency_registered(root: Path) -> bool:
    """In the registry, and so with all that comes with it: the coordinator's public file names it
    (the agencies pin it from there) and its receipts folder exists."""
    paths = store.NetworkPaths(root)
    if store.load_network(root).organisation("east-clinic") is None:
        return False
    assert "east-clinic" in paths.coordinator_public.read_text() and (paths.receipts / "east-clinic").is_dir()
    return True


#: action -> (the command's arguments after `dvnet`, whether its change is made)
CASES: dict[str, tuple[list[str], Callable[[Path], bool]]] = {
    "agency_status": (["network", "suspend", "shelter-north"], _suspended),
    "dsa_revoked": (["dsa", "revoke", DSA, "--reason", "ethics approval lapsed"], _revoked),
    "decision_added": (["decision", "add", *DECISION], _decided),
    "person_added": (["network", "add-person", "{folder}/eve/person.yaml", "--role", "reviewer"], _registered),
    "agency_registered": (["network", "register-agency", "{folder}/east/registration.yaml"], _agency_registered),
}
#: What the commands above register, made by their own parties' commands first.
PARTIES = (["person", "init", "{folder}/eve", "--id", "eve-reviewer", "--name", "Eve (fictional)", "--org", "shelter-north"],
           ["agency", "init", "{folder}/east", "--id", "east-clinic", "--name", "East Clinic (fictional)", "--type", "health_social_care", "--tier", "3",
            "--region", "south-metro"])  # fmt: skip


def _dvnet(root: Path, args: list[str], env: dict | None = None, person: str = FOUNDER[0]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "dvnet.pipelines.cli", *args, "--network", str(root), "--as", person, "--key", str(root / "people" / person / "signing.key")]
    return subprocess.run(command, cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("action", sorted(CASES))
def test_a_change_is_logged_before_it_is_made(network_dir, researcher_and_dsa, action, tally):
    root = network_dir
    researcher_and_dsa(root)
    args, made = CASES[action]
    for party in PARTIES:
        made_party = subprocess.run([sys.executable, "-m", "dvnet.pipelines.cli", *(a.format(folder=root.parent) for a in party)], cwd=REPO, capture_output=True, text=True)
        assert made_party.returncode == 0, made_party.stderr[-2000:]
    args = [a.format(folder=root.parent) for a in args]
    assert not made(root)
    before = sum(e["action"] == action for e in audit.read(store.NetworkPaths(root).audit_log))
    killed = _dvnet(root, args, env={"DVNET_FAULT_AT": AFTER_AUDIT + action})
    assert killed.returncode == 86, killed.stdout + killed.stderr[-2000:]  # killed right after the line

    def lines() -> int:
        return sum(e["action"] == action for e in audit.read(store.NetworkPaths(root).audit_log)) - before

    logged_first, made_after_kill = lines(), made(root)
    rerun = _dvnet(root, args)
    tally("crash consistency", kills=1, partial=0, duplicate=0, unrecorded=int(made_after_kill and not logged_first), rows_lost=0)
    assert logged_first == 1 and not made_after_kill  # the line is there; the change is not, yet
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr[-2000:]
    assert made(root) and lines() == 2  # made now; the killed attempt's line and this one


def test_an_agency_registration_killed_before_the_registry_is_redone_whole(network_dir, tally):
    """Killed after the coordinator's public file and the receipts folder, before the registry
    (``before_agency_saved``): not registered, and registering again finishes everything (never a
    registered agency missing from the public file agencies pin, which the rerun could not mend:
    it would be refused as AGENCY_EXISTS)."""
    root = network_dir
    made_party = subprocess.run([sys.executable, "-m", "dvnet.pipelines.cli", *(a.format(folder=root.parent) for a in PARTIES[1])], cwd=REPO, capture_output=True, text=True)
    assert made_party.returncode == 0, made_party.stderr[-2000:]
    args = [a.format(folder=root.parent) for a in CASES["agency_registered"][0]]
    killed = _dvnet(root, args, env={"DVNET_FAULT_AT": REGISTER_POINTS[0]})
    assert killed.returncode == 86, killed.stdout + killed.stderr[-2000:]
    registered_when_killed = _agency_registered(root)
    rerun = _dvnet(root, args)
    tally("crash consistency", kills=1, partial=0, duplicate=0, unrecorded=0, rows_lost=0)
    assert not registered_when_killed
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr[-2000:]
    assert _agency_registered(root)


def test_a_decision_killed_before_the_agencys_copy_gets_it_from_the_next(network_dir, tally):
    """Killed after the coordinator's signed decision, before the agency's byte copy
    (``after_decision_signed``): the next `decision add` for the organisation makes the missing copy
    first, so the agency's folder holds every decision the coordinator holds."""
    root = network_dir
    coordinator = store.NetworkPaths(root).coordinator / "decisions" / "shelter-north"
    copies = root / "agencies" / "shelter-north" / "decisions"
    steward = init_person(root / "people" / "sam-steward", "sam-steward", "Sam (fictional)", "shelter-north")
    store.add_person(root, read_person_file(steward.public_file), ["steward"],
                     authorise(root, FOUNDER[0], root / "people" / FOUNDER[0] / "signing.key", "network.add-person"))  # fmt: skip
    agency_decision = ["decision", "add", "--org", "shelter-north", *DECISION[2:]]  # a steward records their own agency's
    killed = _dvnet(root, agency_decision, env={"DVNET_FAULT_AT": DECISION_POINTS[0]}, person="sam-steward")
    assert killed.returncode == 86, killed.stdout + killed.stderr[-2000:]
    missing_when_killed = {p.name for p in coordinator.glob("*.yaml")} - {p.name for p in copies.glob("*.yaml")}
    rerun = _dvnet(root, agency_decision, person="sam-steward")
    held = {p.name: p.read_bytes() for p in coordinator.glob("*.yaml")}
    tally("crash consistency", kills=1, partial=0, duplicate=0, unrecorded=0, rows_lost=0)
    assert missing_when_killed == {"shelter-north-001.yaml"}
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr[-2000:]
    assert len(held) == 2 and {p.name: p.read_bytes() for p in copies.glob("*.yaml")} == held
