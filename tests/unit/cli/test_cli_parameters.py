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

from fixtures_central import REVIEWERS, add_reviewers

from dvnet.common.agency import init_agency
from dvnet.common.people import init_person
from dvnet.pipelines.ceremony import CUSTODIAN, FOUNDER
from dvnet.pipelines.cli import EXIT_USAGE, cli, main

SHELTER = "shelter-north"  # Tier 3 in the conftest network
COALITION = "coordinator"  # the conftest network's coordinator id: the founder records the coalition's decisions
GEOGRAPHY = Path(__file__).resolve().parents[3] / "pipelines" / "demo_geography.yaml"


@dataclass(frozen=True)
class World:
    """What the bad arguments refer to: a network, agency and person folders, public files, an
    extract, odd paths."""

    net: Path
    agency: Path
    extract: Path
    a_file: Path  # an existing regular file where a folder (or a key, a public file) is expected
    full: Path  # an existing folder with something in it that is not a network
    fifo: Path
    missing: Path
    releases: Path  # one (tiny) published release
    new_registration: Path  # an agency's registration, not registered yet
    person_file: Path  # a person's file, not registered yet

    @property
    def key(self) -> Path:
        """The founding coordinator's signing key (beside their person file)."""
        return self.net / "people" / FOUNDER[0] / "signing.key"

    @property
    def other_key(self) -> Path:
        """The custodian's signing key: a registered person without a coordinator's role."""
        return self.net / "people" / CUSTODIAN[0] / "signing.key"

    @property
    def as_founder(self) -> list[str]:
        return ["--as", FOUNDER[0], "--key", str(self.key)]

    @property
    def as_reviewer(self) -> list[str]:
        """A registered reviewer (``add_reviewers`` in the world)."""
        return ["--as", REVIEWERS[0], "--key", str(self.net / "people" / REVIEWERS[0] / "signing.key")]

    @property
    def registration(self) -> Path:
        return self.agency / "registration.yaml"

    @property
    def tier4(self) -> Path:
        return self.net / "agencies" / "valley-health"

    @property
    def tier4_registration(self) -> Path:
        return self.tier4 / "registration.yaml"

    @property
    def custodian(self) -> Path:
        return self.net / "custodian"

    @property
    def custodian_public(self) -> Path:
        return self.custodian / "custodian-public.yaml"

    @property
    def coordinator_public(self) -> Path:
        return self.net / "coordinator" / "coordinator-public.yaml"


@pytest.fixture
def world(network_dir: Path, tmp_path: Path, researcher_and_dsa) -> World:
    researcher_and_dsa(network_dir)  # ada-researcher and the agreement DSA_TERMS["id"]
    add_reviewers(network_dir)
    extract = tmp_path / "extract.csv"
    extract.write_text("x\n1\n", encoding="utf-8")
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("not a folder", encoding="utf-8")
    full = tmp_path / "precious"
    full.mkdir()
    (full / "thesis.tex").write_text("years of work", encoding="utf-8")
    fifo = tmp_path / "receipt.fifo"
    os.mkfifo(fifo, 0o600)
    releases = tmp_path / "releases"
    release = releases / "2026-Q3_dv-default_20261001T000000Z"
    release.mkdir(parents=True)
    (release / "manifest.json").write_text(json.dumps({"published_at": "2026-10-01T00:00:00+00:00"}), encoding="utf-8")
    with duckdb.connect(str(release / "release.duckdb")) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS value")
    newcomer = init_agency(tmp_path / "newcomer", agency_id="newcomer", name="Newcomer", type="direct_service", tier=2, region="north-coast")
    person = init_person(tmp_path / "zoe", "zoe-reviewer", "Zoe Reviewer", "coalition office")
    return World(network_dir, network_dir / "agencies" / SHELTER, extract, a_file, full, fifo, tmp_path / "missing", releases,
                 newcomer.registration_path, person.public_file)  # fmt: skip


def _contribute(w: World, **bad: str) -> list[str]:
    base = {"--agency": str(w.agency), "--contract": "service_episode", "--extract": str(w.extract), "--period": "2026-Q3"}
    return ["contribute", *[x for k, v in {**base, **bad}.items() for x in (k, v)]]


def _mapping_check(w: World, **bad: str) -> list[str]:
    base = {"--agency": str(w.agency), "--contract": "service_episode", "--extract": str(w.extract), "--period": "2026-Q3"}
    return ["mapping", "check", *[x for k, v in {**base, **bad}.items() for x in (k, v)]]


def _init(w: World) -> list[str]:
    return ["network", "init", "--network", str(w.missing), "--geography", str(GEOGRAPHY), "--name", "N", "--founder", str(w.key.parent / "person.yaml"), "--key", str(w.key)]


def _agency_init(w: World, folder: Path | None = None, **bad: str) -> list[str]:
    base = {"--id": "new-agency", "--name": "New Agency", "--type": "direct_service", "--tier": "2", "--region": "north-coast"}
    return ["agency", "init", str(folder or w.missing), *[x for k, v in {**base, **bad}.items() for x in (k, v)]]


#: The command line of each command run ``--as`` a person, but for ``--as`` and ``--key``.
ACTING = {
    "network register-agency": lambda w: ["network", "register-agency", "--network", str(w.net), str(w.new_registration)],
    "network add-person": lambda w: ["network", "add-person", "--network", str(w.net), str(w.person_file), "--role", "reviewer"],
    "network suspend": lambda w: ["network", "suspend", "--network", str(w.net), SHELTER],
    "network reinstate": lambda w: ["network", "reinstate", "--network", str(w.net), SHELTER],
    "ingest": lambda w: ["ingest", "--network", str(w.net)],
    "warehouse move-to-postgres": lambda w: ["warehouse", "move-to-postgres", "--network", str(w.net)],
    "publish": lambda w: ["publish", "--network", str(w.net)],
    "dsa add": lambda w: _dsa_add(w),
    "dsa amend": lambda w: ["dsa", "amend", "--network", str(w.net), DSA_ID, "--reason", "r", "--purpose", "another purpose"],
    "dsa revoke": lambda w: ["dsa", "revoke", "--network", str(w.net), DSA_ID, "--reason", "r"],
    "dsa close": lambda w: ["dsa", "close", "--network", str(w.net), DSA_ID, "--reason", "r"],
    "decision add": lambda w: _decision(w),
    "extract make": lambda w: ["extract", "make", "--network", str(w.net), "--dsa", DSA_ID],
    "review list": lambda w: ["review", "list", "--network", str(w.net)],
    "review show": lambda w: ["review", "show", "--network", str(w.net), "req-nothing"],
    "review approve": lambda w: ["review", "approve", "--network", str(w.net), "req-nothing", "--comment", "ok"],
    "review reject": lambda w: ["review", "reject", "--network", str(w.net), "req-nothing", "--comment", "no"],
    "release publish": lambda w: ["release", "publish", "--network", str(w.net), "req-nothing"],
    "release withdraw": lambda w: ["release", "withdraw", "--network", str(w.net), "req-nothing", "--reason", "r"],
}

