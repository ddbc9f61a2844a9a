"""The data dictionary a steward reads: every field of every contract, its role and how it leaves."""

from __future__ import annotations

import pytest

from dvnet.contracts.dictionary import LEAVES_AS, html_page, markdown, write_dictionary
from dvnet.contracts.registry import all_contracts
from dvnet.contracts.roles import Transform


def test_every_transform_has_a_plain_words_explanation():
    assert set(LEAVES_AS) == set(Transform)


@pytest.mark.parametrize("contract", all_contracts(), ids=lambda c: c.ref)
def test_markdown_lists_every_field_with_its_role_and_every_output_column(contract):
    md = markdown()
    section = md.split(f"## `{contract.id}` version {contract.version}")[1].split("\n## ")[0]
    for f in contract.fields():
        row = next((line for line in section.splitlines() if line.startswith(f"| `{f.name}` |")), None)
        assert row is not None, f"{f.name} missing from the dictionary"
        assert f.role.value in row
        assert LEAVES_AS[f.transform] in row
    for col in contract.output_columns():
        assert f"`{col}`" in section
    for t in contract.standard_tables:
        assert t.name in section


def test_html_page_is_self_contained_and_escaped():
    page = html_page()
    assert page.startswith("<!doctype html>")
    assert "<script" not in page.lower()
    assert "http://" not in page and "https://" not in page
    for c in all_contracts():
        assert c.id in page


def test_write_dictionary_writes_both_files(tmp_path):
    md, page = write_dictionary(tmp_path / "out")
    assert md.read_text(encoding="utf-8") == markdown()
    assert page.read_text(encoding="utf-8") == html_page()
