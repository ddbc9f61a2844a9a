"""``dvnet receipts``: fetch the coordinator's signed receipts and say what became of each bundle.

Every receipt is verified against the coordinator signing key pinned in ``agency.yaml`` (never a
key taken from the drop) before it is kept in the agency's ``receipts/`` folder; one that does not
verify, or names another agency, is reported and not kept. A receipt is matched to what this
agency sent by the SHA-256 of the file, recorded in the audit log when it was sent. Each receipt
also carries the head of the coordinator's audit log when it was signed (``audit_head``): kept
here, it is an anchor the coordinator cannot take back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from dvnet import bundle
from dvnet.bundle.receipt import MAX_RECEIPT_SIZE
from dvnet.common.files import atomic_write
from dvnet.common.network import AgencyConfig
from dvnet.contracts.errors import DvnetError, RegistryError
from dvnet.pipelines.contributor import outbox
from dvnet.pipelines.delivery.drop import Drop
from dvnet.pipelines.delivery.folder import RECEIPT_SUFFIX
from dvnet.pipelines.delivery.reasons import plain
from dvnet.pipelines.delivery.send import sent_records, waiting

RECEIPT_NOT_FOR_THIS_AGENCY = "RECEIPT_NOT_FOR_THIS_AGENCY"  # genuine, but about another agency's bundle
# <agency>_<contract>_<period>_<sequence>.dvb, as the contributor names its bundles
_BUNDLE_NAME = re.compile(r"^(?P<agency>[a-z0-9-]+)_(?P<contract>[a-z_]+)_(?P<period>\d{4}-Q[1-4])_(?P<sequence>\d+)\.dvb$")


@dataclass
class Fetched:
    """What one fetch brought back: receipts kept (new or updated) and receipts refused."""

    kept: int = 0
    already_had: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file name at the drop, why)


@dataclass(frozen=True)
class ContributionStatus:
    """One bundle as the steward follows it, with the id ``--supersedes`` takes.

    ``state``: not sent | withdrawn (replaced in the outbox before it was sent) | sent (waiting
    for the coordinator) | loaded | superseded (loaded, then replaced by a later loaded bundle) |
    quarantined | settled (quarantined, but a later bundle for its contract and quarter loaded).
    ``other`` is the bundle the state points at: the one that replaced, superseded or settled it,
    or for a PERIOD_ALREADY_LOADED quarantine the loaded bundle to correct."""

    file: str
    contract: str
    period: str
    sequence: str
    state: str
    bundle_id: str | None = None
    project: str | None = None
    sent_at: str = ""
    mode: str | None = None
    received_at: str = ""
    rows_loaded: int | None = None
    reason: str | None = None
    other: ContributionStatus | None = None

    @property
    def needs_attention(self) -> bool:
        return self.state == "quarantined"

    @property
    def correct_with(self) -> str | None:
        """The exact option that corrects the loaded bundle this one collided with, when known."""
        if self.state == "quarantined" and self.reason == "PERIOD_ALREADY_LOADED" and self.other and self.other.bundle_id:
            return f"--supersedes {self.other.bundle_id}"
        return None

    @property
    def explanation(self) -> str:
        other = f"bundle #{self.other.sequence}" if self.other else "a later bundle"
        if self.state == "not sent":
            return "in the outbox: run `dvnet send`"
        if self.state == "withdrawn":
            return f"never sent: {other} was sealed in its place while it waited (kept in withdrawn/)"
        if self.state == "sent":
            return "delivered; the coordinator has not processed it yet"
        if self.state in ("loaded", "superseded"):
            what = {"aggregate": "count-table rows", "record": "de-identified records"}.get(self.mode or "", "rows")
            return f"loaded: {self.rows_loaded:,} {what}" + (f"; replaced at the coordinator by {other}" if self.state == "superseded" else "")
        if self.state == "settled":
            return f"quarantined ({self.reason}); settled: {other} loaded for this contract and quarter"
        if self.correct_with:
            return f"the coordinator already counts {other} for this contract and quarter, and this one did not say it corrects it " \
                   f"({self.reason}); to correct {other}, contribute again with {self.correct_with}"
        return f"{plain(self.reason)} ({self.reason})"


def receipts_folder(agency: AgencyConfig) -> Path:
    return agency.folder / "receipts"


def pinned_coordinator_key(agency: AgencyConfig):
    text = (agency.coordinator or {}).get("signing_public_key")
    if not text:
        raise RegistryError("AGENCY_CONFIG_INVALID", "agency.yaml: coordinator.signing_public_key is required to verify receipts",
                            field="coordinator.signing_public_key",
                            hint="copy it from the coordinator's registry (`dvnet network show`) through a trusted channel")
    try:
        return bundle.signing_public_key_from_text(text)
    except (DvnetError, ValueError):
        raise RegistryError("AGENCY_CONFIG_INVALID", "agency.yaml: coordinator.signing_public_key is not a valid Ed25519 key",
                            field="coordinator.signing_public_key") from None


def check_receipt(agency: AgencyConfig, blob: bytes, key) -> dict:
    """The receipt's fields when it is genuine and about this agency's bundle; raises otherwise."""
    body = bundle.verify_receipt(blob, key)
    if body["agency_id"] is not None and body["agency_id"] != agency.agency_id:
        raise DvnetError(RECEIPT_NOT_FOR_THIS_AGENCY, f"it names agency {body['agency_id']}, this folder is {agency.agency_id}")
    return body


def _local_name(body: dict) -> str:
    # From the verified content, never from the name the file had at the drop.
    return f"{body['bundle_id'] or 'unreadable'}.{body['bundle_sha256'][:16]}{RECEIPT_SUFFIX}"


def fetch(agency: AgencyConfig, drop: Drop) -> Fetched:
    """Copy every genuine receipt for this agency from the drop into ``receipts/``."""
    key = pinned_coordinator_key(agency)
    result = Fetched()
    folder = receipts_folder(agency)
    for name, blob in drop.fetch_receipts():
        try:
            body = check_receipt(agency, blob, key)
        except DvnetError as e:
            result.refused.append((name, f"{e.reason}: {e.message}"))
            continue
        target = folder / _local_name(body)
        if target.exists() and target.read_bytes() == blob:
            result.already_had += 1
            continue
        atomic_write(target, blob, mode=0o600)
        result.kept += 1
    return result


def _kept(agency: AgencyConfig, key) -> list[tuple[Path, dict]]:
    """Every genuine receipt in receipts/ with its fields (re-verified: a file there is trusted
    only for its signature)."""
    folder = receipts_folder(agency)
    kept = []
    for path in sorted(folder.glob(f"*{RECEIPT_SUFFIX}")) if folder.is_dir() else []:
        with path.open("rb") as f:
            blob = f.read(MAX_RECEIPT_SIZE + 1)
        try:
            kept.append((path, check_receipt(agency, blob, key)))
        except DvnetError:
            continue
    return kept


def _kept_receipts(agency: AgencyConfig, key) -> dict[str, dict]:
    """bundle SHA-256 -> the newest genuine receipt kept for it."""
    newest: dict[str, dict] = {}
    for _, body in _kept(agency, key):
        sha = body["bundle_sha256"]
        if sha not in newest or body["received_at"] > newest[sha]["received_at"]:
            newest[sha] = body
    return newest


def outcomes_by_bundle(agency: AgencyConfig) -> dict[str, str]:
    """bundle id -> what the newest genuine receipt kept for it says (loaded or quarantined)."""
    out: dict[str, str] = {}
    for body in _kept_receipts(agency, pinned_coordinator_key(agency)).values():
        if body["bundle_id"] and out.get(body["bundle_id"]) != "loaded":  # loaded once is loaded, whatever a replay got
            out[body["bundle_id"]] = body["outcome"]
    return out


def newest_anchor(agency: AgencyConfig) -> tuple[Path, dict] | None:
    """The kept receipt anchoring the longest stretch of the coordinator's audit log (its signed
    ``audit_head``), with that head: what the agency can later hold the coordinator's log to
    (``dvnet audit verify <log> --anchor <receipt>``)."""
    kept = _kept(agency, pinned_coordinator_key(agency))
    if not kept:
        return None
    path, body = max(kept, key=lambda item: item[1]["audit_head"]["entries"])
    return path, body["audit_head"]


def _parts(file: str) -> dict[str, str]:
    m = _BUNDLE_NAME.match(file)
    return {"contract": m["contract"], "period": m["period"], "sequence": str(int(m["sequence"]))} if m else {"contract": "—", "period": "—", "sequence": "—"}


def statuses(agency: AgencyConfig) -> list[ContributionStatus]:
    """Every bundle this agency sealed and still holds, sent or withdrew, with its state (oldest
    first within each: sent, waiting, withdrawn)."""
    receipts = _kept_receipts(agency, pinned_coordinator_key(agency))
    logged = {str(s.sequence): s for s in outbox.sealed(agency)}  # the sequence in a bundle's file name -> its contribution line

    def row(file: str, state: str, **more) -> ContributionStatus:
        parts = _parts(file)
        sealed = logged.get(parts["sequence"])
        return ContributionStatus(file=file, state=state, bundle_id=sealed.bundle_id if sealed else None, project=sealed.project if sealed else None,
                                  **parts, **more)  # fmt: skip

    rows = []
    for file, event in sent_records(agency).items():
        r = receipts.get(event.get("bundle_sha256"))
        base = {"sent_at": str(event.get("at", "")), "mode": event.get("mode")}
        if r is None:
            rows.append(row(file, "sent", **base))
        else:
            got = row(file, r["outcome"], received_at=r["received_at"], rows_loaded=r["rows_loaded"], reason=r["reason"], **base)
            rows.append(replace(got, bundle_id=got.bundle_id or r["bundle_id"]))
    rows += [row(p.name, "not sent") for p in waiting(agency)]
    folder = outbox.withdrawn_folder(agency)
    rows += [row(p.name, "withdrawn") for p in sorted(folder.glob(f"*{outbox.BUNDLE_SUFFIX}"))] if folder.is_dir() else []
    return _settle(rows, outbox.withdrawn(agency))


def _settle(rows: list[ContributionStatus], withdrawn: dict[str, str]) -> list[ContributionStatus]:
    """Each row's state in the light of the later bundles for its contract and quarter: a loaded
    bundle a later loaded one replaced is superseded; a quarantine a later loaded bundle made good
    is settled; a PERIOD_ALREADY_LOADED quarantine points at the loaded bundle to correct."""
    def key(s: ContributionStatus) -> tuple:
        return (s.contract, s.period, s.project)

    def seq(s: ContributionStatus) -> int:
        return int(s.sequence) if s.sequence.isdigit() else -1

    by_id = {s.bundle_id: s for s in rows if s.bundle_id}
    loaded = {}  # key -> loaded rows, oldest first
    for s in sorted(rows, key=seq):
        if s.state == "loaded":
            loaded.setdefault(key(s), []).append(s)
    out = []
    for s in rows:
        later = [x for x in loaded.get(key(s), []) if seq(x) > seq(s)]
        if s.state == "loaded" and later:
            s = replace(s, state="superseded", other=later[0])
        elif s.state == "quarantined" and later:
            s = replace(s, state="settled", other=later[0])
        elif s.state == "quarantined" and s.reason == "PERIOD_ALREADY_LOADED" and loaded.get(key(s)):
            s = replace(s, other=loaded[key(s)][-1])
        elif s.state == "withdrawn" and withdrawn.get(s.bundle_id) in by_id:
            s = replace(s, other=by_id[withdrawn[s.bundle_id]])
        out.append(s)
    return out
