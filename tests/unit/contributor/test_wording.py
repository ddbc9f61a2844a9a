"""Every rule a contract can report reads as plain words: no Python call syntax, brackets or
regular expressions reach the steward."""

from __future__ import annotations

import re

import pytest

from dvnet.contracts.registry import all_contracts
from dvnet.pipelines.contributor.wording import plain_rule

PYTHON_SYNTAX = re.compile(r"[\[\]{}^$\\']|\w\(")


def _contract_rules() -> set[str]:
    rules = {"not_nullable", "unique", "date YYYY-MM-DD", "boolean true/false", "whole number", "within 2026-Q3"}
    for c in all_contracts():
        schema = c.source.to_schema()
        rules |= {str(ch.error or ch.name) for col in schema.columns.values() for ch in col.checks}
        rules |= {str(ch.error or ch.name) for ch in schema.checks}
    return rules


@pytest.mark.parametrize("rule", sorted(_contract_rules()))
def test_each_contract_rule_is_plain_words(rule):
    said = plain_rule(rule)
    assert said and not PYTHON_SYNTAX.search(said.replace("YYYY-MM-DD", "")), (rule, said)


def test_examples():
    assert plain_rule("isin(['woman', 'man'])") == "one of: woman, man"
    assert plain_rule("str_length(None, 200)") == "at most 200 characters"
    assert plain_rule("greater_than_or_equal_to(0)") == "at least 0"
    assert plain_rule("str_matches('^[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9]$')") == "a postal code like A1A 1A1"
    assert plain_rule("within 2026-Q3") == "a date within 2026-Q3"


def test_a_whole_file_problem_is_one_line_and_the_rest_stay_listed():
    from dvnet.pipelines.contributor.wording import whole_file_lines

    def p(reason, line):
        return {"reason": reason, "line": line, "record": None, "byte_offset": None, "column": None, "position": None, "detail": "x"}

    lines, rest = whole_file_lines([p("CSV_ENCODING", 7), p("CSV_RAGGED", 9), p("CSV_ENCODING", 3), p("FORMAT_UNSUPPORTED", None)])
    assert lines == [
        'this file is not UTF-8: re-save it as "CSV UTF-8" (in Excel: Save As, CSV UTF-8) and run again (2 places found, first at line 7) [CSV_ENCODING]',
        "this kind of file is not read: export it as .csv (UTF-8), .xlsx or .parquet [FORMAT_UNSUPPORTED]",
    ]
    assert [q["reason"] for q in rest] == ["CSV_RAGGED"]
