"""The compiled contracts (``contracts.compiled``) are their pandera models as plain data: the
files match the models, a model changed without recompiling is caught, a rule the compiled form
could not carry exactly is refused, and every verdict on a broken extract is the model's."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import Series

from dvnet.contracts import compiled
from dvnet.contracts.conformance import schema_failures
from dvnet.contracts.errors import ContractError
from dvnet.contracts.registry import all_contracts, get_contract
from dvnet.contracts.roles import Role, Transform, field
from dvnet.contracts.v1.referral import Referral
from dvnet.pipelines.demo_network import demo_geography, demo_organisations
from dvnet.pipelines.synth import synthesize

REGENERATE = "run `.venv/bin/python -m dvnet.contracts.compiled` and commit the files"


@pytest.mark.parametrize("contract", all_contracts(), ids=lambda c: c.ref)
def test_every_compiled_file_is_its_model(contract):
    path = compiled.compiled_path(contract.id, contract.version)
    assert path.exists(), f"{contract.ref} has no compiled form: {REGENERATE}"
    assert path.read_text(encoding="utf-8") == compiled.dumps(contract), f"{contract.ref} changed since it was compiled: {REGENERATE}"
    assert contract.source_schema == compiled.compile_model(contract.source)
    assert contract.output_schema == compiled.compile_model(contract.output)


def test_the_check_command_reports_a_model_changed_without_recompiling(tmp_path, monkeypatch, capsys):
    assert compiled.main(["--check"]) == 0
    stale = tmp_path / "referral.json"
    data = json.loads(compiled.compiled_path("referral", 1).read_text(encoding="utf-8"))
    data["source"]["columns"][0]["nullable"] = True
    stale.write_text(json.dumps(data), encoding="utf-8")
    real = compiled.compiled_path
    monkeypatch.setattr(compiled, "compiled_path", lambda cid, v: stale if cid == "referral" else real(cid, v))
    assert compiled.main(["--check"]) == 1
    assert "differs from its model" in capsys.readouterr().err
    assert json.loads(stale.read_text(encoding="utf-8")) == data, "--check writes nothing"


class _LooserDays(Referral):
    days_to_first_contact: Series[pd.Int64Dtype] = field(
        role=Role.SENSITIVE, transform=Transform.KEEP, description="Days to first contact.", nullable=True, ge=0, le=9999
    )


def test_a_contract_given_its_model_as_a_class_is_compiled_from_it():
    changed = replace(get_contract("referral", 1), source_model=_LooserDays)
    rules = changed.source_schema.columns["days_to_first_contact"].checks
    assert [(r.name, r.statistics) for r in rules] == [("greater_than_or_equal_to", {"min_value": 0}), ("less_than_or_equal_to", {"max_value": 9999})]
    assert get_contract("referral", 1).source_schema.columns["days_to_first_contact"].checks[1].statistics == {"max_value": 3650}


class _CustomColumnRule(Referral):
    @pa.check("handoff_type")
    def short(cls, s: Series[str]) -> Series[bool]:
        return s.str.len() < 9


class _UnknownFrameRule(Referral):
    @pa.dataframe_check
    def referral_before_contact(cls, df: pd.DataFrame) -> Series[bool]:
        return df["referral_date"].notna()


@pytest.mark.parametrize("model", [_CustomColumnRule, _UnknownFrameRule], ids=["custom column check", "frame check not in rules"])
def test_a_rule_the_compiled_form_cannot_carry_is_refused(model):
    with pytest.raises(compiled.CompileError):
        compiled.compile_model(model)


def test_every_compiled_rule_rebuilds_the_models_pandera_check():
    for contract in all_contracts():
        for side, model in (("source", contract.source), ("output", contract.output)):
            schema = model.to_schema()
            for name, column in getattr(contract, f"{side}_schema").columns.items():
                original = schema.columns[name].checks
                rebuilt = [r.pandera() for r in column.checks]
                assert [(c.name, c.statistics, c.error, c.ignore_na) for c in rebuilt] == [(c.name, c.statistics, c.error, c.ignore_na) for c in original]
                assert [str(r) for r in column.checks] == [str(c) for c in original]


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """A clean synthetic quarter per contract, typed, then broken: in every column a few rows
    get a value of the right type that breaks its rules (text off its list or pattern, numbers
    out of range, missing values, repeated identifiers, episodes ending before they start)."""
    root = tmp_path_factory.mktemp("compiled")
    synthesize(demo_organisations(), root, seed=7, periods=["2026-Q3"], scale=0.05, geography=demo_geography())
    out = {}
    rng = np.random.default_rng(7)
    for contract in all_contracts():
        paths = sorted(root.glob(f"*/extracts/{contract.id}_2026-Q3.csv"))
        raw = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""]) for p in paths], ignore_index=True)
        frame = {}
        for name, column in contract.source_schema.columns.items():
            s = raw[name]
            if column.dtype == "datetime64[ns]":
                s = pd.to_datetime(s, format="%Y-%m-%d")
            elif column.dtype == "boolean":
                s = s.map({"true": True, "false": False}).astype("boolean")
            elif column.dtype == "Int64":
                s = pd.to_numeric(s).astype("Int64")
                bad = rng.random(len(s)) < 0.05
                s[bad] = rng.choice([-3, 99_999], int(bad.sum()))
            else:
                s = s.astype("string")
                bad = rng.random(len(s)) < 0.05
                s[bad] = rng.choice(["not on any list!", "x" * 300, "ABC"], int(bad.sum()))
            s[rng.random(len(s)) < 0.03] = None
            if column.unique:
                s.iloc[1] = s.iloc[0]
            frame[name] = s
        typed = pd.DataFrame(frame)
        if "episode_end" in typed:
            early = rng.random(len(typed)) < 0.05
            typed.loc[early, "episode_end"] = typed.loc[early, "episode_start"] - pd.Timedelta(days=3)
        out[contract.id] = typed
    return out


@pytest.mark.parametrize("contract", all_contracts(), ids=lambda c: c.ref)
def test_every_verdict_on_a_broken_extract_is_the_models(contract, broken):
    frame = broken[contract.id]

    def verdicts(schema):
        return [(f.column, f.rule, f.required, np.flatnonzero(f.mask).tolist()) for f in schema_failures(frame, schema)]

    expected = verdicts(contract.source.to_schema())
    assert verdicts(contract.source_schema) == expected
    rules = {rule for _, rule, _, _ in expected}
    assert {"not_nullable", "field_uniqueness"} <= rules and any(r.startswith(("isin", "str_matches")) for r in rules)
    if contract.id == "referral":
        assert {"greater_than_or_equal_to(0)", "less_than_or_equal_to(3650)"} <= rules
    if contract.id != "referral":
        assert "end_not_before_start" in rules


@pytest.mark.parametrize("content", [None, "{not json", '{"source": {"columns": []}}', '{"source": {"columns": [{"name": "x"}], "frame_checks": []}, "output": {}}'],
                         ids=["missing", "not JSON", "no output", "a column without its fields"])
def test_a_compiled_file_missing_or_unreadable_is_a_typed_configuration_error(tmp_path, monkeypatch, content):
    path = tmp_path / "service_episode.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    monkeypatch.setattr(compiled, "compiled_path", lambda cid, v: path)
    compiled.load.cache_clear()
    try:
        contract = replace(get_contract("service_episode", 1))  # a fresh object: nothing compiled cached
        with pytest.raises(ContractError) as e:
            contract.fields()
        assert e.value.reason == "CONTRACT_COMPILED_UNREADABLE" and str(path) in str(e.value) and e.value.hint
    finally:
        compiled.load.cache_clear()
