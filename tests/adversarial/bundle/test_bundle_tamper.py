"""An attacker on the transfer path: every byte is covered, and headers cannot be moved."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dvnet.bundle import BundleError, decrypt, generate_encryption_key, generate_signing_key, parse, verify_signature
from dvnet.bundle.framing import decode_frame, encode_frame
from dvnet.bundle.seal import signed_message

HEADER_REFUSALS = {"HEADER_INVALID", "FORMAT_UNSUPPORTED", "SUITE_UNSUPPORTED", "SIGNATURE_INVALID", "FRAMING_INVALID"}


def _regions(blob: bytes, header_length: int) -> dict[str, range]:
    sig = 13 + header_length
    return {
        "prefix": range(0, 13),
        "header": range(13, sig),
        "signature": range(sig, sig + 64),
        "ct_length": range(sig + 64, sig + 72),
        "ciphertext": range(sig + 72, len(blob)),
    }


def _flip(blob: bytes, index: int, mask: int = 0x01) -> bytes:
    return blob[:index] + bytes([blob[index] ^ mask]) + blob[index + 1 :]


def test_flipping_any_byte_of_the_file_is_refused(make_bundle, open_default, reason_of):
    blob = make_bundle().blob
    regions = _regions(blob, int.from_bytes(blob[9:13], "big"))
    for region, indices in regions.items():
        for index in indices:
            reason = reason_of(open_default, _flip(blob, index))
            if region in ("signature", "ciphertext"):
                assert reason == "SIGNATURE_INVALID", (region, index)
            elif region == "header":
                assert reason in HEADER_REFUSALS, (region, index, reason)
            else:
                assert reason in {"FRAMING_INVALID", "FORMAT_UNSUPPORTED", "TOO_LARGE"}, (region, index, reason)


def test_signature_covers_every_header_byte(make_bundle, agency_key):
    """Bypass the parser so that even a byte the parser would catch is shown to be signed."""
    parsed = parse(make_bundle().blob)
    verify_signature(parsed, agency_key.public_key())
    for index in range(len(parsed.header_bytes)):
        tampered = replace(parsed, header_bytes=_flip(parsed.header_bytes, index))
        with pytest.raises(BundleError) as caught:
            verify_signature(tampered, agency_key.public_key())
        assert caught.value.reason == "SIGNATURE_INVALID", index


def test_signature_covers_every_ciphertext_byte(make_bundle, agency_key):
    parsed = parse(make_bundle().blob)
    ciphertext = bytes(parsed.ciphertext)
    for index in range(len(ciphertext)):
        tampered = replace(parsed, ciphertext=memoryview(_flip(ciphertext, index)))
        with pytest.raises(BundleError) as caught:
            verify_signature(tampered, agency_key.public_key())
        assert caught.value.reason == "SIGNATURE_INVALID", index


def test_swapped_header_fails_signature_and_re_signed_swap_fails_decrypt(make_bundle, open_default, reason_of, agency_key):
    a, b = decode_frame(make_bundle(sequence=1).blob), decode_frame(make_bundle(sequence=2, rng=lambda n: b"\x02" * n).blob)
    ciphertext = bytes(b.ciphertext)
    assert len(ciphertext) == len(a.ciphertext)  # same length: only the binding can notice
    unsigned = encode_frame(a.header_bytes, b.signature, ciphertext)
    assert reason_of(open_default, unsigned) == "SIGNATURE_INVALID"
    # A holder of the agency key re-signs A's header over B's ciphertext: HPKE info binds the header.
    resigned = encode_frame(a.header_bytes, agency_key.sign(signed_message(a.header_bytes, ciphertext)), ciphertext)
    assert reason_of(open_default, resigned) == "DECRYPT_FAILED"


def test_signature_by_another_key_is_refused(make_bundle, open_default, reason_of):
    frame = decode_frame(make_bundle().blob)
    impostor = generate_signing_key()
    forged = encode_frame(
        frame.header_bytes, impostor.sign(signed_message(frame.header_bytes, frame.ciphertext)), frame.ciphertext
    )
    assert reason_of(open_default, forged) == "SIGNATURE_INVALID"
    # Verifying with a key the header does not name is refused before any crypto.
    assert reason_of(open_default, make_bundle().blob, signing_public_key=impostor.public_key()) == "SIGNATURE_INVALID"


def test_bundle_for_another_coordinator_key(make_bundle, open_default, reason_of):
    other = generate_encryption_key()
    blob = make_bundle(recipient_public_key=other.public_key()).blob
    assert reason_of(open_default, blob) == "WRONG_RECIPIENT"
    # The step-by-step decrypt also refuses a key the header does not name.
    assert reason_of(decrypt, parse(make_bundle().blob), other) == "WRONG_RECIPIENT"
