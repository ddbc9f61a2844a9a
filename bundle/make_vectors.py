"""Regenerate the test vectors in ``bundle/vectors/``, one scenario per file (SPEC §8).

    python -m bundle.make_vectors            # rewrite every vector file
    python -m bundle.make_vectors --check    # open every committed vector and compare outcomes

The keys are TEST KEYS derived from public seeds and must never protect real data. The header,
manifest and data are deterministic: fixed time, fixed "random" bundle ids. cryptography's HPKE
takes no injected ephemeral key, so the encapsulated key, the ciphertext and therefore the
signature change on every run. The committed files are known answers for opening only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from dvnet.bundle.errors import BundleError
from dvnet.bundle import streamed
from dvnet.bundle.framing import DEFAULT_MAX_BUNDLE_SIZE, decode_frame, encode_frame, encode_plaintext
from dvnet.bundle.header import FORMAT_WHOLE, canonical_json, format_time, parse_time
from dvnet.bundle.keys import public_key_to_text
from dvnet.bundle.opening import DEFAULT_MAX_CLOCK_SKEW, open_bundle
from dvnet.bundle.seal import ciphertext_length, encrypt_and_sign, encrypt_and_sign_streamed, seal, signed_message

VECTOR_DIR = Path(__file__).parent / "vectors"
TEST_KEY_WARNING = "TEST KEYS ONLY, derived from public seeds in bundle/make_vectors.py. Never use them for real data."
OPEN_AT = datetime(2026, 10, 1, 12, 0, 0, tzinfo=timezone.utc)
SEALED_AT = OPEN_AT - timedelta(minutes=2)
DATA = b"TEST DATA ONLY - not an extract. " * 8
NONDETERMINISM = "enc, ciphertext and signature change on regeneration (HPKE ephemeral key is not injectable)"


def _seed(label: str) -> bytes:
    return hashlib.sha256(f"dvnet-bundle/1 TEST KEY {label}".encode("ascii")).digest()


AGENCY_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(_seed("agency-signing"))
COORDINATOR_KEY = x25519.X25519PrivateKey.from_private_bytes(_seed("coordinator-encryption"))
OTHER_RECIPIENT_KEY = x25519.X25519PrivateKey.from_private_bytes(_seed("other-recipient-encryption"))


def _fixed_rng(label: str) -> Callable[[int], bytes]:
    return lambda n: hashlib.sha256(f"dvnet test bundle id {label}".encode("ascii")).digest()[:n]


def _private_hex(key: ed25519.Ed25519PrivateKey | x25519.X25519PrivateKey) -> str:
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return raw.hex()


def _base(label: str = "base", **overrides: Any):
    args: dict[str, Any] = dict(
        agency_id="test-agency",
        contract_id="referral",
        contract_version=1,
        mode="aggregate",
        sequence=7,
        period="2026-Q3",
        record_count=42,
        signing_key=AGENCY_KEY,
        recipient_public_key=COORDINATOR_KEY.public_key(),
        now=SEALED_AT,
        rng=_fixed_rng(label),
    )
    args.update(overrides)
    return seal(DATA, **args)


def _crafted(header_edit: Callable[[dict], dict] | None = None, manifest_edit: Callable[[dict], dict] | None = None,
             header_encoder: Callable[[dict], bytes] = canonical_json) -> bytes:  # fmt: skip
    """A bundle signed by the real agency key whose header or manifest breaks a rule on purpose."""
    good = _base("crafted")
    manifest = canonical_json((manifest_edit or (lambda m: m))(dict(good.manifest)))
    header = dict(good.header, ciphertext_length=streamed.ciphertext_length(len(DATA), len(manifest)))
    header = (header_edit or (lambda h: h))(header)
    return encrypt_and_sign_streamed(header_encoder(header), manifest, DATA, AGENCY_KEY, COORDINATOR_KEY.public_key())


def _format_1(manifest_edit: Callable[[dict], dict] | None = None) -> bytes:
    """A format-1 bundle (one HPKE message), as agencies sealed before format 2: still opened."""
    good = _base("format-1")
    plaintext = encode_plaintext(canonical_json((manifest_edit or (lambda m: m))(dict(good.manifest))), DATA)
    header = dict(good.header, format=FORMAT_WHOLE, ciphertext_length=ciphertext_length(len(plaintext)))
    return encrypt_and_sign(canonical_json(header), plaintext, AGENCY_KEY, COORDINATOR_KEY.public_key())


def _resigned(blob: bytes, edit: Callable[[bytes], bytes]) -> bytes:
    """``blob`` with its ciphertext edited and signed again by the real agency key (and its header's
    ciphertext_length kept true): only what comes after the signature can notice."""
    frame = decode_frame(blob)
    ciphertext = edit(bytes(frame.ciphertext))
    header = json.loads(frame.header_bytes)
    header_bytes = canonical_json({**header, "ciphertext_length": len(ciphertext)})
    return encode_frame(header_bytes, AGENCY_KEY.sign(signed_message(header_bytes, ciphertext)), ciphertext)


def _flip(blob: bytes, index: int) -> bytes:
    return blob[:index] + bytes([blob[index] ^ 0x01]) + blob[index + 1 :]


def _header_tampered() -> bytes:
    blob = _base().blob
    # Change one hex digit of bundle_id: the header stays canonical and valid, so only the
    # signature can notice.
    at = blob.index(b'"bundle_id":"') + len(b'"bundle_id":"')
    return blob[:at] + (b"b" if blob[at : at + 1] == b"a" else b"a") + blob[at + 1 :]


def _header_swapped() -> bytes:
    """Header of bundle A over the ciphertext of bundle B, re-signed: only the HPKE info notices."""
    a, b = decode_frame(_base("swap-a").blob), decode_frame(_base("swap-b", sequence=8).blob)
    ciphertext = bytes(b.ciphertext)
    return encode_frame(a.header_bytes, AGENCY_KEY.sign(signed_message(a.header_bytes, ciphertext)), ciphertext)


def _with_frame_version(blob: bytes, version: int) -> bytes:
    return blob[:8] + bytes([version]) + blob[9:]


def _scenarios() -> dict[str, tuple[str, str, Callable[[], bytes], dict[str, Any]]]:
    """name → (expected outcome, description, builder, extra open parameters)."""
    base = _base().blob
    sig_at = 13 + int.from_bytes(base[9:13], "big")
    return {
        "success": ("success", "A well-formed aggregate bundle.", lambda: base, {}),
        "success_record_mode": ("success", "Record mode with supersedes and details.", lambda: _base(
            "record", mode="record", sequence=8, supersedes=_fixed_rng("base")(16).hex(),
            details={"note": "test", "suppressed_cells": 0}).blob, {}),  # fmt: skip
        "too_large": ("TOO_LARGE", "Opened with a size cap one byte below the file.", lambda: base,
                      {"max_size": len(base) - 1}),  # fmt: skip
        "bad_magic": ("FRAMING_INVALID", "First byte of the magic changed.", lambda: b"X" + base[1:], {}),
        "truncated": ("FRAMING_INVALID", "Last byte of the file removed.", lambda: base[:-1], {}),
        "trailing_garbage": ("FRAMING_INVALID", "One zero byte appended.", lambda: base + b"\x00", {}),
        "frame_version_unsupported": ("FORMAT_UNSUPPORTED", "Frame version byte 2.",
                                      lambda: _with_frame_version(base, 2), {}),  # fmt: skip
        "header_not_canonical": ("HEADER_INVALID", "Signed header with a space after each colon.", lambda: _crafted(
            header_encoder=lambda h: json.dumps(h, sort_keys=True, separators=(",", ": ")).encode("ascii")), {}),
        "header_unknown_field": ("HEADER_INVALID", "Signed header with an extra 'period' field.",
                                 lambda: _crafted(lambda h: {**h, "period": "2026-Q3"}), {}),  # fmt: skip
        "header_missing_field": ("HEADER_INVALID", "Signed header without key_epoch.",
                                 lambda: _crafted(lambda h: {k: v for k, v in h.items() if k != "key_epoch"}), {}),
        "format_unsupported": ("FORMAT_UNSUPPORTED", "Signed header with format dvnet-bundle/3.",
                               lambda: _crafted(lambda h: {**h, "format": "dvnet-bundle/3"}), {}),  # fmt: skip
        "suite_unsupported": ("SUITE_UNSUPPORTED", "Signed header naming an AES-256-GCM suite.", lambda: _crafted(
            lambda h: {**h, "suite": "hpke-base-x25519-hkdf-sha256-aes256gcm+ed25519"}), {}),
        "header_tampered": ("SIGNATURE_INVALID", "One hex digit of bundle_id changed; header still valid.",
                            _header_tampered, {}),  # fmt: skip
        "signature_tampered": ("SIGNATURE_INVALID", "One bit of the signature flipped.",
                               lambda: _flip(base, sig_at + 10), {}),  # fmt: skip
        "ciphertext_tampered": ("SIGNATURE_INVALID", "One bit of the ciphertext flipped.",
                                lambda: _flip(base, len(base) - 40), {}),  # fmt: skip
        "wrong_recipient": ("WRONG_RECIPIENT", "Sealed to another X25519 key.",
                            lambda: _base(recipient_public_key=OTHER_RECIPIENT_KEY.public_key()).blob, {}),
        "not_yet_valid": ("NOT_YET_VALID", "created_at one hour after the opening time.",
                          lambda: _base(now=OPEN_AT + timedelta(hours=1)).blob, {}),  # fmt: skip
        "expired": ("EXPIRED", "Sealed 40 days before opening with a 30-day lifetime.",
                    lambda: _base(now=OPEN_AT - timedelta(days=40)).blob, {}),  # fmt: skip
        "header_swapped": ("DECRYPT_FAILED", "Header of one bundle over another's ciphertext, re-signed.",
                           _header_swapped, {}),  # fmt: skip
        "data_hash_mismatch": ("DATA_HASH_MISMATCH", "Signed bundle whose manifest data_sha256 is of other data.",
                               lambda: _crafted(manifest_edit=lambda m: {**m, "data_sha256": "0" * 64}), {}),
        "manifest_mismatch": ("MANIFEST_MISMATCH", "Signed by the real key; inner agency_id differs.",
                              lambda: _crafted(manifest_edit=lambda m: {**m, "agency_id": "other-agency"}), {}),
        "envelope_length_invalid": ("FRAMING_INVALID", "Format 2: the envelope's length E one more than the ciphertext holds, re-signed.",
                                lambda: _resigned(base, lambda c: c[:-4] + (len(c) - 3).to_bytes(4, "big")), {}),  # fmt: skip
        "segments_cut": ("FRAMING_INVALID", "Format 2: the segments cut to 10 bytes (shorter than a tag), re-signed.",
                         lambda: _resigned(base, lambda c: c[:10] + c[len(DATA) + 16 :]), {}),  # fmt: skip
        "segment_cut": ("DECRYPT_FAILED", "Format 2: the last byte of the data's segment removed, re-signed.",
                        lambda: _resigned(base, lambda c: c[: len(DATA) + 15] + c[len(DATA) + 16 :]), {}),  # fmt: skip
        "segment_tampered": ("DECRYPT_FAILED", "Format 2: one bit of the data's segment flipped, re-signed.",
                             lambda: _resigned(base, lambda c: _flip(c, 3)), {}),  # fmt: skip
        "envelope_tampered": ("DECRYPT_FAILED", "Format 2: one bit of the envelope (key and manifest) flipped, re-signed.",
                          lambda: _resigned(base, lambda c: _flip(c, len(c) - 20)), {}),  # fmt: skip
        "success_format_1": ("success", "Format 1 (the data in the one HPKE message), still opened.", _format_1, {}),
        "data_hash_mismatch_format_1": ("DATA_HASH_MISMATCH", "Format 1, signed; the manifest's data_sha256 is of other data.",
                                        lambda: _format_1(lambda m: {**m, "data_sha256": "0" * 64}), {}),  # fmt: skip
    }


def _test_keys() -> dict[str, str]:
    return {
        "warning": TEST_KEY_WARNING,
        "agency_signing_private_hex": _private_hex(AGENCY_KEY),
        "agency_signing_public": public_key_to_text(AGENCY_KEY.public_key()),
        "coordinator_encryption_private_hex": _private_hex(COORDINATOR_KEY),
        "coordinator_encryption_public": public_key_to_text(COORDINATOR_KEY.public_key()),
    }


def build_vectors() -> dict[str, dict[str, Any]]:
    """Every scenario as the JSON-safe dict written to ``vectors/<name>.json``."""
    vectors = {}
    for name, (outcome, description, build, extra) in _scenarios().items():
        blob = build()
        open_with = {
            "now": format_time(OPEN_AT),
            "max_size": extra.get("max_size", DEFAULT_MAX_BUNDLE_SIZE),
            "max_clock_skew_seconds": int(DEFAULT_MAX_CLOCK_SKEW.total_seconds()),
        }
        vector: dict[str, Any] = {
            "scenario": name,
            "description": description,
            "expected_outcome": outcome,
            "spec": "bundle/SPEC.md",
            "nondeterministic": NONDETERMINISM,
            "open_with": open_with,
            "test_keys": _test_keys(),
            "bundle_hex": blob.hex(),
        }
        if outcome == "success":
            opened = open_vector(vector)
            vector["expected"] = {"header": opened.header, "manifest": opened.manifest, "data_hex": bytes(opened.data).hex()}
        vectors[name] = vector
    return vectors


def open_vector(vector: dict[str, Any]):
    """Open a vector's bundle with its test keys and parameters (raises ``BundleError`` on refusal)."""
    keys, params = vector["test_keys"], vector["open_with"]
    return open_bundle(
        bytes.fromhex(vector["bundle_hex"]),
        signing_public_key=ed25519.Ed25519PrivateKey.from_private_bytes(
            bytes.fromhex(keys["agency_signing_private_hex"])
        ).public_key(),
        recipient_private_key=x25519.X25519PrivateKey.from_private_bytes(
            bytes.fromhex(keys["coordinator_encryption_private_hex"])
        ),
        now=parse_time(params["now"]),
        max_size=params["max_size"],
        max_clock_skew=timedelta(seconds=params["max_clock_skew_seconds"]),
    )


