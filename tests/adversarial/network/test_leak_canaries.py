"""Suite 7, leak canaries end to end: no identifying value of a whole simulated network leaves.

The demo network (every agency type and tier, one quarter, small scale) is built through the key
ceremony; then every direct and quasi identifier of every extract is replaced by a unique canary
that stays valid for the contract, so it travels as far as the product lets it: names, client,
episode and referral numbers, postal codes (a real prefix, a unique rest) and birth dates (unique
dates, before 2010). A free-text ``Notes`` column (ignored by each agency's mapping) and a few code
cells (organisation codes, service type, language: those rows are rejected) carry canaries too.

The network then runs as `dvnet demo` runs it: contribute, send, the Dagster intake job, the cube
rebuild, receipts, a release request, two reviews, publication, and the DSA's research extract,
opened by its researcher. Afterwards every file under the network (agencies, coordinator and its
Dagster instance, releases, custodian, people) except the input extracts is searched as bytes in
UTF-8 and UTF-16-LE; every DuckDB file through SELECT over every text column; every Parquet file
through its decoded cells and statistics; every bundle decrypted with the coordinator's key; every
Dagster event through the instance API; captured stdout, stderr and every log record at DEBUG.
Headline: ``C canaries, 0 found``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import random
import re
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import yaml

from parquet_text import parquet_text

from dvnet import bundle
from dvnet.common.network import NetworkPaths, load_network
from dvnet.contracts.errors import DvnetError
from dvnet.pipelines.demo_network import demo_geography

PERIOD = "2026-Q3"
PREFIX = "CANARY"
ORG_FIELDS = ("referring_org", "receiving_org")
CODE_FIELDS = ("service_type", "language")  # a code cell holding a marker: the row is rejected
#: The letters a Canadian postal code uses in its fifth place, less the hex digits (``Canaries.postal``).
POSTAL_LETTERS = "GHJKLMNPRSTVWXYZ"


class Canaries:
    """Every marker planted; ``text`` carry the common prefix, ``exact`` (postal codes, birth dates) do not."""

    def __init__(self, seed: int = 7):
        self.n = 0
        self.exact: set[str] = set()
        self.text: set[str] = set()
        self._rng = random.Random(seed)
        self._dates: set[str] = set()

    def mark(self, kind: str) -> str:
        self.n += 1
        marker = f"{PREFIX}{kind}{self.n:06x}"
        self.text.add(marker)
        return marker

    def postal(self, prefix: str) -> str:
        # A unique rest after a declared prefix: valid, and still a marker. Its letter is never a hex
        # digit: a region prefix ending a word ("ranges" + "1a...") followed by a random UUID or
        # digest (Dagster's check keys are a check's name and a run id) could otherwise spell a
        # planted code by chance (a CI run found "S1A6E1" in Dagster's index that way).
        while True:
            rest = f"{self._rng.randint(0, 9)}{self._rng.choice(POSTAL_LETTERS)}{self._rng.randint(0, 9)}"
            if f"{prefix}{rest}" not in self.exact:
                self.exact.add(f"{prefix}{rest}")
                return f"{prefix} {rest}"

    def birth(self) -> str:
        while True:
            day = dt.date(1940, 1, 1) + dt.timedelta(days=self._rng.randint(0, 365 * 65))
            if day.isoformat() not in self._dates:
                self._dates.add(day.isoformat())
                self.exact.add(day.isoformat())
                return day.isoformat()

    @property
    def count(self) -> int:
        return len(self.text) + len(self.exact)


def _plant(agency_folder: Path, canaries: Canaries, people: dict) -> None:
    """Each extract of the agency rewritten with canaries (one person keeps one name, number,
    birth date and postal code across the agency's extracts, so linkage still links)."""
    for path in sorted((agency_folder / "extracts").glob("*.csv")):
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
        for i, row in enumerate(rows):
            person = people.setdefault((agency_folder.name, row["client_id"]), {
                "client_id": canaries.mark("c"),
                "client_name": f"{canaries.mark('n')} {canaries.mark('n')}",
                "date_of_birth": canaries.birth(),
                "postal_code": canaries.postal(row["postal_code"][:3] if row.get("postal_code") else "S1A"),
            })  # fmt: skip
            row.update(person)
            for key in ("episode_id", "referral_id"):
                if key in row:
                    row[key] = canaries.mark(key[0])
            row["Notes"] = f"{canaries.mark('x')}, called back; lives at {canaries.mark('x')}"
            if i == 1:  # one row per extract with a canary in each code field it has: rejected
                for key in ORG_FIELDS + CODE_FIELDS:
                    if key in row:
                        row[key] = canaries.mark("k")
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        path.write_text(buf.getvalue(), encoding="utf-8")
        mapping = agency_folder / "mapping" / f"{path.stem.rsplit('_', 1)[0]}.yaml"
        config = yaml.safe_load(mapping.read_text(encoding="utf-8")) if mapping.exists() else None
        config = config or {}
        config["ignore_columns"] = ["Notes"]
        mapping.write_text(yaml.safe_dump(config), encoding="utf-8")


class Finder:
    """Every canary, in UTF-8 and in UTF-16-LE (at either byte alignment): the prefix of the text
    canaries in any case, and each exact canary found among everything shaped like one."""

    PATTERN = re.compile(rf"{PREFIX}|\d{{4}}-\d\d-\d\d|[A-Z]\d[A-Z] ?\d[A-Z]\d".encode(), re.IGNORECASE)

    def __init__(self, canaries: Canaries):
        self.exact = canaries.exact

    def __call__(self, data: bytes | str) -> list[str]:
        data = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
        views = [data] + [data[i:].decode("utf-16-le", "replace").encode("utf-8") for i in (0, 1)]
        return [ascii(view[max(0, m.start() - 24) : m.end() + 24]) for view in views for m in self.PATTERN.finditer(view) if self._canary(m[0])]

    def _canary(self, found: bytes) -> bool:
        text = found.decode("ascii").upper()
        return text == PREFIX or text.replace(" ", "") in self.exact


def _duckdb_text(path: Path) -> str:
    """Every text cell of every table and view of a DuckDB file (strings may be compressed on disk)."""
    parts = []
    con = duckdb.connect(str(path), read_only=True)
    try:
        columns = con.execute(
            "SELECT table_catalog, table_schema, table_name, column_name FROM information_schema.columns WHERE data_type NOT IN "
            "('INTEGER','BIGINT','DOUBLE','BOOLEAN','DATE','TIMESTAMP','TIMESTAMP WITH TIME ZONE','SMALLINT','TINYINT','HUGEINT','FLOAT','UBIGINT','UINTEGER')"
        ).fetchall()
        for catalog, schema, table, column in columns:
            q = f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM "{catalog}"."{schema}"."{table}"'
            parts += [str(v) for (v,) in con.execute(q).fetchall()]
        parts += [str(r) for r in con.execute("SELECT sql FROM duckdb_tables() UNION ALL SELECT sql FROM duckdb_views()").fetchall()]
    finally:
        con.close()
    assert columns, path
    return "\n".join(parts)


def _bundle_text(blob: bytes, root: Path) -> str | None:
    """The decrypted bundle's manifest, header and payload cells, with the coordinator's key."""
    keys = NetworkPaths(root).keys
    for org in load_network(root).organisations:
        try:
            opened = bundle.open_bundle(
                blob,
                signing_public_key=bundle.signing_public_key_from_text(org.signing_public_key),
                recipient_private_key=bundle.load_encryption_key(keys / "encryption.key"),
                now=dt.datetime.now(dt.UTC),
            )
        except DvnetError:  # another agency's signature: try the next
            continue
        data = bytes(opened.data)
        return "\n".join([json.dumps(opened.manifest), json.dumps(opened.header), parquet_text(data)]) + data.decode("latin-1")
    return None


def _dagster_events(home: Path) -> str:
    """Every event the instance recorded, every run's config and tags, through the instance API."""
    from dvnet.assets.runs import dagster_instance

    parts = []
    with dagster_instance(home) as instance:
        for run in instance.get_runs():
            parts.append(json.dumps([run.run_config, run.tags], default=str))
            parts += [repr(e) for e in instance.all_logs(run.run_id)]
    assert parts, "the instance recorded runs"
    return "\n".join(parts)


def test_nothing_planted_leaves_the_network(tmp_path, capfd, caplog, headline):
    from dvnet.assets.releases.lib.review import decide
    from dvnet.assets.research.lib.extract import make_extract
    from dvnet.assets.runs import dagster_home_for, latest_check_results, run_intake, run_release_step
    from dvnet.pipelines.demo import deliver, fresh_network, plan, return_receipts, run_contributions
    from dvnet.pipelines.demo_network import DSA_ID, RESEARCHER, REVIEWERS
    from dvnet.pipelines.research import open_extract
    from dvnet.pipelines.synth import synthesize

    caplog.set_level(logging.DEBUG)
    root = tmp_path / "net"
    ceremony = fresh_network(root)
    home = dagster_home_for(root, None, {})
    orgs = ceremony.organisations
    synthesize(orgs, root / "agencies", seed=11, periods=[PERIOD], scale=0.2, geography=demo_geography())
    canaries, people = Canaries(), {}
    for folder in sorted(NetworkPaths(root).agencies.iterdir()):
        _plant(folder, canaries, people)
    inputs = {p.resolve() for p in NetworkPaths(root).agencies.glob("*/extracts/*.csv")}

    items = plan(orgs, [PERIOD])
    for item in items:  # the rows whose code cells hold a canary are rejected; the rest still leaves
        item.extra["max_reject_share"] = 0.5
    results = run_contributions(root, items)
    assert [r.status for r in results] == ["sealed"] * len(results), [(r.agency_id, r.contract, r.to_dict().get("refusal") or r.to_dict().get("reason")) for r in results if r.status != "sealed"]
    assert all(r.rejected >= 1 for r in results), "the code-field canaries were read and rejected"
    assert deliver(root) == len(results)
    ceremony.as_person(ceremony.founder, "ingest")
    run = run_intake(root, home)
    assert {o["outcome"] for o in run.outcomes} == {"loaded"}
    assert run.cubes_rebuilt
    assert return_receipts(root) == len(results)
    ceremony.as_person(ceremony.founder, "publish")
    release_id, _ = run_release_step(root, home, "release_request", {"profile": "dv-default", "periods": [PERIOD], "author": ceremony.founder}, "dvnet publish")
    for reviewer in REVIEWERS:
        decide(root, release_id, ceremony.as_person(reviewer, "review.approve"), "approve", "checked (leak suite)")
    ceremony.as_person(ceremony.founder, "release.publish")
    run_release_step(root, home, "published_release", {"request_id": release_id}, "dvnet release publish")
    assert (NetworkPaths(root).releases / release_id / "manifest.json").is_file()
    made = make_extract(root, DSA_ID, ceremony.as_person(ceremony.founder, "extract"))
    researcher = ceremony.people[RESEARCHER].folder
    opened = open_extract(made.files[RESEARCHER], researcher, ceremony.paths.coordinator_public, researcher / "extracts")
    assert pq.read_table(opened.parquet).num_rows > 0
    checks = latest_check_results(root, home)

    find = Finder(canaries)
    found: dict[str, list[str]] = {}
    searched = {"files": 0, "duckdb": 0, "parquet": 0, "bundles": 0}

    def look(where: str, data) -> None:
        if hits := find(data):
            found[where] = hits[:3]

    captured = capfd.readouterr()
    look("stdout", captured.out)
    look("stderr", captured.err)
    for i, record in enumerate(caplog.records):
        look(f"log record {i} ({record.name})", record.getMessage() + repr(record.args) + (record.exc_text or ""))
    look("check results", json.dumps({k: list(v) for k, v in checks.items()}))
    look("dagster events", _dagster_events(home))
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.resolve() not in inputs):
        rel = str(path.relative_to(root))
        data = path.read_bytes()
        searched["files"] += 1
        look(rel, data)
        if data[8:12] == b"DUCK":
            searched["duckdb"] += 1
            look(f"{rel} (SELECT)", _duckdb_text(path))
        elif data[:4] == b"PAR1":
            searched["parquet"] += 1
            look(f"{rel} (cells)", parquet_text(path))
        elif path.suffix == ".dvb" and (text := _bundle_text(data, root)) is not None:
            searched["bundles"] += 1
            look(f"{rel} (decrypted)", text)

    assert searched["duckdb"] >= 1 and searched["parquet"] >= 1 and searched["bundles"] >= len(results), searched
    assert any(p.suffix == ".sqlite" or p.suffix == ".db" for p in home.rglob("*")), "the Dagster instance's storage was searched"
    headline("leak canaries", f"{canaries.count} canaries, {len(found)} found ({searched['files']} files, {searched['duckdb']} DuckDB, "
                              f"{searched['parquet']} Parquet, {searched['bundles']} bundles decrypted)")  # fmt: skip
    assert found == {}, found


def test_a_random_run_id_beside_a_word_never_spells_a_planted_postal_code():
    """The finder's postal-code shape ignores word boundaries on purpose (a leaked code may sit
    next to any byte in a binary file), so the planted codes must be ones no hex run can complete:
    Dagster's index holds check names joined to run ids ("…ranges" + "1a6e183f-…")."""
    canaries = Canaries()
    codes = [canaries.postal("S1A").replace(" ", "") for _ in range(300)]
    assert all(code[4] in POSTAL_LETTERS for code in codes)
    find = Finder(canaries)
    hex_digits = "0123456789abcdef"  # every run id that could follow "ranges" + "1a" and spell a code
    noise = "".join(f"no_exact_or_narrow_ranges1a{a}{h}{b}83f-f8c9-456e\n" for a in range(10) for h in hex_digits for b in range(10))
    assert find(noise) == []
    assert find(f"ranges{codes[0]}") != []  # a planted code is still found wherever it sits