DSA_ID = "dsa-2026-01"  # the agreement of tests/conftest.py DSA_TERMS, added to every world


def _flat(options: dict[str, str]) -> list[str]:
    return [x for k, v in options.items() for x in (k, v)]


def _dsa_add(w: World, **bad: str) -> list[str]:
    base = {"--network": str(w.net), "--id": "dsa-2026-09", "--purpose": "Evaluate something", "--party": "valley-health",
            "--contract": "research_extract/v1", "--field": "age_band", "--period": "2026-Q3", "--start": "2026-01-01",
            "--end": "2027-12-31", "--ethics": "REB-1", "--ethics-expires": "2027-12-31", "--researcher": "ada-researcher", "--min-cell-size": "5", "--retention-end": "2028-12-31"}  # fmt: skip
    return ["dsa", "add", *_flat({**base, **bad})]


def _dsa_amend(w: World, **bad: str) -> list[str]:
    return ["dsa", "amend", *_flat({"--network": str(w.net), "--reason": "r", **bad}), DSA_ID, *w.as_founder]


def _decision(w: World, **bad: str) -> list[str]:
    base = {"--network": str(w.net), "--org": COALITION, "--change": "adopted", "--kind": "tool", "--subject": "Danger Assessment",
            "--decided-by": "Board", "--why": "Validated for this population", "--review-date": "2027-12-31"}  # fmt: skip
    return ["decision", "add", *_flat({**base, **bad})]


def _open_extract(w: World, **bad: str) -> list[str]:
    base = {"--person": str(w.net / "people" / "ada-researcher"), "--coordinator": str(w.coordinator_public), "--out": str(w.missing)}
    return ["extract", "open", str(w.a_file), *_flat({**base, **bad})]


def _drop(w: World, **bad: str) -> list[str]:
    base = {"--agency": str(w.agency), "--inbox": "/srv/dvnet/inbox", "--receipts": "/srv/dvnet/receipts/shelter-north"}
    return ["drop", "set", *[x for k, v in {**base, **bad}.items() for x in (k, v)]]


def _publish(w: World, *extra: str) -> list[str]:
    return ["publish", "--network", str(w.net), *w.as_founder, *extra]


#: (command path, parameter name) -> [(label, argv builder, reason the error line names)].
#: Bad --wait values: negative, not finite, beyond a day, not a number.
BAD_WAITS = ("-1", "nan", "inf", "1e9", "soon")