def outcome_of(vector: dict[str, Any]) -> str:
    """``success`` or the reason code the vector's bundle is refused with."""
    try:
        open_vector(vector)
    except BundleError as error:
        return error.reason
    return "success"


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or, with --check, verify) the vector files; returns a process exit code."""
    parser = argparse.ArgumentParser(prog="python -m bundle.make_vectors", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=VECTOR_DIR, help="directory of vector files")
    parser.add_argument("--check", action="store_true", help="verify existing files instead of writing")
    args = parser.parse_args(argv)
    if args.check:
        failures = 0
        for path in sorted(args.out.glob("*.json")):
            vector = json.loads(path.read_text(encoding="ascii"))
            got = outcome_of(vector)
            if got != vector["expected_outcome"]:
                failures += 1
                print(f"{path.name}: expected {vector['expected_outcome']}, got {got}")
        print(f"checked vectors in {args.out}: {failures} failing")
        return 1 if failures else 0
    vectors = build_vectors()
    for name, vector in vectors.items():
        got = outcome_of(vector)
        if got != vector["expected_outcome"]:
            print(f"{name}: built bundle gives {got}, not {vector['expected_outcome']}; nothing written")
            return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for name, vector in vectors.items():
        (args.out / f"{name}.json").write_text(json.dumps(vector, indent=2) + "\n", encoding="ascii")
    print(f"wrote {len(vectors)} vector files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
