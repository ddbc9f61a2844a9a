"""Release review (issue 15): `dvnet publish` makes a request nobody outside the coordinator sees;
two reviewers other than its author approve the request as it is (its content hash); a change,
a rejection, the author's own approval or a later release of its periods stops publication;
a withdrawn release says so and still counts for every later disclosure audit."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import stat

import duckdb
import pytest

from fixtures_central import add_reviewers, publish_reviewed

from dvnet.assets.releases.lib import review
from dvnet.bundle import keys
from dvnet.assets.releases.lib.release import build_request
from dvnet.common import audit
from dvnet.common import network as store
from dvnet.common.authority import authorise
from dvnet.common.people import PersonFolder, init_person, read_person_file
from dvnet.contracts.errors import DvnetError
from dvnet.pipelines.ceremony import FOUNDER
from dvnet.pipelines.cli import main

PERIOD = "2026-Q3"
REQUESTED_AT = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
RID = "req"


@pytest.fixture(scope="module")
def request_template(loaded_network_template, tmp_path_factory):
    """A network holding one request ``req`` by the founding coordinator, and two reviewers."""
    root = tmp_path_factory.mktemp("review") / "net"
    shutil.copytree(loaded_network_template, root)
    add_reviewers(root)
    build_request(root, "dv-default", [PERIOD], FOUNDER[0], release_id=RID, now=REQUESTED_AT)
    return root


@pytest.fixture
def net(request_template, tmp_path):
    root = tmp_path / "net"
    shutil.copytree(request_template, root)
    return root


def _decide(root, person_id: str, verdict: str = review.APPROVE, comment: str = "checked"):
    actor = authorise(root, person_id, root / "people" / person_id / "signing.key", f"review.{verdict}")
    return review.decide(root, RID, actor, verdict, comment)


def _refused(root) -> str:
    with pytest.raises(DvnetError) as caught:
        review.publish_request(root, RID)
    assert not (store.NetworkPaths(root).releases / RID).exists()
    return caught.value.reason


def test_a_request_is_owner_only_unserved_unrecorded_and_carries_its_disclosure_record(net):
    paths = store.NetworkPaths(net)
    folder = review.request_folder(paths, RID)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    record = review.read_disclosure(folder)
    assert record["content_sha256"] == review.content_hash(folder) and record["author"] == FOUNDER[0]
    assert record["profile"]["name"] == "dv-default" and record["profile"]["threshold"] and record["audit"]["passed"]
    assert set(record["rules_applied"]) >= {"primary", "dominance", "complementary", "joint_audit"} and record["software"]["dvnet"]
    assert not paths.releases.exists() or not any(paths.releases.iterdir())
    assert main(["query", "--network", str(net), "SELECT 1"], {}) == 1  # NO_RELEASES
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'releases'").fetchone()[0] == 0 or \
            con.execute("SELECT count(*) FROM releases").fetchone()[0] == 0  # fmt: skip
    assert any(e["action"] == review.REQUESTED and e["objects"] == {"request": RID} for e in audit.read(paths.audit_log))


def test_one_approval_is_not_enough(net):
    _decide(net, "rev-one")
    assert _refused(net) == "REVIEW_INCOMPLETE"


def test_the_author_may_not_approve_and_a_forged_author_approval_blocks_publication(net):
    founder = read_person_file(PersonFolder(net / "people" / FOUNDER[0]).public_file)
    store.add_person(net, founder, ["reviewer"], authorise(net, FOUNDER[0], net / "people" / FOUNDER[0] / "signing.key", "network.add-person"))
    with pytest.raises(DvnetError) as caught:
        _decide(net, FOUNDER[0])
    assert caught.value.reason == "REVIEW_BY_AUTHOR"
    _decide(net, "rev-one"), _decide(net, "rev-two")
    # A decision record the author signed by other means (an old tool, a hand-made file): still refused.
    body = {"request_id": RID, "reviewer": FOUNDER[0], "verdict": review.APPROVE, "comment": "mine", "decided_at": REQUESTED_AT.isoformat(),
            "content_sha256": review.content_hash(review.request_folder(store.NetworkPaths(net), RID))}  # fmt: skip
    key = authorise(net, FOUNDER[0], net / "people" / FOUNDER[0] / "signing.key", "review.approve").key
    (review.request_folder(store.NetworkPaths(net), RID) / review.DECISIONS / "forged.json").write_text(
        json.dumps({**body, "sig": audit._sign(key, review.DECISION_LABEL, audit._canonical(body))}))
    assert _refused(net) == "REVIEW_BY_AUTHOR"


def _hand_made_approval(root, person_id: str) -> None:
    """An approval file signed with ``person_id``'s own key, written straight into the request."""
    folder = review.request_folder(store.NetworkPaths(root), RID)
    body = {"request_id": RID, "reviewer": person_id, "verdict": review.APPROVE, "comment": "fine", "decided_at": REQUESTED_AT.isoformat(),
            "content_sha256": review.content_hash(folder)}  # fmt: skip
    key = keys.load_signing_key(root / "people" / person_id / "signing.key")
    (folder / review.DECISIONS / f"by-{person_id}.json").write_text(json.dumps({**body, "sig": audit._sign(key, review.DECISION_LABEL, audit._canonical(body))}))


