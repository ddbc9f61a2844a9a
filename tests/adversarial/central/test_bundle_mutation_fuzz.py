"""Suite 2, bundle mutation fuzz: bundles an attacker made from real ones reach the coordinator's
inbox, and not one is accepted, and not one crashes it.

Every mutant goes through the coordinator's own ingest (``ingest_inbox``: verify, then load or
quarantine, with its receipt and audit entry), in the network's real warehouse. Families:

- every single-byte flip of a small record bundle and a small aggregate bundle, in every region
  (prefix, header, signature, ciphertext length, ciphertext: its HPKE key, body and tag);
- truncations at and around every region boundary, and trailing data;
- header edits, unsigned and re-signed by the agency (the ciphertext stays: HPKE binds it to its
  header), re-signing by another agency, re-targeting to another coordinator key or epoch;
- bundles the agency itself seals with a hostile header or manifest: old or unknown format and
  suite names, duplicate and unknown JSON keys, non-canonical JSON, wrong types and identities;
- valid bundles under hostile file names (these must load, under a safe stand-in name).

"Accepted" means a row loaded; "crashed" means an exception out of ingest or the catch-all
``UNEXPECTED_ERROR``. The good originals are delivered after the mutants, and load: the oracle can
say yes. CI flips every byte of both bundles' framing, header and signature (XOR 0x01) and a
sample of their ciphertexts, and runs the keyed edits on the record bundle;
``DVNET_ADVERSARIAL_FULL=1`` flips the framing three ways, every ciphertext byte of the aggregate
bundle (1,024 of the record bundle's), cuts at every length up to the ciphertext, and runs the
keyed edits on both.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dvnet import bundle
from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_inbox
from dvnet.assets.warehouse.lib import schema as warehouse
from dvnet.bundle import streamed
from dvnet.bundle.framing import PREFIX_SIZE, decode_frame, encode_frame
from dvnet.bundle.header import canonical_json
from dvnet.bundle.seal import encrypt_and_sign_streamed, signed_message

FULL = os.environ.get("DVNET_ADVERSARIAL_FULL") == "1"
CODE = re.compile(r"[A-Z][A-Z0-9_]{1,63}")  # a typed reason (SPEC §6)
CRASH = "UNEXPECTED_ERROR"
AGENCY, OTHER = "shelter-a", "legal-b"  # Tier 3 (records and counts), Tier 2 (referrals)
SIGNATURE_SIZE, LENGTH_SIZE, HPKE_KEY_SIZE, TAG_SIZE = 64, 8, 32, 16


Mutant = tuple[str, str, bytes]  # family, label, file content


def _flip(blob: bytes, index: int, mask: int) -> bytes:
    return blob[:index] + bytes([blob[index] ^ mask]) + blob[index + 1 :]


def _regions(blob: bytes) -> dict[str, range]:
    sig = PREFIX_SIZE + int.from_bytes(blob[9:13], "big")
    ct = sig + SIGNATURE_SIZE + LENGTH_SIZE
    return {
        "prefix": range(0, PREFIX_SIZE),
        "header": range(PREFIX_SIZE, sig),
        "signature": range(sig, sig + SIGNATURE_SIZE),
        "ciphertext length": range(sig + SIGNATURE_SIZE, ct),
        "ciphertext": range(ct, len(blob)),
    }


def _sample(indices: range, n: int | None) -> list[int]:
    """Every index (``n`` None, or a short range); else the HPKE key and tag bytes and ``n`` spread between."""
    if n is None or len(indices) <= n + HPKE_KEY_SIZE + TAG_SIZE:
        return list(indices)
    body = indices[HPKE_KEY_SIZE:-TAG_SIZE]
    step = max(1, len(body) // n)
    return [*indices[:HPKE_KEY_SIZE], *body[::step], *indices[-TAG_SIZE:]]


def byte_flips(name: str, blob: bytes, ciphertext_sample: int | None) -> Iterator[Mutant]:
    """Every byte of the framing, header and signature (three ways under FULL); the ciphertext's
    bytes one way, every one or a sample."""
    for region, indices in _regions(blob).items():
        ciphertext = region == "ciphertext"
        for index in _sample(indices, ciphertext_sample) if ciphertext else indices:
            for mask in (0x01,) if ciphertext or not FULL else (0x01, 0x80, 0xFF):
                yield f"flip {region}", f"{name} byte {index} ^{mask:#04x}", _flip(blob, index, mask)


def cuts(name: str, blob: bytes) -> Iterator[Mutant]:
    """Cut at and around every boundary (under FULL: at every length up to the ciphertext's first
    bytes, then every KiB); trailing data of several kinds."""
    regions = _regions(blob)
    bounds = sorted({r.start for r in regions.values()} | {len(blob)})
    lengths = {max(0, min(len(blob) - 1, b + d)) for b in bounds for d in (-1, 0, 1)}
    if FULL:
        lengths |= {*range(regions["ciphertext"].start + 64), *range(0, len(blob), 1024)}
    for n in sorted(lengths):
        yield "truncated", f"{name} cut to {n} bytes", blob[:n]
    for label, extra in (("one zero byte", b"\x00"), ("a newline", b"\n"), ("1 KiB", os.urandom(1024)), ("itself again", blob)):
        yield "trailing data", f"{name} + {label}", blob + extra


# --- edits by someone holding a key ---------------------------------------------------------------


class Forger:
    """Bundles made from a real one by someone holding a signing key (the agency's, another
    agency's): the header re-signed over the same ciphertext, or the whole bundle sealed anew
    with a hostile header or manifest spelling."""

    def __init__(self, kit, sealed: bundle.SealedBundle, data: bytes) -> None:
        self.kit, self.sealed, self.data = kit, sealed, data
        frame = bundle.parse(sealed.blob)
        self.ciphertext = bytes(frame.ciphertext)

    def resigned(self, header_bytes: bytes, signer: str = AGENCY) -> bytes:
        key = self.kit.signing_key(signer)
        return encode_frame(header_bytes, key.sign(signed_message(header_bytes, self.ciphertext)), self.ciphertext)

    def sealed_anew(self, header: dict, manifest_bytes: bytes, spell: Callable[[dict], bytes] = canonical_json,
                    signer: str = AGENCY, recipient=None) -> bytes:  # fmt: skip
        header = {**header, "ciphertext_length": streamed.ciphertext_length(len(self.data), len(manifest_bytes))}
        return encrypt_and_sign_streamed(spell(header), manifest_bytes, self.data, self.kit.signing_key(signer), recipient or self.kit.coordinator_public_key())


def _duplicate_key(field: str, value: object) -> Callable[[dict], bytes]:
    """Canonical JSON with ``field`` written twice (a parser keeping the last would see ``value``)."""

    def spell(doc: dict) -> bytes:
        return b"{" + canonical_json({field: value})[1:-1] + b"," + canonical_json(doc)[1:]

    return spell


def _escaped(doc: dict) -> bytes:
    """Canonical but for one needless escape (the first key's first letter): the same JSON value, other bytes."""
    raw = canonical_json(doc)
    return raw[:2] + b"\\u%04x" % raw[2] + raw[3:]


SPELLINGS: dict[str, Callable[[dict], bytes]] = {
    "spaces after separators": lambda d: json.dumps(d, sort_keys=True).encode(),
    "keys out of order": lambda d: json.dumps(dict(reversed(list(d.items()))), separators=(",", ":")).encode(),
    "a trailing newline": lambda d: canonical_json(d) + b"\n",
    "a byte-order mark": lambda d: b"\xef\xbb\xbf" + canonical_json(d),
    "a needless escape": _escaped,
    "a duplicated mode": _duplicate_key("mode", "aggregate"),
    "a duplicated agency": _duplicate_key("agency_id", OTHER),
    "an array, not an object": lambda d: b"[" + canonical_json(d) + b"]",
    "not UTF-8": lambda d: canonical_json(d)[:2] + b"\xff" + canonical_json(d)[3:],
}

HEADER_VALUES: dict[str, dict] = {
    "old format name": {"format": "dvnet-bundle/0"},
    "newer format name": {"format": "dvnet-bundle/3"},
    "the other format's name": {"format": "dvnet-bundle/1"},
    "another suite": {"suite": "hpke-base-p256-hkdf-sha256-aes128gcm+ed25519"},
    "no suite": {"suite": ""},
    "an unknown field": {"x_comment": "hello"},
    "sequence as a float": {"sequence": 1.0},
    "sequence as text": {"sequence": "1"},
    "sequence zero": {"sequence": 0},
    "sequence past 2^53": {"sequence": 2**60},
    "key epoch zero": {"key_epoch": 0},
    "key epoch of no key": {"key_epoch": 2},
    "contract version 99": {"contract_version": 99},
    "an unknown contract": {"contract_id": "bank_statements"},
    "mode raw": {"mode": "raw"},
    "agency id with a path": {"agency_id": "../shelter-a"},
    "bundle id upper case": {"bundle_id": "A" * 32},
    "created a year ahead": {"created_at": "2027-12-01T00:00:00Z", "not_after": "2027-12-31T00:00:00Z"},
    "not_after before created": {"not_after": "2020-01-01T00:00:00Z"},
    "lifetime of years": {"not_after": "2099-01-01T00:00:00Z"},
    "time with an offset": {"created_at": "2026-11-30T00:00:00+01:00"},
    "recipient of another key": {"recipient_key_id": "0" * 16},
    "signing key id of another agency": {"signing_key_id": "1" * 16},
}

MANIFEST_VALUES: dict[str, dict] = {
    "another agency": {"agency_id": OTHER},
    "another bundle id": {"bundle_id": "0" * 32},
    "another sequence": {"sequence": 99},
    "record count off by one": {"record_count": 1},
    "record count negative": {"record_count": -1},
    "data hash of other data": {"data_sha256": "0" * 64},
    "data format csv": {"data_format": "csv"},
    "an unknown field": {"x_note": "hi"},
    "period not a quarter": {"period": "2026-07"},
    "period year 0000": {"period": "0000-Q1"},
    "supersedes not an id": {"supersedes": "../../etc"},
    "details not an object": {"details": ["a"]},
}


def keyed_edits(kit, sealed: bundle.SealedBundle, data: bytes, other_coordinator) -> Iterator[Mutant]:
    f = Forger(kit, sealed, data)
    header, manifest = dict(sealed.header), dict(sealed.manifest)
    manifest_bytes = canonical_json(manifest)
    original = canonical_json(header)
    # Unsigned header edits: the header is signed.
    for label, edit in HEADER_VALUES.items():
        edited = canonical_json({**header, **edit})
        yield "header edit (unsigned)", label, encode_frame(edited, decode_frame(sealed.blob).signature, f.ciphertext)
    # Re-signed by the agency over the same ciphertext: HPKE binds the ciphertext to its header.
    for label, edit in HEADER_VALUES.items():
        yield "header edit (re-signed)", label, f.resigned(canonical_json({**header, **edit}))
    for label, spell in SPELLINGS.items():
        yield "header spelling (re-signed)", label, f.resigned(spell(header))
    # Another agency: its signature on this header; this bundle claimed as its own.
    yield "another agency", "its signature on this bundle", f.resigned(original, signer=OTHER)
    as_other = {**header, "agency_id": OTHER, "signing_key_id": bundle.key_id(kit.signing_key(OTHER).public_key())}
    yield "another agency", "header claimed and re-signed", f.resigned(canonical_json(as_other), signer=OTHER)
    yield "another agency", "sealed anew under its name, the manifest naming the first", f.sealed_anew(as_other, manifest_bytes, signer=OTHER)
    # Re-targeting: another coordinator's key, or this key under another epoch.
    retarget = {**header, "recipient_key_id": bundle.key_id(other_coordinator)}
    yield "re-targeted", "sealed to another coordinator", f.sealed_anew(retarget, manifest_bytes, recipient=other_coordinator)
    yield "re-targeted", "header names another coordinator key", f.resigned(canonical_json(retarget))
    # Sealed anew by the agency with a hostile header or manifest.
    for label, edit in HEADER_VALUES.items():
        yield "sealed with a hostile header", label, f.sealed_anew({**header, **edit}, manifest_bytes)
    for label, spell in SPELLINGS.items():
        yield "sealed with a hostile header spelling", label, f.sealed_anew(header, manifest_bytes, spell)
    for label, edit in MANIFEST_VALUES.items():
        yield "sealed with a hostile manifest", label, f.sealed_anew(header, canonical_json({**manifest, **edit}))
    other_mode = "record" if manifest["mode"] == "aggregate" else "aggregate"
    yield "sealed with a hostile manifest", "the other mode", f.sealed_anew(header, canonical_json({**manifest, "mode": other_mode}))
    for label, spell in SPELLINGS.items():
        yield "sealed with a hostile manifest spelling", label, f.sealed_anew(header, spell(manifest))
    yield "sealed with a hostile manifest", "no manifest", f.sealed_anew(header, b"")


#: Names a sender could give a good bundle; it must load, under a name safe to print and store.
HOSTILE_NAMES: dict[str, bytes] = {
    "250 bytes": b"a" * 246 + b".dvb",
    "not UTF-8": b"\xff\xfe bundle.dvb",
    "a newline": b"line\nbreak.dvb",
    "terminal escapes": b"\x1b[2J\x1b]8;;x\x07.dvb",
    "Rich markup": b"[bold red]alarm[blink].dvb",
    "a leading dash": b"-rf.dvb",
    "right-to-left override": "evil\u202ebvd.exe.dvb".encode(),
    "SQL quote": b"x'); DROP TABLE ledger; --.dvb",
    "only the suffix": b"_.dvb",
}


# --- the run -------------------------------------------------------------------------------------


def _deliver(inbox: Path, name: bytes, blob: bytes) -> None:
    path = os.path.join(os.fsencode(inbox), name)
    with open(path, "wb") as f:
        f.write(blob)


def _ingest(con, ctx, now: dt.datetime) -> list:
    return list(ingest_inbox(ctx, con, now=now))


def _loaded_bundles(con) -> int:
    return con.execute("SELECT count(*) FROM ledger").fetchone()[0]


@pytest.fixture
def originals(ck, kit):
    """A small record bundle and a small aggregate bundle of shelter-a, with their payloads."""
    records = ck.service_episode_frame(3, ck.PERIOD, 5)
    data_r = ck.parquet_bytes(records)
    r = kit.seal(AGENCY, "service_episode", data_r, 3, mode="record", sequence=1)
    from dvnet.anonymize.counts import standard_counts
    from dvnet.contracts.registry import get_contract

    table = standard_counts(ck.referral_frame(6, ck.PERIOD, 6), get_contract("referral"))
    data_a = ck.parquet_bytes(table)
    a = kit.seal(AGENCY, "referral", data_a, table.num_rows, mode="aggregate", sequence=2)
    return {"record": (r, data_r), "aggregate": (a, data_a)}


def test_no_mutant_of_a_bundle_is_accepted_and_none_crashes_the_coordinator(ck, kit, originals, headline):
    other_coordinator = bundle.generate_encryption_key().public_key()
    mutants: list[Mutant] = []
    for name, (sealed, data) in originals.items():
        # Under FULL: every ciphertext byte of the small aggregate bundle, 1,024 of the record bundle's.
        sample = (None if name == "aggregate" else 1024) if FULL else 96
        mutants += [*byte_flips(name, sealed.blob, sample), *cuts(name, sealed.blob)]
        if FULL or name == "record":
            mutants += list(keyed_edits(kit, sealed, data, other_coordinator))
    assert len({blob for _, _, blob in mutants} & {s.blob for s, _ in originals.values()}) == 0

    ctx = CoordinatorContext.load(kit.root)
    con = warehouse.connect(kit.paths.warehouse)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        for i, (_, _, blob) in enumerate(mutants):
            _deliver(kit.inbox, f"m{i:06d}.dvb".encode(), blob)
        outcomes = {o.file_name: o for o in _ingest(con, ctx, now)}
        accepted = [(f, label) for i, (f, label, _) in enumerate(mutants) if outcomes[f"m{i:06d}.dvb"].outcome != "quarantined"]
        crashed = [(f, label) for i, (f, label, _) in enumerate(mutants) if outcomes[f"m{i:06d}.dvb"].reason == CRASH]
        untyped = [(f, label) for i, (f, label, _) in enumerate(mutants) if not CODE.fullmatch(outcomes[f"m{i:06d}.dvb"].reason or "")]
        assert (accepted, crashed, untyped) == ([], [], [])
        assert _loaded_bundles(con) == 0

        # The control: the originals load (the oracle can say yes), then good bundles under hostile names.
        for sealed, _ in originals.values():
            _deliver(kit.inbox, f"z-original-{sealed.header['sequence']}.dvb".encode(), sealed.blob)
        assert {o.outcome for o in _ingest(con, ctx, now)} == {"loaded"}
        named = []
        for i, (label, raw) in enumerate(HOSTILE_NAMES.items()):
            good = kit.records(AGENCY, n=3, seed=40 + i, sequence=10 + i, period=f"{2025 - i // 4}-Q{4 - i % 4}")  # a quarter each: one live bundle per quarter
            _deliver(kit.inbox, raw, good.blob)
            [outcome] = _ingest(con, ctx, dt.datetime.now(dt.UTC))  # sealed just now: after a long FULL run, `now` is minutes old
            named.append((label, outcome))
        misnamed = [(label, o.outcome, o.reason, o.file_name) for label, o in named if o.outcome != "loaded" or not o.file_name.isascii()]
        assert not any(kit.inbox.iterdir()), "nothing is left in the inbox"
        assert _loaded_bundles(con) == len(originals) + len(HOSTILE_NAMES)
    finally:
        con.close()

    families = Counter(f for f, _, _ in mutants)
    reasons = Counter(outcomes[f"m{i:06d}.dvb"].reason for i in range(len(mutants)))
    total = len(mutants) + len(originals) + len(HOSTILE_NAMES)
    headline(
        "suite 2 bundle mutation fuzz" + (" (full)" if FULL else ""),
        f"{total} bundles, {len(accepted)} accepted that should not be, {len(crashed)} crashed "
        f"({len(mutants)} mutants in {len(families)} families refused with {len(reasons)} reason codes; "
        f"{len(originals)} originals and {len(HOSTILE_NAMES)} good bundles under hostile names loaded)",
    )
    assert accepted == [] and crashed == [] and untyped == [] and misnamed == []
