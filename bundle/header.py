"""The two JSON documents of a bundle: the signed cleartext header and the inner manifest.

This module is pure parsing and holds no crypto (SPEC §3, §4). Both documents are canonical
JSON with an exact field set. A reader serialises what it parsed and refuses the bytes unless
they come out identical. Then every signer and every reader agree on one spelling, and no
extra bytes can ride along in a signed header.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from dvnet.bundle.errors import (
    FORMAT_UNSUPPORTED,
    HEADER_INVALID,
    MANIFEST_INVALID,
    SUITE_UNSUPPORTED,
    BundleError,
)

#: Format 1: the data and its manifest in one HPKE message (SPEC §1–§4); still opened.
FORMAT_WHOLE = "dvnet-bundle/1"
#: Format 2: the data in ChaCha20-Poly1305 segments under a key the HPKE message carries with the
#: manifest (SPEC §10), so neither side holds the data twice; what agencies seal.
FORMAT_STREAMED = "dvnet-bundle/2"
FORMATS = (FORMAT_WHOLE, FORMAT_STREAMED)
FORMAT = FORMAT_STREAMED  # what is sealed
SUITE = "hpke-base-x25519-hkdf-sha256-chacha20poly1305+ed25519"
MODES = ("aggregate", "record")
MAX_JSON_INT = 2**53 - 1
MAX_MANIFEST_SIZE = 64 * 1024

# Same as ORG_ID_PATTERN in contracts/v1/common.py. It is copied, not imported, because
# bundle/ may depend only on contracts.errors.
AGENCY_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,40}")
CONTRACT_ID_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
KEY_ID_RE = re.compile(r"[0-9a-f]{16}")
BUNDLE_ID_RE = re.compile(r"[0-9a-f]{32}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
PERIOD_RE = re.compile(r"\d{4}(-(Q[1-4]|H[12]|0[1-9]|1[0-2]))?")
DATA_FORMAT_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
REASON_RE = re.compile(r"[A-Z][A-Z0-9_]{1,63}")

HEADER_FIELDS = frozenset(
    {
        "format", "suite", "agency_id", "signing_key_id", "recipient_key_id", "key_epoch",
        "contract_id", "contract_version", "mode", "bundle_id", "sequence", "created_at",
        "not_after", "ciphertext_length",
    }
)  # fmt: skip
#: The identities the manifest repeats from the header; ``check_manifest`` compares these.
SHARED_FIELDS = ("agency_id", "contract_id", "contract_version", "mode", "bundle_id", "sequence")
MANIFEST_FIELDS = frozenset(
    {*SHARED_FIELDS, "period", "record_count", "data_sha256", "data_format", "supersedes", "details"}
)


# ---------------------------------------------------------------------------- canonical JSON
def canonical_json(obj: Any) -> bytes:
    """The single byte spelling of ``obj``: sorted keys, no whitespace, ASCII, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError("NaN or Infinity")


def parse_canonical_json(raw: bytes | memoryview, reason: str, what: str) -> dict[str, Any]:
    """Parse a canonical JSON object or raise ``BundleError(reason)``; the message never quotes it."""
    raw = bytes(raw)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise BundleError(reason, f"{what} contains non-ASCII bytes") from None
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BundleError(reason, f"{what} is not valid JSON (or has duplicate keys)") from None
    if not isinstance(obj, dict):
        raise BundleError(reason, f"{what} is not a JSON object")
    try:
        canonical = canonical_json(obj)
    except (ValueError, RecursionError):
        raise BundleError(reason, f"{what} cannot be serialised canonically") from None
    if canonical != raw:
        raise BundleError(reason, f"{what} is not canonical JSON (sorted keys, no whitespace, minimal escapes)")
    return obj


# ---------------------------------------------------------------------------- times
def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with seconds precision and a ``Z``; a naive datetime is a caller bug."""
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("times must be timezone-aware datetimes")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Inverse of ``format_time``; raises ValueError for anything else."""
    if not isinstance(text, str) or not TIME_RE.fullmatch(text):
        raise ValueError("not an RFC 3339 UTC time with seconds precision")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


# ---------------------------------------------------------------------------- field rules
def _is_int(value: Any, minimum: int) -> bool:
    return type(value) is int and minimum <= value <= MAX_JSON_INT


def _is_str(value: Any, pattern: re.Pattern[str]) -> bool:
    return type(value) is str and pattern.fullmatch(value) is not None


def _shared_field_errors(doc: dict[str, Any]) -> list[str]:
    """Names of the identity fields (header and manifest alike) that break their rule."""
    rules = {
        "agency_id": _is_str(doc["agency_id"], AGENCY_ID_RE),
        "contract_id": _is_str(doc["contract_id"], CONTRACT_ID_RE),
        "contract_version": _is_int(doc["contract_version"], 1),
        "mode": type(doc["mode"]) is str and doc["mode"] in MODES,
        "bundle_id": _is_str(doc["bundle_id"], BUNDLE_ID_RE),
        "sequence": _is_int(doc["sequence"], 1),
    }
    return [name for name, ok in rules.items() if not ok]


