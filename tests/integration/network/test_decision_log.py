"""Decision logs: a steward records their agency's decisions (signed, audited, kept in the agency's
and the coordinator's folders), never another agency's; `decision list --due` shows what is due."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from dvnet.common import audit, decisions
from dvnet.common import network as store
from dvnet.common.authority import authorise
from dvnet.common.people import init_person, read_person_file
from dvnet.contracts.errors import RegistryError
from dvnet.pipelines.ceremony import FOUNDER
from dvnet.pipelines.cli import EXIT_OK, EXIT_USAGE, main

STEWARD = "sam-steward"


@pytest.fixture
def with_steward(network_dir):
    """``network_dir`` with a steward of shelter-north (key under ``people/``)."""
    folder = init_person(network_dir / "people" / STEWARD, STEWARD, "Sam (fictional)", "shelter-north")
    founder = authorise(network_dir, FOUNDER[0], network_dir / "people" / FOUNDER[0] / "signing.key", "network.add-person")
    store.add_person(network_dir, read_person_file(folder.public_file), ["steward"], founder)
    return network_dir


def _run(capsys, argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv], {})
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    return code, out.out, out.err


def _add(root, org, subject="Danger Assessment risk tool", review="2027-06-30", decided_on="2026-06-01", person=STEWARD, change="adopted") -> list:
    return ["decision", "add", "--network", root, "--org", org, "--change", change, "--kind", "tool", "--subject", subject, "--decided-by", "Board of directors",
            "--why", "validated for our client group", "--review-date", review, "--decided-on", decided_on,
            "--as", person, "--key", root / "people" / person / "signing.key"]  # fmt: skip


def test_a_steward_records_their_agencys_decision_signed_and_kept_in_both_folders(with_steward, capsys):
    code, out, err = _run(capsys, _add(with_steward, "shelter-north"))
    assert code == EXIT_OK, err
    assert "recorded shelter-north-001" in out and STEWARD in out
    network_copy = store.NetworkPaths(with_steward).coordinator / "decisions" / "shelter-north" / "shelter-north-001.yaml"
    agency_copy = with_steward / "agencies" / "shelter-north" / "decisions" / "shelter-north-001.yaml"
    assert network_copy.read_bytes() == agency_copy.read_bytes()
    assert {oct(os.stat(p).st_mode & 0o777) for p in (network_copy, agency_copy)} == {"0o600"}
    (d,) = decisions.load(with_steward)
    assert (d.org, d.change, d.subject, d.signed_by) == ("shelter-north", "adopted", "Danger Assessment risk tool", STEWARD)
    grant, added = audit.read(store.NetworkPaths(with_steward).audit_log)[-2:]
    assert (grant["action"], grant["outcome"], grant["objects"]) == ("decision.add", "granted", {"agency": "shelter-north"})
    assert (added["action"], added["actor"], added["objects"]["decision"]) == ("decision_added", STEWARD, "shelter-north-001") and added["sig"]
    assert "Danger" not in str(grant) + str(added), "the log holds ids, never the decision's text"


def test_a_steward_may_not_record_another_agencys_decision(with_steward, capsys):
    code, _, err = _run(capsys, _add(with_steward, "valley-health"))
    assert code == EXIT_USAGE and "ROLE_NOT_ALLOWED" in err
    entry = audit.read(store.NetworkPaths(with_steward).audit_log)[-1]
    assert (entry["actor"], entry["outcome"], entry["objects"]) == (STEWARD, "refused", {"agency": "valley-health"})
    assert decisions.load(with_steward) == []


def test_the_coordinator_records_the_coalitions_decisions(with_steward, capsys):
    code, out, err = _run(capsys, _add(with_steward, "coordinator", subject="Shared outcomes framework v2", person=FOUNDER[0]))
    assert code == EXIT_OK, err
    assert decisions.load(with_steward, "coordinator")[0].signed_by == FOUNDER[0]


def test_coalition_staff_never_sign_an_agencys_decision(with_steward, capsys):
    """Each organisation records its own decisions: a decision of shelter-north signed by the
    coordinator would put words in the agency's log. Refused and audited as refused."""
    code, _, err = _run(capsys, _add(with_steward, "shelter-north", person=FOUNDER[0]))
    assert code == EXIT_USAGE and "ROLE_NOT_ALLOWED" in err and "shelter-north" in err
    assert decisions.load(with_steward) == []
    last = audit.read(store.NetworkPaths(with_steward).audit_log)[-1]
    assert (last["action"], last["outcome"], last["reason"], last["actor"]) == ("decision.add", "refused", "ROLE_NOT_ALLOWED", FOUNDER[0])


