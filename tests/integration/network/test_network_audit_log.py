"""The hash-chained audit log: an edited, removed or mangled line is reported by its line number."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from dvnet.contracts.errors import DvnetError
from dvnet.common import audit

T0 = dt.datetime(2026, 10, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "state" / "audit.log"
    audit.append(path, "network_init", now=T0, network="Riverside")
    audit.append(path, "agency_registered", now=T0 + dt.timedelta(minutes=1), agency="shelter-north", tier=3)
    audit.append(path, "bundle_sealed", now=T0 + dt.timedelta(minutes=2), agency="shelter-north", records=120)
    return path


def _lines(path):
    return path.read_bytes().splitlines(keepends=True)


def _broken_line(path) -> str:
    with pytest.raises(DvnetError) as exc:
        audit.verify(path)
    assert exc.value.reason == "AUDIT_CHAIN_BROKEN"
    return exc.value.message


def test_appended_events_read_back_in_order_with_their_details(log):
    events = audit.read(log)
    assert [e["event"] for e in events] == ["network_init", "agency_registered", "bundle_sealed"]
    assert events[1]["agency"] == "shelter-north" and events[1]["tier"] == 3
    assert events[0]["at"] == "2026-10-01T09:00:00+00:00"
    assert events[0]["prev"] == audit.GENESIS


def test_an_intact_log_verifies_and_counts_its_events(log):
    assert audit.verify(log) == 3
    audit.append(log, "release_published", now=T0 + dt.timedelta(hours=1))
    assert audit.verify(log) == 4


def test_a_missing_log_verifies_as_empty(tmp_path):
    assert audit.verify(tmp_path / "none.log") == 0
    assert audit.read(tmp_path / "none.log") == []


def test_editing_a_line_breaks_the_chain_at_the_next_line(log):
    lines = _lines(log)
    record = json.loads(lines[1])
    record["tier"] = 4
    lines[1] = json.dumps(record, sort_keys=True).encode() + b"\n"
    log.write_bytes(b"".join(lines))
    assert "line 3" in _broken_line(log)


def test_editing_a_lines_own_link_is_caught_at_that_line(log):
    lines = _lines(log)
    record = json.loads(lines[0])
    record["prev"] = "f" * 64
    lines[0] = json.dumps(record, sort_keys=True).encode() + b"\n"
    log.write_bytes(b"".join(lines))
    assert "line 1" in _broken_line(log)


def test_removing_a_line_is_caught(log):
    lines = _lines(log)
    log.write_bytes(lines[0] + lines[2])
    assert "line 2" in _broken_line(log)


def test_reordering_lines_is_caught(log):
    lines = _lines(log)
    log.write_bytes(lines[1] + lines[0] + lines[2])
    assert "line 1" in _broken_line(log)


def test_a_mangled_line_is_a_broken_chain_not_a_crash(log):
    lines = _lines(log)
    lines[1] = lines[1][:20] + b"\n"  # truncated mid-record: no longer JSON
    log.write_bytes(b"".join(lines))
    message = _broken_line(log)
    assert "line 2" in message or "line 3" in message


def test_the_error_names_the_file_and_line_but_no_event_details(log):
    lines = _lines(log)
    lines[1] = lines[1].replace(b"shelter-north", b"shelter-south")
    log.write_bytes(b"".join(lines))
    message = _broken_line(log)
    assert "audit.log" in message
    assert "shelter" not in message


def test_a_long_event_does_not_break_the_chain(tmp_path):
    # The next line's link must hash the whole previous line, however long it is.
    path = tmp_path / "audit.log"
    audit.append(path, "validation_summary", now=T0, columns={f"column_{i:05d}": i for i in range(5000)})
    audit.append(path, "bundle_sealed", now=T0)
    assert audit.verify(path) == 2
