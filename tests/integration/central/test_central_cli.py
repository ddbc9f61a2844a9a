"""`dvnet ingest` and `dvnet receipt verify`, as a coordinator and an agency steward type them."""

from __future__ import annotations

import json

from dagster import AssetKey, DagsterEventType, DagsterInstance, RunsFilter

from dvnet.pipelines.cli import main


def test_dvnet_ingest_runs_one_intake_batch_and_prints_each_outcome(ck, kit, tmp_path, monkeypatch):
    good = kit.records("shelter-a", n=25, seed=1)
    referrals = kit.counts("legal-b", "referral", n=30, seed=2)
    kit.drop("a-episodes", good.blob)
    kit.drop("b-counts", referrals.blob)
    kit.drop("broken", good.blob[:-1])
    home = ck.dagster_home(tmp_path)

    out = ck.run_cli(["ingest", "--network", str(kit.root), "--dagster-home", str(home), *ck.as_coordinator(kit.root)])

    assert out.returncode == 1, out.stderr[-3000:]  # one bundle quarantined
    lines = {line.split()[1]: line for line in out.stdout.splitlines() if line.startswith("│")}
    assert "loaded" in lines["a-episodes.dvb"] and "25" in lines["a-episodes.dvb"] and "shelter-a" in lines["a-episodes.dvb"]
    assert "loaded" in lines["b-counts.dvb"] and "referral/v1" in lines["b-counts.dvb"]
    assert "quarantined" in lines["broken.dvb"] and "FRAMING_INVALID" in lines["broken.dvb"]
    assert "totals: 2 loaded, 0 duplicate, 1 quarantined" in out.stdout
    # Where each outcome went, so coalition staff know which folder to open.
    assert f"archive:    {kit.paths.archive}  (2 bundles loaded or duplicate" in out.stdout
    assert f"quarantine: {kit.paths.quarantine}  (1 file, each with a .reason.json" in out.stdout
    assert f"receipts:   {kit.paths.receipts}/<agency>/  (one signed per bundle, for 3 agencies" in out.stdout
    assert not list(kit.inbox.glob("*.dvb"))

    # One Dagster run of intake_batch in that instance, which `dvnet ui` shows; each agency × period
    # is a materialisation of its intake partition, and the intake checks ran once over the batch.
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # its dagster.yaml resolves storage from it
    with DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs(filters=RunsFilter(job_name="intake_batch"))
        assert run.is_success and run.tags["dvnet/launched_by"] == "dvnet ingest"
        assert not instance.get_runs(filters=RunsFilter(job_name="intake_job"))
        intake = instance.fetch_materializations(AssetKey("intake"), limit=10).records
        assert {r.run_id for r in intake} == {run.run_id}
        assert sorted(r.partition_key for r in intake) == sorted([f"shelter-a|{ck.PERIOD}", f"legal-b|{ck.PERIOD}", "_unverified|_unknown"])
        assert set(instance.get_dynamic_partitions("agency")) == {"shelter-a", "legal-b", "_unverified"}
        staged = instance.fetch_materializations(AssetKey("staged_service_episodes"), limit=10).records
        assert [(r.partition_key, r.asset_materialization.metadata["dagster/partition_row_count"].value) for r in staged] == [(f"shelter-a|{ck.PERIOD}", 25)]
        checks = {e.asset_check_evaluation.check_name: e.asset_check_evaluation.passed
                  for e in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)}  # fmt: skip
        assert checks == {"bundles_reconcile": True, "quarantine_explained": True, "loaded_rows_conform": True,
                          "agencies_contributed_this_period": False,  # health-c sent nothing: a warning
                          # the same run rebuilt the cubes and checked them
                          "service_indicator_cubes_reconcile": True, "equity_cubes_reconcile": True, "referral_flow_cubes_reconcile": True}  # fmt: skip
        cubes = instance.fetch_materializations(AssetKey("service_indicator_cubes"), limit=10).records
        assert [r.run_id for r in cubes] == [run.run_id] and cubes[0].asset_materialization.metadata["contributing_agencies"].value == 2

    # An empty inbox: nothing to do, exit 0.
    again = ck.run_cli(["ingest", "--network", str(kit.root), "--dagster-home", str(home), *ck.as_coordinator(kit.root)])
    assert again.returncode == 0 and "empty" in again.stdout


def test_dvnet_ingest_exits_0_when_everything_loaded(ck, kit, tmp_path):
    kit.drop("a", kit.records("shelter-a", n=10, seed=3).blob)
    out = ck.run_cli(["ingest", "--network", str(kit.root), "--dagster-home", str(ck.dagster_home(tmp_path)), *ck.as_coordinator(kit.root)])
    assert out.returncode == 0, out.stderr[-3000:]
    assert "totals: 1 loaded, 0 duplicate, 0 quarantined; 10 rows loaded" in out.stdout