def test_the_steward_of_a_suspended_agency_records_nothing(with_steward, capsys):
    founder = authorise(with_steward, FOUNDER[0], with_steward / "people" / FOUNDER[0] / "signing.key", "network.suspend")
    store.set_status(with_steward, "shelter-north", "suspended", founder)
    code, _, err = _run(capsys, _add(with_steward, "shelter-north"))
    assert code == EXIT_USAGE and "AGENCY_SUSPENDED" in err
    assert decisions.load(with_steward) == []


def test_list_due_shows_current_decisions_whose_review_date_has_come(with_steward, capsys):
    _run(capsys, _add(with_steward, "shelter-north", subject="Risk tool A", review="2026-09-30"))
    _run(capsys, _add(with_steward, "shelter-north", subject="Census data feed", review="2027-03-31"))
    _run(capsys, _add(with_steward, "shelter-north", subject="Risk tool A", review="2026-10-31", decided_on="2026-07-01", change="stopped"))
    code, out, _ = _run(capsys, ["decision", "list", "--network", with_steward, "--due", "--on", "2026-11-01"])
    assert code == EXIT_OK
    assert "shelter-north-003" in out and "shelter-north-001" not in out and "Census" not in out
    code, out, _ = _run(capsys, ["decision", "list", "--network", with_steward])
    assert "superseded" in out and out.count("shelter-north-00") == 3
    code, out, _ = _run(capsys, ["decision", "list", "--network", with_steward, "--due", "--on", "2026-08-01"])
    assert code == EXIT_OK and "no decisions due" in out


@pytest.mark.parametrize(
    ("argv_change", "reason"),
    [
        ({"review": "2026-05-01"}, "DECISION_INVALID"),  # review before the decision
        ({"review": "next year"}, "DECISION_INVALID"),
        ({"subject": "line one\nline two"}, "DECISION_INVALID"),
        ({"org": "coordinator"}, "ROLE_NOT_ALLOWED"),  # a steward does not decide for the coalition
    ],
)
def test_a_bad_decision_is_refused_with_its_reason(with_steward, capsys, argv_change, reason):
    org = argv_change.pop("org", "shelter-north")
    code, _, err = _run(capsys, _add(with_steward, org, **argv_change))
    assert code == EXIT_USAGE and reason in err
    assert decisions.load(with_steward) == []


def test_an_unknown_organisation_is_refused(with_steward, capsys):
    code, _, err = _run(capsys, _add(with_steward, "no-such-org", person=FOUNDER[0]))
    assert code == EXIT_USAGE and "AGENCY_UNKNOWN" in err


def test_an_edited_decision_is_noticed(with_steward, capsys):
    _run(capsys, _add(with_steward, "shelter-north"))
    path = store.NetworkPaths(with_steward).coordinator / "decisions" / "shelter-north" / "shelter-north-001.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["review_date"] = "2099-01-01"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(RegistryError) as exc:
        decisions.load(with_steward)
    assert exc.value.reason == "RECORD_TAMPERED"
    code, _, err = _run(capsys, ["decision", "list", "--network", with_steward])
    assert code == EXIT_USAGE and "RECORD_TAMPERED" in err


def test_the_directory_cites_each_agencys_current_decisions_only(with_steward, capsys, tmp_path):
    _run(capsys, _add(with_steward, "shelter-north", subject="Risk tool A"))
    _run(capsys, _add(with_steward, "shelter-north", subject="Risk tool A", change="stopped", decided_on="2026-07-01"))
    _run(capsys, _add(with_steward, "shelter-north", subject="Census data feed"))
    code, _, _ = _run(capsys, ["directory", "--network", with_steward, "--out", tmp_path / "d"])
    assert code == EXIT_OK
    (entry,) = [e for e in json.loads((tmp_path / "d" / "directory.json").read_text())["organisations"] if e["name"] == "Northern Lights Shelter"]
    assert entry["decisions"] == "stopped Risk tool A (tool, 2026-07-01); adopted Census data feed (tool, 2026-06-01)"
    page = (tmp_path / "d" / "directory.html").read_text()
    assert "Census data feed" in page and "Board of directors" not in page and STEWARD not in page


def test_a_date_that_is_not_a_date_is_refused_as_usage(with_steward, capsys):
    code, _, err = _run(capsys, ["decision", "list", "--network", with_steward, "--due", "--on", "next tuesday"])
    assert code == 2 and "USAGE_DATE_INVALID" in err
