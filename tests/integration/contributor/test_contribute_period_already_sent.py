"""The contributor refuses, before sealing, a contract × quarter its own records show it already
sent (USAGE_PERIOD_ALREADY_SENT, exit 2, nothing sealed, no sequence number used), and says how to
correct instead (--supersedes <id>) or to send again on purpose (--resend) a bundle never loaded."""

from __future__ import annotations

import datetime as dt

from contribution_constants import PERIOD

from dvnet import bundle
from dvnet.common import audit
from dvnet.pipelines.cli import EXIT_OK, EXIT_USAGE, main
from dvnet.pipelines.contributor import sequence

AGENCY = "shelter-north"


def _contribute(net, capsys, *extra: str) -> tuple[int, str]:
    agency = net.agency(AGENCY)
    argv = ["contribute", "--agency", str(agency.folder), "--contract", "service_episode", "--extract",
            str(net.extract(AGENCY, "service_episode")), "--period", PERIOD, "--mode", "aggregate", *extra]  # fmt: skip
    code = main(argv, {})
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.err


def _sealed(net) -> list[str]:
    agency = net.agency(AGENCY)
    return [e["objects"]["bundle"] for e in audit.read(agency.audit_log) if e["action"] == "contribution" and e["outcome"] == "sealed"]


def _receipt(net, bundle_id: str, outcome: str) -> None:
    """A genuine receipt from the coordinator for ``bundle_id``, kept in the agency's receipts/."""
    agency = net.agency(AGENCY)
    key = bundle.load_signing_key(net.root / "coordinator" / "keys" / "signing.key")
    blob = bundle.make_receipt(bundle_sha256="ab" * 32, bundle_id=bundle_id, agency_id=AGENCY, sequence=1, outcome=outcome,
                               reason="CONTRACT_VIOLATION" if outcome == "quarantined" else None, rows_loaded=0 if outcome == "quarantined" else 5,
                               received_at=dt.datetime.now(dt.UTC).replace(microsecond=0), signing_key=key, audit_head={"entries": 1, "sha256": "0" * 64})  # fmt: skip
    folder = agency.folder / "receipts"
    folder.mkdir(mode=0o700, exist_ok=True)
    (folder / f"{bundle_id}.{'ab' * 8}.receipt.json").write_bytes(blob)


def _send(net, capsys) -> None:
    """The agency's outbox delivered to the coordinator's inbox (a shared-folder drop)."""
    agency, coordinator = net.agency(AGENCY), net.root / "coordinator"
    if not agency.drop:
        assert main(["drop", "set", "--agency", str(agency.folder), "--inbox", str(coordinator / "inbox"), "--receipts", str(coordinator / "receipts" / AGENCY)]) == EXIT_OK
    assert main(["send", "--agency", str(agency.folder)]) == EXIT_OK
    capsys.readouterr()


def test_a_period_already_sent_is_refused_before_sealing_and_a_correction_is_not(net, capsys):
    assert _contribute(net, capsys)[0] == EXIT_OK
    (first,) = _sealed(net)
    seq = sequence.current(net.agency(AGENCY).sequence_path)
    code, err = _contribute(net, capsys)  # still in the outbox: the way on is to send it
    assert code == EXIT_USAGE and err.startswith("error: USAGE_PERIOD_IN_OUTBOX: ") and first in err and "dvnet send" in err, err
    _send(net, capsys)
    code, err = _contribute(net, capsys)
    assert code == EXIT_USAGE and err.startswith("error: USAGE_PERIOD_ALREADY_SENT: "), err
    assert f"--supersedes {first}" in err and "--resend" in err
    assert sequence.current(net.agency(AGENCY).sequence_path) == seq and _sealed(net) == [first]  # nothing sealed
    assert _contribute(net, capsys, "--supersedes", first)[0] == EXIT_OK
    correction = _sealed(net)[-1]
    _send(net, capsys)
    code, err = _contribute(net, capsys)  # the correction is now what counts: it is the one to name
    assert code == EXIT_USAGE and f"--supersedes {correction}" in err
    agency = net.agency(AGENCY)  # a dry run seals nothing: not refused, but it says what the real run would meet
    code = main(["contribute", "--agency", str(agency.folder), "--contract", "service_episode", "--extract",
                 str(net.extract(AGENCY, "service_episode")), "--period", PERIOD, "--mode", "aggregate", "--dry-run"], {})
    out = " ".join(capsys.readouterr().out.split())
    assert code == EXIT_OK and f"the real run would be refused: USAGE_PERIOD_ALREADY_SENT: service_episode for {PERIOD} was already sealed in bundle {correction}" in out
    html = max((agency.folder / "reports").glob("*.html"), key=lambda p: p.stat().st_mtime).read_text(encoding="utf-8")
    assert "the real run would be refused: USAGE_PERIOD_ALREADY_SENT" in html


def test_resend_goes_through_unless_a_receipt_shows_the_first_loaded(net, capsys):
    assert _contribute(net, capsys)[0] == EXIT_OK
    (first,) = _sealed(net)
    assert _contribute(net, capsys, "--resend")[0] == EXIT_OK  # no receipt yet: the steward knows it was lost
    _receipt(net, first, "loaded")
    code, err = _contribute(net, capsys, "--resend")
    assert code == EXIT_USAGE and err.startswith("error: USAGE_PERIOD_ALREADY_SENT: ") and f"--supersedes {first}" in err


def test_a_quarantined_bundle_does_not_count_as_sent(net, capsys):
    assert _contribute(net, capsys)[0] == EXIT_OK
    (first,) = _sealed(net)
    _receipt(net, first, "quarantined")
    assert _contribute(net, capsys)[0] == EXIT_OK