def _field_set_error(doc: dict[str, Any], expected: frozenset[str], reason: str, what: str) -> None:
    missing, unknown = sorted(expected - doc.keys()), sorted(doc.keys() - expected)
    if missing or unknown:
        # Names of unknown fields come from the input, so only their count is reported.
        raise BundleError(reason, f"{what} fields wrong: missing {missing}, {len(unknown)} unknown", missing=missing)


# ---------------------------------------------------------------------------- header
def validate_header(header: dict[str, Any]) -> None:
    """Check a header dict against SPEC §3, in the order the spec's table gives."""
    fmt = header.get("format")
    if "format" in header and fmt not in FORMATS:
        raise BundleError(FORMAT_UNSUPPORTED, f"header format is none of {', '.join(FORMATS)}")
    _field_set_error(header, HEADER_FIELDS, HEADER_INVALID, "header")
    if header["suite"] != SUITE:
        raise BundleError(SUITE_UNSUPPORTED, "header names a suite other than the one allowed")
    bad = _shared_field_errors(header)
    bad += [name for name in ("signing_key_id", "recipient_key_id") if not _is_str(header[name], KEY_ID_RE)]
    bad += [name for name in ("key_epoch",) if not _is_int(header[name], 1)]
    bad += [name for name in ("ciphertext_length",) if not _is_int(header[name], 0)]
    times = {}
    for name in ("created_at", "not_after"):
        try:
            times[name] = parse_time(header[name])
        except ValueError:
            bad.append(name)
    if bad:
        raise BundleError(HEADER_INVALID, f"header fields break their rules: {sorted(bad)}", fields=sorted(bad))
    if times["not_after"] <= times["created_at"]:
        raise BundleError(HEADER_INVALID, "header not_after is not later than created_at", fields=["not_after"])


def encode_header(header: dict[str, Any]) -> bytes:
    """Validate and serialise a header; raises ``BundleError`` so a sealer cannot emit a bad one."""
    validate_header(header)
    return canonical_json(header)


def parse_header(raw: bytes | memoryview) -> dict[str, Any]:
    """Header bytes → dict, refusing non-canonical JSON and anything SPEC §3 forbids."""
    header = parse_canonical_json(raw, HEADER_INVALID, "header")
    validate_header(header)
    return header


# ---------------------------------------------------------------------------- manifest
def validate_manifest(manifest: dict[str, Any]) -> None:
    """Check an inner manifest against SPEC §4 (but not against the header: see check_manifest)."""
    _field_set_error(manifest, MANIFEST_FIELDS, MANIFEST_INVALID, "manifest")
    bad = _shared_field_errors(manifest)
    rules = {
        "period": _is_str(manifest["period"], PERIOD_RE),
        "record_count": _is_int(manifest["record_count"], 0),
        "data_sha256": _is_str(manifest["data_sha256"], SHA256_RE),
        "data_format": _is_str(manifest["data_format"], DATA_FORMAT_RE),
        "supersedes": manifest["supersedes"] is None
        or (_is_str(manifest["supersedes"], BUNDLE_ID_RE) and manifest["supersedes"] != manifest["bundle_id"]),
        "details": type(manifest["details"]) is dict,
    }
    bad += [name for name, ok in rules.items() if not ok]
    if bad:
        raise BundleError(MANIFEST_INVALID, f"manifest fields break their rules: {sorted(bad)}", fields=sorted(bad))


def encode_manifest(manifest: dict[str, Any]) -> bytes:
    """Validate and serialise a manifest. Data that cannot be canonical JSON gives MANIFEST_INVALID."""
    validate_manifest(manifest)
    try:
        raw = canonical_json(manifest)
    except (TypeError, ValueError, RecursionError):
        raise BundleError(MANIFEST_INVALID, "manifest details are not JSON-safe (finite numbers, str keys)") from None
    if json.loads(raw) != manifest:
        raise BundleError(MANIFEST_INVALID, "manifest details do not survive a JSON round trip (str keys, lists)")
    if len(raw) > MAX_MANIFEST_SIZE:
        raise BundleError(MANIFEST_INVALID, f"manifest is {len(raw)} bytes; the cap is {MAX_MANIFEST_SIZE}")
    return raw


def parse_manifest(raw: bytes | memoryview) -> dict[str, Any]:
    """Manifest bytes → dict, refusing non-canonical JSON and anything SPEC §4 forbids."""
    manifest = parse_canonical_json(raw, MANIFEST_INVALID, "manifest")
    validate_manifest(manifest)
    return manifest
