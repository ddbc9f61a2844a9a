"""Suite 3, replay, freshness and identity grid: who sends what, in which order, when, how often,
correcting whose bundle, and whether the coordinator gives each the right answer and never loads
anything twice.

Dimensions: the sender (active at Tier 2, 3 and 4, suspended, Tier 1, unknown to the registry) ×
contract and mode × sequence order (next, after a gap, equal to, below the last loaded) × clock
offset (now, inside the skew, beyond it, nearly and just expired) × duplicate content (sent once,
the same file twice, the same bundle id with other content) × correction (none, of its own loaded
bundle, of another agency's). CI runs every pair of values (a pairwise covering set);
``DVNET_ADVERSARIAL_FULL=1`` every triple.

Each scenario starts from its own warehouse holding the sender's earlier bundle of that contract
(sequence 10) and another agency's, delivers its bundle (and the second copy), and compares each
outcome with the answer of an oracle written here from the policy (DESIGN §7's order of checks,
the tier table, SPEC §5's clock rules): not from the code under test. Then the warehouse is
checked for double loads: every current bundle's rows are in it exactly once, a superseded one's
not at all.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from dvnet import bundle
from dvnet.anonymize.counts import standard_counts
from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_file
from dvnet.assets.warehouse.lib import schema as warehouse
from dvnet.contracts.registry import get_contract

FULL = os.environ.get("DVNET_ADVERSARIAL_FULL") == "1"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
PRIOR_SEQUENCE = 10
DSA = "dsa-grid"

#: sender -> (agency id, tier, status); ``None`` tier: not in the registry.
SENDERS = {
    "active tier 3": ("shelter-a", 3, "active"),
    "active tier 2": ("legal-b", 2, "active"),
    "active tier 4": ("uni-d", 4, "active"),
    "suspended tier 3": ("health-c", 3, "suspended"),
    "tier 1": ("housing-d", 1, "active"),
    "unknown agency": ("ghost-agency", None, "unknown"),
}
#: The tier policy, written out (contracts/tiers.py's docstring): the lowest tier, the modes.
POLICY = {"referral": (2, ("aggregate", "record")), "service_episode": (3, ("aggregate", "record")), "research_extract": (4, ("record",))}
CONTRACTS = [(c, m) for c in POLICY for m in ("record", "aggregate")]
SEQUENCES = {"next": PRIOR_SEQUENCE + 1, "after a gap": PRIOR_SEQUENCE + 5, "equal to the last": PRIOR_SEQUENCE, "below the last": PRIOR_SEQUENCE - 1}
#: created_at relative to now; bundles live 30 days (the sealing default); the skew allowed is 10 minutes.
CLOCKS = {
    "now": dt.timedelta(0),
    "5 min ahead": dt.timedelta(minutes=5),
    "20 min ahead": dt.timedelta(minutes=20),
    "29 days old": -dt.timedelta(days=29),
    "31 days old": -dt.timedelta(days=31),
}
DUPLICATES = ("sent once", "the same file twice", "same id, other content")
CORRECTIONS = ("none", "of its own bundle", "of another agency's bundle")

DIMENSIONS = {
    "sender": list(SENDERS),
    "contract": CONTRACTS,
    "sequence": list(SEQUENCES),
    "clock": list(CLOCKS),
    "duplicate": list(DUPLICATES),
    "correction": list(CORRECTIONS),
}


def covering_set(dimensions: dict[str, list], strength: int) -> list[dict]:
    """Scenarios holding every combination of ``strength`` values of any ``strength`` dimensions
    (greedy: each next scenario is the first that covers most combinations still missing)."""
    names = list(dimensions)
    groups = list(itertools.combinations(range(len(names)), strength))
    candidates = list(itertools.product(*dimensions.values()))
    missing = {(g, tuple(c[i] for i in g)) for c in candidates for g in groups}
    chosen = []
    while missing:
        best = max(candidates, key=lambda c: sum((g, tuple(c[i] for i in g)) in missing for g in groups))
        missing -= {(g, tuple(best[i] for i in g)) for g in groups}
        chosen.append(dict(zip(names, best)))
    return chosen


SCENARIOS = covering_set(DIMENSIONS, 3 if FULL else 2)


# --- the oracle ------------------------------------------------------------------------------------


def may_send(tier: int | None, contract: str, mode: str) -> bool:
    lowest, modes = POLICY[contract]
    return tier is not None and tier >= lowest and mode in modes


def has_prior(s: dict) -> bool:
    """The sender loaded an earlier bundle of this contract and mode (sequence 10)."""
    _, tier, status = SENDERS[s["sender"]]
    return status == "active" and may_send(tier, *s["contract"])


def expected_first(s: dict) -> tuple[str, str | None]:
    """(outcome, reason) of the scenario's bundle, checks in DESIGN §7's order: registry and tier,
    signature, freshness; then the ledger (replay, sequence); then content (supersedes)."""
    _, tier, status = SENDERS[s["sender"]]
    if status == "unknown":
        return "quarantined", "AGENCY_UNKNOWN"
    if status == "suspended":
        return "quarantined", "AGENCY_SUSPENDED"
    if not may_send(tier, *s["contract"]):
        return "quarantined", "TIER_VIOLATION"
    offset = CLOCKS[s["clock"]]
    if offset > dt.timedelta(minutes=10):
        return "quarantined", "NOT_YET_VALID"
    if offset < -dt.timedelta(days=30):
        return "quarantined", "EXPIRED"
    if SEQUENCES[s["sequence"]] <= PRIOR_SEQUENCE:
        return "quarantined", "SEQUENCE_ROLLBACK"
    if s["correction"] == "of another agency's bundle":
        return "quarantined", "SUPERSEDES_INVALID"
    if s["correction"] == "none" and has_prior(s):  # its earlier bundle is of the same contract and period
        return "quarantined", "PERIOD_ALREADY_LOADED"
    return "loaded", None


def expected(s: dict) -> list[tuple[str, str | None]]:
    first = expected_first(s)
    if s["duplicate"] == "sent once":
        return [first]
    if first[0] != "loaded":
        return [first, first]  # a refusal is not remembered: the second copy is refused again, for the same reason
    return [first, ("duplicate", "DUPLICATE") if s["duplicate"] == "the same file twice" else ("quarantined", "REPLAY")]


# --- running a scenario ----------------------------------------------------------------------------


@dataclass
class Grid:
    ck: object
    kit: object
    ctx: CoordinatorContext
    ghost_key: object
    templates: Path
    made: dict

    def payload(self, contract: str, mode: str, seed: int) -> tuple[bytes, int]:
        frame = self.ck.FRAMES[contract](6, self.ck.PERIOD, seed)
        if mode == "record" or not get_contract(contract).standard_tables:  # no counts to make: refused for its mode anyway
            return self.ck.parquet_bytes(frame), len(frame)
        table = standard_counts(frame, get_contract(contract))
        return self.ck.parquet_bytes(table), table.num_rows

    def seal(self, agency: str, contract: str, mode: str, *, sequence: int, seed: int, created: dt.datetime = NOW - dt.timedelta(days=1),
             supersedes: str | None = None, rng=os.urandom) -> bundle.SealedBundle:  # fmt: skip
        data, count = self.payload(contract, mode, seed)
        details = {"project": DSA} if contract == "research_extract" else {}
        signing_key = self.ghost_key if agency == SENDERS["unknown agency"][0] else None
        return self.kit.seal(agency, contract, data, count, mode=mode, sequence=sequence, now=created, supersedes=supersedes,
                             details=details, rng=rng, signing_key=signing_key)  # fmt: skip

    def deliver(self, con, name: str, blob: bytes):
        path = self.kit.inbox / f"{name}.dvb"
        path.write_bytes(blob)
        return ingest_file(path, self.ctx, con, now=NOW)

    def warehouse_for(self, s: dict) -> tuple[Path, dict[str, str]]:
        """A copy of the scenario's starting warehouse: the other agency's bundle, and the
        sender's earlier bundle of this contract and mode when it may send one. Returns the
        copy and the loaded bundle ids ("own", "other")."""
        agency = SENDERS[s["sender"]][0]
        other = "legal-b" if agency == "shelter-a" else "shelter-a"
        key = (agency, s["contract"]) if has_prior(s) else (other,)
        if key not in self.made:
            path = self.templates / f"start-{len(self.made)}.duckdb"
            con = warehouse.connect(path)
            try:
                ids = {"other": self._load(con, f"t{len(self.made)}-other", other, "referral", "record")}
                if has_prior(s):
                    ids["own"] = self._load(con, f"t{len(self.made)}-own", agency, *s["contract"])
            finally:
                con.close()
            self.made[key] = (path, ids)
        path, ids = self.made[key]
        copy = self.templates / f"scenario-{len(os.listdir(self.templates))}.duckdb"
        shutil.copyfile(path, copy)
        staged = path.with_name(f"{path.name}.staged")  # the warehouse's staged rows: a file per bundle beside it
        if staged.is_dir():
            shutil.copytree(staged, copy.with_name(f"{copy.name}.staged"))
        return copy, ids

    def _load(self, con, name: str, agency: str, contract: str, mode: str) -> str:
        sealed = self.seal(agency, contract, mode, sequence=PRIOR_SEQUENCE, seed=1)
        out = self.deliver(con, name, sealed.blob)
        assert (out.outcome, out.reason) == ("loaded", None), (name, out.reason)
        return sealed.bundle_id


def double_loads(con) -> list[str]:
    """Bundles whose rows are in the warehouse other than once (a superseded one: not at all)."""
    found = []
    for bundle_id, contract, mode, rows, superseded in con.execute(
        "SELECT bundle_id, contract_id, mode, rows_loaded, superseded_by FROM ledger"
    ).fetchall():
        table = warehouse.staged_table(contract) if mode == "record" else "contribution_counts"
        held = con.execute(f"SELECT count(*) FROM {table} WHERE bundle_id = ?", [bundle_id]).fetchone()[0]
        if held != (0 if superseded else rows):
            found.append(bundle_id)
    return found


def run(grid: Grid, i: int, s: dict) -> tuple[list[tuple[str, str | None]], list[str]]:
    agency = SENDERS[s["sender"]][0]
    contract, mode = s["contract"]
    path, ids = grid.warehouse_for(s)
    supersedes = {"none": None, "of its own bundle": ids.get("own", "f" * 32), "of another agency's bundle": ids["other"]}[s["correction"]]
    bundle_id = os.urandom(16)
    b = grid.seal(agency, contract, mode, sequence=SEQUENCES[s["sequence"]], seed=2, created=NOW + CLOCKS[s["clock"]],
                  supersedes=supersedes, rng=lambda n: bundle_id)  # fmt: skip
    con = warehouse.connect(path)
    try:
        outcomes = [grid.deliver(con, f"s{i}-first", b.blob)]
        if s["duplicate"] == "the same file twice":
            outcomes.append(grid.deliver(con, f"s{i}-again", b.blob))
        elif s["duplicate"] == "same id, other content":
            other = grid.seal(agency, contract, mode, sequence=SEQUENCES[s["sequence"]], seed=3, created=NOW + CLOCKS[s["clock"]],
                              supersedes=supersedes, rng=lambda n: bundle_id)  # fmt: skip
            outcomes.append(grid.deliver(con, f"s{i}-other-content", other.blob))
        return [(o.outcome, o.reason) for o in outcomes], double_loads(con)
    finally:
        con.close()


@pytest.fixture
def grid(ck, kit, tmp_path) -> Grid:
    ck.add_agency(kit, "uni-d", 4)
    ck.add_agreement(kit, DSA, ["uni-d"])
    ck.store.set_status(kit.root, "health-c", "suspended", ck.acting(kit.root, "network.suspend"))
    templates = tmp_path / "warehouses"
    templates.mkdir()
    return Grid(ck, kit, CoordinatorContext.load(kit.root), bundle.generate_signing_key(), templates, {})


def _label(s: dict) -> str:
    return ", ".join(f"{k}={'/'.join(v) if isinstance(v, tuple) else v}" for k, v in s.items())


def test_the_covering_set_holds_every_pair():
    pairs = {(a, b, s[a], s[b]) for s in SCENARIOS for a, b in itertools.combinations(DIMENSIONS, 2)}
    assert len(pairs) == sum(len(DIMENSIONS[a]) * len(DIMENSIONS[b]) for a, b in itertools.combinations(DIMENSIONS, 2))


def test_every_scenario_gets_the_right_code_and_nothing_loads_twice(grid, headline):
    wrong, doubled, codes = [], [], set()
    for i, s in enumerate(SCENARIOS):
        got, doubles = run(grid, i, s)
        want = expected(s)
        codes |= {reason for _, reason in want if reason}
        if got != want:
            wrong.append((_label(s), want, got))
        if doubles:
            doubled.append((_label(s), doubles))
    assert not any(grid.kit.inbox.iterdir())
    g = len(SCENARIOS)
    headline(
        "suite 3 replay, freshness and identity grid" + (" (full)" if FULL else ""),
        f"{g} scenarios, {g - len(wrong)} correct codes, {len(doubled)} double loads "
        f"({'every triple' if FULL else 'every pair'} of {' × '.join(str(len(v)) for v in DIMENSIONS.values())} values; {len(codes)} distinct codes expected)",
    )
    assert wrong == [] and doubled == []
