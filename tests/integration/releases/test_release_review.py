"""Release review (issue 15): `dvnet publish` makes a request nobody outside the coordinator sees;
two reviewers other than its author approve the request as it is (its content hash); a change,
a rejection, the author's own approval or a later release of its periods stops publication;
a withdrawn release says so and still counts for every later disclosure audit."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import stat

import duckdb
import pytest

from fixtures_central import add_reviewers, publish_reviewed

from dvnet.assets.releases.lib import review
from dvnet.assets.releases.lib.release import build_request
from dvnet.common import audit
from dvnet.common import network as store
from dvnet.common.authority import authorise
from dvnet.common.people import PersonFolder, read_person_file
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


def test_a_change_to_the_request_voids_its_approvals_until_reviewers_decide_again(net):
    _decide(net, "rev-one"), _decide(net, "rev-two")
    report = review.request_folder(store.NetworkPaths(net), RID) / "report.html"
    report.write_bytes(report.read_bytes() + b"<!-- changed -->")
    assert _refused(net) == "REVIEW_STALE"
    _decide(net, "rev-one"), _decide(net, "rev-two")
    folder = review.publish_request(net, RID)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["review"]["approvals"] == 2 and manifest["requested_at"] == REQUESTED_AT.isoformat()
    assert main(["query", "--network", str(net), "--release", RID, "SELECT 1"], {}) == 0
    with pytest.raises(DvnetError) as caught:
        _decide(net, "rev-one")
    assert caught.value.reason == "REQUEST_PUBLISHED"
    with pytest.raises(DvnetError) as caught:
        review.publish_request(net, RID)
    assert caught.value.reason == "REQUEST_PUBLISHED"


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
