"""The Tier 1 directory: professionals see active organisations' published details and nothing else."""

from __future__ import annotations

import csv
import html
import io
import json

import pytest

from dvnet.common import agreements
from dvnet.pipelines.cli import main
from dvnet.pipelines.directory import PUBLISHED_FIELDS, export_directory
from dvnet.common.network import load_network

@pytest.fixture
def exported(dsa_network, tmp_path):
    net = load_network(dsa_network)
    paths = export_directory(net, tmp_path / "directory")
    texts = {p.suffix.lstrip("."): p.read_text(encoding="utf-8") for p in paths}
    assert set(texts) == {"csv", "json", "html"}
    return net, texts, agreements.all_current(dsa_network)


def _forbidden(net, dsas) -> list[str]:
    """Strings that must not appear in any directory file: keys, key ids, agreement details."""
    c = net.coordinator
    out = [c.encryption_key_id, c.encryption_public_key, c.signing_key_id, c.signing_public_key]
    for o in net.organisations:
        out += [x for x in (o.signing_key_id, o.signing_public_key) if x]
    for a in dsas:
        out += [a.id, a.purpose, a.ethics_approval, *a.researchers, *(net.person(r).name for r in a.researchers)]
    return out


def test_active_organisations_are_listed_in_every_format(exported, agencies):
    _, texts, _ = exported
    for spec in agencies:
        if spec.get("status") == "suspended":
            continue
        for fmt, text in texts.items():
            name = html.escape(spec["name"]) if fmt == "html" else spec["name"]
            assert name in text, f"{spec['id']} missing from directory.{fmt}"
            for key in ("phone", "email", "website", "eligibility"):
                if spec.get(key):
                    value = html.escape(spec[key]) if fmt == "html" else spec[key]
                    assert value in text, f"{spec['id']} {key} missing from directory.{fmt}"


def test_suspended_organisations_are_absent(exported, agencies):
    _, texts, _ = exported
    suspended = [a for a in agencies if a.get("status") == "suspended"]
    assert suspended
    for spec in suspended:
        for fmt, text in texts.items():
            for key in ("name", "phone", "email"):
                assert spec[key] not in text, f"suspended {spec['id']} {key} in directory.{fmt}"


def test_json_entries_hold_only_the_published_fields(exported, agencies):
    net, texts, _ = exported
    data = json.loads(texts["json"])
    assert set(data) == {"network", "organisations"}
    assert data["network"] == net.name
    assert len(data["organisations"]) == sum(1 for a in agencies if a.get("status") != "suspended")
    for entry in data["organisations"]:
        assert set(entry) == set(PUBLISHED_FIELDS)


def test_csv_has_the_published_columns_only(exported, agencies):
    _, texts, _ = exported
    rows = list(csv.DictReader(io.StringIO(texts["csv"])))
    assert list(rows[0]) == list(PUBLISHED_FIELDS)
    assert sorted(r["name"] for r in rows) == sorted(a["name"] for a in agencies if a.get("status") != "suspended")


def test_published_fields_are_the_tier_1_fields():
    assert set(PUBLISHED_FIELDS) == {"name", "type", "region", "services", "eligibility", "phone", "email", "website", "intake_hours", "decisions"}


def test_no_keys_tiers_or_agreement_data_anywhere(exported):
    net, texts, dsas = exported
    assert dsas
    for fmt, text in texts.items():
        for s in _forbidden(net, dsas):
            assert s not in text, f"directory.{fmt} contains internal data"
        lowered = text.lower()
        for word in ("tier", "signing", "public_key", "key_id", "suspended", "agreement", "ethics"):
            assert word not in lowered, f"directory.{fmt} mentions {word}"


def test_html_is_self_contained(exported):
    _, texts, _ = exported
    page = texts["html"].lower()
    assert page.startswith("<!doctype html>")
    assert "<script" not in page and "<link" not in page and "src=" not in page


def test_names_are_escaped_in_html(network_dir, tmp_path):
    net = load_network(network_dir)
    net.organisations[0].name = "Women & Children <First>"
    paths = export_directory(net, tmp_path / "d")
    page = next(p for p in paths if p.suffix == ".html").read_text(encoding="utf-8")
    assert "<First>" not in page and "Women &amp; Children &lt;First&gt;" in page


def test_cli_directory_writes_the_three_files(network_dir, tmp_path, capsys):
    out = tmp_path / "published"
    assert main(["directory", "--network", str(network_dir), "--out", str(out)], {}) == 0
    assert sorted(p.name for p in out.iterdir()) == ["directory.csv", "directory.html", "directory.json"]
    capsys.readouterr()