def test_only_a_reviewer_in_good_standing_approves(net):
    """A registered person without the reviewer role signing an approval file, or a reviewer
    suspended after approving: neither approval counts."""
    founder = authorise(net, FOUNDER[0], net / "people" / FOUNDER[0] / "signing.key", "network.add-person")
    evaluator = init_person(net / "people" / "eve-evaluator", "eve-evaluator", "Eve (fictional)", "somewhere")
    store.add_person(net, read_person_file(evaluator.public_file), ["evaluator"], founder)
    _decide(net, "rev-one")
    _hand_made_approval(net, "eve-evaluator")
    assert _refused(net) == "REVIEW_INCOMPLETE"
    _decide(net, "rev-two")
    store.set_status(net, "rev-two", "suspended", authorise(net, FOUNDER[0], net / "people" / FOUNDER[0] / "signing.key", "network.suspend"))
    assert _refused(net) == "REVIEW_INCOMPLETE"


@pytest.mark.parametrize("spoil", ["{not json", "[]", '{"reviewer": "nobody"}', "signature"])
def test_a_decision_file_that_is_not_a_signed_decision_stops_everything_about_the_request(net, capsys, spoil):
    """Skipped, a spoiled rejection would stop counting: the request is neither listed as decidable
    nor published until the file is gone, and the CLI says so in one line."""
    _decide(net, "rev-one"), _decide(net, "rev-two", verdict=review.REJECT, comment="a cell is too small")
    folder = review.request_folder(store.NetworkPaths(net), RID)
    (rejection,) = [f for f in (folder / review.DECISIONS).iterdir() if "rev-two" in f.name]
    if spoil == "signature":
        record = json.loads(rejection.read_text())
        rejection.write_text(json.dumps({**record, "verdict": review.APPROVE}))
    else:
        rejection.write_text(spoil)
    assert _refused(net) == "RECORD_TAMPERED"
    code = main(["review", "list", "--network", str(net), *_as(net, "rev-one")], {})
    err = capsys.readouterr().err
    assert code == 1 and "RECORD_TAMPERED" in err and "Traceback" not in err


@pytest.mark.parametrize("spoil", ["{bad", "[]", '{"author": "coord-ana"}'])
def test_a_disclosure_record_that_is_not_one_is_an_altered_request_in_one_line(net, capsys, spoil):
    _decide(net, "rev-one"), _decide(net, "rev-two")
    (review.request_folder(store.NetworkPaths(net), RID) / review.DISCLOSURE).write_text(spoil)
    assert _refused(net) == "REQUEST_ALTERED"
    for argv in (["review", "list", "--network", str(net)], ["review", "show", "--network", str(net), RID]):
        code = main([*argv, *_as(net, "rev-one")], {})
        err = capsys.readouterr().err
        assert code == 1 and "REQUEST_ALTERED" in err and "Traceback" not in err


def _publish_a_suppressed_cell(folder) -> str:
    """Edit the request's CSV of rates as the reviewer's finding did: a cell the audit suppressed now
    carries a value. Returns the file's path in the request."""
    csv = folder / "csv" / "referral_acceptance_rate.csv"
    lines = csv.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.endswith(",,suppressed"))
    lines[at] = lines[at].replace(",,suppressed", ",0.5,published")
    csv.write_text("\n".join(lines) + "\n")
    return "csv/referral_acceptance_rate.csv"


