"""The coordinator as attacker (issue 12 point 1, DESIGN §6): with everything its folder holds,
it reverses no pseudonym and no linkage token.

A network is made through the key ceremony (thirteen agencies, a custodian, people), its agencies
contribute synthetic extracts (the Tier 4 agencies send records and research extracts with linkage
tokens) and the coordinator ingests them. Then:

* no secret of another party is anywhere under the coordinator's folder: every agency's
  pseudonym, signing and HPKE key, the linkage key, the custodian's and people's keys, searched in
  every file's bytes and every text value of the warehouse in every spelling a leak would take;
  and the only private key files found by content are the coordinator's own two;
* a dictionary attack: the attacker knows every synthetic person's name, date of birth, client
  and episode number (the strongest dictionary there is), takes every key-sized value the
  coordinator's folder holds (its private keys, every 32-byte value written in base64 or hex in
  any file or warehouse column, the empty key), derives the project keys a network key would give
  for every project the registry names, and hashes the dictionary as dvnet does. It must reverse
  none; with the agencies' and the custodian's real keys the same attack reverses every token,
  which shows the attack itself works.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import re
from pathlib import Path

import duckdb
import pytest

from dvnet.anonymize.pseudonyms import normalise_name, project_linkage_key
from dvnet.bundle import keys
from dvnet.bundle.wrap import unwrap_secret
from dvnet.common import agreements
from dvnet.common.network import NetworkPaths, load_network
from dvnet.pipelines.ceremony import foreign_key_files, private_key_files
from dvnet.pipelines.demo import fresh_network, plan
from dvnet.pipelines.demo_network import demo_geography
from dvnet.pipelines.synth import synthesize

PERIOD = "2026-Q3"
#: Source field -> the pseudonym column it becomes (dvnet hashes ``field ‖ NUL ‖ value``).
PSEUDONYM_FIELDS = {"client_id": "client_pseudonym", "episode_id": "episode_pseudonym", "referral_id": "referral_pseudonym"}
B64_32 = re.compile(rb"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=(?![A-Za-z0-9+/=])")
HEX_32 = re.compile(rb"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, contribute_and_ingest) -> Path:
    root = tmp_path_factory.mktemp("attack") / "net"
    orgs = fresh_network(root).organisations
    synthesize(orgs, root / "agencies", seed=31, periods=[PERIOD], scale=0.25, geography=demo_geography())
    contribute_and_ingest(root, plan(orgs, [PERIOD]))
    return root


# what the coordinator holds ---------------------------------------------------------------------


def _coordinator_files(root: Path) -> list[Path]:
    return [p for p in sorted(NetworkPaths(root).coordinator.rglob("*")) if p.is_file()]


def _warehouse_text(root: Path, exclude: set[str] = frozenset()) -> dict[tuple[str, str], list[str]]:
    """Every distinct text value of every table, by (table, column), but the columns in ``exclude``."""
    con = duckdb.connect(str(NetworkPaths(root).warehouse), read_only=True)
    try:
        columns = con.execute("SELECT table_name, column_name FROM information_schema.columns WHERE data_type = 'VARCHAR'").fetchall()
        return {
            (t, c): [v for (v,) in con.execute(f'SELECT DISTINCT "{c}" FROM "{t}" WHERE "{c}" IS NOT NULL').fetchall()]
            for t, c in columns
            if c not in exclude
        }
    finally:
        con.close()


def _targets(root: Path) -> dict[str, set[str]]:
    """The tokens the attacker wants to reverse: every pseudonym and linkage token in the warehouse."""
    wanted: dict[str, set[str]] = {}
    for (table, column), values in _warehouse_text(root).items():
        if column in (*PSEUDONYM_FIELDS.values(), "linkage_token"):
            wanted.setdefault(column, set()).update(values)
    return wanted


def _candidate_keys(root: Path) -> tuple[set[bytes], int]:
    """Every key-sized value in the coordinator's folder and warehouse (not the target columns)."""
    found: set[bytes] = {b""}
    files = _coordinator_files(root)
    blobs = [p.read_bytes() for p in files if p.suffix != ".duckdb"]
    blobs += ["\n".join(map(str, v)).encode() for v in _warehouse_text(root, exclude={*PSEUDONYM_FIELDS.values(), "linkage_token"}).values()]
    for blob in blobs:
        found.update(base64.b64decode(m) for m in B64_32.findall(blob))
        found.update(bytes.fromhex(m.decode()) for m in HEX_32.findall(blob))
        if blob.startswith(keys.SECRET_PREFIX):
            found.add(base64.b64decode(blob[len(keys.SECRET_PREFIX) :].strip()))
    for path in private_key_files(NetworkPaths(root).coordinator):
        if path.read_bytes().startswith(keys.SECRET_PREFIX):
            continue  # a secret: taken above
        key = keys.load_private_key_file(path)
        found.update({key.private_bytes_raw(), keys.raw_public_bytes(key.public_key())})
    return found, len(files)


# the dictionary: every synthetic person, as the agencies' own systems hold them ----------------------


def _dictionary(root: Path) -> dict[str, set[str]]:
    words: dict[str, set[str]] = {"people": set(), **{f: set() for f in PSEUDONYM_FIELDS}}
    for extract in sorted(root.glob("agencies/*/extracts/*.csv")):
        with extract.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                for field in PSEUDONYM_FIELDS:
                    if row.get(field):
                        words[field].add(row[field])
                if row.get("client_name") and row.get("date_of_birth"):
                    words["people"].add(f"{normalise_name(row['client_name'])}|{row['date_of_birth'][:10]}")
    return words


