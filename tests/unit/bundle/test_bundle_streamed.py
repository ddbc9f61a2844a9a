"""Format 2 (SPEC §10): the data sealed a segment at a time as it is written, opened a segment at a
time. Every way of cutting the data into writes gives the data back; every way of moving, dropping,
repeating or cutting a segment is refused; the writer never holds the data."""

from __future__ import annotations

import io
import json
import os
import random
import tracemalloc

import pytest

from dvnet.bundle import BundleError, BundleWriter, decrypt, open_bundle, parse, seal
from dvnet.bundle import streamed
from dvnet.bundle.framing import decode_frame, encode_frame
from dvnet.bundle.header import FORMAT_STREAMED, canonical_json
from dvnet.bundle.seal import signed_message

SEG = streamed.SEGMENT_SIZE
SIZES = [0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG, 2 * SEG + 17, 5 * SEG - 3]


def _open(blob, agency_key, coordinator_key, open_at):
    return open_bundle(blob, signing_public_key=agency_key.public_key(), recipient_private_key=coordinator_key, now=open_at)


def _written(data: bytes, pieces: list[int], seal_kwargs) -> bytes:
    writer = BundleWriter(io.BytesIO())
    at = 0
    for n in pieces:
        writer.write(data[at : at + n])
        at += n
    writer.write(data[at:])
    out = io.BytesIO()
    writer.seal(**seal_kwargs()).write_to(out)
    return out.getvalue()


