"""File layout: magic, version, lengths, caps, and the exact end of the file (SPEC §2)."""

from __future__ import annotations

import struct

import pytest

from dvnet.bundle import BundleError, parse
from dvnet.bundle.framing import (
    MAGIC,
    OVERHEAD,
    Frame,
    decode_frame,
    encode_frame,
    encode_plaintext,
    split_plaintext,
)
from dvnet.bundle.header import canonical_json


@pytest.fixture
def blob(make_bundle) -> bytes:
    return make_bundle().blob


def _reason(blob: bytes, **kwargs) -> str:
    try:
        decode_frame(blob, **kwargs)
    except BundleError as error:
        return error.reason
    return "success"


def test_layout_matches_the_spec(blob, make_bundle):
    header_bytes = canonical_json(make_bundle().header)
    assert blob[:8] == MAGIC == b"\x89DVB\r\n\x1a\n"
    assert blob[8] == 1
    assert struct.unpack(">I", blob[9:13])[0] == len(header_bytes)
    assert blob[13 : 13 + len(header_bytes)] == header_bytes
    ct_len_at = 13 + len(header_bytes) + 64
    (ct_len,) = struct.unpack(">Q", blob[ct_len_at : ct_len_at + 8])
    assert len(blob) == OVERHEAD + len(header_bytes) + ct_len


def test_encode_decode_round_trip():
    frame = decode_frame(encode_frame(b"{}", b"s" * 64, b"c" * 48))
    assert (frame.header_bytes, frame.signature, bytes(frame.ciphertext)) == (b"{}", b"s" * 64, b"c" * 48)
    assert isinstance(frame, Frame)


def test_every_truncation_is_framing_invalid(blob):
    reasons = {_reason(blob[:n]) for n in range(len(blob))}
    assert reasons == {"FRAMING_INVALID"}


@pytest.mark.parametrize("extra", [b"\x00", b"garbage", b"\x00" * 4096])
def test_trailing_bytes_are_framing_invalid(blob, extra):
    assert _reason(blob + extra) == "FRAMING_INVALID"


@pytest.mark.parametrize("index", range(8))
def test_any_magic_byte_changed_is_framing_invalid(blob, index):
    damaged = blob[:index] + bytes([blob[index] ^ 0x20]) + blob[index + 1 :]
    assert _reason(damaged) == "FRAMING_INVALID"


def test_line_ending_conversion_is_caught(blob):
    assert _reason(blob.replace(b"\r\n", b"\n", 1)) == "FRAMING_INVALID"


@pytest.mark.parametrize("version", [0, 2, 255])
def test_other_frame_versions_are_unsupported(blob, version):
    assert _reason(blob[:8] + bytes([version]) + blob[9:]) == "FORMAT_UNSUPPORTED"


def test_size_cap_is_checked_first(blob):
    assert _reason(blob, max_size=len(blob)) == "success"
    assert _reason(blob, max_size=len(blob) - 1) == "TOO_LARGE"
    assert _reason(b"not even a bundle" * 10, max_size=10) == "TOO_LARGE"


def test_header_cap(blob):
    header_length = struct.unpack(">I", blob[9:13])[0]
    assert _reason(blob, max_header_size=header_length) == "success"
    assert _reason(blob, max_header_size=header_length - 1) == "TOO_LARGE"


@pytest.mark.parametrize("header_length", [0xFFFFFFFF, 5000])
def test_lying_header_length_is_refused_without_reading(blob, header_length):
    assert _reason(blob[:9] + struct.pack(">I", header_length) + blob[13:]) == "TOO_LARGE"


def test_zero_header_length_is_framing_invalid():
    assert _reason(MAGIC + b"\x01" + struct.pack(">I", 0) + b"s" * 64 + struct.pack(">Q", 48) + b"c" * 48) == (
        "FRAMING_INVALID"
    )


@pytest.mark.parametrize("ct_length", [0, 47, 2**64 - 1, 2**40])
def test_lying_ciphertext_length_is_framing_invalid(ct_length):
    blob = MAGIC + b"\x01" + struct.pack(">I", 2) + b"{}" + b"s" * 64 + struct.pack(">Q", ct_length) + b"c" * 48
    assert _reason(blob) == "FRAMING_INVALID"


def test_header_ciphertext_length_must_match_frame(make_bundle):
    sealed = make_bundle()
    frame = decode_frame(sealed.blob)
    header = dict(sealed.header, ciphertext_length=sealed.header["ciphertext_length"] + 1)
    blob = encode_frame(canonical_json(header), frame.signature, frame.ciphertext)
    with pytest.raises(BundleError) as caught:
        parse(blob)
    assert caught.value.reason == "FRAMING_INVALID"


def test_plaintext_layout_round_trip():
    manifest, data = split_plaintext(encode_plaintext(b'{"a":1}', b"rows"))
    assert (bytes(manifest), bytes(data)) == (b'{"a":1}', b"rows")


@pytest.mark.parametrize(
    "plaintext",
    [b"", b"\x00\x00", b"\x00\x00\x00\x00rows", b"\x00\x00\x00\x09{}", b"\x00\x01\x00\x01" + b"x" * 70_000],
)
def test_bad_plaintext_layout_is_manifest_invalid(plaintext):
    with pytest.raises(BundleError) as caught:
        split_plaintext(plaintext)
    assert caught.value.reason == "MANIFEST_INVALID"
