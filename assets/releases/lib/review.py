"""Release review (two-person output check): requests, reviewers' decisions, publication, withdrawal.

``dvnet publish`` leaves a **request** in ``coordinator/release-requests/<id>/`` (owner-only; neither
``dvnet query`` nor an evaluator reads it): the release's files, and ``disclosure.json`` — profile,
thresholds, rules applied, audit summary, software version and the request's content hash (the
SHA-256 of every release file, and each file's own SHA-256, as they were when the disclosure
audit passed). The ``release_requested`` audit line carries the same content hash, so the record
cannot be rewritten to match an edited file unnoticed. A request whose files are no longer the
audited ones is altered (``REQUEST_ALTERED``, naming the files): nobody can approve it and it is
never published, whatever the approvals; the audit covers other numbers, so it is requested again.
Reviewers' decisions are signed records in its ``decisions/`` folder, each bound to the hash it
saw. ``publish_request`` copies the release files into ``releases/`` in the crash-safe order
``recover`` finishes (partial folder, ledger, audit line, rename) once two reviewers other than the
author approved the audited hash, nobody rejected it, no release of its periods was published after
it was made, and the copy is still the audited content; the release's manifest lists each file's
SHA-256 and the ``release_published`` audit line the manifest's, so a later edit of a release folder
shows against the log.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import duckdb

from dvnet.bundle import keys
from dvnet.common import audit
from dvnet.common.faults import maybe_crash
from dvnet.common.files import atomic_write, make_private, private_dir
from dvnet.common.network import NetworkPaths, coordinator_actor, load_network
from dvnet.contracts.errors import DvnetError
from dvnet.contracts.policy import POLICY
from dvnet.assets.releases.lib import history, ledger, recover
from dvnet.assets.releases.lib.files import MANIFEST, combined_hash, differing_files, file_hashes, published_releases, read_manifest, stamp_publication
from dvnet.assets.releases.lib.internal import read_record
from dvnet.assets.warehouse.lib import schema as warehouse_schema

REQUESTS = "release-requests"
DISCLOSURE = "disclosure.json"
DECISIONS = "decisions"
#: What a request holds that is published with it (the rest stays with the coordinator).
REPORT = "report.html"
RELEASE_FILES = ("release.duckdb", "csv", "parquet", MANIFEST, REPORT)
DECISION_LABEL = b"dvnet-release-decision/1\x00"
APPROVE, REJECT = "approve", "reject"
NEEDED = 2
REQUESTED, DECIDED, WITHDRAWN = "release_requested", "release_review", "release_withdrawn"


def requests_root(paths: NetworkPaths) -> Path:
    return paths.coordinator / REQUESTS


def request_folder(paths: NetworkPaths, request_id: str) -> Path:
    folder = requests_root(paths) / request_id
    if request_id.startswith(".") or "/" in request_id or not (folder / DISCLOSURE).is_file():
        raise DvnetError("REQUEST_UNKNOWN", f"no release request named {request_id!r}", hint="see `dvnet review list`")
    return folder


def content_hash(folder: Path) -> str:
    """SHA-256 over the request's release files (names and bytes), in a fixed order."""
    return combined_hash(file_hashes(folder, RELEASE_FILES))


def write_disclosure(folder: Path, manifest: dict, stats: dict, author: str, now: dt.datetime) -> dict:
    """The machine-readable disclosure record of a request (folder's files written already)."""
    files = file_hashes(folder, RELEASE_FILES)
    record = {
        "format": "dvnet-disclosure-record/1",
        "request_id": manifest["release_id"],
        "requested_at": now.isoformat(),
        "author": author,
        "periods": manifest["periods"],
        "profile": manifest["profile"],
        "rules_applied": {"primary": "threshold", "dominance": "one agency's share", "complementary": stats.get("method"),
                          "joint_audit": "LP attacker ranges over this and every earlier release"},
        "audit": manifest["audit"],
        "suppression": manifest["suppression"],
        "software": {"dvnet": version("dvnet")},
        # What the audit passed, file by file: the one content that may ever be published.
        "files": files,
        "content_sha256": combined_hash(files),
    }  # fmt: skip
    atomic_write(folder / DISCLOSURE, json.dumps(record, indent=2, default=str).encode())
    return record