def _as(root, person_id: str) -> list[str]:
    return ["--as", person_id, "--key", str(root / "people" / person_id / "signing.key")]


def test_a_request_altered_after_its_audit_is_never_approved_or_published(net, capsys):
    paths = store.NetworkPaths(net)
    folder = review.request_folder(paths, RID)
    _decide(net, "rev-one")
    original = (folder / "csv" / "referral_acceptance_rate.csv").read_bytes()
    edited = _publish_a_suppressed_cell(folder)
    decisions = sorted((folder / review.DECISIONS).iterdir())
    for person_id in ("rev-one", "rev-two"):  # approving the content as it is now: refused, nothing recorded
        with pytest.raises(DvnetError) as caught:
            _decide(net, person_id)
        assert caught.value.reason == "REQUEST_ALTERED" and caught.value.context["files"] == [edited]
    assert sorted((folder / review.DECISIONS).iterdir()) == decisions
    assert _refused(net) == "REQUEST_ALTERED"
    code = main(["release", "publish", "--network", str(net), RID, *_as(net, FOUNDER[0])], {})
    err = capsys.readouterr().err
    assert code == 1 and "REQUEST_ALTERED" in err and edited in err and "decide again" not in err, err
    assert main(["review", "show", "--network", str(net), RID, *_as(net, "rev-one")], {}) == 0
    shown = capsys.readouterr().out
    assert "audit PASSED" not in shown and "ALTERED" in shown and edited in shown, shown
    assert main(["review", "list", "--network", str(net), "--waiting", "--ids", *_as(net, "rev-one")], {}) == 0
    assert RID not in capsys.readouterr().out  # nothing to wait for: it can never be approved

    # The disclosure record rewritten to match the edit: the audit log still holds the audited hash.
    record = review.read_disclosure(folder)
    files = review.file_hashes(folder, review.RELEASE_FILES)
    (folder / review.DISCLOSURE).write_text(json.dumps({**record, "files": files, "content_sha256": review.combined_hash(files)}))
    assert review.review_state(net, RID).altered == (review.DISCLOSURE,)
    assert _refused(net) == "REQUEST_ALTERED"

    # Put back as audited, record and all: the approval of the audited content counts again.
    (folder / review.DISCLOSURE).write_text(json.dumps(record))
    (folder / edited).write_bytes(original)
    _decide(net, "rev-two")
    published = review.publish_request(net, RID)
    assert (published / edited).read_bytes() == original


def test_decisions_bound_to_other_content_do_not_count_and_do_not_invite_approving_it(net):
    # A decision record signed for content other than the audited one (an older tool's approval of
    # an edited request): it does not count, and the hint does not ask to approve "as it is now".
    body = {"request_id": RID, "reviewer": "rev-one", "verdict": review.APPROVE, "comment": "x", "decided_at": REQUESTED_AT.isoformat(),
            "content_sha256": "0" * 64}  # fmt: skip
    key = authorise(net, "rev-one", net / "people" / "rev-one" / "signing.key", "review.approve").key
    folder = review.request_folder(store.NetworkPaths(net), RID)
    (folder / review.DECISIONS).mkdir(exist_ok=True)
    (folder / review.DECISIONS / "old.json").write_text(json.dumps({**body, "sig": audit._sign(key, review.DECISION_LABEL, audit._canonical(body))}))
    _decide(net, "rev-two")
    with pytest.raises(DvnetError) as caught:
        review.publish_request(net, RID)
    assert caught.value.reason == "REVIEW_STALE" and "as it is now" not in (caught.value.hint or "")