@pytest.mark.parametrize("size", SIZES)
def test_any_cut_of_the_data_into_writes_opens_to_the_data(size, seal_kwargs, agency_key, coordinator_key, open_at):
    data = os.urandom(size)
    rng = random.Random(size)
    cuts = {
        "one write": [],
        "byte by byte around the boundaries": [1] * min(size, 70) + [SEG - 70] * (size > SEG),
        "random pieces": [rng.randint(0, 3 * SEG // 2) for _ in range(8)],
    }
    for how, pieces in cuts.items():
        blob = _written(data, pieces, seal_kwargs)
        opened = _open(blob, agency_key, coordinator_key, open_at)
        assert bytes(opened.data) == data, how
        assert opened.header["format"] == FORMAT_STREAMED
        frame = decode_frame(blob)
        manifest_length = len(canonical_json(opened.manifest))
        assert frame.ciphertext.nbytes == streamed.ciphertext_length(size, manifest_length), how
    assert bytes(_open(seal(data, **seal_kwargs()).blob, agency_key, coordinator_key, open_at).data) == data


def test_the_written_file_hash_and_size_are_the_files(seal_kwargs):
    writer = BundleWriter()
    writer.write(os.urandom(3 * SEG + 5))
    sealed = writer.seal(**seal_kwargs())
    out = io.BytesIO()
    import hashlib

    assert sealed.write_to(out) == hashlib.sha256(out.getvalue()).hexdigest()
    assert sealed.size == len(out.getvalue())


def test_the_segment_key_is_fresh_even_under_a_fixed_rng(seal_kwargs):
    """The injected rng fixes the bundle id for tests; K always comes from the operating system,
    so two bundles of the same data never share a keystream."""
    data = b"same data " * 1000
    a, b = seal(data, **seal_kwargs()), seal(data, **seal_kwargs())
    assert a.header == b.header
    segments_a = bytes(decode_frame(a.blob).ciphertext)[: len(data) + 16]
    segments_b = bytes(decode_frame(b.blob).ciphertext)[: len(data) + 16]
    assert segments_a != segments_b


def _segments_edited(blob: bytes, agency_key, edit) -> bytes:
    """The bundle with its segments edited, the envelope kept, the header's length kept true and
    everything signed again by the real agency key: only the segments' own tags can notice."""
    frame = decode_frame(blob)
    ciphertext = bytes(frame.ciphertext)
    (e,) = [int.from_bytes(ciphertext[-4:], "big")]
    segments, tail = ciphertext[: len(ciphertext) - 4 - e], ciphertext[len(ciphertext) - 4 - e :]
    step = SEG + 16
    pieces = [segments[i : i + step] for i in range(0, len(segments), step)]
    ciphertext = b"".join(edit(pieces)) + tail
    header_bytes = canonical_json({**json.loads(frame.header_bytes), "ciphertext_length": len(ciphertext)})
    return encode_frame(header_bytes, agency_key.sign(signed_message(header_bytes, ciphertext)), ciphertext)


EDITS = {
    "two segments swapped": lambda p: [p[1], p[0], *p[2:]],
    "the last segment dropped": lambda p: p[:-1],
    "a segment dropped from the middle": lambda p: [p[0], *p[2:]],
    "a segment repeated": lambda p: [p[0], p[0], *p[1:]],
    "the last segment repeated": lambda p: [*p, p[-1]],
    "the last segment cut by a byte": lambda p: [*p[:-1], p[-1][:-1]],
    "the last segment moved first": lambda p: [p[-1], *p[:-1]],
}


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_moving_dropping_repeating_or_cutting_a_segment_is_refused(edit, seal_kwargs, agency_key, coordinator_key, open_at):
    blob = seal(os.urandom(3 * SEG + 100), **seal_kwargs()).blob
    tampered = _segments_edited(blob, agency_key, EDITS[edit])
    with pytest.raises(BundleError) as caught:
        _open(tampered, agency_key, coordinator_key, open_at)
    assert caught.value.reason in {"DECRYPT_FAILED", "FRAMING_INVALID"}, edit


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_each_segment_tag_alone_refuses_the_edit(edit):
    """Below the envelope (which binds the header, and so the ciphertext's length): with the right
    key, the segments' own nonces (index, last flag) refuse every edit, at a segment."""
    import hashlib

    data = os.urandom(3 * SEG + 100)
    writer = streamed.SegmentWriter(io.BytesIO())
    writer.write(data)
    key = writer.close()
    segments = writer.spool.getvalue()
    assert bytes(streamed.decrypt_segments(key, memoryview(segments), hashlib.sha256(data).hexdigest())) == data
    step = SEG + 16
    pieces = [segments[i : i + step] for i in range(0, len(segments), step)]
    with pytest.raises(BundleError) as caught:
        streamed.decrypt_segments(key, memoryview(b"".join(EDITS[edit](pieces))), hashlib.sha256(data).hexdigest())
    assert caught.value.reason == "DECRYPT_FAILED"
    assert "segment" in str(caught.value)


def test_a_full_last_segment_is_not_taken_for_a_middle_one(seal_kwargs, agency_key, coordinator_key, open_at):
    """Data of exactly two segments: dropping the second leaves a full segment sealed as not last."""
    blob = seal(os.urandom(2 * SEG), **seal_kwargs()).blob
    with pytest.raises(BundleError) as caught:
        _open(_segments_edited(blob, agency_key, lambda p: p[:1]), agency_key, coordinator_key, open_at)
    assert caught.value.reason == "DECRYPT_FAILED"


def test_the_envelope_of_one_bundle_does_not_open_anothers_segments(seal_kwargs, agency_key, coordinator_key, open_at):
    a = seal(os.urandom(SEG + 9), **seal_kwargs()).blob
    b = seal(os.urandom(SEG + 9), **seal_kwargs()).blob
    ca, cb = bytes(decode_frame(a).ciphertext), bytes(decode_frame(b).ciphertext)
    spliced = _segments_edited(a, agency_key, lambda p: [cb[: SEG + 16], cb[SEG + 16 : 2 * SEG + 16 + 9]])
    assert bytes(decode_frame(spliced).ciphertext) != ca
    with pytest.raises(BundleError) as caught:
        _open(spliced, agency_key, coordinator_key, open_at)
    assert caught.value.reason == "DECRYPT_FAILED"


def test_the_layout_is_read_only_after_the_signature(make_bundle, agency_key, coordinator_key, open_at):
    """A changed envelope length in transit is a signature failure, not a framing one: nothing
    reads the ciphertext before the signature has covered it."""
    blob = bytearray(make_bundle().blob)
    blob[-4] ^= 0x40  # the envelope length E grows by 2**30: longer than the file
    parsed = parse(bytes(blob))
    with pytest.raises(BundleError) as caught:
        _open(bytes(blob), agency_key, coordinator_key, open_at)
    assert caught.value.reason == "SIGNATURE_INVALID"
    with pytest.raises(BundleError) as caught:
        decrypt(parsed, coordinator_key)
    assert caught.value.reason == "FRAMING_INVALID"


def test_the_writer_holds_one_segment_not_the_data(seal_kwargs):
    """64 MiB written in 1 MiB pieces: the writer's own memory stays within a few segments (the
    encrypted segments wait in its spool file)."""
    piece = os.urandom(1 << 20)
    writer = BundleWriter()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(64):
            writer.write(piece)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak < 4 * SEG + (1 << 20), peak
    sealed = writer.seal(**seal_kwargs())
    assert sealed.size > 64 << 20
    with open(os.devnull, "wb") as out:
        sealed.write_to(out)  # and lets go of its spool
    assert sealed.segments.spool.closed


def test_a_bundle_over_the_cap_is_refused_and_its_spool_closed(seal_kwargs):
    writer = BundleWriter()
    writer.write(os.urandom(SEG))
    with pytest.raises(BundleError) as caught:
        writer.seal(**seal_kwargs(max_size=SEG))
    assert caught.value.reason == "TOO_LARGE"
    with pytest.raises(ValueError):
        writer.write(b"more")