def _attack(wanted: dict[str, set[str]], words: dict[str, set[str]], candidates: set[bytes], projects: list[str]) -> set[str]:
    """Hash the dictionary under every candidate key as dvnet would; return the tokens it matches."""
    reversed_: set[str] = set()
    for key in candidates:
        for field, column in PSEUDONYM_FIELDS.items():
            if wanted.get(column):
                hits = {hmac.digest(key, field.encode() + b"\x00" + w.encode(), "sha256").hex()[:32] for w in words[field]}
                reversed_ |= hits & wanted[column]
        for project_key in [key, *(project_linkage_key(key, p) for p in projects if len(key) == 32)]:
            hits = {hmac.digest(project_key, w.encode(), "sha256").hex() for w in words["people"]}
            reversed_ |= hits & wanted.get("linkage_token", set())
    unkeyed = {hashlib.sha256(w.encode()).hexdigest() for w in words["people"]}
    return reversed_ | (unkeyed & wanted.get("linkage_token", set()))


def _projects(root: Path) -> list[str]:
    con = duckdb.connect(str(NetworkPaths(root).warehouse), read_only=True)
    try:
        in_ledger = {p for (p,) in con.execute("SELECT DISTINCT project FROM ledger WHERE project IS NOT NULL").fetchall()}
    finally:
        con.close()
    return sorted(in_ledger | {a.id for a in agreements.all_current(root)})


def test_a_dictionary_attack_with_everything_the_coordinator_holds_reverses_nothing(loaded, headline):
    wanted = _targets(loaded)
    tokens = set().union(*wanted.values())
    assert wanted.get("linkage_token") and wanted.get("client_pseudonym"), "the network sent record-mode rows and linkage tokens"
    words, projects = _dictionary(loaded), _projects(loaded)
    candidates, files = _candidate_keys(loaded)
    assert len(candidates) > 50  # its own keys, hashes and ids in logs, receipts, ledger …

    reversed_ = _attack(wanted, words, candidates, projects)

    # The control: the same attack with the keys the coordinator must never hold.
    real = {keys.read_secret(p) for p in loaded.glob("agencies/*/keys/pseudonym.key")} | {keys.read_secret(loaded / "custodian" / "keys" / "network-linkage.key")}
    control = _attack(wanted, words, real, projects)
    assert control == tokens, "with the right keys the dictionary reverses every token: the attack is sound"
    headline(
        "dictionary attack (coordinator)",
        f"{len(tokens)} tokens tried with {len(candidates)} candidate keys from the coordinator's {files} files: {len(reversed_)} reversed "
        f"(with the agencies' and custodian's own keys: {len(control)} of {len(tokens)})",
    )
    assert reversed_ == set()


def test_the_relayed_linkage_key_does_not_open_with_anything_the_coordinator_holds(loaded):
    custodian = (loaded / "custodian" / "custodian-public.yaml")
    from dvnet.common.custodian import read_custodian_public

    custodian_key = keys.signing_public_key_from_text(read_custodian_public(custodian)["signing_public_key"])
    own = keys.load_encryption_key(NetworkPaths(loaded).keys / "encryption.key")
    relayed = sorted((NetworkPaths(loaded).coordinator / "relay").iterdir())
    assert len(relayed) == 3  # the demo's three Tier 4 agencies
    for path in relayed:
        agency_id = path.name.split(".")[0]
        with pytest.raises(keys.BundleError):
            unwrap_secret(path.read_bytes(), agency_id=agency_id, recipient_private_key=own, custodian_public_key=custodian_key)


def _spellings(secret: bytes) -> list[bytes]:
    b64 = base64.b64encode(secret)
    return [secret, b64, b64.rstrip(b"="), base64.urlsafe_b64encode(secret).rstrip(b"="), secret.hex().encode(), secret.hex().upper().encode()]


def test_no_other_partys_secret_is_anywhere_in_the_coordinators_folder(loaded):
    secrets: dict[str, bytes] = {}
    for path in [*loaded.glob("agencies/*/keys/*.key"), *loaded.glob("custodian/keys/*.key"), *loaded.glob("people/*/signing.key")]:
        content = path.read_bytes()
        name = str(path.relative_to(loaded))
        secrets[name] = keys.read_secret(path) if content.startswith(keys.SECRET_PREFIX) else keys.load_private_key_file(path).private_bytes_raw()
        for line in content.splitlines():
            if line and not line.startswith(b"-----"):
                secrets[f"{name} (file line)"] = line
    assert len([n for n in secrets if "(file line)" not in n]) == 13 * 3 + 3 * 1 + 2 + len(list(loaded.glob("people/*")))  # 3 keys per agency, the 3 Tier 4 linkage keys, the custodian's 2, one per person
    blobs = {str(p.relative_to(loaded)): p.read_bytes() for p in _coordinator_files(loaded)}
    blobs |= {f"warehouse {t}.{c}": "\n".join(map(str, v)).encode() for (t, c), v in _warehouse_text(loaded).items()}
    leaks = [(name, where) for name, secret in secrets.items() for s in _spellings(secret) for where, blob in blobs.items() if s in blob]
    assert leaks == []
    assert foreign_key_files(loaded) == []
    assert sorted(p.name for p in private_key_files(NetworkPaths(loaded).coordinator)) == ["encryption.key", "signing.key"]
