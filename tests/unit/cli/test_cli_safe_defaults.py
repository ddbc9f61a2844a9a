"""Safe defaults at the command line: no command picks a network by itself, the demo deletes only
what it made, the UI does not start over a busy port, and the agency-side install says which
extra a coordinator command needs."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest

from dvnet.pipelines.cli import COMMANDS, EXIT_USAGE, cli, main

REPO = Path(__file__).resolve().parents[3]


def _all_commands() -> list[tuple[str, click.Command]]:
    found = []
    for name in COMMANDS:
        command = cli.get_command(click.Context(cli), name)
        subs = getattr(command, "commands", None)
        found += [(f"{name} {s}", c) for s, c in subs.items()] if subs else [(name, command)]
    return found


def test_every_network_is_given_with_the_same_option_and_never_defaulted():
    takes_network = []
    for name, command in _all_commands():
        for p in command.params:
            if (name, p.name) != ("demo", "out"):  # where the demo writes its own network (refused unless it made it)
                assert p.default not in ("demo-network", Path("demo-network")), f"dvnet {name} {p.name} defaults to the demo network"
            if p.name in ("network", "network_dir"):
                assert isinstance(p, click.Option) and p.opts == ["--network"], f"dvnet {name}: a network is given as --network"
                assert not isinstance(p.default, (str, Path)), f"dvnet {name} --network has a default folder"
                takes_network.append(name)
                if name not in ("query", "contracts docs"):  # query: --network or --releases (tested below); docs: geography optional
                    assert p.required, f"dvnet {name} --network is required"
    assert {"network init", "network register-agency", "network add-person", "network suspend", "network show", "directory", "synth", "ingest", "publish", "ui", "query"} <= set(takes_network)


def test_query_without_a_network_or_releases_folder_is_a_usage_error(capsys):
    assert main(["query", "SELECT 1"], {}) == EXIT_USAGE
    assert "--network" in capsys.readouterr().err


def test_a_folder_that_is_not_a_network_is_named(capsys, tmp_path):
    assert main(["publish", "--network", str(tmp_path)], {}) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: REGISTRY_MISSING: ") and "network init --network" in err
    (tmp_path / "agency.yaml").write_text("agency_id: harbour-house\n", encoding="utf-8")  # a steward's own folder
    assert main(["synth", "--network", str(tmp_path), "--out", str(tmp_path / "x")], {}) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "this is an agency's folder" in err and "network init" not in err  # never "found a network in your agency folder"


def test_demo_refuses_an_out_folder_it_did_not_make(capsys, tmp_path):
    out = tmp_path / "my-work"
    out.mkdir()
    (out / "thesis.docx").write_text("not the demo's")
    assert main(["demo", "--out", str(out)], {}) == EXIT_USAGE
    assert "USAGE_DEMO_OUT_NOT_OURS" in capsys.readouterr().err
    assert (out / "thesis.docx").read_text() == "not the demo's"


@pytest.mark.slow
def test_demo_recreates_only_a_folder_holding_its_marker(tmp_path):
    from dvnet.pipelines.demo import DEMO_MARKER, fresh_network

    out = tmp_path / "demo"
    fresh_network(out)
    assert (out / DEMO_MARKER).is_file() and (out / "coordinator" / "registry.yaml").is_file()
    (out / "leftover").write_text("from the last run")
    fresh_network(out)  # made by the demo: deleted and made again
    assert not (out / "leftover").exists() and (out / DEMO_MARKER).is_file()


def test_ui_exits_2_when_its_port_is_taken_and_dagster_never_starts(capsys, network_dir, monkeypatch):
    def no_dagster(*args, **kwargs):
        raise AssertionError("dagster dev must not start over a busy port")

    monkeypatch.setattr(subprocess, "Popen", no_dagster)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["ui", "--network", str(network_dir), "--port", str(port)], {}) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: USAGE_PORT_IN_USE: ") and f"--port {port + 1}" in err


def test_a_second_ui_for_the_same_network_is_refused_and_starts_no_second_daemon(capsys, network_dir, monkeypatch):
    """Another port once started a second ``dagster dev`` on the same instance: two daemons, two
    sensors and two run queues on one inbox."""
    import os

    from dvnet.assets.runs import dagster_home_for
    from dvnet.pipelines.commands.ui import hold_instance

    def no_dagster(*args, **kwargs):
        raise AssertionError("a second dagster dev must not start on the instance")

    home = dagster_home_for(network_dir, None, {})
    first = hold_instance(home, 3411)  # the first UI, serving until it (or its dagster dev) ends
    monkeypatch.setattr(subprocess, "Popen", no_dagster)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        assert main(["ui", "--network", str(network_dir), "--port", str(port)], {}) == EXIT_USAGE
    finally:
        os.close(first)
    err = capsys.readouterr().err
    assert err.startswith("error: USAGE_UI_RUNNING: ") and "127.0.0.1:3411" in err
    os.close(hold_instance(home, port))  # once the first has ended, the next one may serve


@pytest.mark.parametrize("command", ["ingest", "publish", "ui", "demo"])
def test_a_coordinator_command_on_the_agency_install_names_the_extra(command, tmp_path):
    # The agency-side install has no Dagster: simulated by making `import dagster` fail.
    code = f"import sys; sys.modules['dagster'] = None; from dvnet.pipelines.cli import main; sys.exit(main({[command, '--help']!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == EXIT_USAGE, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("error: USAGE_CENTRAL_NOT_INSTALLED: ") and "pip install '.[central]'" in out.stderr


def test_the_readme_installs_from_this_repository():
    readme = (REPO / "README.md").read_text()
    assert "pip install dvnet " not in readme and "pip install dvnet`" not in readme and "'dvnet[central]'" not in readme  # no such package on an index
    assert "pip install ." in readme and "pip install '.[central]'" in readme


def test_a_geography_file_with_a_mistake_is_named_by_its_field(capsys, tmp_path):
    geography = tmp_path / "geography.yaml"
    geography.write_text("regions:\n  - {id: east, parent_area: county, postal_prefixes: [E1A]}\n  - {id: west, parent_area: county, postal_prefixes: [E1A]}\n")
    assert main(["person", "init", str(tmp_path / "ana"), "--id", "coord-ana", "--name", "Ana", "--org", "office"], {}) == 0
    capsys.readouterr()
    founder = ["--founder", str(tmp_path / "ana" / "person.yaml"), "--key", str(tmp_path / "ana" / "signing.key")]
    assert main(["network", "init", "--network", str(tmp_path / "net"), "--name", "N", "--geography", str(geography), *founder], {}) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: GEOGRAPHY_INVALID: ") and "geography.regions[1].postal_prefixes[0]" in err and "region east" in err
    assert not (tmp_path / "net").exists()  # nothing made


def test_the_dagster_definitions_never_guess_a_network(monkeypatch):
    from dvnet.assets.resources import NETWORK_ENV, NetworkResource
    from dvnet.contracts.errors import RegistryError

    monkeypatch.delenv(NETWORK_ENV, raising=False)
    with pytest.raises(RegistryError) as e:
        NetworkResource().root_path
    assert e.value.reason == "NETWORK_NOT_SET"