#: What every reader of a request's disclosure record relies on: name -> its JSON type.
DISCLOSURE_SHAPE = {"author": str, "requested_at": str, "periods": list, "profile": dict, "software": dict, "files": dict, "content_sha256": str}


def read_disclosure(folder: Path) -> dict:
    """The request's disclosure record; ``REQUEST_ALTERED`` when it is not one in form (unreadable,
    a term missing): whatever it says then, it is not what the audit wrote."""
    try:
        record = json.loads((folder / DISCLOSURE).read_text(encoding="utf-8"))
        formed = isinstance(record, dict) and all(isinstance(record.get(k), t) for k, t in DISCLOSURE_SHAPE.items())
        formed = formed and isinstance(record["profile"].get("name"), str) and isinstance(record["software"].get("dvnet"), str)
    except (OSError, ValueError):
        formed = False
    if not formed:
        raise DvnetError("REQUEST_ALTERED", f"{folder.name}: {DISCLOSURE} is not the disclosure record its audit wrote",
                         hint="make a new request (`dvnet publish`): it is audited again")  # fmt: skip
    return record


@dataclass(frozen=True)
class ReviewState:
    request_id: str
    author: str
    content_sha256: str  # the request's files as they are now
    approvals: tuple[str, ...]  # reviewers whose approval counts (the audited content, not the author)
    rejections: tuple[str, ...]
    by_author: bool  # the author's own approval is among the decisions
    other_hash: int  # decisions bound to a content hash other than the audited one
    published: bool
    altered: tuple[str, ...] = ()  # files no longer as the disclosure audit passed them (disclosure.json: its record itself)
    withdrawn: bool = False  # published, then withdrawn (``withdraw``)

    @property
    def status(self) -> str:
        """Where the request stands, in one word or two (``dvnet review list``)."""
        if self.withdrawn:
            return "withdrawn"
        if self.published:
            return "published"
        if self.altered:
            return "ALTERED since its audit"
        if self.rejections:
            return "rejected"
        return f"{len(self.approvals)}/{NEEDED} approvals"


def _decisions(folder: Path, network) -> list[dict]:
    """Every decision record, each signature checked against its reviewer's registered key. A file
    that is not one (unreadable, no registered reviewer, a signature that fails) is
    ``RECORD_TAMPERED``: skipping it would let a spoiled rejection stop counting, so nothing about
    the request is decided until it is gone."""
    out = []
    for f in sorted((folder / DECISIONS).glob("*.json")) if (folder / DECISIONS).is_dir() else []:
        try:
            record = json.loads(f.read_text(encoding="utf-8"))
            body = {k: v for k, v in record.items() if k != "sig"}
            person = network.person(str(body.get("reviewer")))
            public = keys.signing_public_key_from_text(person.signing_public_key)
            signed = audit._signature_ok(record.get("sig"), DECISION_LABEL, audit._canonical(body), public)
        except (ValueError, AttributeError, TypeError, UnicodeDecodeError):  # not JSON, not a mapping, no such person
            signed = False
        if not signed:
            raise DvnetError("RECORD_TAMPERED", f"{folder.name}/{DECISIONS}/{f.name} is not a decision signed by a registered reviewer",
                             hint="find out who wrote it (the audit log names every decision); move it out of the request to decide it")  # fmt: skip
        out.append(body)
    return out


def _may_approve(network, person_id: str) -> bool:
    """An approval counts only from a person who may approve now: active, holding a role the policy
    table allows (a file signed by anyone else, or by a reviewer since suspended, approves nothing)."""
    person = network.person(person_id)
    return person is not None and person.active and bool(POLICY["review.approve"] & set(person.roles))


def audited_hashes(paths: NetworkPaths) -> dict[str, str | None]:
    """Per request, the content hash its ``release_requested`` audit line recorded when its audit passed."""
    return {e["objects"]["request"]: (e.get("details") or {}).get("content_sha256") for e in audit.read(paths.audit_log)
            if e.get("action") == REQUESTED and "request" in (e.get("objects") or {})}  # fmt: skip