def test_a_rejected_request_cannot_be_approved_and_nothing_is_recorded(net, capsys):
    assert main(["review", "reject", "--network", str(net), RID, "--comment", "a small cell", *_as(net, "rev-one")], {}) == 0
    out = capsys.readouterr().out
    assert f"rejected {RID} as rev-one" in out and "rejectd" not in out, out
    folder = review.request_folder(store.NetworkPaths(net), RID)
    decisions, entries = sorted((folder / review.DECISIONS).iterdir()), len(audit.read(store.NetworkPaths(net).audit_log))
    code = main(["review", "approve", "--network", str(net), RID, "--comment", "fine by me", *_as(net, "rev-two")], {})
    assert code == 1 and "REQUEST_REJECTED" in capsys.readouterr().err
    assert sorted((folder / review.DECISIONS).iterdir()) == decisions
    assert sum(e["action"] == review.DECIDED for e in audit.read(store.NetworkPaths(net).audit_log)[entries:]) == 0


def test_a_published_folder_is_anchored_in_the_audit_log_by_its_manifest_hash(net, capsys):
    _decide(net, "rev-one"), _decide(net, "rev-two")
    published_at = REQUESTED_AT + dt.timedelta(hours=3)
    folder = review.publish_request(net, RID, now=published_at)
    manifest = json.loads((folder / "manifest.json").read_text())
    # Every file but the manifest is listed with its hash; the data files are the audited bytes.
    assert manifest["files"] == review.file_hashes(folder, tuple(n for n in review.RELEASE_FILES if n != "manifest.json"))
    audited = review.read_disclosure(review.request_folder(store.NetworkPaths(net), RID))["files"]
    assert all(audited[name] == sha for name, sha in manifest["files"].items() if name != review.REPORT)
    log = store.NetworkPaths(net).audit_log
    (line,) = [e for e in audit.read(log) if e["action"] == "release_published" and e["objects"] == {"release": RID}]
    assert line["details"]["manifest_sha256"] == hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    (requested,) = [e for e in audit.read(log) if e["action"] == review.REQUESTED and e["objects"] == {"request": RID}]
    assert requested["details"]["content_sha256"] == manifest["review"]["content_sha256"]
    # The report says when it was published (and requested), as the manifest does.
    html = (folder / review.REPORT).read_text()
    assert f"<tr><th>published at</th><td>{published_at.isoformat()}</td></tr>" in html
    assert f"<tr><th>requested at</th><td>{REQUESTED_AT.isoformat()}</td></tr>" in html
    # Withdrawn: its list status says so, and the withdrawal's line anchors the rewritten manifest.
    assert main(["release", "withdraw", "--network", str(net), RID, "--reason", "x", *_as(net, FOUNDER[0])], {}) == 0
    (withdrawn,) = [e for e in audit.read(log) if e["action"] == review.WITHDRAWN]
    assert withdrawn["details"]["manifest_sha256"] == hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    capsys.readouterr()
    assert main(["review", "list", "--network", str(net), *_as(net, "rev-one")], {}) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if f" {RID} " in line]
    assert len(rows) == 1 and "withdrawn" in rows[0] and "published" not in rows[0], rows
    # The auditor's check: intact, then an edited file and a manifest rewritten to match it both show,
    # by `dvnet release verify` and by `dvnet audit verify` of the coordinator's log alike.
    assert main(["release", "verify", "--network", str(net)], {}) == 0
    assert main(["audit", "verify", str(log)], {}) == 0
    assert "release folders intact" in capsys.readouterr().out
    _publish_a_suppressed_cell(folder)
    for command in (["release", "verify", "--network", str(net)], ["audit", "verify", str(log)]):
        assert main(command, {}) == 1
        out = " ".join(capsys.readouterr().out.split())
        assert f"RELEASE_ALTERED: release {RID}: 1 file(s)" in out and "csv/referral_acceptance_rate.csv" in out, out
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"] = review.file_hashes(folder, tuple(manifest["files"]))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert main(["release", "verify", "--network", str(net)], {}) == 1
    assert "manifest.json" in capsys.readouterr().out


def test_a_rejection_blocks_publication_whatever_the_approvals(net):
    _decide(net, "rev-one"), _decide(net, "rev-two")
    _decide(net, "rev-one", review.REJECT, "a small cell in the equity table")
    assert _refused(net) == "REQUEST_REJECTED"


def test_a_request_older_than_a_published_release_of_its_periods_is_stale(net):
    publish_reviewed(net, "dv-default", [PERIOD], release_id="other", now=REQUESTED_AT + dt.timedelta(hours=1))
    _decide(net, "rev-one"), _decide(net, "rev-two")
    assert _refused(net) == "REQUEST_STALE"


