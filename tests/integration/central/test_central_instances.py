"""One Dagster instance per network (issue 12, point 4): each network's runs, partitions and
materialisations live in its own instance, ``<network>/coordinator/dagster``, made from the
shipped dagster.yaml; neither network's instance sees anything of the other's."""

from __future__ import annotations

import yaml
from dagster import AssetKey, DagsterInstance, RunsFilter

from dvnet.assets.runs import TEMPLATE_HOME


def _seen(home, monkeypatch) -> dict:
    """What an instance holds: runs by job, agency partitions, the agencies of intake materialisations."""
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # its dagster.yaml resolves storage from it
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(filters=RunsFilter())
        intake = instance.fetch_materializations(AssetKey("intake"), limit=100).records
        return {
            "jobs": sorted(r.job_name for r in runs),
            "agencies": set(instance.get_dynamic_partitions("agency")),
            "intake_partitions": sorted(r.partition_key for r in intake),
            "cubes": len(instance.fetch_materializations(AssetKey("equity_cubes"), limit=100).records),
        }


def test_two_networks_each_have_their_own_instance_and_neither_sees_the_other(ck, tmp_path, monkeypatch):
    north, south = ck.make_network(tmp_path / "north"), ck.make_network(tmp_path / "south")
    north.drop("n", north.records("shelter-a", n=15, seed=1).blob)
    south.drop("s", south.counts("legal-b", "referral", n=20, seed=2).blob)
    # A shell-wide DAGSTER_HOME is what used to put every network in one instance: it is not read.
    shared = tmp_path / "shared_home"
    for kit in (north, south):
        out = ck.run_cli(["ingest", "--network", str(kit.root), *ck.as_coordinator(kit.root)], env={"DAGSTER_HOME": str(shared)})
        assert out.returncode == 0, out.stderr[-3000:]
        assert "indicator cubes rebuilt" in out.stdout
    assert not shared.exists()

    homes = {name: kit.root / "coordinator" / "dagster" for name, kit in (("north", north), ("south", south))}
    for home in homes.values():  # made from the shipped template whatever the install: telemetry off, one run at a time
        config = yaml.safe_load((home / "dagster.yaml").read_text())
        assert config == yaml.safe_load((TEMPLATE_HOME / "dagster.yaml").read_text())
        assert config["telemetry"]["enabled"] is False and config["concurrency"]["runs"]["max_concurrent_runs"] == 1
    seen = {name: _seen(home, monkeypatch) for name, home in homes.items()}
    for name, agency in (("north", "shelter-a"), ("south", "legal-b")):
        partition = f"{agency}|{ck.PERIOD}"
        assert seen[name]["intake_partitions"] == [partition], seen
        assert seen[name]["agencies"] == {agency}, seen
        # Its own intake run (which rebuilt its cubes: their materialisations), nothing else.
        assert seen[name]["jobs"] == ["intake_batch"] and seen[name]["cubes"] == 1, seen


def test_an_instance_folder_given_for_one_network_is_refused_for_another(ck, tmp_path):
    north, south = ck.make_network(tmp_path / "north"), ck.make_network(tmp_path / "south")
    north.drop("n", north.records("shelter-a", n=5, seed=3).blob)
    south.drop("s", south.records("shelter-a", n=5, seed=4).blob)
    assert ck.run_cli(["ingest", "--network", str(north.root), *ck.as_coordinator(north.root)]).returncode == 0

    def ingest(kit, home):
        return ck.run_cli(["ingest", "--network", str(kit.root), "--dagster-home", str(home), *ck.as_coordinator(kit.root)])

    # North's own instance, given as south's: refused, nothing ingested.
    refused = ingest(south, north.root / "coordinator" / "dagster")
    assert refused.returncode == 2 and "error: USAGE_DAGSTER_HOME_OTHER_NETWORK" in refused.stderr and "Traceback" not in refused.stderr
    assert list(south.inbox.glob("*.dvb")), "nothing was ingested"
    # A new folder serves the first network that uses it, and then no other.
    home = tmp_path / "instance"
    assert ingest(south, home).returncode == 0
    north.drop("n2", north.records("shelter-a", n=5, seed=5).blob)
    again = ingest(north, home)
    assert again.returncode == 2 and "USAGE_DAGSTER_HOME_OTHER_NETWORK" in again.stderr and str(south.root) in again.stderr


def test_a_command_opens_its_networks_instance_once_for_all_its_runs(ck, tmp_path, monkeypatch, capsys):
    """``dagster_instance`` inside another block of the same home hands out the open instance:
    a command running several runs opens it once (opening one costs about half a second), and a
    block of another network's home still opens that network's own."""
    from dvnet.assets import runs

    north, south = ck.make_network(tmp_path / "north"), ck.make_network(tmp_path / "south")
    homes = [runs.dagster_home_for(kit.root, None, {}) for kit in (north, south)]
    with runs.dagster_instance(homes[0]) as outer:
        with runs.dagster_instance(homes[0]) as inner, runs.dagster_instance(homes[1]) as other:
            assert inner is outer and other is not outer
        with runs.dagster_instance(homes[0]) as again:
            assert again is outer
    with runs.dagster_instance(homes[0]) as later:
        assert later is not outer  # closed with the outermost block

    opened = []
    real = DagsterInstance.get
    monkeypatch.setattr(DagsterInstance, "get", staticmethod(lambda: opened.append(1) or real()))
    north.drop("n", north.records("shelter-a", n=15, seed=1).blob)
    from dvnet.pipelines.cli import main

    assert main(["ingest", "--network", str(north.root), *ck.as_coordinator(north.root)]) == 0
    assert "indicator cubes rebuilt" in capsys.readouterr().out
    assert len(opened) == 1  # the batch run (its cube rebuild included) on one instance
