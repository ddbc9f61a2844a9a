"""Bundles built by a dishonest or broken agency, and random junk: only typed refusals, no leaks."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest

from dvnet.bundle import BundleError, check_freshness, check_manifest, generate_encryption_key, parse
from dvnet.bundle.framing import MAGIC, decode_frame, encode_frame, encode_plaintext
from dvnet.bundle import streamed
from dvnet.bundle.header import FORMAT_STREAMED, FORMAT_WHOLE, SHARED_FIELDS, canonical_json
from dvnet.bundle.seal import ciphertext_length, encrypt_and_sign, encrypt_and_sign_streamed, signed_message


@pytest.fixture(params=[FORMAT_STREAMED, FORMAT_WHOLE])
def craft(request, make_bundle, agency_key, coordinator_key, data):
    """craft(header_edit, manifest_bytes_edit, data, recipient) -> a bundle signed by the real agency
    key, in format 2 (what agencies seal) and in format 1 (still opened)."""
    fmt = request.param

    def _craft(header_edit=None, manifest_edit=None, payload=data, recipient=None, manifest_bytes=None):
        good = make_bundle(payload)
        manifest = (manifest_edit or (lambda m: m))(dict(good.manifest))
        raw_manifest = canonical_json(manifest) if manifest_bytes is None else manifest_bytes
        public = (recipient or coordinator_key).public_key()
        if fmt == FORMAT_STREAMED:
            header = dict(good.header, ciphertext_length=streamed.ciphertext_length(len(payload), len(raw_manifest)))
            header = (header_edit or (lambda h: h))(header)
            return encrypt_and_sign_streamed(canonical_json(header), raw_manifest, payload, agency_key, public)
        plaintext = encode_plaintext(raw_manifest, payload)
        header = dict(good.header, format=FORMAT_WHOLE, ciphertext_length=ciphertext_length(len(plaintext)))
        header = (header_edit or (lambda h: h))(header)
        return encrypt_and_sign(canonical_json(header), plaintext, agency_key, public)

    return _craft


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("agency_id", "other-agency"),
        ("contract_id", "service_episode"),
        ("contract_version", 2),
        ("mode", "record"),
        ("bundle_id", "ee" * 16),
        ("sequence", 99),
    ],
)
def test_each_inner_identity_must_equal_the_header(craft, open_default, field, value):
    assert field in SHARED_FIELDS
    blob = craft(manifest_edit=lambda m: {**m, field: value})
    with pytest.raises(BundleError) as caught:
        open_default(blob)
    assert caught.value.reason == "MANIFEST_MISMATCH"
    assert caught.value.context["fields"] == [field]


def test_check_manifest_alone():
    header = {"agency_id": "a1", "contract_id": "c", "contract_version": 1, "mode": "record", "bundle_id": "x", "sequence": 1}
    check_manifest(header, dict(header))
    with pytest.raises(BundleError) as caught:
        check_manifest(header, {**header, "sequence": 2})
    assert caught.value.reason == "MANIFEST_MISMATCH"


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: {**m, "record_count": "8"},
        lambda m: {**m, "record_count": True},
        lambda m: {**m, "record_count": -1},
        lambda m: {k: v for k, v in m.items() if k != "period"},
        lambda m: {**m, "extra": 1},
        lambda m: {**m, "data_sha256": m["data_sha256"].upper()},
        lambda m: {**m, "supersedes": m["bundle_id"]},
    ],
)
def test_malformed_inner_manifest_is_manifest_invalid(craft, open_default, reason_of, edit):
    assert reason_of(open_default, craft(manifest_edit=edit)) == "MANIFEST_INVALID"


def test_non_canonical_inner_manifest_is_manifest_invalid(craft, open_default, reason_of, make_bundle):
    manifest = make_bundle().manifest
    pretty = json.dumps(manifest, indent=2).encode()
    assert reason_of(open_default, craft(manifest_bytes=pretty)) == "MANIFEST_INVALID"


def test_data_not_matching_its_hash(craft, open_default, reason_of):
    assert reason_of(open_default, craft(manifest_edit=lambda m: {**m, "data_sha256": "0" * 64})) == "DATA_HASH_MISMATCH"


def test_header_naming_the_coordinator_but_encrypted_elsewhere(craft, open_default, reason_of):
    blob = craft(recipient=generate_encryption_key())
    assert reason_of(open_default, blob) == "DECRYPT_FAILED"


def test_freshness_boundaries(make_bundle, open_at):
    parsed = parse(make_bundle(now=open_at, lifetime=timedelta(hours=1)).blob)
    skew = timedelta(minutes=10)
    check_freshness(parsed, open_at - skew)  # created exactly skew ahead of our clock: accepted
    with pytest.raises(BundleError) as caught:
        check_freshness(parsed, open_at - skew - timedelta(seconds=1))
    assert caught.value.reason == "NOT_YET_VALID"
    check_freshness(parsed, open_at + timedelta(hours=1))  # at not_after: still valid
    with pytest.raises(BundleError) as caught:
        check_freshness(parsed, open_at + timedelta(hours=1, seconds=1), max_clock_skew=timedelta(days=1))
    assert caught.value.reason == "EXPIRED"  # skew never extends the lifetime
    with pytest.raises(ValueError):
        check_freshness(parsed, open_at.replace(tzinfo=None))


def test_signed_hostile_headers_are_typed_refusals(make_bundle, agency_key, reason_of):
    frame = decode_frame(make_bundle().blob)
    base = frame.header_bytes
    hostile = [
        b"[" * 2000 + b"]" * 2000,
        b'{"a":' + b"9" * 4000 + b"}",
        base[:-1] + b',"x":"' + b"\x00" * 10 + b'"}',
        base.replace(b'"mode":"aggregate"', b'"mode":"aggregate","mode":"record"'),
        base.replace(b"shelter-north", b"shelter-n\xc3\xb6rth"),
        b"null",
        b"\xff" * 100,
    ]
    for header_bytes in hostile:
        blob = encode_frame(header_bytes, agency_key.sign(signed_message(header_bytes, frame.ciphertext)), frame.ciphertext)
        assert reason_of(parse, blob) in {"HEADER_INVALID", "TOO_LARGE"}, header_bytes[:40]


def test_random_mutations_only_ever_raise_bundle_errors(make_bundle, open_default):
    blob = make_bundle().blob
    rng = random.Random(20261001)
    for _ in range(3000):
        mutated = bytearray(blob)
        action = rng.randrange(4)
        if action == 0:
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        elif action == 1:
            del mutated[rng.randrange(len(mutated)) :]
        elif action == 2:
            at = rng.randrange(len(mutated))
            mutated[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        else:
            mutated = bytearray(MAGIC + bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))))
        try:
            open_default(bytes(mutated))
        except BundleError:
            continue
        assert bytes(mutated) == blob, "a mutated bundle opened"


def test_error_messages_never_contain_plaintext(craft, make_bundle, open_default, marker, open_at):
    """Collect every refusal a bundle full of the marker can produce; none may quote it."""
    secret_details = {"note": marker.decode()}
    good = make_bundle(details=secret_details).blob
    frame = decode_frame(good)
    cases = [
        good[:-1],
        good + marker,
        craft(manifest_edit=lambda m: {**m, "agency_id": "other-agency", "details": secret_details}),
        craft(manifest_edit=lambda m: {**m, "data_sha256": "0" * 64, "details": secret_details}),
        craft(manifest_edit=lambda m: {**m, "record_count": marker.decode()}),
        craft(manifest_edit=lambda m: {**m, marker.decode(): 1}),
        craft(header_edit=lambda h: {**h, "agency_id": marker.decode()}),
        craft(header_edit=lambda h: {**h, marker.decode(): 1}),
        encode_frame(marker, frame.signature, frame.ciphertext),
        _flip_last(good),
    ]
    errors = []
    for blob in cases:
        with pytest.raises(BundleError) as caught:
            open_default(blob)
        errors.append(caught.value)
    with pytest.raises(BundleError) as caught:
        open_default(good, now=open_at + timedelta(days=365))
    errors.append(caught.value)
    assert len({error.reason for error in errors}) >= 6
    for error in errors:
        text = str(error) + repr(error.to_dict()) + repr(error.args) + str(error.hint)
        assert marker.decode() not in text and marker.decode().lower() not in text.lower()


def _flip_last(blob: bytes) -> bytes:
    return blob[:-1] + bytes([blob[-1] ^ 1])


@pytest.mark.parametrize(
    "manifest_bytes",
    [
        b'{"details":' + b"[" * 30000 + b"]" * 30000 + b"}",
        b'{"record_count":' + b"9" * 5000 + b"}",
        b"\xff\xfe",
        b"[]",
    ],
)
def test_hostile_inner_manifest_is_manifest_invalid(craft, open_default, reason_of, manifest_bytes):
    assert reason_of(open_default, craft(manifest_bytes=manifest_bytes)) == "MANIFEST_INVALID"
