"""The contract registry: a contributor or the coordinator names a contract and gets that one, or a clear refusal."""

from __future__ import annotations

import pytest

from dvnet.contracts.errors import ContractError
from dvnet.contracts.registry import CONTRACTS, all_contracts, get_contract
from dvnet.pipelines.cli import main

RELEASED = {("referral", 1), ("service_episode", 1), ("research_extract", 1)}


def test_every_issue_3_contract_is_released_at_version_1():
    assert {(c.id, c.version) for c in all_contracts()} >= RELEASED


@pytest.mark.parametrize(("contract_id", "version"), sorted(RELEASED))
def test_lookup_by_id_and_version_returns_that_contract(contract_id, version):
    c = get_contract(contract_id, version)
    assert (c.id, c.version) == (contract_id, version)
    assert c.ref == f"{contract_id}/v{version}"


@pytest.mark.parametrize("contract_id", sorted({cid for cid, _ in RELEASED}))
def test_lookup_without_version_returns_the_latest(contract_id):
    latest = max(v for cid, v in CONTRACTS if cid == contract_id)
    assert get_contract(contract_id).version == latest
    assert get_contract(contract_id, None) is get_contract(contract_id, latest)


def test_latest_is_the_highest_version_not_the_last_registered(monkeypatch):
    v1 = get_contract("referral", 1)
    from dataclasses import replace

    fake = {("referral", 3): replace(v1, version=3), ("referral", 1): v1, ("referral", 2): replace(v1, version=2)}
    monkeypatch.setattr("dvnet.contracts.registry.CONTRACTS", fake)
    assert get_contract("referral").version == 3


@pytest.mark.parametrize("contract_id", ["referrals", "", "REFERRAL", "referral/v1"])
def test_unknown_contract_id_is_refused(contract_id):
    with pytest.raises(ContractError) as exc:
        get_contract(contract_id)
    assert exc.value.reason == "CONTRACT_UNKNOWN"
    assert "referral" in (exc.value.hint or "")  # the hint lists what is known


@pytest.mark.parametrize("version", [0, 2, 99, -1])
def test_unknown_version_is_refused(version):
    with pytest.raises(ContractError) as exc:
        get_contract("referral", version)
    assert exc.value.reason == "CONTRACT_VERSION_UNKNOWN"
    assert "1" in (exc.value.hint or "")  # the hint lists released versions


def test_all_contracts_is_sorted_and_complete():
    got = [(c.id, c.version) for c in all_contracts()]
    assert got == sorted(CONTRACTS)


def test_cli_contracts_list_names_every_contract(capsys, monkeypatch):
    # rich wraps tables to 80 columns when not on a terminal, which would split the ids.
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["contracts", "list"], {}) == 0
    out = capsys.readouterr().out
    for c in all_contracts():
        assert c.id in out


def test_cli_contracts_docs_writes_markdown_and_html(tmp_path, capsys):
    out_dir = tmp_path / "dict"
    assert main(["contracts", "docs", "--out", str(out_dir)], {}) == 0
    assert (out_dir / "data-dictionary.md").is_file()
    assert (out_dir / "data-dictionary.html").is_file()


def test_every_output_rule_is_about_one_column():
    """The contributor checks the keyed output columns part by part, apart from the others
    (anonymize.deidentify): that is exact only while no output rule spans rows or columns."""
    for c in all_contracts():
        schema = c.output.to_schema()
        assert not schema.checks, f"{c.ref}: an output rule over several columns"
        assert not schema.unique and not [n for n, col in schema.columns.items() if col.unique], f"{c.ref}: a uniqueness rule"
