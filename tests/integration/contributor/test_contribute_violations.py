"""Seeded contract violations are all listed in one report (column, rule, reason code, row count,
first row numbers), checked against the faults synth says it planted; the run is refused by
default and seals once the steward raises the reject limit."""

from __future__ import annotations

import json
import re

import pytest

from dvnet.contracts.registry import get_contract
from rich.console import Console

from dvnet.pipelines.contributor.report import print_summary, write_report

# synth fault kind -> the reason code validation gives it
REASON = {"bad_dates": "DATE_INVALID", "unknown_codes": "CODE_UNKNOWN", "duplicate_ids": "DUPLICATE_KEY", "out_of_period": "OUT_OF_PERIOD"}
READER_FAULTS = {"ragged_rows", "bad_encoding", "control_chars"}


@pytest.fixture
def row_faults_only(net, tmp_path):
    """The shelter's faulty service-episode file without the faults that make the reader refuse
    the whole file (those lines are replaced by their clean version), and the planted row faults."""

    def make(agency: str, contract: str):
        clean = net.extract(agency, contract).read_bytes().split(b"\n")
        faulty = net.extract(agency, contract, faulty=True).read_bytes().split(b"\n")
        planted = net.planted(agency, contract)
        for f in planted:
            if f["fault"] in READER_FAULTS:
                faulty[f["record_number"]] = clean[f["record_number"]]  # line = record number + 1, 0-based
        path = tmp_path / f"{contract}.csv"
        path.write_bytes(b"\n".join(faulty))
        return path, [f for f in planted if f["fault"] in REASON]

    return make


def _expected_rows(planted):
    """(column, reason) -> the record numbers the report must name."""
    rows: dict[tuple[str, str], set[int]] = {}
    for f in planted:
        key = (f["column"], REASON[f["fault"]])
        rows.setdefault(key, set()).add(f["record_number"])
        if f["fault"] == "duplicate_ids":  # both holders of a duplicated id are reported
            rows[key].add(int(re.search(r"record (\d+)", f["detail"]).group(1)))
    return rows


@pytest.mark.parametrize(("agency", "contract"), [("shelter-north", "service_episode"), ("shelter-north", "referral"), ("valley-health", "research_extract")])
def test_every_seeded_violation_is_in_one_report_at_its_rows(net, row_faults_only, agency, contract):
    path, planted = row_faults_only(agency, contract)
    assert {f["fault"] for f in planted} == set(REASON)
    expected = _expected_rows(planted)

    r = net.contribute(agency, contract, extract=path, mode="record")
    assert r.status == "refused"
    assert r.refusal["reason"] == "REJECTED_ROWS_OVER_LIMIT"

    got = {(i.column, i.reason): i for i in r.issues}
    assert set(got) == set(expected), "every planted fault, and nothing else, is reported"
    for key, rows in expected.items():
        issue = got[key]
        assert issue.rows == len(rows)
        assert set(issue.first_rows) == rows  # fewer than 10 per issue here, so all are listed
        assert issue.required == (not get_contract(contract).source.to_schema().columns[key[0]].nullable)
    # A date that cannot be read is reported once (DATE_INVALID), not again by rules that
    # compare it with another date.
    assert not [i for i in r.issues if i.reason == "RULE_FAILED"]

    all_rows = set().union(*expected.values())
    assert r.rejected == len(all_rows)
    assert sum(r.rejected_by_reason.values()) == r.rejected
    assert r.rejected_by_reason == {reason: sum(len(v) for (c, rr), v in expected.items() if rr == reason) for reason in REASON.values()}
    assert r.held_back == r.records_read - r.rejected - r.excluded_consent


def test_raising_the_reject_limit_seals_the_good_rows(net, row_faults_only):
    path, planted = row_faults_only("shelter-north", "service_episode")
    refused = net.contribute("shelter-north", "service_episode", extract=path, mode="aggregate")
    assert refused.refusal["reason"] == "REJECTED_ROWS_OVER_LIMIT"
    share = refused.rejected / refused.records_read

    too_low = net.contribute("shelter-north", "service_episode", extract=path, mode="aggregate", max_reject_share=share * 0.99)
    assert too_low.status == "refused"
    r = net.contribute("shelter-north", "service_episode", extract=path, mode="aggregate", max_reject_share=share)
    assert r.status == "sealed"
    assert r.sent == r.records_read - r.rejected
    assert [i.to_dict() for i in r.issues] == [i.to_dict() for i in refused.issues]  # still reported when sealed


