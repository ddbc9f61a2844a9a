"""The cleartext header: canonical JSON only, exact field set, typed values (SPEC §3)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from dvnet.bundle import BundleError
from dvnet.bundle.header import (
    HEADER_FIELDS,
    canonical_json,
    encode_header,
    format_time,
    parse_canonical_json,
    parse_header,
    parse_time,
)


@pytest.fixture
def header(make_bundle) -> dict:
    return dict(make_bundle().header)


def _reason(raw: bytes) -> str:
    try:
        parse_header(raw)
    except BundleError as error:
        return error.reason
    return "success"


def test_encoded_header_parses_back(header):
    raw = encode_header(header)
    assert parse_header(raw) == header
    assert raw == canonical_json(header)
    assert raw.isascii() and b" " not in raw and b"\n" not in raw


@pytest.mark.parametrize(
    "spell",
    [
        lambda h: json.dumps(h, sort_keys=True).encode(),  # default separators add spaces
        lambda h: json.dumps(h, separators=(",", ":")).encode(),  # insertion order, not sorted
        lambda h: json.dumps(h, sort_keys=True, indent=1).encode(),
        lambda h: canonical_json(h) + b"\n",
        lambda h: b" " + canonical_json(h),
        lambda h: b"\xef\xbb\xbf" + canonical_json(h),  # UTF-8 BOM
        lambda h: canonical_json(h).replace(b'"mode":"aggregate"', b'"mode":"\\u0061ggregate"'),
        lambda h: canonical_json(h).replace(b'"key_epoch":1', b'"key_epoch":1.0'),
        lambda h: canonical_json(h).replace(b'"key_epoch":1', b'"key_epoch":1e0'),
        lambda h: canonical_json(h).replace(b'"key_epoch":1', b'"key_epoch":01'),
        lambda h: canonical_json(h).replace(b'"key_epoch":1', b'"key_epoch":NaN'),
        lambda h: canonical_json(h)[:-1] + b',"sequence":1}',  # duplicate key
        lambda h: canonical_json(h).replace(b"shelter-north", "shélter".encode()),
        lambda h: b"[" + canonical_json(h) + b"]",
        lambda h: b"",
        lambda h: b"[" * 3000 + b"]" * 3000,
    ],
)
def test_non_canonical_spellings_are_header_invalid(header, spell):
    assert _reason(spell(header)) == "HEADER_INVALID"


@pytest.mark.parametrize("field", sorted(HEADER_FIELDS - {"format"}))
def test_each_missing_field_is_header_invalid(header, field):
    del header[field]
    assert _reason(canonical_json(header)) == "HEADER_INVALID"


def test_missing_format_is_header_invalid(header):
    del header["format"]
    assert _reason(canonical_json(header)) == "HEADER_INVALID"


def test_unknown_field_is_header_invalid(header):
    assert _reason(canonical_json({**header, "record_count": 8})) == "HEADER_INVALID"


@pytest.mark.parametrize("fmt", ["dvnet-bundle/3", "dvnet-bundle/1 ", "dvnet-bundle/2 ", "", 1, None])
def test_other_formats_are_unsupported(header, fmt):
    assert _reason(canonical_json({**header, "format": fmt})) == "FORMAT_UNSUPPORTED"


def test_other_format_wins_over_field_set(header):
    """A future format may carry other fields; it is reported as unsupported, not as malformed."""
    assert _reason(canonical_json({"format": "dvnet-bundle/3", "anything": 1})) == "FORMAT_UNSUPPORTED"


@pytest.mark.parametrize(
    "suite", ["hpke-base-x25519-hkdf-sha256-aes256gcm+ed25519", "HPKE-BASE-X25519-HKDF-SHA256-CHACHA20POLY1305+ED25519", 0]
)
def test_other_suites_are_unsupported(header, suite):
    assert _reason(canonical_json({**header, "suite": suite})) == "SUITE_UNSUPPORTED"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("agency_id", "Shelter"),
        ("agency_id", "a"),
        ("agency_id", "x" * 42),
        ("agency_id", 7),
        ("signing_key_id", "0123456789ABCDEF"),
        ("signing_key_id", "0123456789abcde"),
        ("recipient_key_id", None),
        ("key_epoch", 0),
        ("key_epoch", True),
        ("key_epoch", "1"),
        ("contract_id", "1referral"),
        ("contract_version", -1),
        ("contract_version", 2**53),
        ("mode", "Aggregate"),
        ("bundle_id", "AB" * 16),
        ("bundle_id", "ab" * 15),
        ("sequence", 0),
        ("created_at", "2026-10-01T11:58:00+00:00"),
        ("created_at", "2026-10-01T11:58:00.5Z"),
        ("created_at", "2026-10-01 11:58:00Z"),
        ("created_at", "2026-13-01T11:58:00Z"),
        ("not_after", "2026-10-01T11:58:00Z"),  # equal to created_at: not later
        ("not_after", "2026-09-01T11:58:00Z"),
        ("ciphertext_length", -1),
        ("ciphertext_length", 1.5),
    ],
)
def test_bad_values_are_header_invalid_and_not_echoed(header, field, value):
    with pytest.raises(BundleError) as caught:
        parse_header(canonical_json({**header, field: value}))
    assert caught.value.reason == "HEADER_INVALID"
    assert field in caught.value.message
    if isinstance(value, str) and len(value) > 3:
        assert value not in str(caught.value)


def test_unknown_field_names_are_not_echoed(header):
    with pytest.raises(BundleError) as caught:
        parse_header(canonical_json({**header, "client_name_jane_doe": 1}))
    assert "jane" not in str(caught.value) and "jane" not in repr(caught.value.to_dict())


def test_parse_canonical_json_uses_given_reason():
    with pytest.raises(BundleError) as caught:
        parse_canonical_json(b"{ }", "RECEIPT_INVALID", "receipt")
    assert caught.value.reason == "RECEIPT_INVALID"


def test_times_are_utc_seconds_with_z():
    moment = datetime(2026, 10, 1, 14, 58, 7, 999_999, tzinfo=timezone(timedelta(hours=3)))
    assert format_time(moment) == "2026-10-01T11:58:07Z"
    assert parse_time("2026-10-01T11:58:07Z") == datetime(2026, 10, 1, 11, 58, 7, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        format_time(datetime(2026, 10, 1))
    with pytest.raises(ValueError):
        parse_time("2026-10-01T11:58:07z")
