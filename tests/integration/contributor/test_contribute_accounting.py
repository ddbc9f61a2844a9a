"""Every record read is accounted for, on every run: sealed, refused, dry, clean or faulty.

    records read = rejected + excluded (consent) + withheld (k) + held back (refused run) + sent

and the consent filter counts each reason in record mode while aggregate mode counts everyone.
"""

from __future__ import annotations

import csv
import io

import pytest
from contribution_constants import PERIOD
from case_system_export import write_rows

from dvnet.pipelines.demo_network import demo_geography
from dvnet.pipelines.synth import FAULT_KINDS, synthesize
from dvnet.common import network as store

READER_REFUSES = {"ragged_rows", "bad_encoding", "control_chars"}  # the file is refused as a whole
ROW_FAULTS = sorted(set(FAULT_KINDS) - READER_REFUSES)  # a few rows are rejected


@pytest.fixture
def one_fault(network_dir):
    """``kind`` -> the shelter's faulty service-episode file carrying only that kind of fault."""

    def make(kind: str):
        orgs = [o for o in store.load_network(network_dir).organisations if o.id == "shelter-north"]
        out = network_dir / "synth" / kind
        summary = synthesize(orgs, out, seed=7, periods=[PERIOD], faults=frozenset({kind}), geography=demo_geography())
        planted = [f for f in summary.faults if "service_episode" in f.file]
        return out / "shelter-north" / "extracts" / f"service_episode_{PERIOD}.faulty.csv", planted

    return make


@pytest.mark.parametrize("kind", FAULT_KINDS)
@pytest.mark.parametrize("mode", ["aggregate", "record"])
def test_a_faulty_file_is_refused_and_still_reconciles(net, one_fault, kind, mode):
    path, planted = one_fault(kind)
    assert planted, "synth planted nothing"
    r = net.contribute("shelter-north", "service_episode", extract=path, mode=mode)  # checks the equation
    assert r.status == "refused"
    assert r.sent == 0 and r.bundle_id is None
    if kind in READER_REFUSES:
        assert r.refusal["reason"] not in ("REJECTED_ROWS_OVER_LIMIT", "K_ANONYMITY_NOT_MET")
    else:
        assert r.refusal["reason"] == "REJECTED_ROWS_OVER_LIMIT"
        assert r.records_read > 0 and 0 < r.rejected < r.records_read
        assert r.held_back == r.records_read - r.rejected - r.excluded_consent - r.withheld_k > 0


@pytest.mark.parametrize("kind", ROW_FAULTS)
def test_with_a_raised_reject_limit_the_good_rows_are_sent_and_reconcile(net, one_fault, kind):
    path, planted = one_fault(kind)
    r = net.contribute("shelter-north", "service_episode", extract=path, mode="aggregate", max_reject_share=0.1)
    assert r.status == "sealed"
    assert r.held_back == 0
    assert r.sent == r.records_read - r.rejected
    assert sum(r.rejected_by_reason.values()) == r.rejected


@pytest.mark.parametrize(
    "options",
    [
        dict(mode="record", k=2, max_withheld_share=0.5),  # sealed, with consent exclusions and withholding
        dict(mode="record"),  # refused for k
        dict(mode="record", dry_run=True, k=2, max_withheld_share=1.0),
        dict(mode="aggregate", dry_run=True),
    ],
    ids=["record-sealed", "record-k-refused", "record-dry", "aggregate-dry"],
)
def test_every_outcome_on_a_clean_file_reconciles(net, options):
    r = net.contribute("shelter-north", "service_episode", **options)
    assert r.records_read > 0
    expected = "dry-run" if options.get("dry_run") else ("sealed" if "k" in options else "refused")
    assert r.status == expected


# Consent -------------------------------------------------------------------------------------------

# The period 2026-Q3 ends on 2026-09-30: consent must be in force on that day.
CONSENT_CASES = [
    ("false", "", "CONSENT_ABSENT"),
    ("false", "2027-12-31", "CONSENT_ABSENT"),  # a date without consent is still no consent
    ("true", "2026-09-29", "CONSENT_EXPIRED"),  # the day before the period ends
    ("true", "2026-07-15", "CONSENT_EXPIRED"),
    ("true", "2026-09-30", None),  # in force on the last day
    ("true", "", None),  # open-ended consent
    ("true", "2028-01-01", None),
]


def _with_consent(src, dst, pattern):
    """A copy of ``src`` whose consent columns cycle through ``pattern``; returns the expected
    count per exclusion reason (None: the record may leave)."""
    rows = list(csv.DictReader(io.StringIO(src.read_text(encoding="utf-8"))))
    expected: dict = {}
    for i, row in enumerate(rows):
        given, expiry, reason = pattern[i % len(pattern)]
        row["consent_to_share"], row["consent_expiry"] = given, expiry
        expected[reason] = expected.get(reason, 0) + 1
    write_rows(rows, dst)
    return expected


def test_record_mode_sends_only_consent_in_force_at_the_period_end(net, tmp_path):
    extract = tmp_path / "episodes.csv"
    expected = _with_consent(net.extract("shelter-north", "service_episode"), extract, CONSENT_CASES)
    # Every record with consent in force is sent or withheld for k (k = 1 would protect nothing and is refused).
    r = net.contribute("shelter-north", "service_episode", extract=extract, mode="record", k=2, max_withheld_share=1.0)
    assert r.status == "sealed"
    assert r.excluded_by_reason == {"CONSENT_ABSENT": expected["CONSENT_ABSENT"], "CONSENT_EXPIRED": expected["CONSENT_EXPIRED"]}
    assert r.excluded_consent == expected["CONSENT_ABSENT"] + expected["CONSENT_EXPIRED"]
    assert r.sent + r.withheld_k == expected[None] and r.sent == net.open("shelter-north", r).table.num_rows
    # Consent never leaves: not as a column, not as a count.
    assert not {"consent_to_share", "consent_expiry"} & set(r.output_columns)


def test_aggregate_mode_counts_everyone_whatever_their_consent(net, tmp_path):
    extract = tmp_path / "episodes.csv"
    _with_consent(net.extract("shelter-north", "service_episode"), extract, CONSENT_CASES)
    r = net.contribute("shelter-north", "service_episode", extract=extract, mode="aggregate")
    assert r.status == "sealed"
    assert (r.excluded_consent, r.excluded_by_reason) == (0, {})
    assert r.sent == r.records_read
    counts = net.open("shelter-north", r).table.to_pylist()
    assert sum(c["n"] for c in counts if c["table_name"] == "episodes_by_region_service_risk") == r.records_read