def altered_files(folder: Path, record: dict, audited: str | None) -> list[str]:
    """The files of the request in ``folder`` that are not what its disclosure audit passed:
    each file against the hash its disclosure record holds, and that record against the content
    hash the audit log holds (``disclosure.json`` when the record is not the audited one, or the
    log holds no hash for it: nothing then shows what the audit passed). Fails closed."""
    then = record.get("files")
    if not isinstance(then, dict) or audited is None or record.get("content_sha256") != audited or combined_hash(then) != audited:
        return [DISCLOSURE]
    return differing_files(file_hashes(folder, RELEASE_FILES), then)


def _withdrawn(release: Path) -> bool:
    return (release / MANIFEST).is_file() and "withdrawn" in read_manifest(release)


def review_state(root: Path, request_id: str, *, audited: dict[str, str | None] | None = None) -> ReviewState:
    """Where the request stands. ``audited``: ``audited_hashes`` read already (one read for many requests)."""
    paths = NetworkPaths(Path(root))
    folder = request_folder(paths, request_id)
    record = read_disclosure(folder)
    now_hash = content_hash(folder)
    audited_hash = (audited_hashes(paths) if audited is None else audited).get(request_id)
    network = load_network(paths.root)
    decisions = _decisions(folder, network)
    current = [d for d in decisions if audited_hash is not None and d["content_sha256"] == audited_hash]
    author = record["author"]
    return ReviewState(
        request_id, author, now_hash,
        approvals=tuple(sorted({d["reviewer"] for d in current if d["verdict"] == APPROVE and d["reviewer"] != author and _may_approve(network, d["reviewer"])})),
        rejections=tuple(sorted({d["reviewer"] for d in decisions if d["verdict"] == REJECT})),
        by_author=any(d["reviewer"] == author and d["verdict"] == APPROVE for d in current),
        other_hash=sum(d["content_sha256"] != audited_hash for d in decisions),
        published=(paths.releases / request_id).exists(),
        altered=tuple(altered_files(folder, record, audited_hash)),
        withdrawn=_withdrawn(paths.releases / request_id),
    )  # fmt: skip


def list_requests(root: Path) -> list[ReviewState]:
    paths = NetworkPaths(Path(root))
    base = requests_root(paths)
    names = sorted(p.name for p in base.iterdir() if (p / DISCLOSURE).is_file() and not p.name.startswith(".")) if base.is_dir() else []
    audited = audited_hashes(paths)
    return [review_state(root, n, audited=audited) for n in names]


def _altered(request_id: str, files: list[str] | tuple[str, ...]) -> DvnetError:
    return DvnetError("REQUEST_ALTERED", f"{request_id}: {len(files)} file(s) differ from what its disclosure audit passed: {', '.join(files)}",
                      hint="it can never be approved or published: make a new request (`dvnet publish`), which is audited again",
                      files=list(files))  # fmt: skip


def decide(root: Path, request_id: str, actor, verdict: str, comment: str, *, now: dt.datetime | None = None) -> ReviewState:
    """Record a reviewer's signed decision on the request as it is now (its content hash)."""
    now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    paths = NetworkPaths(Path(root))
    if not comment.strip():
        raise DvnetError("USAGE_COMMENT_MISSING", "a decision needs a comment (--comment)")
    state = review_state(root, request_id)
    if state.published:
        raise DvnetError("REQUEST_PUBLISHED", f"{request_id} is published already: there is nothing left to review")
    if verdict == APPROVE and (error := _unapprovable(state)) is not None:  # a rejection is still recorded: the safe side
        raise error
    if actor.actor == state.author:
        raise DvnetError("REVIEW_BY_AUTHOR", f"{actor.actor} made request {request_id} and cannot review it", hint="two other reviewers decide")
    body = {"request_id": request_id, "reviewer": actor.actor, "verdict": verdict, "comment": comment, "decided_at": now.isoformat(),
            "content_sha256": state.content_sha256}  # fmt: skip
    record = {**body, "sig": audit._sign(actor.key, DECISION_LABEL, audit._canonical(body))}
    folder = private_dir(request_folder(paths, request_id) / DECISIONS)
    # Logged before it counts: a kill in between leaves a logged decision that never counted (the
    # reviewer decides again), never an approval nobody logged.
    audit.append(paths.audit_log, DECIDED, actor=actor, objects={"request": request_id}, now=now, verdict=verdict,
                 content_sha256=state.content_sha256, head_key=coordinator_actor(paths.root, load_network(paths.root)).key)  # fmt: skip
    atomic_write(folder / f"{now.strftime('%Y%m%dT%H%M%SZ')}_{actor.actor}.json", json.dumps(record, indent=1).encode())
    return review_state(root, request_id)


