"""Every parameter of every command, given a bad value: exit 2, one `error: REASON: ...` line (and
a hint), no traceback, and nothing done — no folder, key, report, bundle or sequence number.

The table below must name every parameter of every command (a test walks the command tree), so a
new option cannot be added without its bad values being tried here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import click
import duckdb
import pytest

from dvnet.pipelines.cli import EXIT_USAGE, cli, main

SHELTER = "shelter-north"  # Tier 3 in the conftest network


@dataclass(frozen=True)
class World:
    """What the bad arguments refer to: a network, an agency folder, an extract, odd paths."""

    net: Path
    agency: Path
    extract: Path
    a_file: Path  # an existing regular file where a folder is expected
    full: Path  # an existing folder with something in it that is not a network
    fifo: Path
    missing: Path
    releases: Path  # one (tiny) published release


@pytest.fixture
def world(network_dir: Path, tmp_path: Path) -> World:
    extract = tmp_path / "extract.csv"
    extract.write_text("x\n1\n", encoding="utf-8")
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("not a folder", encoding="utf-8")
    full = tmp_path / "precious"
    full.mkdir()
    (full / "thesis.tex").write_text("years of work", encoding="utf-8")
    fifo = tmp_path / "receipt.fifo"
    os.mkfifo(fifo)
    releases = tmp_path / "releases"
    release = releases / "2026-Q3_dv-default_20261001T000000Z"
    release.mkdir(parents=True)
    (release / "manifest.json").write_text(json.dumps({"published_at": "2026-10-01T00:00:00+00:00"}), encoding="utf-8")
    with duckdb.connect(str(release / "release.duckdb")) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS value")
    return World(network_dir, network_dir / "agencies" / SHELTER, extract, a_file, full, fifo, tmp_path / "missing", releases)


def _contribute(w: World, **bad: str) -> list[str]:
    base = {"--agency": str(w.agency), "--contract": "service_episode", "--extract": str(w.extract), "--period": "2026-Q3"}
    return ["contribute", *[x for k, v in {**base, **bad}.items() for x in (k, v)]]


def _add_agency(w: World, **bad: str) -> list[str]:
    base = {"--id": "new-agency", "--name": "New Agency", "--type": "direct_service", "--tier": "2", "--region": "north-coast"}
    return ["network", "add-agency", str(w.net), *[x for k, v in {**base, **bad}.items() for x in (k, v)]]


def _publish(w: World, *extra: str) -> list[str]:
    return ["publish", "--network", str(w.net), *extra]


#: (command path, parameter name) -> [(label, argv builder, reason the error line names)].
CASES: dict[tuple[str, str], list[tuple[str, object, str]]] = {
    ("network init", "folder"): [("an existing file", lambda w: ["network", "init", str(w.a_file), "--name", "N"], "USAGE_OPTION_INVALID")],
    ("network init", "name"): [
        ("empty", lambda w: ["network", "init", str(w.missing), "--name", ""], "REGISTRY_INVALID"),
        ("control characters", lambda w: ["network", "init", str(w.missing), "--name", "N\x1b[2J"], "REGISTRY_INVALID"),
        ("too long", lambda w: ["network", "init", str(w.missing), "--name", "N" * 600], "REGISTRY_INVALID"),
    ],
    ("network add-agency", "folder"): [("missing", lambda w: ["network", "add-agency", str(w.missing), "--id", "a1", "--name", "A", "--type", "direct_service", "--tier", "2", "--region", "north-coast"], "USAGE_OPTION_INVALID")],
    ("network add-agency", "org_id"): [
        ("upper case and spaces", lambda w: _add_agency(w, **{"--id": "Bad ID"}), "REGISTRY_INVALID"),
        ("a path", lambda w: _add_agency(w, **{"--id": "../../etc"}), "REGISTRY_INVALID"),
    ],
    ("network add-agency", "name"): [("control characters", lambda w: _add_agency(w, **{"--name": "A\nB"}), "REGISTRY_INVALID")],
    ("network add-agency", "org_type"): [("unknown", lambda w: _add_agency(w, **{"--type": "casino"}), "USAGE_OPTION_INVALID")],
    ("network add-agency", "tier"): [("5", lambda w: _add_agency(w, **{"--tier": "5"}), "USAGE_OPTION_INVALID"), ("0", lambda w: _add_agency(w, **{"--tier": "0"}), "USAGE_OPTION_INVALID")],
    ("network add-agency", "region"): [("unknown", lambda w: _add_agency(w, **{"--region": "atlantis"}), "USAGE_OPTION_INVALID")],
    ("network add-agency", "services"): [("control characters", lambda w: _add_agency(w, **{"--service": "beds\x07"}), "REGISTRY_INVALID")],
    ("network add-agency", "eligibility"): [("too long", lambda w: _add_agency(w, **{"--eligibility": "e" * 600}), "REGISTRY_INVALID")],
    ("network add-agency", "phone"): [("control characters", lambda w: _add_agency(w, **{"--phone": "555\x00"}), "REGISTRY_INVALID")],
    ("network add-agency", "email"): [("control characters", lambda w: _add_agency(w, **{"--email": "a@b\r\nBcc: c@d"}), "REGISTRY_INVALID")],
    ("network add-agency", "website"): [("control characters", lambda w: _add_agency(w, **{"--website": "https://x\x1b]8;;"}), "REGISTRY_INVALID")],
    ("network add-agency", "agency_folder"): [("an existing file", lambda w: _add_agency(w, **{"--agency-folder": str(w.a_file)}), "USAGE_OPTION_INVALID")],
    ("network show", "folder"): [("missing", lambda w: ["network", "show", str(w.missing)], "USAGE_OPTION_INVALID"), ("not a network", lambda w: ["network", "show", str(w.full)], "REGISTRY_MISSING")],
    ("contracts docs", "out"): [("an existing file", lambda w: ["contracts", "docs", "--out", str(w.a_file)], "USAGE_OPTION_INVALID")],
    ("directory", "network_dir"): [("missing", lambda w: ["directory", "--network", str(w.missing)], "USAGE_OPTION_INVALID")],
    ("directory", "out"): [("an existing file", lambda w: ["directory", "--network", str(w.net), "--out", str(w.a_file)], "USAGE_OPTION_INVALID")],
    ("synth", "network_dir"): [("missing", lambda w: ["synth", "--network", str(w.missing)], "USAGE_OPTION_INVALID")],
    ("synth", "out"): [("an existing file", lambda w: ["synth", "--network", str(w.net), "--out", str(w.a_file)], "USAGE_OPTION_INVALID")],
    ("synth", "seed"): [("not a number", lambda w: ["synth", "--network", str(w.net), "--seed", "many"], "USAGE_OPTION_INVALID")],
    ("synth", "periods"): [("year 0000", lambda w: ["synth", "--network", str(w.net), "--period", "0000-Q1"], "USAGE_OPTION_INVALID"), ("a month", lambda w: ["synth", "--network", str(w.net), "--period", "2026-07"], "USAGE_OPTION_INVALID")],
    ("synth", "scale"): [(v, (lambda v: lambda w: ["synth", "--network", str(w.net), "--scale", v])(v), "USAGE_OPTION_INVALID") for v in ("0", "-1", "nan", "inf", "1e9")],
    ("synth", "faults"): [("unknown", lambda w: ["synth", "--network", str(w.net), "--faults", "gremlins"], "USAGE_OPTION_INVALID")],
    ("contribute", "agency_dir"): [("missing", lambda w: _contribute(w, **{"--agency": str(w.missing)}), "USAGE_OPTION_INVALID"), ("not an agency", lambda w: _contribute(w, **{"--agency": str(w.full)}), "AGENCY_CONFIG_MISSING")],
    ("contribute", "contract_id"): [("unknown", lambda w: _contribute(w, **{"--contract": "referals"}), "CONTRACT_UNKNOWN"), ("above the tier", lambda w: _contribute(w, **{"--contract": "research_extract", "--project": "dsa-1"}), "TIER_VIOLATION")],
    ("contribute", "extract"): [("missing", lambda w: _contribute(w, **{"--extract": str(w.missing)}), "USAGE_OPTION_INVALID")],
    ("contribute", "period"): [(v, (lambda v: lambda w: _contribute(w, **{"--period": v}))(v), "USAGE_OPTION_INVALID") for v in ("0000-Q1", "2026-Q5", "2026-07", "Q3-2026", "")],
    ("contribute", "mode"): [("unknown", lambda w: _contribute(w, **{"--mode": "raw"}), "USAGE_OPTION_INVALID")],
    ("contribute", "version"): [("0", lambda w: _contribute(w, **{"--version": "0"}), "CONTRACT_VERSION_UNKNOWN"), ("-1", lambda w: _contribute(w, **{"--version": "-1"}), "CONTRACT_VERSION_UNKNOWN")],
    ("contribute", "k"): [(v, (lambda v: lambda w: _contribute(w, **{"--mode": "record", "--k": v}))(v), "USAGE_K_INVALID") for v in ("0", "-3", "1")],
    ("contribute", "max_reject_share"): [(v, (lambda v: lambda w: _contribute(w, **{"--max-reject-share": v}))(v), "USAGE_SHARE_INVALID") for v in ("-0.1", "1.5", "nan", "inf")],
    ("contribute", "max_withheld_share"): [(v, (lambda v: lambda w: _contribute(w, **{"--mode": "record", "--max-withheld-share": v}))(v), "USAGE_SHARE_INVALID") for v in ("-1", "2", "nan")],
    ("contribute", "project"): [
        ("for a contract without linkage", lambda w: _contribute(w, **{"--project": "dsa-1"}), "USAGE_PROJECT_UNEXPECTED"),
        ("not an agreement id", lambda w: _contribute(w, **{"--agency": str(w.net / "agencies" / "valley-health"), "--contract": "research_extract", "--project": "DSA 1; rm"}), "USAGE_PROJECT_INVALID"),
        ("missing for a research extract", lambda w: _contribute(w, **{"--agency": str(w.net / "agencies" / "valley-health"), "--contract": "research_extract"}), "USAGE_PROJECT_REQUIRED"),
    ],
    ("contribute", "supersedes"): [(v, (lambda v: lambda w: _contribute(w, **{"--supersedes": v}))(v), "USAGE_SUPERSEDES_INVALID") for v in ("nonsense", "AB" * 16, "0" * 31, "")],
    ("receipt verify", "agency_dir"): [("not an agency", lambda w: ["receipt", "verify", "--agency", str(w.full), str(w.a_file)], "AGENCY_CONFIG_MISSING")],
    ("receipt verify", "file"): [("missing", lambda w: ["receipt", "verify", "--agency", str(w.agency), str(w.missing)], "USAGE_OPTION_INVALID"), ("a FIFO", lambda w: ["receipt", "verify", "--agency", str(w.agency), str(w.fifo)], "USAGE_OPTION_INVALID")],
    ("ingest", "network"): [("missing", lambda w: ["ingest", "--network", str(w.missing)], "USAGE_OPTION_INVALID"), ("not a network", lambda w: ["ingest", "--network", str(w.full)], "REGISTRY_MISSING")],
    ("ingest", "dagster_home"): [("an existing file", lambda w: ["ingest", "--network", str(w.net), "--dagster-home", str(w.a_file)], "USAGE_OPTION_INVALID")],
    ("publish", "network_dir"): [("missing", lambda w: ["publish", "--network", str(w.missing)], "USAGE_OPTION_INVALID")],
    ("publish", "profile"): [("unknown", lambda w: _publish(w, "--profile", "lenient"), "USAGE_OPTION_INVALID")],
    ("publish", "periods"): [("year 0000", lambda w: _publish(w, "--period", "0000-Q1"), "USAGE_OPTION_INVALID"), ("a month", lambda w: _publish(w, "--period", "2026-07"), "USAGE_OPTION_INVALID")],
    ("publish", "method"): [("unknown", lambda w: _publish(w, "--method", "guess"), "USAGE_OPTION_INVALID")],
    ("publish", "threshold"): [("0", lambda w: _publish(w, "--profile", "custom", "--threshold", "0"), "INVALID_PROFILE"), ("without custom", lambda w: _publish(w, "--threshold", "5"), "USAGE_INVALID")],
    ("publish", "rounding_base"): [("0", lambda w: _publish(w, "--profile", "custom", "--rounding-base", "0"), "INVALID_PROFILE")],
    ("publish", "dominance_share"): [(v, (lambda v: lambda w: _publish(w, "--profile", "custom", "--dominance-share", v))(v), "INVALID_PROFILE") for v in ("nan", "1.5", "0")],
    ("query", "sql"): [
        ("not SQL", lambda w: ["query", "SELEKT everything", "--releases", str(w.releases)], "QUERY_FAILED"),
        ("a write", lambda w: ["query", "CREATE TABLE t AS SELECT 1", "--releases", str(w.releases)], "QUERY_FAILED"),
        ("reading a file", lambda w: ["query", f"SELECT * FROM read_csv('{w.a_file}')", "--releases", str(w.releases)], "QUERY_FAILED"),
    ],
    ("query", "network_dir"): [("an existing file", lambda w: ["query", "SELECT 1", "--network", str(w.a_file)], "USAGE_OPTION_INVALID")],
    ("query", "releases_dir"): [("an existing file", lambda w: ["query", "SELECT 1", "--releases", str(w.a_file)], "USAGE_OPTION_INVALID")],
    ("query", "release"): [("unknown", lambda w: ["query", "SELECT 1", "--releases", str(w.releases), "--release", "nope"], "RELEASE_UNKNOWN")],
    ("query", "fmt"): [("unknown", lambda w: ["query", "SELECT 1", "--format", "xml"], "USAGE_OPTION_INVALID")],
    ("ui", "network"): [("missing", lambda w: ["ui", "--network", str(w.missing)], "USAGE_OPTION_INVALID"), ("not a network", lambda w: ["ui", "--network", str(w.full)], "REGISTRY_MISSING")],
    ("ui", "port"): [("0", lambda w: ["ui", "--network", str(w.net), "--port", "0"], "USAGE_OPTION_INVALID"), ("70000", lambda w: ["ui", "--network", str(w.net), "--port", "70000"], "USAGE_OPTION_INVALID")],
    ("ui", "dagster_home"): [("an existing file", lambda w: ["ui", "--network", str(w.net), "--dagster-home", str(w.a_file)], "USAGE_OPTION_INVALID")],
    ("demo", "out"): [("a folder holding other work", lambda w: ["demo", "--out", str(w.full)], "USAGE_DEMO_FOLDER_IN_USE"), ("an existing file", lambda w: ["demo", "--out", str(w.a_file)], "USAGE_OPTION_INVALID")],
    ("demo", "seed"): [("not a number", lambda w: ["demo", "--out", str(w.missing), "--seed", "x"], "USAGE_OPTION_INVALID")],
    ("demo", "scale"): [(v, (lambda v: lambda w: ["demo", "--out", str(w.missing), "--scale", v])(v), "USAGE_OPTION_INVALID") for v in ("0", "-2", "nan", "inf")],
    ("demo", "profile"): [("unknown", lambda w: ["demo", "--out", str(w.missing), "--profile", "lenient"], "USAGE_OPTION_INVALID")],
    ("demo", "dagster_home"): [("an existing file", lambda w: ["demo", "--out", str(w.missing), "--dagster-home", str(w.a_file)], "USAGE_OPTION_INVALID")],
}

#: Parameters that have no bad value, and why.
NO_BAD_VALUE = {
    ("contribute", "dry_run"): "a flag",
}


def _parameters() -> set[tuple[str, str]]:
    ctx = click.Context(cli)
    found: set[tuple[str, str]] = set()

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])
            return
        found.update((" ".join(path), p.name) for p in command.params)

    walk(cli, [])
    return found


def test_the_table_names_every_parameter_of_every_command():
    assert _parameters() == set(CASES) | set(NO_BAD_VALUE)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its size and modification time."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            out[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


CASE_IDS = [f"{command}:{param}:{label}" for (command, param), cases in CASES.items() for label, _, _ in cases]
FLAT = [(argv, reason) for cases in CASES.values() for _, argv, reason in cases]


@pytest.mark.parametrize(("argv", "reason"), FLAT, ids=CASE_IDS)
def test_a_bad_value_is_one_usage_line_and_changes_nothing(world, capsys, monkeypatch, argv, reason):
    monkeypatch.chdir(world.full.parent)
    before = _snapshot(world.full.parent)
    code = main(argv(world), {})
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    lines = out.err.strip().splitlines()
    assert code == EXIT_USAGE, out.err + out.out[-500:]
    assert lines and lines[0].startswith(f"error: {reason}: "), out.err
    assert len(lines) <= 2 and all(line.startswith(("error: ", "hint: ")) for line in lines), out.err
    assert _snapshot(world.full.parent) == before  # no folder, key, report, bundle or sequence number
