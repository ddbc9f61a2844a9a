"""k-anonymity in record mode: a run below k is refused naming column combinations (never
values); with a withheld share allowed, the small classes stay home and what leaves meets k."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from dvnet.anonymize.deidentify import read_after_validation
from dvnet.kernels import keyed_hashes
from dvnet.contracts.registry import get_contract
from dvnet.pipelines.contributor import run
from dvnet.pipelines.contributor.read import ReadLimits

QIS = get_contract("service_episode").quasi_identifiers()


def test_record_mode_below_k_is_refused_naming_columns_not_values(net):
    r = net.contribute("shelter-north", "service_episode", mode="record")  # agency default k=5
    assert r.status == "refused"
    assert r.refusal["reason"] == "K_ANONYMITY_NOT_MET"
    assert r.k_achieved is not None and r.k_achieved < 5
    message, summary = r.refusal["message"], r.k_summary
    assert "k=5" in message and "k=5" in summary
    assert any(f"({q})" in summary or f"{q}," in summary for q in QIS), "an offending column combination is named"
    assert "--mode aggregate" in message and "--max-withheld-share" in message, "the steward is told what to do"
    # No quasi-identifier value appears: not a region, band, gender or language code.
    opened_values = {"south-metro", "north-coast", "25-34", "35-44", "woman", "english", "french", "not_stated"}
    assert not [v for v in opened_values if v in message + summary]
    assert r.withheld_k == 0 and r.held_back == r.records_read - r.excluded_consent
    assert r.bundle_id is None


def test_the_share_the_refusal_suggests_is_enough(net):
    refused = net.contribute("shelter-north", "service_episode", mode="record")
    suggested = float(refused.refusal["message"].rsplit("--max-withheld-share ", 1)[1].rstrip("."))
    r = net.contribute("shelter-north", "service_episode", mode="record", max_withheld_share=suggested)
    assert r.status == "sealed" and r.k_achieved >= 5


def test_a_withheld_share_keeps_small_classes_home_and_reports_them(net):
    refused = net.contribute("shelter-north", "service_episode", mode="record")
    r = net.contribute("shelter-north", "service_episode", mode="record", max_withheld_share=0.9)
    assert r.status == "sealed"
    assert r.withheld_k > 0
    assert r.k_achieved >= 5
    assert r.excluded_consent == refused.excluded_consent
    assert r.sent == r.records_read - r.excluded_consent - r.withheld_k

    table = net.open("shelter-north", r).table
    classes = Counter(zip(*(table.column(q).to_pylist() for q in QIS)))
    assert min(classes.values()) >= 5, "every combination of quasi-identifiers that left has at least k records"
    assert table.num_rows == r.sent


def test_a_withheld_share_below_what_k_needs_still_refuses(net):
    r = net.contribute("shelter-north", "service_episode", mode="record", max_withheld_share=0.01)
    assert r.refusal["reason"] == "K_ANONYMITY_NOT_MET"
    assert r.withheld_k == 0 and r.sent == 0


def test_aggregate_mode_has_no_k_check_and_reports_the_cube(net):
    r = net.contribute("shelter-north", "service_episode", mode="aggregate")
    assert r.status == "sealed"
    assert (r.k_summary, r.withheld_k) == (None, 0)
    assert r.cube_tables == len(get_contract("service_episode").standard_tables)
    assert r.cube_cells == net.open("shelter-north", r).table.num_rows


def _children() -> set[int]:
    """Live child processes of this test process (Linux /proc)."""
    me = os.getpid()
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # the state and parent pid follow the command name in parentheses
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) == me and state != "Z":
                out.add(int(entry.name))
    return out


def test_pseudonyms_hashed_in_worker_processes_equal_those_hashed_here(net, monkeypatch):
    here = net.contribute("shelter-north", "service_episode", mode="record", max_withheld_share=0.9, dry_run=False)
    monkeypatch.setattr(keyed_hashes, "WORKER_MIN_MESSAGES", 1)
    monkeypatch.setattr(run, "PART_ROWS", 50)  # parts taken while the workers are still answering
    started = []
    monkeypatch.setattr(keyed_hashes.KeyedHashJob, "_start_worker", _recording(keyed_hashes.KeyedHashJob._start_worker, started))
    beside = net.contribute("shelter-north", "service_episode", mode="record", max_withheld_share=0.9)
    assert len(started) == 2, "episode and client pseudonyms each went to a worker process"
    a, b = net.open("shelter-north", here).table, net.open("shelter-north", beside).table
    assert a.num_rows == b.num_rows > 0
    for column in ("episode_pseudonym", "client_pseudonym"):
        assert a.column(column).to_pylist() == b.column(column).to_pylist()
    assert _children() == set()


def test_a_refused_record_run_leaves_no_worker_process_behind(net, monkeypatch):
    monkeypatch.setattr(keyed_hashes, "WORKER_MIN_MESSAGES", 1)
    started = []
    monkeypatch.setattr(keyed_hashes.KeyedHashJob, "_start_worker", _recording(keyed_hashes.KeyedHashJob._start_worker, started))
    r = net.contribute("shelter-north", "service_episode", mode="record")
    assert r.refusal["reason"] == "K_ANONYMITY_NOT_MET"
    assert len(started) == 2, "the hashing had started before k-anonymity refused the run"
    assert _children() == set()


def _recording(method, calls: list):
    def wrapper(self):
        calls.append(self)
        return method(self)

    return wrapper


def test_a_hashing_worker_that_dies_refuses_the_run_and_holds_every_record_back(net, monkeypatch, tmp_path):
    dying = tmp_path / "dying_worker.py"
    dying.write_text("import sys\nsys.exit(3)\n", encoding="utf-8")
    monkeypatch.setattr(keyed_hashes, "WORKER_MIN_MESSAGES", 1)
    monkeypatch.setattr(keyed_hashes, "_WORKER", dying)
    agency = net.agency("shelter-north")
    before = agency.sequence_path.read_text() if agency.sequence_path.exists() else None
    r = net.contribute("shelter-north", "service_episode", mode="record", max_withheld_share=0.9)
    assert r.status == "refused" and r.refusal["reason"] == "KEYED_HASH_FAILED"
    assert r.sent == 0 and r.held_back == r.records_read - r.rejected - r.excluded_consent - r.withheld_k > 0
    assert r.bundle_id is None and not list((agency.folder / "outbox").glob("*.dvb"))
    assert (agency.sequence_path.read_text() if agency.sequence_path.exists() else None) == before
    last = json.loads(agency.audit_log.read_text(encoding="utf-8").splitlines()[-1])
    assert (last["outcome"], last["reason"]) == ("refused", "KEYED_HASH_FAILED")
    assert _children() == set()


def test_ids_consent_and_non_consenting_rows_leave_once_hashing_and_consent_have_them(net, monkeypatch):
    """Record mode: each block's rows reach the de-identification only once consent is settled
    and their keys are hashing: only the consenting ones, holding only what the de-identification
    reads (no client or episode id, no consent field; age bands and regions instead of birth dates
    and postal codes), and the disclosure check sees class counts, never rows."""
    seen, counted = [], []
    real_deidentify, real_check = run.deidentify, run._withhold_small_classes
    monkeypatch.setattr(run, "deidentify", lambda frame, *a, **kw: seen.append((list(frame.columns), len(frame))) or real_deidentify(frame, *a, **kw))
    monkeypatch.setattr(run, "_withhold_small_classes", lambda r, classes: counted.append(int(classes.sizes.sum())) or real_check(r, classes))
    r = net.contribute("shelter-north", "service_episode", mode="record", k=2, max_withheld_share=1.0, limits=ReadLimits(block_records=7))
    assert r.status == "sealed" and r.sent > 0 and r.excluded_consent > 0 and r.withheld_k > 0
    contract = get_contract("service_episode")
    consenting = r.records_read - r.rejected - r.excluded_consent
    assert len(seen) > 3 and sum(n for _, n in seen) == consenting and counted == [consenting]
    for columns, _ in seen:
        assert set(columns) <= set(read_after_validation(contract, records=False, generalised=True))
        assert not {"client_id", "episode_id", "consent_to_share", "consent_expiry", "postal_code", "date_of_birth"} & set(columns)
        assert {"age_band", "region"} <= set(columns)  # made a block at a time
