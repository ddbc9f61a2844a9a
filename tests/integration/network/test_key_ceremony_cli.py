"""The key ceremony as people type it, each party on its own "machine" (its own folder tree): only
public files and the sealed linkage key travel; no command prints a private key; afterwards the
coordinator's machine holds its own two keys and nothing else secret."""

from __future__ import annotations

import base64

from dvnet.bundle import keys
from dvnet.common import network as store
from dvnet.pipelines.ceremony import foreign_key_files, private_key_files
from dvnet.pipelines.cli import main
from dvnet.pipelines.demo_network import GEOGRAPHY_FILE


def _secrets(root) -> list[bytes]:
    """Every private key and secret under ``root``, raw and in the spellings a leak would take."""
    found = []
    for path in private_key_files(root):
        content = path.read_bytes()
        raw = keys.read_secret(path) if content.startswith(keys.SECRET_PREFIX) else keys.load_private_key_file(path).private_bytes_raw()
        found += [raw, base64.b64encode(raw), raw.hex().encode(), content.strip()]
    return found


def test_the_key_ceremony_from_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    coordinator, custodian, uni, legal = (tmp_path / m for m in ("coordinator-machine", "custodian-machine", "uni-machine", "legal-machine"))
    net, ana, eli = coordinator / "net", coordinator / "ana", custodian / "eli"
    as_ana = ["--as", "coord-ana", "--key", str(ana / "signing.key")]
    outputs = []

    def run(*argv) -> str:
        code = main([str(a) for a in argv], {})
        captured = capsys.readouterr()
        outputs.append(captured.out + captured.err)
        assert code == 0, (argv, captured.err)
        return captured.out

    run("person", "init", ana, "--id", "coord-ana", "--name", "Ana", "--org", "coalition office")
    out = run("network", "init", "--network", net, "--name", "Riverside", "--geography", GEOGRAPHY_FILE, "--founder", ana / "person.yaml", "--key", ana / "signing.key")
    assert "coordinator encryption key id" in out and "coordinator-public.yaml" in out
    run("person", "init", eli, "--id", "eli-custodian", "--name", "Eli", "--org", "ethics board")
    run("network", "add-person", "--network", net, eli / "person.yaml", "--role", "custodian", *as_ana)  # the file travelled by email
    run("custodian", "init", custodian / "vault")
    run("agency", "init", uni / "agency", "--id", "uni-research", "--name", "Hills University", "--type", "research_evaluation",
        "--tier", "4", "--region", "south-hills", "--network-name", "Riverside")  # fmt: skip
    run("network", "register-agency", "--network", net, uni / "agency" / "registration.yaml", *as_ana)
    run("agency", "pin-coordinator", uni / "agency", net / "coordinator" / "coordinator-public.yaml")
    relay = net / "coordinator" / "relay" / "uni-research.linkage"
    run("custodian", "wrap", custodian / "vault", uni / "agency" / "registration.yaml", "--out", relay)  # the coordinator relays it
    out = run("agency", "import-linkage", uni / "agency", relay, "--custodian", custodian / "vault" / "custodian-public.yaml")
    assert "imported the network linkage key" in out
    run("agency", "init", legal / "agency", "--id", "legal-aid", "--name", "Legal Aid", "--type", "justice_legal", "--tier", "2",
        "--region", "south-metro", "--service", "protection orders", "--phone", "555-0102")  # fmt: skip
    run("network", "register-agency", "--network", net, legal / "agency" / "registration.yaml", *as_ana)
    run("agency", "pin-coordinator", legal / "agency", net / "coordinator" / "coordinator-public.yaml")
    out = run("network", "show", "--network", net)
    assert "uni-research" in out and "legal-aid" in out and "eli-custodian" in out and "custodian" in out
    out = run("audit", "verify", net / "coordinator" / "audit.log")
    assert "audit log intact" in out

    assert keys.read_secret(uni / "agency" / "keys" / "linkage.key") == keys.read_secret(custodian / "vault" / "keys" / "network-linkage.key")
    assert not (legal / "agency" / "keys" / "linkage.key").exists()
    assert foreign_key_files(net) == [] and len(private_key_files(net / "coordinator")) == 2
    # No private key or secret of any party appears in anything printed, nor anywhere on the coordinator's machine.
    every_secret = [s for machine in (coordinator, custodian, uni, legal) for s in _secrets(machine)]
    assert len(every_secret) >= 4 * (2 + 1 + 2 + 3 + 3)
    own = set(_secrets(net / "coordinator" / "keys")) | set(_secrets(ana))
    for i, text in enumerate(outputs):
        for s in every_secret:
            assert s.decode("latin-1") not in text, f"command #{i} printed private key material"
    blobs = [p.read_bytes() for p in coordinator.rglob("*") if p.is_file() and p.parent.name != "keys" and p.parent != ana]
    for s in every_secret:
        if s not in own:
            assert not any(s in b for b in blobs), "the coordinator's machine holds another party's secret"
    assert store.load_network(net).organisation("uni-research").encryption_key_id
