"""``audit.append(once=…)``: a step a crash can make a process repeat is logged once.

The log is read back from its end in blocks; these cases cover an entry far back (several blocks),
an entry older than ``once_since`` (not searched: the event happened after it), and that the log
still verifies after a skipped append.
"""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.asymmetric import ed25519

from dvnet.common import audit

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def _signer() -> audit.KeySigner:
    return audit.KeySigner("coordinator:test", ed25519.Ed25519PrivateKey.generate())


def test_the_same_event_is_logged_once_and_its_head_returned(tmp_path):
    log, who = tmp_path / "audit.jsonl", _signer()
    first = audit.append(log, "bundle_loaded", actor=who, now=T0, once="inbox:1:2:3", once_since=T0)
    again = audit.append(log, "bundle_loaded", actor=who, now=T0 + dt.timedelta(seconds=5), once="inbox:1:2:3", once_since=T0)
    assert again == first
    assert len(audit.read(log)) == 1
    other = audit.append(log, "bundle_loaded", actor=who, now=T0, once="inbox:1:2:4", once_since=T0)  # another arrival
    assert other.entries == 2 and len(audit.read(log)) == 2
    assert audit.verify(log).entries == 2


def test_an_event_many_blocks_back_is_still_found(tmp_path):
    log, who = tmp_path / "audit.jsonl", _signer()
    target = audit.append(log, "release_published", actor=who, now=T0, once="release:r1", padding="x" * 100)
    for i in range(2000):  # well over one 64 KiB block of later entries
        audit.append(log, "noise", actor="someone", now=T0, padding="y" * 100, i=i)
    assert audit.append(log, "release_published", actor=who, now=T0, once="release:r1") == target
    assert len(audit.read(log)) == 2001


def test_the_search_stops_at_entries_older_than_the_event(tmp_path):
    log, who = tmp_path / "audit.jsonl", _signer()
    audit.append(log, "bundle_loaded", actor=who, now=T0, once="inbox:1:2:3")
    later = T0 + dt.timedelta(hours=1)
    # An arrival after the entry cannot be what that entry records (the key would only repeat
    # if an inode and its change time were reused): it is logged.
    head = audit.append(log, "bundle_loaded", actor=who, now=later, once="inbox:1:2:3", once_since=later)
    assert head.entries == 2 and len(audit.read(log)) == 2
