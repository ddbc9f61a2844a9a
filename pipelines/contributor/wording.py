"""The contract's rules in the steward's words: a report says "one of: woman, man, ..." where the
rule engine says ``isin(['woman', 'man', ...])``. Wording only; the rule names stay in the JSON
report for tools."""

from __future__ import annotations

import ast
import re

#: Formats the contracts use, in words (anything else: "in the format the data dictionary gives").
FORMATS = {
    r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$": "letters and digits (and . _ : -), at most 64, starting with a letter or digit",
    r"^[a-z0-9][a-z0-9-]{1,40}$": "a registry id: lowercase letters, digits and dashes",
    r"^[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9]$": "a postal code like A1A 1A1",
    r"^\s*\S": "not blank",
}
FIXED = {
    "not_nullable": "required: must not be empty",
    "unique": "unique in the extract (no two rows with the same value)",
    "field_uniqueness": "unique in the extract (no two rows with the same value)",
    "end_not_before_start": "the end date is not before the start date",
    "date YYYY-MM-DD": "a date written YYYY-MM-DD, without a time of day",
    "boolean true/false": "true or false (also yes/no, y/n, 1/0)",
    "whole number": "a whole number",
    "registered_organisation": "the id of an organisation registered in the network (as the coordinator's public file you pinned last lists them)",
}
_CALL = re.compile(r"^(\w+)\((.*)\)$", re.S)


def _args(text: str) -> tuple:
    try:
        value = ast.literal_eval(f"({text},)")
    except (ValueError, SyntaxError):
        return ()
    return value if isinstance(value, tuple) else (value,)


def plain_rule(rule: str) -> str:
    """``rule`` (a rule engine's check name with its arguments) as a plain phrase."""
    if rule in FIXED:
        return FIXED[rule]
    if rule.startswith("within "):
        return f"a date within {rule.removeprefix('within ')}"
    match = _CALL.match(rule)
    if not match:
        return rule.replace("_", " ")
    name, args = match.group(1), _args(match.group(2))
    if name == "isin" and args and isinstance(args[0], (list, tuple, set)):
        return "one of: " + ", ".join(map(str, args[0]))
    if name == "str_matches" and args:
        return FORMATS.get(str(args[0]), "in the format the data dictionary gives")
    if name == "str_length" and len(args) == 2:
        low, high = args
        return f"at most {high} characters" if not low else f"{low} to {high} characters" if high else f"at least {low} characters"
    if name in ("greater_than_or_equal_to", "ge") and args:
        return f"at least {args[0]}"
    if name in ("less_than_or_equal_to", "le") and args:
        return f"at most {args[0]}"
    if name in ("greater_than", "gt") and args:
        return f"more than {args[0]}"
    if name in ("less_than", "lt") and args:
        return f"less than {args[0]}"
    if name == "in_range" and len(args) >= 2:
        return f"from {args[0]} to {args[1]}"
    if name == "dtype" and args:
        return f"of type {args[0]}"
    return name.replace("_", " ")


#: Problems of the whole file, in one line each with what to do (however many places show them).
WHOLE_FILE = {
    "CSV_ENCODING": "this file is not UTF-8: re-save it as \"CSV UTF-8\" (in Excel: Save As, CSV UTF-8) and run again",
    "EXTRACT_ENCODING": "this file holds text that is not UTF-8: export it again from the case system with UTF-8 text",
    "CSV_EMPTY": "this file is empty or has no header row: export it again with the column names in the first row",
    "EXTRACT_EMPTY": "this file has no columns or no header row: export it again with the column names in the first row",
    "EXTRACT_UNREADABLE": "this file cannot be read as the format its name says: export it again",
    "FORMAT_UNSUPPORTED": "this kind of file is not read: export it as .csv (UTF-8), .xlsx or .parquet",
    "FILE_TOO_LARGE": "this file is over the size limit: export one period at a time",
    "FILE_NOT_FOUND": "there is no file at this path: check the name and folder",
    "FILE_UNREADABLE": "this file cannot be opened: check that it is a file and that you may read it",
    "TOO_MANY_COLUMNS": "this file has more columns than any contract: export only the columns the mapping names",
}

#: Refusals a policy value lifts, and how (a command option for one run, or agency.yaml's policy).
LIFTED_BY = {
    "REJECTED_ROWS_OVER_LIMIT": "to send the valid records anyway, allow a share of rejected records: --max-reject-share "
    "for this run, or policy.max_reject_share in agency.yaml for every run",
    "K_ANONYMITY_NOT_MET": "to send the other records anyway, allow withholding: --max-withheld-share for this run, or "
    "policy.max_withheld_share in agency.yaml for every run; or send counts instead with --mode aggregate",
}


def absent_line(fields: list[str]) -> str:
    """The optional fields an export has no column for, in the steward's words."""
    return (f"not in the export, so read as empty in every record (optional fields): {', '.join(fields)}; "
            "if your system records them, add their columns or map them in the agency's mapping file")


def lifting(refusal: dict | None) -> str | None:
    """What the steward can do about a refusal: the refusing error's own hint, else the policy
    value that lifts it (``LIFTED_BY``); None when neither says."""
    if not refusal:
        return None
    return refusal.get("hint") or LIFTED_BY.get(refusal["reason"])


def whole_file_lines(problems: list[dict]) -> tuple[list[str], list[dict]]:
    """``problems`` (pre-scan findings) split into one plain line per whole-file problem (with how
    many places show it and the first line) and the findings left to list one by one."""
    lines, rest, seen = [], [], {}
    for p in problems:
        if p["reason"] in WHOLE_FILE:
            seen.setdefault(p["reason"], []).append(p)
        else:
            rest.append(p)
    for reason, found in seen.items():
        first = next((p["line"] for p in found if p["line"] is not None), None)
        where = f" ({len(found):,} place{'s' if len(found) > 1 else ''} found" + (f", first at line {first}" if first else "") + ")" if len(found) > 1 or first else ""
        lines.append(f"{WHOLE_FILE[reason]}{where} [{reason}]")
    return lines, rest
