"""User errors print one `error: REASON: message` line (and maybe a hint), no traceback, exit 2;
refusals exit 1; bugs still raise."""

from __future__ import annotations

import pytest
import yaml

from dvnet.contracts.errors import DvnetError
from dvnet.pipelines.cli import EXIT_REFUSED, EXIT_USAGE, main
from dvnet.pipelines.demo_network import GEOGRAPHY_FILE


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), {})
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    return code, out.out, out.err


def _assert_one_error_line(err: str, reason: str) -> str:
    lines = err.strip().splitlines()
    assert lines and lines[0].startswith(f"error: {reason}: "), err
    assert len(lines) <= 2 and all(line.startswith(("error: ", "hint: ")) for line in lines), err
    return lines[0]


def test_network_show_without_a_registry(capsys, tmp_path):
    code, out, err = _run(capsys, "network", "show", "--network", str(tmp_path))
    assert code == EXIT_USAGE
    _assert_one_error_line(err, "REGISTRY_MISSING")
    assert "hint: " in err
    assert out == ""


def test_network_show_on_a_missing_folder(capsys, tmp_path):
    code, _, err = _run(capsys, "network", "show", "--network", str(tmp_path / "nowhere"))
    assert code == EXIT_USAGE
    assert "does not exist" in err


def test_network_show_on_an_invalid_registry_names_the_field(capsys, network_dir):
    path = network_dir / "coordinator" / "registry.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["organisations"][1]["tier"] = 9
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    code, _, err = _run(capsys, "network", "show", "--network", str(network_dir))
    assert code == EXIT_USAGE
    assert "organisations[1].tier" in _assert_one_error_line(err, "REGISTRY_INVALID")


def test_network_init_twice(capsys, network_dir):
    founder = network_dir / "people" / "coord-ana"
    code, _, err = _run(capsys, "network", "init", "--network", str(network_dir), "--name", "Again", "--geography", str(GEOGRAPHY_FILE), "--founder", str(founder / "person.yaml"), "--key", str(founder / "signing.key"))
    assert code == EXIT_USAGE
    _assert_one_error_line(err, "NETWORK_EXISTS")


def test_network_register_agency_twice(capsys, network_dir, as_coordinator):
    argv = ["network", "register-agency", "--network", str(network_dir), str(network_dir / "agencies" / "shelter-north" / "registration.yaml"), *as_coordinator]
    code, _, err = _run(capsys, *argv)
    assert code == EXIT_USAGE
    _assert_one_error_line(err, "AGENCY_EXISTS")


def test_contribute_with_an_unknown_contract(capsys, network_dir, tmp_path):
    extract = tmp_path / "extract.csv"
    extract.write_text("referral_id\n", encoding="utf-8")
    code, _, err = _run(
        capsys, "contribute", "--agency", str(network_dir / "agencies" / "shelter-north"), "--contract", "referals",
        "--extract", str(extract), "--period", "2026-Q3",
    )
    assert code == EXIT_USAGE
    _assert_one_error_line(err, "CONTRACT_UNKNOWN")


def test_an_unknown_command_is_a_usage_error(capsys):
    code, _, err = _run(capsys, "frobnicate")
    assert code == EXIT_USAGE
    assert "frobnicate" in err


def test_a_bad_option_value_is_a_usage_error(capsys, tmp_path):
    argv = ["agency", "init", str(tmp_path / "x1"), "--id", "x1", "--name", "X", "--type", "direct_service", "--tier", "5", "--region", "north-coast"]
    code, _, _ = _run(capsys, *argv)
    assert code == EXIT_USAGE


def test_a_refusal_that_is_not_a_usage_error_exits_1(capsys, network_dir, monkeypatch):
    def refuse(_root):
        raise DvnetError("AUDIT_CHAIN_BROKEN", "audit.log line 3 does not follow the line before it")

    monkeypatch.setattr("dvnet.common.network.load_network", refuse)
    code, _, err = _run(capsys, "network", "show", "--network", str(network_dir))
    assert code == EXIT_REFUSED
    _assert_one_error_line(err, "AUDIT_CHAIN_BROKEN")


def test_a_usage_reason_exits_2(capsys, network_dir, monkeypatch):
    def refuse(_root):
        raise DvnetError("USAGE_PERIOD_INVALID", "a period is a calendar quarter written like 2026-Q3")

    monkeypatch.setattr("dvnet.common.network.load_network", refuse)
    code, _, err = _run(capsys, "network", "show", "--network", str(network_dir))
    assert code == EXIT_USAGE
    _assert_one_error_line(err, "USAGE_PERIOD_INVALID")


def test_a_bug_still_raises(network_dir, monkeypatch):
    def broken(_root):
        raise RuntimeError("a bug, not a user error")

    monkeypatch.setattr("dvnet.common.network.load_network", broken)
    with pytest.raises(RuntimeError):
        main(["network", "show", "--network", str(network_dir)], {})
