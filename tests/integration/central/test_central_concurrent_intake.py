"""Concurrent intake on a PostgreSQL instance (issue 17): the real ``dagster dev`` (daemon, run
queue, code server) through ``dvnet ui``, its instance in a throw-away PostgreSQL server, the inbox
sensor launching one intake run per bundle. Runs of different agency × period partitions execute
at the same time (proved from the run records' start and end times in PostgreSQL): each verifies
and decrypts its bundle outside the warehouse lock and takes the lock only to load. Then a publish.
Every bundle ends loaded or quarantined exactly once (a tampered one quarantined), and the release
table files (CSV and Parquet, byte for byte) equal those the embedded default (SQLite instance, ``dvnet ingest``) makes from the same bundles.
Forcing ``max_concurrent_runs`` to 1 turns the overlap assertion red. Run twice: with the warehouse
file (loads queued on its lock), and with the scaled profile's warehouse in PostgreSQL too
(``DVNET_WAREHOUSE_PG_URL``: loads side by side, the publish reading the file's copy of it)."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest
import yaml
from dagster_dev import free_port, start, stop, wait_until_up

from dvnet.assets.runs import MAX_RUNS_ENV, PG_URL_ENV, instance_yaml
from dvnet.assets.warehouse.lib.postgres import WAREHOUSE_PG_URL_ENV
from dvnet.contracts.errors import DvnetError

WAIT_SECONDS = 300  # a bound on waiting for the daemon, not an assertion about speed
DONE = ("SUCCESS", "FAILURE", "CANCELED")


def _release_files(root: Path) -> dict[str, str]:
    """Each table file of the release a publish made (a request for review) -> sha256; the release
    id, manifest and report (which hold times) left out."""
    (release,) = [p for p in (root / "coordinator" / "release-requests").iterdir() if p.is_dir()]
    return {str(p.relative_to(release)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(release.rglob("*")) if p.is_file() and p.suffix in (".csv", ".parquet")}  # fmt: skip


def _overlapping(runs: list[tuple[str, float, float]]) -> list[tuple[str, str]]:
    return [(a[0], b[0]) for i, a in enumerate(runs) for b in runs[i + 1 :] if a[1] < b[2] and b[1] < a[2]]


@pytest.mark.slow
@pytest.mark.parametrize("warehouse", ["file", "postgresql"])
def test_sensor_intake_runs_overlap_on_postgresql_and_publish_what_the_embedded_default_publishes(ck, kit, postgres, tmp_path, warehouse):
    sent = [kit.records("shelter-a", n=30, seed=21), kit.counts("legal-b", "referral", n=40, seed=22),
            kit.counts("health-c", "referral", n=35, seed=23)]  # fmt: skip
    for i, b in enumerate(sent):
        kit.drop(f"bundle-{i}", b.blob)
    kit.drop("tampered", ck.ciphertext_tampered(kit.records("shelter-a", n=10, seed=24, period=ck.EARLIER_PERIOD).blob))
    embedded = tmp_path / "embedded"
    shutil.copytree(kit.root, embedded, symlinks=True)  # the same network, keys and bundles, for the default

    url = postgres.create_database("dagster")
    scaled = {PG_URL_ENV: url}
    if warehouse == "postgresql":  # the scaled profile's warehouse too: loads without the file's lock
        postgres.create_database("warehouse")
        scaled[WAREHOUSE_PG_URL_ENV] = postgres.dsn("warehouse")
    home = tmp_path / "pg_home"  # new: dvnet writes the PostgreSQL dagster.yaml with the run limits
    port, log = free_port(), tmp_path / "dvnet-ui.log"
    proc = start(kit.root, home, port, log, env=scaled)
    try:
        wait_until_up(port, proc, log)
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            statuses = [s for (s,) in postgres.query("SELECT status FROM runs WHERE pipeline_name = 'intake_job'", db="dagster")]
            if not list(kit.inbox.glob("*.dvb")) and len(statuses) == 4 and all(s in DONE for s in statuses):
                break
            time.sleep(2)
    finally:
        stop(proc, log)
    runs = postgres.query("SELECT run_id, start_time, end_time, status FROM runs WHERE pipeline_name = 'intake_job'", db="dagster")
    assert sorted(r[3] for r in runs) == ["SUCCESS"] * 4, f"{runs}\n{log.read_text()[-3000:]}"
    overlaps = _overlapping([r[:3] for r in runs])
    assert overlaps, f"no two intake runs were in progress at the same time: {[(r[1], r[2]) for r in runs]}"

    out = ck.run_cli(["publish", "--network", str(kit.root), "--period", ck.PERIOD, "--dagster-home", str(home), *ck.as_coordinator(kit.root)],
                     env=scaled)  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    if warehouse == "postgresql":  # the intake wrote PostgreSQL; the publish read its copy in the file
        assert sorted(postgres.query("SELECT bundle_id, count(*) FROM dvnet.ledger GROUP BY 1", db="warehouse")) == sorted((b.bundle_id, 1) for b in sent)
        assert postgres.query("SELECT count(*) FROM dvnet.quarantine_log", db="warehouse") == [(1,)]

    # Each bundle once: loaded in the ledger, or quarantined in the log; nothing left in the inbox.
    ledger = ck.query(kit.paths.warehouse, "SELECT bundle_id, count(*) FROM ledger GROUP BY 1 ORDER BY 1")
    assert ledger == sorted((b.bundle_id, 1) for b in sent)
    quarantined = ck.query(kit.paths.warehouse, "SELECT reason, count(*) FROM quarantine_log GROUP BY 1")
    assert len(quarantined) == 1 and quarantined[0][1] == 1, quarantined
    assert not list(kit.inbox.glob("*.dvb")) and len(list(kit.paths.quarantine.glob("*.dvb"))) == 1

    # The embedded default (SQLite instance, one run at a time) from the same bundles.
    for argv, code in ((["ingest"], 1), (["publish", "--period", ck.PERIOD], 0)):  # ingest: 1, a bundle was refused
        done = ck.run_cli([*argv, "--network", str(embedded), *ck.as_coordinator(embedded)], env={PG_URL_ENV: "", WAREHOUSE_PG_URL_ENV: ""})
        assert done.returncode == code, done.stdout[-2000:] + done.stderr[-2000:]
    assert ck.query(embedded / kit.paths.warehouse.relative_to(kit.root), "SELECT reason FROM quarantine_log") == [(quarantined[0][0],)]
    expected = _release_files(embedded)
    assert expected and _release_files(kit.root) == expected


def test_the_postgresql_instance_gets_the_run_limits_and_sqlite_keeps_one_run():
    config = yaml.safe_load(instance_yaml("postgres", {MAX_RUNS_ENV: "6"}))
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 6
    assert {(t["key"], str(t["value"]), t["limit"]) for t in config["concurrency"]["runs"]["tag_concurrency_limits"]} == {
        ("dagster/partition", "{'applyLimitPerUniqueValue': True}", 1)}
    assert config["concurrency"]["pools"] == {"granularity": "run", "default_limit": 1}  # release runs: one slot, kept from the template
    assert config["run_coordinator"]["config"] == {"dequeue_use_threads": True, "dequeue_num_workers": 6}
    assert yaml.safe_load(instance_yaml("postgres", {}))["concurrency"]["runs"]["max_concurrent_runs"] == 4
    assert yaml.safe_load(instance_yaml("sqlite", {MAX_RUNS_ENV: "6"}))["concurrency"]["runs"]["max_concurrent_runs"] == 1
    for bad in ("0", "four", "-2"):
        with pytest.raises(DvnetError) as refused:
            instance_yaml("postgres", {MAX_RUNS_ENV: bad})
        assert refused.value.reason == "USAGE_MAX_CONCURRENT_RUNS_INVALID"