def test_a_withdrawn_release_says_so_and_still_counts_for_later_audits(net, capsys):
    _decide(net, "rev-one"), _decide(net, "rev-two")
    review.publish_request(net, RID, now=REQUESTED_AT + dt.timedelta(hours=1))
    founder = net / "people" / FOUNDER[0] / "signing.key"
    assert main(["release", "withdraw", "--network", str(net), RID, "--reason", "a coding error in one agency", "--as", FOUNDER[0], "--key", str(founder)], {}) == 0
    manifest = json.loads((store.NetworkPaths(net).releases / RID / "manifest.json").read_text())
    assert manifest["withdrawn"]["reason"] == "a coding error in one agency"
    capsys.readouterr()
    assert main(["query", "--network", str(net), "SELECT 1"], {}) == 0
    assert f"RELEASE_WITHDRAWN: release {RID} was withdrawn" in capsys.readouterr().err
    actor = authorise(net, FOUNDER[0], founder, "release.withdraw")
    for rid, reason, code in ((RID, "again", "RELEASE_WITHDRAWN"), (RID, " ", "USAGE_REASON_MISSING"), ("nope", "x", "RELEASE_UNKNOWN")):
        with pytest.raises(DvnetError) as caught:
            review.withdraw(net, rid, actor, reason)
        assert caught.value.reason == code
    later = build_request(net, "dv-default", [PERIOD], FOUNDER[0], release_id="later", now=REQUESTED_AT + dt.timedelta(hours=2))
    assert later.manifest["audit"]["earlier_cells"] > 0  # the withdrawn release's cells are in its audit


def test_unknown_requests_and_empty_comments_are_refused(net):
    with pytest.raises(DvnetError) as caught:
        review.review_state(net, "nope")
    assert caught.value.reason == "REQUEST_UNKNOWN"
    with pytest.raises(DvnetError) as caught:
        _decide(net, "rev-one", comment="  ")
    assert caught.value.reason == "USAGE_COMMENT_MISSING"


def test_a_published_request_is_neither_reviewed_nor_published_again(net, capsys):
    _decide(net, "rev-one"), _decide(net, "rev-two")
    review.publish_request(net, RID, now=REQUESTED_AT + dt.timedelta(hours=1))
    log = store.NetworkPaths(net).audit_log
    entries = len(audit.read(log))
    code = main(["review", "approve", "--network", str(net), RID, "--comment", "again", *_as(net, "rev-one")], {})
    assert code == 1 and "REQUEST_PUBLISHED" in capsys.readouterr().err
    with pytest.raises(DvnetError) as caught:
        review.publish_request(net, RID)
    assert caught.value.reason == "REQUEST_PUBLISHED"
    later = audit.read(log)[entries:]  # the refusals are audited as such; no decision and no publication recorded
    assert not [e for e in later if e["action"] in (review.DECIDED, "release_published") and e.get("outcome") != "refused"], later


def test_a_report_without_its_pending_publication_row_is_not_stamped(tmp_path):
    """Publication writes its time into the one pending row of the request's report; a report
    without it (made before the row existed, or by hand) is refused, and left as it was."""
    from dvnet.assets.releases.lib.files import PUBLICATION_PENDING, PUBLISHED_AT_ROW, stamp_publication

    report = tmp_path / "report.html"
    report.write_text("<table><tr><th>published at</th><td>2026-11-02T09:00:00+00:00</td></tr></table>", encoding="utf-8")
    before = report.read_bytes()
    with pytest.raises(DvnetError) as caught:
        stamp_publication(report, "2026-11-02T12:00:00+00:00")
    assert caught.value.reason == "REQUEST_OUTDATED" and report.read_bytes() == before
    report.write_text(f"<table>{PUBLISHED_AT_ROW.format(PUBLICATION_PENDING)}</table>", encoding="utf-8")
    stamp_publication(report, "2026-11-02T12:00:00+00:00")
    assert report.read_text(encoding="utf-8") == f"<table>{PUBLISHED_AT_ROW.format('2026-11-02T12:00:00+00:00')}</table>"
