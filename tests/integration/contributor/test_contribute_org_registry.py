"""Organisation-code fields (receiving_org, referring_org) hold a registered organisation's id, at
the contributor as at the coordinator: free text with an id's form (a client's first name, say)
is rejected row by row before anything leaves (ORG_NOT_REGISTERED), and never echoed. The ids
come from the coordinator's public file the agency pinned last; one registered since is known
once the agency pins the rewritten file (same keys)."""

from __future__ import annotations

import csv
import json

from dvnet.common import network as store
from dvnet.common.agency import init_agency, pin_coordinator, read_registration
from dvnet.common.people import PersonFolder
from dvnet.pipelines.ceremony import FOUNDER, Ceremony
from dvnet.contracts.conformance.content import ORG_NOT_REGISTERED

AGENCY = "shelter-north"
MARKER = "zelda-marker-7f3"  # has an id's form: only the registry can tell it is not one


def _with_receivers(net, tmp_path, receivers: dict[int, str]):
    """The agency's referral extract with ``receiving_org`` of the given data records replaced."""
    with net.extract(AGENCY, "referral").open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    column = rows[0].index("receiving_org")
    for record, value in receivers.items():
        rows[record][column] = value
    path = tmp_path / "referral.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def _rejected_as_unregistered(result) -> list:
    return [i for i in result.issues if i.reason == ORG_NOT_REGISTERED]


def test_an_id_the_network_does_not_have_is_rejected_before_it_leaves(net, tmp_path):
    extract = _with_receivers(net, tmp_path, {2: MARKER, 5: MARKER})
    refused = net.contribute(AGENCY, "referral", extract, mode="record")  # the default: no rejected record goes unnoticed
    assert refused.status == "refused" and refused.refusal["reason"] == "REJECTED_ROWS_OVER_LIMIT"
    assert [i.column for i in _rejected_as_unregistered(refused)] == ["receiving_org"]
    result = net.contribute(AGENCY, "referral", extract, mode="record", max_reject_share=0.05, max_withheld_share=0.9)
    assert result.status == "sealed", result.refusal
    (issue,) = _rejected_as_unregistered(result)
    assert (issue.column, issue.rule, issue.rows, issue.first_rows) == ("receiving_org", "registered_organisation", 2, [2, 5])
    assert result.rejected_by_reason.get(ORG_NOT_REGISTERED) == 2
    opened = net.open(AGENCY, result)
    assert MARKER not in set(opened.table.column("receiving_org").to_pylist())
    assert MARKER.encode() not in opened.data
    report = json.dumps(result.to_dict(), default=str)
    assert MARKER not in report


def test_aggregate_mode_counts_no_unregistered_id(net, tmp_path):
    extract = _with_receivers(net, tmp_path, {3: MARKER})
    result = net.contribute(AGENCY, "referral", extract, mode="aggregate", max_reject_share=0.05)
    assert result.status == "sealed" and result.rejected_by_reason.get(ORG_NOT_REGISTERED) == 1
    assert MARKER.encode() not in net.open(AGENCY, result).data


def test_an_organisation_registered_since_is_known_once_the_agency_pins_the_new_public_file(net, tmp_path):
    root = net.root
    paths = store.NetworkPaths(root)
    newcomer = init_agency(tmp_path / "newcomer", agency_id="new-harbour", name="New Harbour House", type="direct_service", tier=2,
                           region=store.load_network(root).geography.region_ids[0])  # fmt: skip
    coordinator = Ceremony(root, FOUNDER[0], {FOUNDER[0]: PersonFolder(root / "people" / FOUNDER[0])})
    # Registered the way `dvnet network register-agency` does: the other agencies are not told yet.
    store.register_agency(root, read_registration(newcomer.registration_path), coordinator.as_person(FOUNDER[0], "network.register-agency"))
    extract = _with_receivers(net, tmp_path, {4: "new-harbour"})

    before = net.contribute(AGENCY, "referral", extract, mode="record", max_reject_share=0.05, max_withheld_share=0.9)
    assert [i.rows for i in _rejected_as_unregistered(before)] == [1]  # not in the file it pinned
    pin_coordinator(paths.agencies / AGENCY, paths.coordinator_public)  # the rewritten file: same keys
    after = net.contribute(AGENCY, "referral", extract, mode="record", max_reject_share=0.05, max_withheld_share=0.9)
    assert _rejected_as_unregistered(after) == [] and after.sent == before.sent + 1
