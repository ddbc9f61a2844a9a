"""Research extracts: only a DSA's parties, periods and listed fields leave, cells under its minimum
size are withheld, people are linked across agencies by the project's tokens (and two projects
share no token), each copy opens only with its named researcher's key, nothing is made after the
end date or revocation, and closing the DSA leaves no project rows behind."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from dvnet.common.faults import AFTER_AUDIT, CLOSE_POINTS, EXTRACT_POINTS
from dvnet.assets.research.lib.extract import ExtractRefusal, close, extracts_folder, make_extract
from dvnet.bundle.errors import BundleError
from dvnet.common import agreements, audit
from dvnet.common import network as store
from dvnet.common.authority import authorise
from dvnet.common.custodian import CustodianFolder
from dvnet.common.signed_records import read_signed
from dvnet.contracts.errors import RegistryError
from dvnet.common.people import PersonFolder
from dvnet.pipelines.ceremony import FOUNDER, Ceremony
from dvnet.pipelines.cli import EXIT_OK, EXIT_REFUSED, main
from dvnet.pipelines.demo import DemoPlanItem
from dvnet.pipelines.synth import synthesize

DSA, OTHER = "dsa-2026-01", "dsa-2026-02"
#: A third Tier 4 agency beside the template's two, in valley-health's region: the synthetic
#: population sends many of its people to both (and some to uni-research too).
SHELTER = ("valley-shelter", "Valley Safe House (fictional)", "direct_service", 4, "south-valley")
PARTIES = ("valley-health", SHELTER[0], "uni-research")
PERIODS = ("2026-Q2", "2026-Q3")


@pytest.fixture(scope="module")
def _loaded(_network_template, tmp_path_factory, researcher_and_dsa, contribute_and_ingest):
    """The three Tier 4 agencies' research rows for two quarters under DSA, and valley-health's and
    valley-shelter's 2026-Q3 rows under a second project, OTHER (researcher ben-researcher): the
    same synthetic people, some at two or three agencies, under two projects."""
    root = tmp_path_factory.mktemp("research") / "net"
    shutil.copytree(_network_template, root, symlinks=True)
    ceremony = researcher_and_dsa(root)
    ceremony.custodian = CustodianFolder(root / "custodian")  # relays the linkage key to the new Tier 4 agency
    ceremony.add_agency(*SHELTER)
    agreements.amend(root, DSA, {"parties": list(PARTIES)}, "valley-shelter joins", ceremony.as_person(FOUNDER[0], "dsa.amend"))
    ceremony.add_person("ben-researcher", "Ben (fictional)", "uni-research", ["researcher"])
    terms = {**agreements.require(root, DSA).terms(), "id": OTHER, "researchers": ["ben-researcher"]}
    agreements.add(root, terms, ceremony.as_person(FOUNDER[0], "dsa.add"))
    network = store.load_network(root)
    synthesize([network.organisation(a) for a in PARTIES], root / "agencies", seed=11, periods=list(PERIODS), scale=2.0, geography=network.geography)
    extra = {"max_withheld_share": 1.0, "k": 2}
    items = [DemoPlanItem(a, "research_extract", p, "record", {**extra, "project": DSA}) for a in PARTIES for p in PERIODS]
    items += [DemoPlanItem(a, "research_extract", "2026-Q3", "record", {**extra, "project": OTHER}) for a in PARTIES[:2]]
    contribute_and_ingest(root, items)
    return root


def _multi_agency_people(root) -> int:
    """People the synthetic ground truth puts at two or more of the DSA's parties (kept apart from
    every agency folder; only a test reads it)."""
    truth = root / "agencies" / "_ground_truth" / "persons.parquet"
    return duckdb.connect().execute(f"SELECT count(*) FROM (SELECT person_id FROM '{truth}' WHERE agency_id IN (SELECT unnest(?)) "
                                    "GROUP BY person_id HAVING count(DISTINCT agency_id) >= 2)", [list(PARTIES)]).fetchone()[0]  # fmt: skip


@pytest.fixture
def loaded(_loaded, tmp_path):
    root = tmp_path / "net"
    shutil.copytree(_loaded, root, symlinks=True)
    return root


def _as(root, action, person=FOUNDER[0]):
    return authorise(root, person, root / "people" / person / "signing.key", action)


def _open(root, path, person: str):
    out = root / "opened" / person
    code = main(["extract", "open", str(path), "--person", str(root / "people" / person), "--coordinator",
                 str(store.NetworkPaths(root).coordinator_public), "--out", str(out)], {})  # fmt: skip
    return code, out


def _warehouse_rows(root, sql: str, params=()):
    con = duckdb.connect(str(store.NetworkPaths(root).warehouse), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_the_named_researcher_opens_an_extract_of_only_the_listed_fields_linked_across_agencies(loaded, headline):
    made = make_extract(loaded, DSA, _as(loaded, "extract"))
    dsa = agreements.require(loaded, DSA)
    assert made.columns == dsa.fields and made.rows > 0
    truth = _multi_agency_people(loaded)
    assert truth > 0, "the fixture must put people at two or more agencies"
    assert 0 < made.linked_people <= truth, f"{made.linked_people} linked, {truth} in truth: people seen at several agencies are linked (the point of Tier 4), and nobody more"
    code, out = _open(loaded, made.files["ada-researcher"], "ada-researcher")
    assert code == EXIT_OK
    table = pq.read_table(out / f"{DSA}.parquet")
    assert tuple(table.column_names) == dsa.fields and table.num_rows == made.rows
    assert (out / f"{DSA}.csv").stat().st_mode & 0o777 == 0o600
    staged = _warehouse_rows(loaded, "SELECT count(*) FROM staged_research_extract s JOIN ledger USING (bundle_id) WHERE project = ?", [DSA])[0][0]
    assert made.rows + made.withheld == staged
    headline("research extract", f"{made.rows} rows × {len(made.columns)} listed fields ({', '.join(made.columns)}), {made.withheld} withheld "
             f"under min cell {dsa.min_cell_size}; {made.people} people, {made.linked_people} linked across agencies")  # fmt: skip


def test_every_quasi_identifier_cell_that_leaves_holds_at_least_the_minimum(loaded):
    coordinator = _as(loaded, "dsa.amend")
    agreements.amend(loaded, DSA, {"min_cell_size": 25}, "stricter output rule", coordinator)
    made = make_extract(loaded, DSA, _as(loaded, "extract"))
    _, out = _open(loaded, made.files["ada-researcher"], "ada-researcher")
    con = duckdb.connect()
    smallest = con.execute(f"SELECT min(n) FROM (SELECT count(*) n FROM '{out / (DSA + '.parquet')}' GROUP BY age_band, region, episode_month)").fetchone()[0]
    assert smallest >= 25 and made.withheld > 0


def test_only_the_dsas_parties_and_periods_leave(loaded):
    agreements.amend(loaded, DSA, {"parties": ["valley-health"], "periods": ["2026-Q3"]}, "narrowed", _as(loaded, "dsa.amend"))
    agreements.amend(loaded, DSA, {"min_cell_size": 3}, "n", _as(loaded, "dsa.amend"))
    made = make_extract(loaded, DSA, _as(loaded, "extract"))
    _, out = _open(loaded, made.files["ada-researcher"], "ada-researcher")
    tokens = {t for (t,) in duckdb.connect().execute(f"SELECT linkage_token FROM '{out / (DSA + '.parquet')}'").fetchall()}
    allowed = {t for (t,) in _warehouse_rows(loaded, "SELECT linkage_token FROM staged_research_extract s JOIN ledger l USING (bundle_id) "
                                                     "WHERE l.project = ? AND s.agency_id = 'valley-health' AND s.period = '2026-Q3'", [DSA])}  # fmt: skip
    assert tokens and tokens <= allowed
    assert made.rows + made.withheld == len(_warehouse_rows(loaded, "SELECT 1 FROM staged_research_extract s JOIN ledger l USING (bundle_id) "
                                                                     "WHERE l.project = ? AND s.agency_id = 'valley-health' AND s.period = '2026-Q3'", [DSA]))  # fmt: skip


def test_two_projects_extracts_share_no_token(loaded):
    first = make_extract(loaded, DSA, _as(loaded, "extract"))
    second = make_extract(loaded, OTHER, _as(loaded, "extract"))
    _, out1 = _open(loaded, first.files["ada-researcher"], "ada-researcher")
    _, out2 = _open(loaded, second.files["ben-researcher"], "ben-researcher")
    con = duckdb.connect()
    t1 = {t for (t,) in con.execute(f"SELECT linkage_token FROM '{out1 / (DSA + '.parquet')}'").fetchall()}
    t2 = {t for (t,) in con.execute(f"SELECT linkage_token FROM '{out2 / (OTHER + '.parquet')}'").fetchall()}
    assert second.linked_people > 0, "OTHER holds people seen at two agencies, as DSA does: the same people under both projects"
    assert t1 and t2 and not t1 & t2, "the same people, under two projects' keys, share no token"


def test_an_extract_opens_only_with_its_researchers_key(loaded):
    made = make_extract(loaded, DSA, _as(loaded, "extract"))
    code, out = _open(loaded, made.files["ada-researcher"], "ben-researcher")
    assert code == EXIT_REFUSED and not out.exists()


def test_no_extract_from_the_end_dates_last_second_on_or_after_revocation(loaded):
    end = agreements.require(loaded, DSA).ends_at  # the first second after the end date
    made = make_extract(loaded, DSA, _as(loaded, "extract"), now=end - dt.timedelta(seconds=1))
    assert made.rows > 0
    with pytest.raises(BundleError):  # its copy expires with the DSA
        _open_at(loaded, made.files["ada-researcher"], end + dt.timedelta(seconds=1))
    before = len(list(extracts_folder(loaded, DSA).iterdir()))
    with pytest.raises(ExtractRefusal) as exc:
        make_extract(loaded, DSA, _as(loaded, "extract"), now=end)
    assert exc.value.reason == "DSA_NOT_IN_FORCE"
    assert len(list(extracts_folder(loaded, DSA).iterdir())) == before
    agreements.revoke(loaded, DSA, "ethics approval withdrawn", _as(loaded, "dsa.revoke"))
    assert list(extracts_folder(loaded, DSA).iterdir()) == [], "the revocation withdraws the copies on hand"
    with pytest.raises(ExtractRefusal) as exc:
        make_extract(loaded, DSA, _as(loaded, "extract"))
    assert exc.value.reason == "DSA_NOT_IN_FORCE" and "revoked" in exc.value.message
    assert list(extracts_folder(loaded, DSA).iterdir()) == []


def test_a_new_version_withdraws_the_copies_sealed_under_the_old_one(loaded):
    """A researcher taken off the DSA (or any narrowing) leaves no copy of theirs, nor of the old
    terms, on the coordinator to be handed out; the audit line of the version counts them."""
    ceremony_person = "cy-researcher"
    Ceremony(loaded, FOUNDER[0], {FOUNDER[0]: PersonFolder(loaded / "people" / FOUNDER[0])}).add_person(ceremony_person, "Cy (fictional)", "uni-research", ["researcher"])
    agreements.amend(loaded, DSA, {"researchers": ["ada-researcher", ceremony_person]}, "cy joins", _as(loaded, "dsa.amend"))
    made = make_extract(loaded, DSA, _as(loaded, "extract"))
    assert set(made.files) == {"ada-researcher", ceremony_person} and all(p.exists() for p in made.files.values())
    agreements.amend(loaded, DSA, {"researchers": ["ada-researcher"]}, "cy left the project", _as(loaded, "dsa.amend"))
    assert not any(p.exists() for p in made.files.values())
    entry = audit.read(store.NetworkPaths(loaded).audit_log)[-1]
    assert (entry["action"], entry["details"]["extracts_withdrawn"]) == ("dsa_amended", 2)
    remade = make_extract(loaded, DSA, _as(loaded, "extract"))
    assert list(remade.files) == ["ada-researcher"] and sorted(extracts_folder(loaded, DSA).iterdir()) == [remade.files["ada-researcher"]]


def test_no_extract_for_a_suspended_researcher_and_nothing_written(loaded):
    before = len(list(extracts_folder(loaded, DSA).iterdir())) if extracts_folder(loaded, DSA).exists() else 0
    store.set_status(loaded, "ada-researcher", "suspended", _as(loaded, "network.suspend"))
    with pytest.raises(ExtractRefusal) as exc:
        make_extract(loaded, DSA, _as(loaded, "extract"))
    assert exc.value.reason == "RESEARCHER_UNUSABLE" and "ada-researcher" in exc.value.message
    after = len(list(extracts_folder(loaded, DSA).iterdir())) if extracts_folder(loaded, DSA).exists() else 0
    assert after == before


def test_a_suspended_partys_rows_are_held_back(loaded, capsys):
    """Only parties in good standing send rows out: a suspended agency's stay on the coordinator,
    and the coordinator is told which were held back."""
    store.set_status(loaded, "valley-health", "suspended", _as(loaded, "network.suspend"))
    made = make_extract(loaded, DSA, _as(loaded, "extract"))
    assert made.suspended == ("valley-health",) and made.rows > 0
    others = _warehouse_rows(loaded, "SELECT count(*) FROM staged_research_extract s JOIN ledger l USING (bundle_id) "
                                     "WHERE l.project = ? AND s.agency_id <> 'valley-health'", [DSA])[0][0]  # fmt: skip
    assert made.rows + made.withheld == others, "every row that left or was withheld is another party's"
    code, out = _run_make(loaded, capsys)
    assert code == EXIT_OK and "held back: the rows of valley-health" in out
    assert audit.read(store.NetworkPaths(loaded).audit_log)[-1]["details"]["parties_held_back"] == ["valley-health"]


def _run_make(root, capsys) -> tuple[int, str]:
    key = root / "people" / FOUNDER[0] / "signing.key"
    code = main(["extract", "make", "--network", str(root), "--dsa", DSA, "--as", FOUNDER[0], "--key", str(key)], {})
    return code, capsys.readouterr().out


def _open_at(root, path, now):
    from dvnet import bundle
    from dvnet.common.agency import read_coordinator_public

    coordinator = read_coordinator_public(store.NetworkPaths(root).coordinator_public)
    return bundle.open_bundle(path.read_bytes(), signing_public_key=bundle.signing_public_key_from_text(coordinator["signing_public_key"]),
                              recipient_private_key=bundle.load_encryption_key(root / "people" / "ada-researcher" / "encryption.key"), now=now)  # fmt: skip


def test_the_cli_refuses_an_extract_after_revocation_with_exit_1_and_audits_it(loaded, capsys):
    agreements.revoke(loaded, DSA, "withdrawn", _as(loaded, "dsa.revoke"))
    key = loaded / "people" / FOUNDER[0] / "signing.key"
    assert main(["extract", "make", "--network", str(loaded), "--dsa", DSA, "--as", FOUNDER[0], "--key", str(key)], {}) == EXIT_REFUSED
    assert "DSA_NOT_IN_FORCE" in capsys.readouterr().err
    last = audit.read(store.NetworkPaths(loaded).audit_log)[-1]
    assert (last["action"], last["outcome"], last["reason"]) == ("extract", "failed", "DSA_NOT_IN_FORCE")


def test_closing_a_dsa_leaves_no_project_rows_and_keeps_a_signed_destruction_record(loaded, capsys):
    make_extract(loaded, DSA, _as(loaded, "extract"))
    other_rows = _warehouse_rows(loaded, "SELECT count(*) FROM staged_research_extract s JOIN ledger USING (bundle_id) WHERE project = ?", [OTHER])[0][0]
    key = loaded / "people" / FOUNDER[0] / "signing.key"
    code = main(["dsa", "close", "--network", str(loaded), DSA, "--reason", "retention end reached", "--as", FOUNDER[0], "--key", str(key)], {})
    assert code == EXIT_OK, capsys.readouterr().err
    bundles = [b for (b,) in _warehouse_rows(loaded, "SELECT bundle_id FROM ledger WHERE project = ?", [DSA])]
    assert bundles
    for table in ("staged_research_extract", "contribution_counts"):
        assert _warehouse_rows(loaded, f"SELECT count(*) FROM {table} WHERE bundle_id IN (SELECT unnest(?))", [bundles])[0][0] == 0
    assert _warehouse_rows(loaded, "SELECT count(*) FROM staged_research_extract s JOIN ledger USING (bundle_id) WHERE project = ?", [OTHER])[0][0] == other_rows
    warehouse = store.NetworkPaths(loaded).warehouse
    left = {p.stem for p in warehouse.with_name(f"{warehouse.name}.staged").rglob("*") if p.is_file()}
    assert left and not left & set(bundles)  # the project's files of staged rows are gone, the other project's stay
    assert list(extracts_folder(loaded, DSA).iterdir()) == []
    record = read_signed(agreements.folder(loaded, DSA) / "destruction.yaml", store.load_network(loaded))
    assert record["signed_by"] == FOUNDER[0] and sorted(record["bundles"]) == sorted(bundles) and record["staged_rows_destroyed"] > 0
    assert agreements.require(loaded, DSA).status == "closed"
    assert audit.read(store.NetworkPaths(loaded).audit_log)[-1]["action"] == "dsa_closed"
    with pytest.raises(ExtractRefusal):
        make_extract(loaded, DSA, _as(loaded, "extract"))


def test_a_destruction_record_edited_afterwards_is_noticed(loaded):
    close(loaded, DSA, "retention end", _as(loaded, "dsa.close"))
    path = agreements.folder(loaded, DSA) / "destruction.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["staged_rows_destroyed"] = 0
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(RegistryError):
        read_signed(path, store.load_network(loaded))


@pytest.mark.slow
@pytest.mark.parametrize("point", EXTRACT_POINTS)
def test_no_extract_file_is_ever_without_its_audit_line_even_when_killed(loaded, point, tally):
    """`dvnet extract make` killed between the audit line and the file (for real: ``DVNET_FAULT_AT``)
    leaves a logged extract that never left, never a file that left unlogged; a new run makes its
    own file, logged once. The file appears whole under its name or not at all."""
    key = loaded / "people" / FOUNDER[0] / "signing.key"
    args = [sys.executable, "-m", "dvnet.pipelines.cli", "extract", "make", "--network", str(loaded), "--dsa", DSA, "--as", FOUNDER[0], "--key", str(key)]
    repo = Path(__file__).resolve().parents[3]
    killed = subprocess.run(args, cwd=repo, env={**os.environ, "DVNET_FAULT_AT": point}, capture_output=True, text=True, timeout=600)
    assert killed.returncode == 86, killed.stdout + killed.stderr[-2000:]

    def unlogged() -> list[str]:
        sealed = {e["objects"]["bundle"][:12] for e in audit.read(store.NetworkPaths(loaded).audit_log) if e["action"] == "extract_sealed"}
        folder = extracts_folder(loaded, DSA)
        return [p.name for p in folder.iterdir() if p.name.rsplit("-", 1)[-1].split(".")[0] not in sealed] if folder.exists() else []

    after_kill = unlogged()
    rerun = subprocess.run(args, cwd=repo, capture_output=True, text=True, timeout=600)
    files = [p for p in extracts_folder(loaded, DSA).iterdir() if not p.name.startswith(".")]
    tally("crash consistency", kills=1, partial=0, duplicate=0, unrecorded=len(after_kill) + len(unlogged()), rows_lost=0)
    assert after_kill == []  # nothing left the coordinator unlogged
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr[-2000:]
    assert unlogged() == [] and len(files) == 1  # the rerun's own file (one researcher), logged


@pytest.mark.slow
@pytest.mark.parametrize("point", [*CLOSE_POINTS, AFTER_AUDIT + "dsa_closed"])
def test_a_close_killed_midway_is_finished_by_the_next_with_its_first_record(loaded, point, tally):
    """`dvnet dsa close` killed after its destruction record (nothing destroyed yet) or after the
    closing version's audit line: run again, it destroys what is left and closes the DSA, and the
    record still says what the close destroyed (counted before anything went)."""
    make_extract(loaded, DSA, _as(loaded, "extract"))
    key = loaded / "people" / FOUNDER[0] / "signing.key"
    args = [sys.executable, "-m", "dvnet.pipelines.cli", "dsa", "close", "--network", str(loaded), DSA, "--reason", "retention end reached",
            "--as", FOUNDER[0], "--key", str(key)]  # fmt: skip
    repo = Path(__file__).resolve().parents[3]
    staged = _warehouse_rows(loaded, "SELECT count(*) FROM staged_research_extract s JOIN ledger USING (bundle_id) WHERE project = ?", [DSA])[0][0]
    killed = subprocess.run(args, cwd=repo, env={**os.environ, "DVNET_FAULT_AT": point}, capture_output=True, text=True, timeout=600)
    assert killed.returncode == 86, killed.stdout + killed.stderr[-2000:]
    assert agreements.require(loaded, DSA).status == "active"
    rerun = subprocess.run(args, cwd=repo, capture_output=True, text=True, timeout=600)
    record = read_signed(agreements.folder(loaded, DSA) / "destruction.yaml", store.load_network(loaded))
    left = _warehouse_rows(loaded, "SELECT count(*) FROM staged_research_extract s JOIN ledger USING (bundle_id) WHERE project = ?", [DSA])[0][0]
    tally("crash consistency", kills=1, partial=int(left > 0), duplicate=0, unrecorded=int(record["staged_rows_destroyed"] != staged), rows_lost=0)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr[-2000:]
    assert agreements.require(loaded, DSA).status == "closed" and left == 0 and list(extracts_folder(loaded, DSA).iterdir()) == []
    assert record["staged_rows_destroyed"] == staged > 0 and record["extracts_destroyed"] == 1