CASES: dict[tuple[str, str], list[tuple[str, object, str]]] = {
    ("network init", "network_dir"): [("an existing file", lambda w: ["network", "init", "--network", str(w.a_file), "--geography", str(GEOGRAPHY), "--name", "N", "--founder", str(w.key.parent / "person.yaml"), "--key", str(w.key)], "USAGE_OPTION_INVALID")],
    ("network init", "name"): [
        ("empty", lambda w: [*_init(w), "--name", ""], "REGISTRY_INVALID"),
        ("control characters", lambda w: [*_init(w), "--name", "N\x1b[2J"], "REGISTRY_INVALID"),
        ("too long", lambda w: [*_init(w), "--name", "N" * 600], "REGISTRY_INVALID"),
    ],
    ("network init", "geography_file"): [
        ("a FIFO", lambda w: [*_init(w), "--geography", str(w.fifo)], "USAGE_OPTION_INVALID"),
        ("not a geography", lambda w: [*_init(w), "--geography", str(w.a_file)], "GEOGRAPHY_INVALID"),
    ],
    ("network init", "founder_file"): [
        ("a FIFO", lambda w: ["network", "init", "--network", str(w.missing), "--geography", str(GEOGRAPHY), "--name", "N", "--founder", str(w.fifo), "--key", str(w.key)], "USAGE_OPTION_INVALID"),
        ("not a person file", lambda w: ["network", "init", "--network", str(w.missing), "--geography", str(GEOGRAPHY), "--name", "N", "--founder", str(w.a_file), "--key", str(w.key)], "PUBLIC_FILE_INVALID"),
    ],
    ("network init", "key_option"): [
        ("another person's key", lambda w: [*_init(w)[:-1], str(w.other_key)], "KEY_MISMATCH"),
        ("not a key", lambda w: [*_init(w)[:-1], str(w.a_file)], "KEY_INVALID"),
        ("a FIFO", lambda w: [*_init(w)[:-1], str(w.fifo)], "KEY_INVALID"),
    ],
    ("network register-agency", "network_dir"): [("missing", lambda w: ["network", "register-agency", "--network", str(w.missing), str(w.registration), *w.as_founder], "USAGE_OPTION_INVALID")],
    ("network register-agency", "registration_file"): [
        ("not a registration", lambda w: ["network", "register-agency", "--network", str(w.net), str(w.a_file), *w.as_founder], "PUBLIC_FILE_INVALID"),
        ("a FIFO", lambda w: ["network", "register-agency", "--network", str(w.net), str(w.fifo), *w.as_founder], "USAGE_OPTION_INVALID"),
        ("already registered", lambda w: ["network", "register-agency", "--network", str(w.net), str(w.registration), *w.as_founder], "AGENCY_EXISTS"),
    ],
    ("network add-person", "network_dir"): [("missing", lambda w: ["network", "add-person", "--network", str(w.missing), str(w.person_file), "--role", "reviewer", *w.as_founder], "USAGE_OPTION_INVALID")],
    ("network add-person", "person_file"): [("not a person file", lambda w: ["network", "add-person", "--network", str(w.net), str(w.a_file), "--role", "reviewer", *w.as_founder], "PUBLIC_FILE_INVALID")],
    ("network add-person", "roles"): [
        ("unknown", lambda w: ["network", "add-person", "--network", str(w.net), str(w.person_file), "--role", "king", *w.as_founder], "USAGE_OPTION_INVALID"),
        ("steward of no agency", lambda w: ["network", "add-person", "--network", str(w.net), str(w.person_file), "--role", "steward", *w.as_founder], "REGISTRY_INVALID"),
    ],
    ("network suspend", "network_dir"): [("missing", lambda w: ["network", "suspend", "--network", str(w.missing), SHELTER, *w.as_founder], "USAGE_OPTION_INVALID")],
    ("network suspend", "subject_id"): [
        ("unknown", lambda w: ["network", "suspend", "--network", str(w.net), "nobody", *w.as_founder], "AGENCY_UNKNOWN"),
        ("the only coordinator", lambda w: ["network", "suspend", "--network", str(w.net), FOUNDER[0], *w.as_founder], "LAST_COORDINATOR"),
    ],
    ("network reinstate", "network_dir"): [("missing", lambda w: ["network", "reinstate", "--network", str(w.missing), SHELTER, *w.as_founder], "USAGE_OPTION_INVALID")],
    ("network reinstate", "subject_id"): [("unknown", lambda w: ["network", "reinstate", "--network", str(w.net), "nobody", *w.as_founder], "AGENCY_UNKNOWN")],
    **{
        (command, "person_id"): [
            ("not registered", (lambda c: lambda w: [*ACTING[c](w), "--as", "nobody", "--key", str(w.key)])(command), "PERSON_UNKNOWN"),
            ("not a person id", (lambda c: lambda w: [*ACTING[c](w), "--as", "../../etc/passwd", "--key", str(w.key)])(command), "PERSON_UNKNOWN"),
            ("without the role", (lambda c: lambda w: [*ACTING[c](w), "--as", CUSTODIAN[0], "--key", str(w.other_key)])(command), "ROLE_NOT_ALLOWED"),
        ]
        for command in ACTING
    },
    **{
        (command, "key_option"): [
            ("another person's key", (lambda c: lambda w: [*ACTING[c](w), "--as", FOUNDER[0], "--key", str(w.other_key)])(command), "KEY_MISMATCH"),
            ("not a key", (lambda c: lambda w: [*ACTING[c](w), "--as", FOUNDER[0], "--key", str(w.a_file)])(command), "KEY_UNUSABLE"),
            ("a FIFO", (lambda c: lambda w: [*ACTING[c](w), "--as", FOUNDER[0], "--key", str(w.fifo)])(command), "KEY_UNUSABLE"),
        ]
        for command in ACTING
    },
    ("agency init", "folder"): [
        ("an existing file", lambda w: _agency_init(w, folder=w.a_file), "USAGE_OPTION_INVALID"),
        ("an agency already", lambda w: _agency_init(w, folder=w.agency), "AGENCY_EXISTS"),
    ],
    ("agency init", "agency_id"): [
        ("upper case and spaces", lambda w: _agency_init(w, **{"--id": "Bad ID"}), "REGISTRY_INVALID"),
        ("a path", lambda w: _agency_init(w, **{"--id": "../../etc"}), "REGISTRY_INVALID"),
    ],
    ("agency init", "name"): [("control characters", lambda w: _agency_init(w, **{"--name": "A\nB"}), "REGISTRY_INVALID")],
    ("agency init", "org_type"): [("unknown", lambda w: _agency_init(w, **{"--type": "casino"}), "USAGE_OPTION_INVALID")],
    ("agency init", "tier"): [("5", lambda w: _agency_init(w, **{"--tier": "5"}), "USAGE_OPTION_INVALID"), ("0", lambda w: _agency_init(w, **{"--tier": "0"}), "USAGE_OPTION_INVALID")],
    ("agency init", "region"): [("control characters", lambda w: _agency_init(w, **{"--region": "north\x1b[2J"}), "REGISTRY_INVALID")],  # a region unknown to the network is checked at registration
    ("agency init", "network_name"): [
        ("control characters", lambda w: _agency_init(w, **{"--network-name": "N\x1b[2J"}), "REGISTRY_INVALID"),
        ("too long", lambda w: _agency_init(w, **{"--network-name": "N" * 600}), "REGISTRY_INVALID"),
    ],
    ("agency init", "services"): [("control characters", lambda w: _agency_init(w, **{"--service": "beds\x07"}), "REGISTRY_INVALID")],
    ("agency init", "eligibility"): [("too long", lambda w: _agency_init(w, **{"--eligibility": "e" * 600}), "REGISTRY_INVALID")],
    ("agency init", "phone"): [("control characters", lambda w: _agency_init(w, **{"--phone": "555\x00"}), "REGISTRY_INVALID")],
    ("agency init", "email"): [("control characters", lambda w: _agency_init(w, **{"--email": "a@b\r\nBcc: c@d"}), "REGISTRY_INVALID")],
    ("agency init", "website"): [("control characters", lambda w: _agency_init(w, **{"--website": "https://x\x1b]8;;"}), "REGISTRY_INVALID")],
    ("agency init", "intake_hours"): [("control characters", lambda w: _agency_init(w, **{"--intake-hours": "9-5\x1b[31m"}), "REGISTRY_INVALID")],
    ("agency pin-coordinator", "folder"): [
        ("missing", lambda w: ["agency", "pin-coordinator", str(w.missing), str(w.coordinator_public)], "USAGE_OPTION_INVALID"),
        ("not an agency", lambda w: ["agency", "pin-coordinator", str(w.full), str(w.coordinator_public)], "AGENCY_CONFIG_MISSING"),
    ],
    ("agency pin-coordinator", "coordinator_file"): [
        ("not a coordinator file", lambda w: ["agency", "pin-coordinator", str(w.agency), str(w.a_file)], "PUBLIC_FILE_INVALID"),
        ("a FIFO", lambda w: ["agency", "pin-coordinator", str(w.agency), str(w.fifo)], "USAGE_OPTION_INVALID"),
    ],
    ("agency import-linkage", "folder"): [
        ("not an agency", lambda w: ["agency", "import-linkage", str(w.full), str(w.a_file), "--custodian", str(w.custodian_public)], "AGENCY_CONFIG_MISSING"),
        ("below Tier 4", lambda w: ["agency", "import-linkage", str(w.agency), str(w.a_file), "--custodian", str(w.custodian_public)], "LINKAGE_NOT_TIER_4"),
    ],
    ("agency import-linkage", "wrapped_file"): [
        ("not a wrapped key", lambda w: ["agency", "import-linkage", str(w.tier4), str(w.a_file), "--custodian", str(w.custodian_public)], "WRAP_INVALID"),
        ("a FIFO", lambda w: ["agency", "import-linkage", str(w.tier4), str(w.fifo), "--custodian", str(w.custodian_public)], "USAGE_OPTION_INVALID"),
    ],
    ("agency import-linkage", "custodian_file"): [
        ("not a custodian file", lambda w: ["agency", "import-linkage", str(w.tier4), str(w.a_file), "--custodian", str(w.a_file)], "PUBLIC_FILE_INVALID"),
    ],
    ("custodian init", "folder"): [
        ("an existing file", lambda w: ["custodian", "init", str(w.a_file)], "USAGE_OPTION_INVALID"),
        ("a custodian already", lambda w: ["custodian", "init", str(w.custodian)], "CUSTODIAN_EXISTS"),
    ],
    ("custodian wrap", "folder"): [
        ("missing", lambda w: ["custodian", "wrap", str(w.missing), str(w.tier4_registration), "--out", str(w.missing)], "USAGE_OPTION_INVALID"),
        ("not a custodian", lambda w: ["custodian", "wrap", str(w.full), str(w.tier4_registration), "--out", str(w.missing)], "CUSTODIAN_MISSING"),
    ],
    ("custodian wrap", "registration_file"): [
        ("not a registration", lambda w: ["custodian", "wrap", str(w.custodian), str(w.a_file), "--out", str(w.missing)], "PUBLIC_FILE_INVALID"),
        ("below Tier 4", lambda w: ["custodian", "wrap", str(w.custodian), str(w.registration), "--out", str(w.missing)], "WRAP_NOT_TIER_4"),
    ],
    ("custodian wrap", "out"): [("a folder", lambda w: ["custodian", "wrap", str(w.custodian), str(w.tier4_registration), "--out", str(w.full)], "USAGE_OPTION_INVALID")],
    ("person init", "folder"): [
        ("an existing file", lambda w: ["person", "init", str(w.a_file), "--id", "zoe", "--name", "Zoe", "--org", "o"], "USAGE_OPTION_INVALID"),
        ("a person already", lambda w: ["person", "init", str(w.key.parent), "--id", "zoe", "--name", "Zoe", "--org", "o"], "PERSON_EXISTS"),
    ],
    ("person init", "person_id"): [("a path", lambda w: ["person", "init", str(w.missing), "--id", "../zoe", "--name", "Zoe", "--org", "o"], "PERSON_ID_INVALID")],
    ("person init", "name"): [("control characters", lambda w: ["person", "init", str(w.missing), "--id", "zoe", "--name", "Z\x1b[2J", "--org", "o"], "REGISTRY_INVALID")],
    ("person init", "org"): [("too long", lambda w: ["person", "init", str(w.missing), "--id", "zoe", "--name", "Zoe", "--org", "o" * 600], "REGISTRY_INVALID")],
    ("drop set", "agency_dir"): [("not an agency", lambda w: _drop(w, **{"--agency": str(w.full)}), "AGENCY_CONFIG_MISSING"), ("an existing file", lambda w: _drop(w, **{"--agency": str(w.a_file)}), "USAGE_OPTION_INVALID")],
    ("drop set", "inbox"): [("control characters", lambda w: _drop(w, **{"--inbox": "in\x1b[2Jbox"}), "AGENCY_CONFIG_INVALID"), ("empty", lambda w: _drop(w, **{"--inbox": ""}), "AGENCY_CONFIG_INVALID")],
    ("drop set", "receipts"): [("control characters", lambda w: _drop(w, **{"--receipts": "re\x07ceipts"}), "AGENCY_CONFIG_INVALID")],
    ("drop set", "sftp_target"): [("not USER@HOST", lambda w: _drop(w, **{"--sftp": "-oProxyCommand=sh"}), "USAGE_OPTION_INVALID")],
    ("drop set", "host_key"): [("without --sftp", lambda w: _drop(w, **{"--host-key": "ssh-ed25519 AAAA"}), "USAGE_INVALID"), ("not a key", lambda w: _drop(w, **{"--sftp": "agency@example.org", "--host-key": "ssh-ed25519 garbage"}), "USAGE_OPTION_INVALID"),
                              ("no such file", lambda w: _drop(w, **{"--sftp": "agency@example.org", "--host-key": str(w.missing)}), "USAGE_OPTION_INVALID")],
    ("drop set", "identity"): [("without --sftp", lambda w: _drop(w, **{"--identity": str(w.a_file)}), "USAGE_INVALID")],
    ("drop show", "agency_dir"): [("not an agency", lambda w: ["drop", "show", "--agency", str(w.full)], "AGENCY_CONFIG_MISSING")],
    ("send", "agency_dir"): [("not an agency", lambda w: ["send", "--agency", str(w.full)], "AGENCY_CONFIG_MISSING"), ("missing", lambda w: ["send", "--agency", str(w.missing)], "AGENCY_CONFIG_MISSING")],
    ("receipts", "agency_dir"): [("not an agency", lambda w: ["receipts", "--agency", str(w.full)], "AGENCY_CONFIG_MISSING")],
    ("contracts docs", "agency_dir"): [("not an agency", lambda w: ["contracts", "docs", "--out", str(w.missing), "--agency", str(w.full)], "AGENCY_CONFIG_MISSING")],
    ("contracts docs", "network_dir"): [("not a network", lambda w: ["contracts", "docs", "--out", str(w.missing), "--network", str(w.full)], "REGISTRY_MISSING")],
    ("audit verify", "log"): [("a FIFO", lambda w: ["audit", "verify", str(w.fifo)], "USAGE_OPTION_INVALID"), ("missing", lambda w: ["audit", "verify", str(w.missing)], "USAGE_OPTION_INVALID")],
    ("audit verify", "anchor_files"): [
        ("not a receipt", lambda w: ["audit", "verify", str(w.net / "coordinator" / "audit.log"), "--anchor", str(w.a_file)], "USAGE_ANCHOR_INVALID"),
        ("a FIFO", lambda w: ["audit", "verify", str(w.net / "coordinator" / "audit.log"), "--anchor", str(w.fifo)], "USAGE_OPTION_INVALID"),
    ],
    ("audit show", "log"): [("a FIFO", lambda w: ["audit", "show", str(w.fifo)], "USAGE_OPTION_INVALID")],
    ("audit show", "since"): [("not a date", lambda w: ["audit", "show", str(w.net / "coordinator" / "audit.log"), "--since", "yesterday"], "USAGE_OPTION_INVALID")],
    ("audit show", "until"): [("not a date", lambda w: ["audit", "show", str(w.net / "coordinator" / "audit.log"), "--until", "2026-13-01"], "USAGE_OPTION_INVALID")],
    ("network show", "network_dir"): [("missing", lambda w: ["network", "show", "--network", str(w.missing)], "USAGE_OPTION_INVALID"), ("not a network", lambda w: ["network", "show", "--network", str(w.full)], "REGISTRY_MISSING")],
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
    ("ingest", "network_dir"): [("missing", lambda w: ["ingest", "--network", str(w.missing), *w.as_founder], "USAGE_OPTION_INVALID"), ("not a network", lambda w: ["ingest", "--network", str(w.full), *w.as_founder], "REGISTRY_MISSING")],
    ("ingest", "dagster_home"): [("an existing file", lambda w: ["ingest", "--network", str(w.net), "--dagster-home", str(w.a_file), *w.as_founder], "USAGE_OPTION_INVALID")],
    ("warehouse move-to-postgres", "network_dir"): [("missing", lambda w: ["warehouse", "move-to-postgres", "--network", str(w.missing), *w.as_founder], "USAGE_OPTION_INVALID")],
    ("warehouse move-to-postgres", "wait"): [(v, (lambda v: lambda w: ["warehouse", "move-to-postgres", "--network", str(w.net), "--wait", v, *w.as_founder])(v), "USAGE_OPTION_INVALID") for v in BAD_WAITS],
    ("ingest", "wait"): [(v, (lambda v: lambda w: ["ingest", "--network", str(w.net), "--wait", v, *w.as_founder])(v), "USAGE_OPTION_INVALID") for v in BAD_WAITS],
    ("publish", "network_dir"): [("missing", lambda w: ["publish", "--network", str(w.missing), *w.as_founder], "USAGE_OPTION_INVALID")],
    ("publish", "dagster_home"): [("an existing file", lambda w: _publish(w, "--dagster-home", str(w.a_file)), "USAGE_OPTION_INVALID")],
    ("publish", "wait"): [(v, (lambda v: lambda w: _publish(w, "--wait", v))(v), "USAGE_OPTION_INVALID") for v in BAD_WAITS],
    ("dsa close", "wait"): [(v, (lambda v: lambda w: ["dsa", "close", "dsa-1", "--network", str(w.net), "--reason", "retention end", "--wait", v, *w.as_founder])(v), "USAGE_OPTION_INVALID") for v in BAD_WAITS],
    ("extract make", "wait"): [(v, (lambda v: lambda w: ["extract", "make", "--network", str(w.net), "--dsa", "dsa-1", "--wait", v, *w.as_founder])(v), "USAGE_OPTION_INVALID") for v in BAD_WAITS],
    ("publish", "profile"): [("unknown", lambda w: _publish(w, "--profile", "lenient"), "USAGE_OPTION_INVALID")],
    ("publish", "periods"): [("year 0000", lambda w: _publish(w, "--period", "0000-Q1"), "USAGE_OPTION_INVALID"), ("a month", lambda w: _publish(w, "--period", "2026-07"), "USAGE_OPTION_INVALID")],
    ("publish", "method"): [("unknown", lambda w: _publish(w, "--method", "guess"), "USAGE_OPTION_INVALID")],
    ("publish", "threshold"): [("0", lambda w: _publish(w, "--profile", "custom", "--threshold", "0"), "INVALID_PROFILE"), ("without custom", lambda w: _publish(w, "--threshold", "5"), "USAGE_INVALID")],
    ("publish", "rounding_base"): [("0", lambda w: _publish(w, "--profile", "custom", "--rounding-base", "0"), "INVALID_PROFILE")],
    ("publish", "time_limit"): [(v, (lambda v: lambda w: _publish(w, "--time-limit", v))(v), "USAGE_OPTION_INVALID") for v in ("0", "-1", "nan", "inf", "1e9", "soon")],
    ("publish", "dominance_share"): [(v, (lambda v: lambda w: _publish(w, "--profile", "custom", "--dominance-share", v))(v), "INVALID_PROFILE") for v in ("nan", "1.5", "0")],
    ("query", "sql"): [
        ("not SQL", lambda w: ["query", "SELEKT everything", "--releases", str(w.releases)], "QUERY_FAILED"),
        ("a write", lambda w: ["query", "CREATE TABLE t AS SELECT 1", "--releases", str(w.releases)], "QUERY_FAILED"),
        ("reading a file", lambda w: ["query", f"SELECT * FROM read_csv('{w.a_file}')", "--releases", str(w.releases)], "QUERY_FAILED"),
        # Bounded: a query that would run for days is stopped, and one of billions of rows is refused
        # before they are materialised (each took minutes and all the machine's memory before).
        ("runs forever", lambda w: ["query", "SELECT count(*) FROM range(100000000000000)", "--releases", str(w.releases), "--time-limit", "1"], "QUERY_TIME_LIMIT"),
        ("a billion rows", lambda w: ["query", "SELECT * FROM range(1000000000)", "--releases", str(w.releases)], "QUERY_TOO_LARGE"),
        ("memory", lambda w: ["query", "SELECT list(range) FROM range(300000000)", "--releases", str(w.releases)], "QUERY_FAILED"),
    ],
    ("query", "time_limit"): [(v, (lambda v: lambda w: ["query", "SELECT 1", "--releases", str(w.releases), "--time-limit", v])(v), "USAGE_OPTION_INVALID")
                              for v in ("0", "-1", "nan", "inf", "3601", "soon")],
    ("query", "network_dir"): [("an existing file", lambda w: ["query", "SELECT 1", "--network", str(w.a_file)], "USAGE_OPTION_INVALID")],
    ("query", "releases_dir"): [("an existing file", lambda w: ["query", "SELECT 1", "--releases", str(w.a_file)], "USAGE_OPTION_INVALID")],
    ("query", "release"): [("unknown", lambda w: ["query", "SELECT 1", "--releases", str(w.releases), "--release", "nope"], "RELEASE_UNKNOWN")],
    ("query", "fmt"): [("unknown", lambda w: ["query", "SELECT 1", "--format", "xml"], "USAGE_OPTION_INVALID")],
    ("ui", "network_dir"): [("missing", lambda w: ["ui", "--network", str(w.missing)], "USAGE_OPTION_INVALID"), ("not a network", lambda w: ["ui", "--network", str(w.full)], "REGISTRY_MISSING")],
    ("ui", "port"): [("0", lambda w: ["ui", "--network", str(w.net), "--port", "0"], "USAGE_OPTION_INVALID"), ("70000", lambda w: ["ui", "--network", str(w.net), "--port", "70000"], "USAGE_OPTION_INVALID")],
    ("ui", "dagster_home"): [("an existing file", lambda w: ["ui", "--network", str(w.net), "--dagster-home", str(w.a_file)], "USAGE_OPTION_INVALID")],
    ("demo", "out"): [("a folder holding other work", lambda w: ["demo", "--out", str(w.full)], "USAGE_DEMO_OUT_NOT_OURS"), ("an existing file", lambda w: ["demo", "--out", str(w.a_file)], "USAGE_OPTION_INVALID")],
    ("demo", "seed"): [("not a number", lambda w: ["demo", "--out", str(w.missing), "--seed", "x"], "USAGE_OPTION_INVALID")],
    ("demo", "scale"): [(v, (lambda v: lambda w: ["demo", "--out", str(w.missing), "--scale", v])(v), "USAGE_OPTION_INVALID") for v in ("0", "-2", "nan", "inf")],
    ("demo", "profile"): [("unknown", lambda w: ["demo", "--out", str(w.missing), "--profile", "lenient"], "USAGE_OPTION_INVALID")],
    ("demo", "dagster_home"): [("an existing file", lambda w: ["demo", "--out", str(w.missing), "--dagster-home", str(w.a_file)], "USAGE_OPTION_INVALID")],
    ("mapping check", "agency_dir"): [("missing", lambda w: _mapping_check(w, **{"--agency": str(w.missing)}), "USAGE_OPTION_INVALID"), ("not an agency", lambda w: _mapping_check(w, **{"--agency": str(w.full)}), "AGENCY_CONFIG_MISSING")],
    ("mapping check", "contract_id"): [("unknown", lambda w: _mapping_check(w, **{"--contract": "referals"}), "CONTRACT_UNKNOWN")],
    ("mapping check", "extract"): [("missing", lambda w: _mapping_check(w, **{"--extract": str(w.missing)}), "USAGE_OPTION_INVALID")],
    ("mapping check", "period"): [(v, (lambda v: lambda w: _mapping_check(w, **{"--period": v}))(v), "USAGE_OPTION_INVALID") for v in ("2026-Q5", "")],
    ("mapping check", "mode"): [("unknown", lambda w: _mapping_check(w, **{"--mode": "raw"}), "USAGE_OPTION_INVALID")],
    ("mapping init", "agency_dir"): [("missing", lambda w: ["mapping", "init", "--agency", str(w.missing)], "USAGE_OPTION_INVALID"), ("not an agency", lambda w: ["mapping", "init", "--agency", str(w.full)], "AGENCY_CONFIG_MISSING")],
    ("mapping init", "contract_ids"): [("unknown", lambda w: ["mapping", "init", "--agency", str(w.agency), "--contract", "referals"], "CONTRACT_UNKNOWN")],
    ("dsa add", "network_dir"): [("missing", lambda w: [*_dsa_add(w, **{"--network": str(w.missing)}), *w.as_founder], "USAGE_OPTION_INVALID")],
    ("dsa add", "dsa_id"): [("not an id", lambda w: [*_dsa_add(w, **{"--id": "DSA 9; rm"}), *w.as_founder], "AGREEMENT_INVALID"),
                            ("taken", lambda w: [*_dsa_add(w, **{"--id": DSA_ID}), *w.as_founder], "AGREEMENT_EXISTS")],
    ("dsa add", "purpose"): [("empty", lambda w: [*_dsa_add(w, **{"--purpose": " "}), *w.as_founder], "AGREEMENT_INVALID")],
    ("dsa add", "parties"): [("not registered", lambda w: [*_dsa_add(w, **{"--party": "nobody"}), *w.as_founder], "AGREEMENT_INVALID")],
    ("dsa add", "contracts"): [("not a research contract", lambda w: [*_dsa_add(w, **{"--contract": "referral/v1"}), *w.as_founder], "AGREEMENT_INVALID")],
    ("dsa add", "fields"): [("not an output field", lambda w: [*_dsa_add(w, **{"--field": "client_name"}), *w.as_founder], "AGREEMENT_INVALID")],
    ("dsa add", "periods"): [(v, (lambda v: lambda w: [*_dsa_add(w, **{"--period": v}), *w.as_founder])(v), "AGREEMENT_INVALID") for v in ("2026-Q5", "2026-07")],
    ("dsa add", "start"): [("not a date", lambda w: [*_dsa_add(w, **{"--start": "yesterday"}), *w.as_founder], "AGREEMENT_INVALID")],
    ("dsa add", "end"): [("before the start", lambda w: [*_dsa_add(w, **{"--end": "2025-12-31"}), *w.as_founder], "AGREEMENT_INVALID")],
    ("dsa add", "ethics_approval"): [("empty", lambda w: [*_dsa_add(w, **{"--ethics": ""}), *w.as_founder], "AGREEMENT_INVALID")],
    ("dsa add", "ethics_expires"): [("before the end", lambda w: [*_dsa_add(w, **{"--ethics-expires": "2027-06-30"}), *w.as_founder], "AGREEMENT_INVALID"),
                                    ("not a date", lambda w: [*_dsa_add(w, **{"--ethics-expires": "next year"}), *w.as_founder], "AGREEMENT_INVALID")],
    ("dsa add", "researchers"): [("not a researcher", lambda w: [*_dsa_add(w, **{"--researcher": FOUNDER[0]}), *w.as_founder], "AGREEMENT_INVALID")],
    ("dsa add", "min_cell_size"): [("below the floor", lambda w: [*_dsa_add(w, **{"--min-cell-size": "1"}), *w.as_founder], "AGREEMENT_INVALID"),
                                   ("not a number", lambda w: [*_dsa_add(w, **{"--min-cell-size": "five"}), *w.as_founder], "USAGE_OPTION_INVALID")],
    ("dsa add", "retention_end"): [("before the end", lambda w: [*_dsa_add(w, **{"--retention-end": "2027-06-30"}), *w.as_founder], "AGREEMENT_INVALID")],
    ("dsa amend", "network_dir"): [("missing", lambda w: _dsa_amend(w, **{"--network": str(w.missing), "--purpose": "p"}), "USAGE_OPTION_INVALID")],
    ("dsa amend", "dsa_id"): [("unknown", lambda w: ["dsa", "amend", "--network", str(w.net), "--reason", "r", "--purpose", "p", "dsa-nothing", *w.as_founder], "AGREEMENT_UNKNOWN")],
    ("dsa amend", "reason"): [("empty", lambda w: _dsa_amend(w, **{"--reason": " ", "--purpose": "p"}), "AGREEMENT_INVALID")],
    ("dsa amend", "purpose"): [("empty", lambda w: _dsa_amend(w, **{"--purpose": " "}), "AGREEMENT_INVALID")],
    ("dsa amend", "parties"): [("not registered", lambda w: _dsa_amend(w, **{"--party": "nobody"}), "AGREEMENT_INVALID")],
    ("dsa amend", "contracts"): [("not a research contract", lambda w: _dsa_amend(w, **{"--contract": "referral/v1"}), "AGREEMENT_INVALID")],
    ("dsa amend", "fields"): [("not an output field", lambda w: _dsa_amend(w, **{"--field": "client_name"}), "AGREEMENT_INVALID")],
    ("dsa amend", "periods"): [("not a quarter", lambda w: _dsa_amend(w, **{"--period": "2026-Q5"}), "AGREEMENT_INVALID")],
    ("dsa amend", "start"): [("after the end", lambda w: _dsa_amend(w, **{"--start": "2029-01-01"}), "AGREEMENT_INVALID")],
    ("dsa amend", "end"): [("not a date", lambda w: _dsa_amend(w, **{"--end": "soon"}), "AGREEMENT_INVALID")],
    ("dsa amend", "ethics_approval"): [("empty", lambda w: _dsa_amend(w, **{"--ethics": ""}), "AGREEMENT_INVALID")],
    ("dsa amend", "ethics_expires"): [("before the end", lambda w: _dsa_amend(w, **{"--ethics-expires": "2027-01-01"}), "AGREEMENT_INVALID")],
    ("dsa amend", "researchers"): [("not a researcher", lambda w: _dsa_amend(w, **{"--researcher": "nobody"}), "AGREEMENT_INVALID")],
    ("dsa amend", "min_cell_size"): [("below the floor", lambda w: _dsa_amend(w, **{"--min-cell-size": "0"}), "AGREEMENT_INVALID")],
    ("dsa amend", "retention_end"): [("before the end", lambda w: _dsa_amend(w, **{"--retention-end": "2027-01-01"}), "AGREEMENT_INVALID")],
    **{
        (f"dsa {verb}", name): cases
        for verb in ("revoke", "close")
        for name, cases in {
            "network_dir": [("missing", (lambda v: lambda w: ["dsa", v, "--network", str(w.missing), DSA_ID, "--reason", "r", *w.as_founder])(verb), "USAGE_OPTION_INVALID")],
            "dsa_id": [("unknown", (lambda v: lambda w: ["dsa", v, "--network", str(w.net), "dsa-nothing", "--reason", "r", *w.as_founder])(verb), "AGREEMENT_UNKNOWN")],
            "reason": [("empty", (lambda v: lambda w: ["dsa", v, "--network", str(w.net), DSA_ID, "--reason", "", *w.as_founder])(verb), "AGREEMENT_INVALID")],
        }.items()
    },
    ("dsa show", "network_dir"): [("missing", lambda w: ["dsa", "show", "--network", str(w.missing), DSA_ID], "USAGE_OPTION_INVALID")],
    ("dsa show", "dsa_id"): [("unknown", lambda w: ["dsa", "show", "--network", str(w.net), "dsa-nothing"], "AGREEMENT_UNKNOWN"),
                             ("a path", lambda w: ["dsa", "show", "--network", str(w.net), "../../people"], "AGREEMENT_UNKNOWN")],
    ("dsa show", "version"): [*[(v, (lambda v: lambda w: ["dsa", "show", "--network", str(w.net), DSA_ID, "--version", v])(v), "AGREEMENT_VERSION_UNKNOWN") for v in ("0", "-1", "2")],
                              ("not a number", lambda w: ["dsa", "show", "--network", str(w.net), DSA_ID, "--version", "x"], "USAGE_OPTION_INVALID")],
    ("dsa list", "network_dir"): [("missing", lambda w: ["dsa", "list", "--network", str(w.missing)], "USAGE_OPTION_INVALID")],
    ("decision add", "network_dir"): [("missing", lambda w: [*_decision(w, **{"--network": str(w.missing)}), *w.as_founder], "USAGE_OPTION_INVALID")],
    ("decision add", "org"): [("unknown", lambda w: [*_decision(w, **{"--org": "nobody"}), *w.as_founder], "AGENCY_UNKNOWN")],
    ("decision add", "change"): [("unknown", lambda w: [*_decision(w, **{"--change": "maybe"}), *w.as_founder], "USAGE_OPTION_INVALID")],
    ("decision add", "kind"): [("unknown", lambda w: [*_decision(w, **{"--kind": "vibe"}), *w.as_founder], "USAGE_OPTION_INVALID")],
    **{
        ("decision add", name): [("empty", (lambda f: lambda w: [*_decision(w, **{f: " "}), *w.as_founder])(flag), "DECISION_INVALID"),
                                 ("two lines", (lambda f: lambda w: [*_decision(w, **{f: "one\ntwo"}), *w.as_founder])(flag), "DECISION_INVALID"),
                                 ("too long", (lambda f: lambda w: [*_decision(w, **{f: "x" * 501}), *w.as_founder])(flag), "DECISION_INVALID")]
        for name, flag in (("subject", "--subject"), ("decided_by", "--decided-by"), ("why", "--why"))
    },
    ("decision add", "review_date"): [("not a date", lambda w: [*_decision(w, **{"--review-date": "next year"}), *w.as_founder], "DECISION_INVALID"),
                                      ("before the decision", lambda w: [*_decision(w, **{"--review-date": "2020-01-01"}), *w.as_founder], "DECISION_INVALID")],
    ("decision add", "decided_on"): [("not a date", lambda w: [*_decision(w, **{"--decided-on": "2026-02-30"}), *w.as_founder], "DECISION_INVALID")],
    ("decision add", "agency_folder"): [("missing", lambda w: [*_decision(w, **{"--agency-folder": str(w.missing)}), *w.as_founder], "USAGE_OPTION_INVALID")],
    ("decision list", "network_dir"): [("missing", lambda w: ["decision", "list", "--network", str(w.missing)], "USAGE_OPTION_INVALID")],
    ("decision list", "org"): [("unknown", lambda w: ["decision", "list", "--network", str(w.net), "--org", "nobody"], "AGENCY_UNKNOWN")],
    ("decision list", "on"): [("not a date", lambda w: ["decision", "list", "--network", str(w.net), "--due", "--on", "tomorrow"], "USAGE_DATE_INVALID")],
    ("extract make", "network_dir"): [("missing", lambda w: ["extract", "make", "--network", str(w.missing), "--dsa", DSA_ID, *w.as_founder], "USAGE_OPTION_INVALID")],
    ("extract make", "dsa_id"): [("unknown", lambda w: ["extract", "make", "--network", str(w.net), "--dsa", "dsa-nothing", *w.as_founder], "AGREEMENT_UNKNOWN")],
    ("extract open", "extract_file"): [("missing", lambda w: ["extract", "open", str(w.missing), *_flat({"--person": str(w.net / "people" / "ada-researcher"), "--coordinator": str(w.coordinator_public), "--out": str(w.missing)})], "USAGE_OPTION_INVALID")],
    ("extract open", "person_folder"): [("missing", lambda w: _open_extract(w, **{"--person": str(w.missing)}), "USAGE_OPTION_INVALID")],
    ("extract open", "coordinator_file"): [("missing", lambda w: _open_extract(w, **{"--coordinator": str(w.missing)}), "USAGE_OPTION_INVALID")],
    ("extract open", "out"): [("an existing file", lambda w: _open_extract(w, **{"--out": str(w.a_file)}), "USAGE_OPTION_INVALID")],
    ("review list", "network_dir"): [("missing", lambda w: ["review", "list", "--network", str(w.missing), *w.as_founder], "USAGE_OPTION_INVALID")],
    ("review show", "network_dir"): [("missing", lambda w: ["review", "show", "--network", str(w.missing), "req", *w.as_founder], "USAGE_OPTION_INVALID")],
    ("review show", "request_id"): [("unknown", lambda w: ["review", "show", "--network", str(w.net), "req-nothing", *w.as_founder], "REQUEST_UNKNOWN"),
                                    ("a path", lambda w: ["review", "show", "--network", str(w.net), "../releases", *w.as_founder], "REQUEST_UNKNOWN")],
    **{
        (f"review {verb}", name): cases
        for verb in ("approve", "reject")
        for name, cases in {
            "network_dir": [("missing", (lambda v: lambda w: ["review", v, "--network", str(w.missing), "req", "--comment", "c", *w.as_reviewer])(verb), "USAGE_OPTION_INVALID")],
            "request_id": [("unknown", (lambda v: lambda w: ["review", v, "--network", str(w.net), "req-nothing", "--comment", "c", *w.as_reviewer])(verb), "REQUEST_UNKNOWN")],
            "comment": [("empty", (lambda v: lambda w: ["review", v, "--network", str(w.net), "req-nothing", "--comment", " ", *w.as_reviewer])(verb), "USAGE_COMMENT_MISSING")],
        }.items()
    },
    ("release publish", "network_dir"): [("missing", lambda w: ["release", "publish", "--network", str(w.missing), "req", *w.as_founder], "USAGE_OPTION_INVALID")],
    ("release publish", "release_id"): [("unknown", lambda w: ["release", "publish", "--network", str(w.net), "req-nothing", *w.as_founder], "REQUEST_UNKNOWN")],
    ("release publish", "dagster_home"): [("an existing file", lambda w: ["release", "publish", "--network", str(w.net), "req", "--dagster-home", str(w.a_file), *w.as_founder], "USAGE_OPTION_INVALID")],
    ("release publish", "wait"): [(v, (lambda v: lambda w: ["release", "publish", "--network", str(w.net), "req", "--wait", v, *w.as_founder])(v), "USAGE_OPTION_INVALID") for v in BAD_WAITS],
    ("release withdraw", "network_dir"): [("missing", lambda w: ["release", "withdraw", "--network", str(w.missing), "r", "--reason", "x", *w.as_founder], "USAGE_OPTION_INVALID")],
    ("release withdraw", "release_id"): [("unknown", lambda w: ["release", "withdraw", "--network", str(w.net), "r-nothing", "--reason", "x", *w.as_founder], "RELEASE_UNKNOWN")],
    ("release withdraw", "reason"): [("empty", lambda w: ["release", "withdraw", "--network", str(w.net), "r-nothing", "--reason", "", *w.as_founder], "USAGE_REASON_MISSING")],
    ("release verify", "network_dir"): [("missing", lambda w: ["release", "verify", "--network", str(w.missing)], "USAGE_OPTION_INVALID"),
                                        ("not a network", lambda w: ["release", "verify", "--network", str(w.full)], "REGISTRY_MISSING")],
}

#: Parameters that have no bad value, and why.
NO_BAD_VALUE = {
    ("contribute", "dry_run"): "a flag",
    ("contribute", "resend"): "a flag",
    ("receipts", "no_fetch"): "a flag",
    ("mapping init", "replace"): "a flag",
    ("decision list", "due"): "a flag",
    ("review list", "waiting"): "a flag",
    ("review list", "ids"): "a flag",
    **{("audit show", name): "a filter: any text matches some entries or none" for name in ("actor", "action", "object_id", "outcome")},
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


#: What a refused command may change: the coordinator's audit log records who was refused.
AUDIT_FILES = ("audit.log", "audit.log.head")


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root``, with each file's size and modification time (audit logs aside:
    and so their folder's times)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[str((Path(dirpath) / name).relative_to(root))] = (0, 0)
        for name in filenames:
            if name not in AUDIT_FILES:
                st = (Path(dirpath) / name).lstat()
                out[str((Path(dirpath) / name).relative_to(root))] = (st.st_size, st.st_mtime_ns)
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