def test_a_hand_written_extract_lists_every_problem_with_its_rule(net, tmp_path):
    src = net.extract("shelter-north", "service_episode").read_text(encoding="utf-8").splitlines()
    header = src[0].split(",")
    col = {name: i for i, name in enumerate(header)}
    rows = [line.split(",") for line in src[1:7]]

    def put(row, column, value):
        rows[row][col[column]] = value

    put(0, "episode_start", "2026/07/03")  # wrong date format
    put(0, "gender", "W")  # and an unknown code in the same record
    put(1, "risk_strangulation", "perhaps")  # not a boolean
    put(2, "client_id", "")  # a required field left empty
    put(3, "postal_code", "12345")  # not a postal code
    put(4, "episode_end", "2026-07-01")
    put(4, "episode_start", "2026-07-20")  # ends before it starts
    rows[5][col["episode_id"]] = rows[3][col["episode_id"]]  # the same episode twice
    path = tmp_path / "hand.csv"
    path.write_text("\n".join([",".join(header), *(",".join(r) for r in rows)]) + "\n", encoding="utf-8")

    r = net.contribute("shelter-north", "service_episode", extract=path, mode="aggregate")
    assert r.refusal["reason"] == "NO_VALID_RECORDS"  # every one of the six records has a problem
    got = {(i.column, i.reason, tuple(i.first_rows)) for i in r.issues}
    assert got == {
        ("episode_start", "DATE_INVALID", (1,)),
        ("gender", "CODE_UNKNOWN", (1,)),
        ("risk_strangulation", "BOOLEAN_INVALID", (2,)),
        ("client_id", "REQUIRED_MISSING", (3,)),
        ("postal_code", "FORMAT_INVALID", (4,)),
        ("(row)", "RULE_FAILED", (5,)),
        ("episode_id", "DUPLICATE_KEY", (4, 6)),
    }
    rules = {i.reason: i.rule for i in r.issues}
    assert rules["RULE_FAILED"] == "end_not_before_start"
    assert rules["DUPLICATE_KEY"] == "field_uniqueness"
    assert r.rejected == 6
    assert r.records_read == 6 and r.held_back == 0 and r.sent == 0

    # the steward's report: plain words for each rule, rows as a spreadsheet shows them (header =
    # row 1), and nothing about what was sent, since nothing was
    from dvnet.pipelines.contributor.report import write_report

    html = write_report(r, tmp_path / "reports", "20261001T000000Z").read_text(encoding="utf-8")
    assert "one of: woman, man, non_binary, another_gender, not_stated" in html
    assert "a postal code like A1A 1A1" in html and "the end date is not before the start date" in html
    assert "isin(" not in html and "str_matches" not in html and "field_uniqueness" not in html
    assert "<td>5, 7</td>" in html.replace(" class='num'", "")  # the duplicate episode: records 4 and 6
    assert "Exact columns that leave" not in html and "Disclosure check" not in html


# synth fault kind -> the pre-scan's reason code
READER_REASON = {"ragged_rows": "CSV_RAGGED", "bad_encoding": "CSV_ENCODING", "control_chars": "CSV_CONTROL_CHAR"}


def test_a_file_the_reader_refuses_lists_every_problem_in_the_result_and_the_report(net, tmp_path):
    """The steward sees every pre-scan finding at once (reason, line, record, column), not only
    the first, in the result, the JSON and the HTML report."""
    r = net.contribute("shelter-north", "service_episode", extract=net.extract("shelter-north", "service_episode", faulty=True))
    assert r.status == "refused" and r.refusal["reason"] == "EXTRACT_PRESCAN_FAILED"
    planted = {(READER_REASON[f["fault"]], f["record_number"]) for f in net.planted("shelter-north", "service_episode") if f["fault"] in READER_REASON}
    assert planted and {(p["reason"], p["record"]) for p in r.read_problems} == planted
    html = write_report(r, tmp_path, "20260101T000000Z")
    saved = json.loads(html.with_suffix(".json").read_text())
    assert {(p["reason"], p["record"]) for p in saved["read_problems"]} == planted
    text = html.read_text()
    assert "Problems in the file" in text
    by_line = {(p["reason"], p["record"]): p["line"] for p in r.read_problems}
    listed = {k for k in planted if k[0] != "CSV_ENCODING"}
    assert listed and all(f"<td>{by_line[k]}</td>" in text for k in listed), "each problem's line is listed"
    # a problem of the whole file is one line with what to do, not a table of identical lines
    encoding = sorted(by_line[k] for k in planted if k[0] == "CSV_ENCODING")
    assert encoding and "<td>CSV_ENCODING</td>" not in text
    assert text.count("this file is not UTF-8") == 1
    assert f'this file is not UTF-8: re-save it as &#34;CSV UTF-8&#34; (in Excel: Save As, CSV UTF-8) and run again ({len(encoding)} places found, first at line {encoding[0]})' in text
    console = Console(record=True, width=300)
    print_summary(r, console)
    terminal = console.export_text()
    assert terminal.count("this file is not UTF-8") == 1 and "│ CSV_ENCODING" not in terminal and "│ CSV_RAGGED" in terminal
