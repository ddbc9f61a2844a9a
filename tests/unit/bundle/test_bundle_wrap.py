"""The wrapped network linkage key (SPEC §9): opens only for its agency's key, only if the
custodian signed it, and refuses every alteration."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest

from dvnet.bundle import BundleError, generate_encryption_key, generate_signing_key, key_id
from dvnet.bundle.header import canonical_json
from dvnet.bundle.wrap import HEADER_FIELDS, _signed, linkage_key_id, unwrap_secret, wrap_secret

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)
SECRET = bytes(range(32))
AGENCY, OTHER, CUSTODIAN = generate_encryption_key(), generate_encryption_key(), generate_signing_key()


def _wrap(**kw) -> bytes:
    args = dict(agency_id="uni-research", recipient_public_key=AGENCY.public_key(), custodian_key=CUSTODIAN, now=NOW)
    return wrap_secret(SECRET, **{**args, **kw})


def _open(blob: bytes, **kw):
    args = dict(agency_id="uni-research", recipient_private_key=AGENCY, custodian_public_key=CUSTODIAN.public_key())
    return unwrap_secret(blob, **{**args, **kw})


def _reason(blob: bytes, **kw) -> str:
    try:
        _open(blob, **kw)
    except BundleError as e:
        return e.reason
    return "success"


def test_the_agency_opens_its_wrapped_key():
    secret, header = _open(_wrap())
    assert secret == SECRET
    assert header["linkage_key_id"] == linkage_key_id(SECRET) and header["recipient_key_id"] == key_id(AGENCY.public_key())
    assert SECRET not in _wrap() and base64.b64encode(SECRET) not in _wrap()


def test_another_agency_or_key_cannot_open_it():
    blob = _wrap()
    assert _reason(blob, agency_id="legal-aid") == "WRAP_NOT_FOR_AGENCY"
    assert _reason(blob, recipient_private_key=OTHER) == "WRAP_NOT_FOR_AGENCY"


def test_readdressing_the_header_to_another_agency_does_not_open_it():
    doc = json.loads(_wrap())
    moved = canonical_json({**doc, "agency_id": "legal-aid", "recipient_key_id": key_id(OTHER.public_key())})
    assert _reason(moved, agency_id="legal-aid", recipient_private_key=OTHER) == "WRAP_INVALID"


def test_a_key_sealed_by_anyone_but_the_custodian_is_refused():
    """The agency's key is public: whoever relays the file could seal a key of its own to it."""
    impostor = generate_signing_key()
    assert _reason(_wrap(custodian_key=impostor)) == "WRAP_WRONG_CUSTODIAN"
    # ... even when it claims the custodian's key id, its signature does not verify.
    doc = json.loads(_wrap(custodian_key=impostor))
    header = {**{k: doc[k] for k in HEADER_FIELDS}, "custodian_key_id": key_id(CUSTODIAN.public_key())}
    ciphertext = base64.b64decode(doc["ciphertext"])
    forged = canonical_json({**doc, **header, "signature": base64.b64encode(impostor.sign(_signed(header, ciphertext))).decode()})
    assert _reason(forged) == "WRAP_INVALID"


def test_every_altered_byte_is_refused():
    blob = _wrap()
    for index in range(0, len(blob), 3):
        altered = blob[:index] + bytes([blob[index] ^ 0x01]) + blob[index + 1 :]
        assert _reason(altered) != "success", index


@pytest.mark.parametrize(
    "change",
    [
        {"note": "x"},
        {"format": "dvnet-linkage-wrap/2"},
        {"linkage_key_id": "0" * 16},
        {"created_at": "yesterday"},
        {"ciphertext": "!!"},
    ],
)
def test_edited_or_extended_files_are_refused(change):
    doc = json.loads(_wrap())
    assert _reason(canonical_json({**doc, **change})) == "WRAP_INVALID"


def test_only_a_32_byte_key_is_wrapped():
    with pytest.raises(BundleError) as exc:
        wrap_secret(b"short", agency_id="uni-research", recipient_public_key=AGENCY.public_key(), custodian_key=CUSTODIAN, now=NOW)
    assert exc.value.reason == "WRAP_INVALID"
