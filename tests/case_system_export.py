"""A made-up case-management system's export (its own column names and codes, two columns of case
notes) and the steward's mapping file for it: the README's steward walk-through, for tests."""

from __future__ import annotations

import csv
import io

import yaml

RENAMES = {"episode_id": "EpisodeNo", "client_id": "ClientNo", "gender": "Gender", "risk_level": "RiskRating"}
LOCAL_GENDER = {"woman": "F", "man": "M", "non_binary": "X", "another_gender": "O", "not_stated": "U"}
LOCAL_RISK = {"low": "1", "medium": "2", "high": "3", "not_assessed": "9"}


def local_extract(src, dst, *, unmapped_row=None):
    """The contract-shaped CSV ``src`` rewritten in the agency's own vocabulary, with two extra
    columns of case notes the mapping tells the contributor to ignore."""
    rows = list(csv.DictReader(io.StringIO(src.read_text(encoding="utf-8"))))
    out = []
    for i, row in enumerate(rows):
        local = {RENAMES.get(k, k): v for k, v in row.items()}
        local["Gender"] = LOCAL_GENDER[row["gender"]]
        local["RiskRating"] = LOCAL_RISK[row["risk_level"]]
        local["CaseNotes"] = f"note {i}"
        local["Worker"] = "staff member"
        if i == unmapped_row:
            local["Gender"] = "Z"  # a local code the mapping does not know
        out.append(local)
    write_rows(out, dst)


def write_rows(rows: list[dict], path):
    """``rows`` (dicts of one set of keys) as a CSV file with their keys as the header; ``path``."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def write_mapping(agency):
    mapping = {
        "columns": {v: k for k, v in RENAMES.items()},
        "values": {"gender": {v: k for k, v in LOCAL_GENDER.items()}, "risk_level": {v: k for k, v in LOCAL_RISK.items()}},
        "ignore_columns": ["CaseNotes", "Worker"],
    }
    agency.mapping_path("service_episode").write_text(yaml.safe_dump(mapping), encoding="utf-8")
