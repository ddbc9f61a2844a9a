"""Sealing then opening gives back exactly the data, manifest and header, by every API route."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from dvnet import bundle
from dvnet.bundle import (
    BundleError,
    check_freshness,
    check_manifest,
    check_recipient,
    decrypt,
    key_id,
    parse,
    read_bundle_file,
    seal,
    verify_signature,
)
from dvnet.bundle.header import HEADER_FIELDS


def test_round_trip_returns_data_manifest_and_header(make_bundle, open_default, data):
    sealed = make_bundle()
    opened = open_default(sealed.blob)
    assert bytes(opened.data) == data
    assert opened.header == sealed.header
    assert opened.manifest == sealed.manifest
    assert opened.manifest["record_count"] == 8
    assert opened.manifest["period"] == "2026-Q3"
    assert opened.manifest["data_sha256"] == hashlib.sha256(data).hexdigest()
    assert opened.manifest["supersedes"] is None and opened.manifest["details"] == {}


def test_sealed_bundle_reports_id_and_file_hash(make_bundle):
    sealed = make_bundle(rng=lambda n: bytes(range(n)))
    assert sealed.bundle_id == bytes(range(16)).hex() == sealed.header["bundle_id"]
    assert sealed.sha256 == hashlib.sha256(sealed.blob).hexdigest()


def test_header_has_exactly_the_spec_fields_and_no_plaintext_facts(make_bundle, agency_key, coordinator_key, data):
    sealed = make_bundle()
    header = sealed.header
    assert set(header) == HEADER_FIELDS
    assert header["format"] == bundle.FORMAT and header["suite"] == bundle.SUITE
    assert header["signing_key_id"] == key_id(agency_key.public_key())
    assert header["recipient_key_id"] == key_id(coordinator_key.public_key())
    assert header["created_at"] == "2026-10-01T11:58:00Z"
    assert header["not_after"] == "2026-10-31T11:58:00Z"
    clear = sealed.blob[: len(sealed.blob) - header["ciphertext_length"]]
    for secret in (b"2026-Q3", b"record_count", hashlib.sha256(data).hexdigest().encode(), b"parquet"):
        assert secret not in clear


def test_step_by_step_api_in_spec_order(make_bundle, agency_key, coordinator_key, open_at, data):
    sealed = make_bundle()
    parsed = parse(sealed.blob, 1 << 20)
    assert parsed.header == sealed.header
    verify_signature(parsed, agency_key.public_key())
    check_recipient(parsed, key_id(coordinator_key.public_key()))
    check_freshness(parsed, open_at)
    opened = decrypt(parsed, coordinator_key)
    check_manifest(opened.header, opened.manifest)
    assert bytes(opened.data) == data


def test_record_mode_with_supersedes_and_details(make_bundle, open_default):
    details = {"note": "re-sent after correction", "suppressed": [1, 2], "rate": 0.25, "nested": {"ok": True}}
    sealed = make_bundle(mode="record", supersedes="ab" * 16, details=details, data_format="csv", key_epoch=3)
    opened = open_default(sealed.blob)
    assert opened.manifest["supersedes"] == "ab" * 16
    assert opened.manifest["details"] == details
    assert opened.manifest["data_format"] == "csv"
    assert opened.header["mode"] == "record" and opened.header["key_epoch"] == 3


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_seal_and_open_accept_any_bytes_like(make_bundle, open_default, data, wrap):
    sealed = make_bundle(wrap(data))
    assert bytes(open_default(wrap(sealed.blob)).data) == data


def test_empty_data_round_trips(make_bundle, open_default):
    opened = open_default(make_bundle(b"", record_count=0).blob)
    assert bytes(opened.data) == b"" and opened.manifest["record_count"] == 0


def test_open_side_does_not_copy_the_payload(make_bundle, coordinator_key):
    blob = make_bundle().blob
    parsed = parse(blob)
    assert parsed.ciphertext.obj is blob  # a view into the file bytes
    opened = decrypt(parsed, coordinator_key)
    assert isinstance(opened.data, memoryview)


def test_header_is_deterministic_but_ciphertext_is_not(make_bundle):
    """Time and randomness are injected, so the header is a known answer; HPKE's ephemeral key is not."""
    first, second = make_bundle(), make_bundle()
    assert first.header == second.header
    head = len(first.blob) - first.header["ciphertext_length"] - 8 - 64
    assert first.blob[:head] == second.blob[:head]
    assert first.blob != second.blob