def _unapprovable(state: ReviewState) -> DvnetError | None:
    """Why no approval can ever make the request publishable, or None."""
    if state.altered:
        return _altered(state.request_id, state.altered)
    if state.rejections:
        return DvnetError("REQUEST_REJECTED", f"{state.request_id} was rejected by {', '.join(state.rejections)}: it is never published",
                          hint="make a new request (`dvnet publish`)")  # fmt: skip
    return None


def refusal(state: ReviewState) -> DvnetError | None:
    """Why the request may not be published as it stands, or None."""
    if state.published:
        return DvnetError("REQUEST_PUBLISHED", f"{state.request_id} is published already")
    if (error := _unapprovable(state)) is not None:
        return error
    if state.by_author:
        return DvnetError("REVIEW_BY_AUTHOR", f"{state.request_id} carries an approval by its own author {state.author}", hint="two other reviewers decide")
    if len(state.approvals) < NEEDED and state.other_hash:
        return DvnetError("REVIEW_STALE", f"{state.request_id} has {state.other_hash} decision(s) bound to content other than the audited one: they do not count",
                          hint="only decisions on the content its disclosure audit passed count (`dvnet review show` says whether it still is)")  # fmt: skip
    if len(state.approvals) < NEEDED:
        return DvnetError("REVIEW_INCOMPLETE", f"{state.request_id} has {len(state.approvals)} of {NEEDED} approvals by reviewers other than its author",
                          hint="`dvnet review approve` by two reviewers")  # fmt: skip
    return None


def _stale(con: duckdb.DuckDBPyConnection, periods: list[str], requested_at: dt.datetime) -> list[str]:
    ledger.ensure_ledger(con)
    rows = con.execute("SELECT release_id FROM releases WHERE len(list_intersect(periods, ?)) > 0 AND published_at > ?",
                       [periods, requested_at]).fetchall()  # fmt: skip
    return [r[0] for r in rows]


def publish_request(root: Path, request_id: str, *, now: dt.datetime | None = None) -> Path:
    """Publish an approved request into ``releases/``; refuses (typed) unless review and history allow it."""
    now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    paths = NetworkPaths(Path(root))
    coordinator = coordinator_actor(paths.root, load_network(paths.root))
    con = warehouse_schema.connect(paths.warehouse)
    try:
        recover.finish_interrupted(paths, con, coordinator)  # an interrupted publication of this request finishes first
        state = review_state(root, request_id)
        if (error := refusal(state)) is not None:
            raise error
        folder = request_folder(paths, request_id)
        record = read_disclosure(folder)
        later = _stale(con, record["periods"], dt.datetime.fromisoformat(record["requested_at"]))
        if later:
            raise DvnetError("REQUEST_STALE", f"{len(later)} release(s) of these periods were published after this request was made",
                             hint="make a new request (`dvnet publish`): its audit must include them")  # fmt: skip
        tmp = recover.partial_folder(paths, request_id)
        if tmp.exists():
            shutil.rmtree(tmp)
        private_dir(tmp)
        for name in RELEASE_FILES:
            (shutil.copytree if (folder / name).is_dir() else shutil.copy2)(folder / name, tmp / name)
        # The copy, not only the request checked above, must be what the audit passed.
        if differ := differing_files(file_hashes(tmp, RELEASE_FILES), record["files"]):
            shutil.rmtree(tmp)
            raise _altered(request_id, differ)
        manifest = read_manifest(tmp)
        manifest |= {"requested_at": manifest["published_at"], "published_at": now.isoformat(),
                     "review": {"content_sha256": record["content_sha256"], "approvals": len(state.approvals)}}  # fmt: skip
        stamp_publication(tmp / REPORT, manifest["published_at"])
        # Every other file's SHA-256, and the manifest's own in the audit line: an edit of the
        # published folder shows against the log.
        manifest["files"] = file_hashes(tmp, tuple(n for n in RELEASE_FILES if n != MANIFEST))
        atomic_write(tmp / MANIFEST, json.dumps(manifest, indent=2, default=str).encode())
        make_private(tmp)
        cells = history.folder_cells(tmp, read_record(paths.coordinator, request_id), set(manifest["periods"]), release_id=request_id)
        ledger.record_release(con, request_id, manifest["profile"]["name"], manifest["periods"], cells, manifest["audit"]["summary"], now)
        maybe_crash("after_release_ledger")
        recover.audit_published(paths, coordinator, tmp, now)
        maybe_crash("after_release_audit")
        tmp.rename(paths.releases / request_id)
        maybe_crash("after_release_rename")
    finally:
        con.close()
    return paths.releases / request_id