def test_dvnet_ingest_counts_only_rows_loaded_now_and_names_the_files_it_does_not_read(ck, kit, tmp_path):
    sealed = kit.records("shelter-a", n=10, seed=4)
    kit.drop("a", sealed.blob)
    home = str(ck.dagster_home(tmp_path))
    assert ck.run_cli(["ingest", "--network", str(kit.root), "--dagster-home", home, *ck.as_coordinator(kit.root)]).returncode == 0
    kit.drop("a-again", sealed.blob)
    (kit.inbox / "notes.txt").write_text("hi\n")
    (kit.inbox / "bundle.DVB").write_text("hi\n")
    out = ck.run_cli(["ingest", "--network", str(kit.root), "--dagster-home", home, *ck.as_coordinator(kit.root)])
    assert out.returncode == 0, out.stderr[-3000:]
    assert "totals: 0 loaded, 1 duplicate, 0 quarantined; 0 rows loaded" in out.stdout  # the duplicate's 10 were loaded before
    said = " ".join(out.stdout.split())
    assert ("2 entries in the inbox not read: bundle.DVB: the suffix must be lower case: rename it to end in .dvb; "
            "notes.txt: not a bundle: only *.dvb files are read") in said  # fmt: skip
    assert (kit.inbox / "notes.txt").exists() and (kit.inbox / "bundle.DVB").exists()

    # only files it does not read: not "empty"
    out = ck.run_cli(["ingest", "--network", str(kit.root), "--dagster-home", home, *ck.as_coordinator(kit.root)])
    assert out.returncode == 0 and "empty" not in out.stdout and "holds no bundle (no *.dvb file): nothing to ingest" in out.stdout
    assert "2 entries in the inbox not read" in out.stdout

    # no inbox folder at all: a configuration error
    for p in kit.inbox.iterdir():
        p.unlink()
    kit.inbox.rmdir()
    out = ck.run_cli(["ingest", "--network", str(kit.root), "--dagster-home", home, *ck.as_coordinator(kit.root)])
    assert out.returncode == 2 and f"error: USAGE_INBOX_MISSING: the inbox {kit.inbox} is not a folder" in out.stderr
    assert "Traceback" not in out.stderr


def test_dvnet_ingest_reads_the_contracts_compiled_and_never_imports_pandera(ck, kit, tmp_path):
    """The coordinator re-validates with the compiled contracts (``contracts.compiled``), and the
    definitions describe the staged tables' columns from them too: importing pandera cost every
    central command about 0.1 s of its start for nothing."""
    import subprocess
    import sys

    kit.drop("a", kit.records("shelter-a", n=10, seed=3).blob)
    kit.drop("b", kit.counts("legal-b", "referral", n=12, seed=4).blob)
    argv = ["ingest", "--network", str(kit.root), "--dagster-home", str(ck.dagster_home(tmp_path)), *ck.as_coordinator(kit.root)]
    code = (f"import sys\nfrom dvnet.pipelines.cli import main\nrc = main({argv!r})\n"
            "print('RC', rc, 'PANDERA', sorted({m.split('.')[0] for m in sys.modules} & {'pandera', 'typeguard'}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "RC 0 PANDERA []" in out.stdout, (out.stdout + out.stderr)[-3000:]
    assert "totals: 2 loaded" in out.stdout


def test_dvnet_ingest_in_its_own_process_freezes_its_imports_before_the_run(ck, kit, tmp_path, monkeypatch):
    """``imports_settled`` after Dagster's and the definitions' imports: the run's full collections
    then skip them (50 x 200k-row bundles: 0.30-0.34 s of them, 0.16-0.18 s frozen). A host
    calling ``main`` (this test, until it says otherwise) keeps its collector as it is."""
    import gc

    from dvnet.pipelines import cli

    argv = ["ingest", "--network", str(kit.root), "--dagster-home", str(ck.dagster_home(tmp_path)), *ck.as_coordinator(kit.root)]
    gc.unfreeze()
    kit.drop("a", kit.records("shelter-a", n=5, seed=5).blob)
    assert main(argv) == 0
    assert gc.get_freeze_count() == 0
    monkeypatch.setattr(cli, "_OWN_PROCESS", True)
    kit.drop("b", kit.counts("legal-b", "referral", n=12, seed=6).blob)
    try:
        assert main(argv) == 0
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_dvnet_ingest_refuses_a_folder_without_a_registry(tmp_path, capsys):
    assert main(["ingest", "--network", str(tmp_path), "--as", "coord-ana"]) == 2
    assert "REGISTRY_MISSING" in capsys.readouterr().err


def _receipt(kit, sealed) -> tuple:
    path = next(kit.paths.receipts.rglob(f"{sealed.bundle_id}*.receipt.json"))
    return path, json.loads(path.read_bytes())


def test_receipt_verify_accepts_a_real_receipt_and_rejects_an_altered_one(ck, kit, instance, tmp_path, capsys):
    loaded = kit.records("shelter-a", n=12, seed=4)
    refused = kit.records("shelter-a", n=12, seed=5, sequence=1)  # rolls the sequence back: quarantined
    kit.drop("loaded", loaded.blob)
    ck.run_partition(kit, instance, "shelter-a", ck.PERIOD)
    kit.drop("refused", refused.blob)
    ck.run_partition(kit, instance, "shelter-a", ck.PERIOD)
    agency = str(kit.agency_folder("shelter-a"))

    path, body = _receipt(kit, loaded)
    assert main(["receipt", "verify", "--agency", agency, str(path)]) == 0
    out = capsys.readouterr().out
    assert "receipt valid" in out and "loaded" in out and "12" in out and loaded.bundle_id in out

    path_q, _ = _receipt(kit, refused)
    assert main(["receipt", "verify", "--agency", agency, str(path_q)]) == 0
    assert "SEQUENCE_ROLLBACK" in capsys.readouterr().out

    # Altered: a receipt that claims more rows than were loaded no longer verifies.
    forged = tmp_path / "forged.receipt.json"
    forged.write_bytes(path.read_bytes().replace(b'"rows_loaded":12', b'"rows_loaded":13'))
    assert forged.read_bytes() != path.read_bytes()
    assert main(["receipt", "verify", "--agency", agency, str(forged)]) == 1
    assert "RECEIPT_INVALID" in capsys.readouterr().out

    # Genuine, but about another agency's bundle: not this agency's proof of anything.
    other = str(kit.agency_folder("legal-b"))
    assert main(["receipt", "verify", "--agency", other, str(path)]) == 1
    assert "NOT FOR THIS AGENCY" in capsys.readouterr().out