def test_lifetime_sets_not_after(make_bundle):
    header = make_bundle(lifetime=timedelta(hours=6)).header
    assert header["not_after"] == "2026-10-01T17:58:00Z"


def test_read_bundle_file_round_trip_and_cap(tmp_path, make_bundle, open_default):
    blob = make_bundle().blob
    path = tmp_path / "b.dvnet"
    path.write_bytes(blob)
    assert bytes(open_default(read_bundle_file(path)).data) == bytes(open_default(blob).data)
    with pytest.raises(BundleError) as caught:
        read_bundle_file(path, max_size=len(blob) - 1)
    assert caught.value.reason == "TOO_LARGE"


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"agency_id": "Shelter North"}, "HEADER_INVALID"),
        ({"contract_id": "Referral"}, "HEADER_INVALID"),
        ({"contract_version": 0}, "HEADER_INVALID"),
        ({"sequence": 0}, "HEADER_INVALID"),
        ({"sequence": True}, "HEADER_INVALID"),
        ({"mode": "records"}, "HEADER_INVALID"),
        ({"key_epoch": 0}, "HEADER_INVALID"),
        ({"period": "Q3-2026"}, "MANIFEST_INVALID"),
        ({"record_count": -1}, "MANIFEST_INVALID"),
        ({"record_count": 4.0}, "MANIFEST_INVALID"),
        ({"record_count": False}, "MANIFEST_INVALID"),
        ({"data_format": "Parquet!"}, "MANIFEST_INVALID"),
        ({"supersedes": "not-an-id"}, "MANIFEST_INVALID"),
        ({"details": {"when": object()}}, "MANIFEST_INVALID"),
        ({"details": {"x": float("nan")}}, "MANIFEST_INVALID"),
        ({"details": {1: "int key"}}, "MANIFEST_INVALID"),
        ({"details": {"big": "x" * 70_000}}, "MANIFEST_INVALID"),
        ({"details": ["not", "a", "dict"]}, "MANIFEST_INVALID"),
        ({"max_size": 200}, "TOO_LARGE"),
    ],
)
def test_seal_refuses_what_the_coordinator_would_refuse(make_bundle, reason_of, override, reason):
    assert reason_of(make_bundle, **override) == reason


def test_seal_refuses_superseding_itself(make_bundle, reason_of):
    own = bytes(range(16))
    assert reason_of(make_bundle, rng=lambda n: own, supersedes=own.hex()) == "MANIFEST_INVALID"


def test_seal_caller_bugs_raise_plain_errors(make_bundle, seal_kwargs, data, coordinator_key):
    from datetime import datetime

    with pytest.raises(ValueError):
        make_bundle(now=datetime(2026, 10, 1, 12, 0))  # naive
    with pytest.raises(ValueError):
        make_bundle(rng=lambda n: b"short")
    with pytest.raises(ValueError):
        make_bundle(lifetime=timedelta(0))
    with pytest.raises(TypeError):
        seal(data, **seal_kwargs(signing_key=coordinator_key))
    with pytest.raises(TypeError):
        seal(data, **seal_kwargs(recipient_public_key=coordinator_key))


def test_data_handed_over_is_let_go_before_encryption(monkeypatch, seal_kwargs, open_default):
    """Data handed over (a contribution's payload: up to the bundle cap) is freed once it is in
    the plaintext, so sealing holds two copies of it at most, not
    three; a caller that keeps its reference keeps its data."""
    import importlib
    import weakref

    import numpy as np

    seal_module = importlib.import_module("dvnet.bundle.seal")  # the module (``dvnet.bundle.seal`` is also the function)

    payload = np.frombuffer(b"rows of a payload\n" * 1000, dtype=np.uint8).copy()
    want = payload.tobytes()
    alive_at_encryption = []
    real = seal_module.HPKE_SUITE

    class Watching:  # the real suite, told nothing but asked whether the data still lives
        def encrypt(self, plaintext, *args, **kwargs):
            alive_at_encryption.append(held() is not None)
            return real.encrypt(plaintext, *args, **kwargs)

    monkeypatch.setattr(seal_module, "HPKE_SUITE", Watching())
    held = weakref.ref(payload)
    handed = bundle.Handover(payload)
    del payload
    sealed = seal(handed, **seal_kwargs())
    kept = np.frombuffer(want, dtype=np.uint8).copy()
    held = weakref.ref(kept)
    seal(kept, **seal_kwargs())
    assert alive_at_encryption == [False, True]
    assert bytes(open_default(sealed.blob).data) == want