def altered_releases(root: Path) -> dict[str, list[str]]:
    """Per release folder that is not what the audit log recorded, the files that differ: its
    manifest against the ``manifest_sha256`` of the release's last ``release_published`` or
    ``release_withdrawn`` line (a folder no such line anchors: its manifest), and every other file
    in the folder against the manifest's ``files``. Nothing altered: an empty dict."""
    paths = NetworkPaths(Path(root))
    anchored: dict[str, str | None] = {}
    for e in audit.read(paths.audit_log):
        if e.get("action") in (recover.PUBLISHED, WITHDRAWN) and "release" in (e.get("objects") or {}):
            anchored[e["objects"]["release"]] = (e.get("details") or {}).get("manifest_sha256")
    out = {}
    for folder in published_releases(paths.releases):
        listed = read_manifest(folder).get("files")
        present = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file() and p != folder / MANIFEST}
        differ = [MANIFEST] if anchored.get(folder.name) is None or anchored[folder.name] != recover.manifest_sha256(folder) else []
        differ += differing_files(file_hashes(folder, tuple(present)), listed if isinstance(listed, dict) else {})
        if differ:
            out[folder.name] = differ
    return out


def withdraw(root: Path, release_id: str, actor, reason: str, *, now: dt.datetime | None = None) -> tuple[Path, bool]:
    """Mark a published release withdrawn in its manifest, then log it; it stays in the folder and
    the ledger, so every later disclosure audit still counts it as published. Returns the folder and
    whether this call only finished an earlier withdrawal (killed after its manifest, before its
    audit line: the line is written now, once, with the manifest's time and reason); a release
    withdrawn and logged already is refused."""
    now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    paths = NetworkPaths(Path(root))
    folder = paths.releases / release_id
    if not reason.strip():
        raise DvnetError("USAGE_REASON_MISSING", "a withdrawal needs a reason (--reason)")
    if release_id.startswith(".") or "/" in release_id or not (folder / MANIFEST).is_file():
        raise DvnetError("RELEASE_UNKNOWN", f"no published release named {release_id!r}")
    manifest = read_manifest(folder)
    earlier = manifest.get("withdrawn")
    if earlier is None:
        manifest["withdrawn"] = {"at": now.isoformat(), "reason": reason}
        atomic_write(folder / MANIFEST, json.dumps(manifest, indent=2, default=str).encode())
        maybe_crash("after_withdrawn_manifest")
    withdrawn = manifest["withdrawn"]
    if earlier is not None and any(e["action"] == WITHDRAWN and e["objects"].get("release") == release_id for e in audit.read(paths.audit_log)):
        raise DvnetError("RELEASE_WITHDRAWN", f"{release_id} was withdrawn already on {withdrawn['at']}")
    audit.append(paths.audit_log, WITHDRAWN, actor=actor, objects={"release": release_id}, reason=withdrawn["reason"], now=now,
                 manifest_sha256=recover.manifest_sha256(folder),
                 once=f"{WITHDRAWN}:{release_id}:{withdrawn['at']}", once_since=dt.datetime.fromisoformat(withdrawn["at"]),
                 head_key=coordinator_actor(paths.root, load_network(paths.root)).key)  # fmt: skip
    return folder, earlier is not None
