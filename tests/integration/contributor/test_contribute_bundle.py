"""Each contract in each mode it allows, from a synthetic extract to a bundle the coordinator
opens: the payload has exactly the columns the contract lets out, the manifest counts it, and
every run takes the agency's next sequence number."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from contribution_constants import PROJECT, aggregate_columns

from dvnet.anonymize.deidentify import keyed_outputs
from dvnet.contracts.registry import get_contract
from dvnet.pipelines.contributor import run, sequence

CASES = [
    ("shelter-north", "referral", "aggregate"),
    ("shelter-north", "referral", "record"),
    ("shelter-north", "service_episode", "aggregate"),
    ("shelter-north", "service_episode", "record"),
    ("valley-health", "research_extract", "record"),  # Tier 4, for a research project
]


@pytest.mark.parametrize(("agency", "contract", "mode"), CASES, ids=[f"{c}-{m}" for _, c, m in CASES])
def test_a_contribution_seals_a_bundle_the_coordinator_opens(net, agency, contract, mode):
    # k=2 and a generous withheld share: a quarter of one small agency has rare combinations.
    r = net.contribute(agency, contract, mode=mode, k=2, max_withheld_share=0.5)
    assert r.status == "sealed", r.refusal
    assert (r.mode, r.sequence, r.rejected, r.held_back) == (mode, 1, 0, 0)

    opened = net.open(agency, r)
    table = opened.table
    if mode == "record":
        assert table.column_names == get_contract(contract).output_columns()
        assert table.num_rows == r.sent == r.records_read - r.excluded_consent - r.withheld_k
        assert r.sent > 0
    else:
        assert table.column_names == aggregate_columns(contract)
        # Every record is counted once in each standard table.
        per_table = table.group_by("table_name").aggregate([("n", "sum")])
        unpivoted = {t.name for t in get_contract(contract).standard_tables if t.unpivot}
        sums = {row["table_name"]: row["n_sum"] for row in per_table.to_pylist() if row["table_name"] not in unpivoted}
        assert sums and set(sums.values()) == {r.records_read} == {r.sent}
    assert opened.manifest["record_count"] == table.num_rows
    assert opened.header["agency_id"] == agency
    assert opened.header["sequence"] == 1
    assert r.output_columns == table.column_names
    # Code lists travel as plain text, however the contributor held them (codes, in memory).
    assert not [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
    assert all(pa.types.is_string(f.type) or pa.types.is_boolean(f.type) or pa.types.is_integer(f.type) for f in table.schema), table.schema
    if contract == "research_extract":
        assert opened.manifest["details"]["project"] == PROJECT
        tokens = table.column("linkage_token").to_pylist()
        assert all(len(t) == 64 for t in tokens)
    for pseudonym in (c for c in table.column_names if c.endswith("_pseudonym")):
        assert pa.compute.all(pa.compute.match_substring_regex(table.column(pseudonym), r"^[0-9a-f]{32}$")).as_py()
    if mode == "record":  # keyed columns (one value per row): no dictionary, lengths apart from bytes
        meta = pq.ParquetFile(io.BytesIO(opened.data)).metadata.row_group(0)
        chunks = {meta.column(i).path_in_schema: meta.column(i) for i in range(meta.num_columns)}
        for name in keyed_outputs(get_contract(contract)):
            assert "DELTA_LENGTH_BYTE_ARRAY" in chunks[name].encodings and not chunks[name].has_dictionary_page, name


def test_rerunning_advances_the_sequence_and_never_reuses_it(net):
    agency = net.agency("shelter-north")
    seen = []
    for contract, mode in [("referral", "aggregate"), ("referral", "aggregate"), ("service_episode", "aggregate")]:
        r = net.contribute("shelter-north", contract, mode=mode)
        assert r.status == "sealed"
        assert net.open("shelter-north", r).header["sequence"] == r.sequence
        seen.append(r.sequence)
    assert seen == [1, 2, 3]
    assert sequence.current(agency.sequence_path) == 3
    # The second referral (--resend) was sealed in place of the first, still unsent: kept in withdrawn/.
    assert len(list((agency.folder / "outbox").glob("*.dvb"))) == 2 and len(list((agency.folder / "withdrawn").glob("*.dvb"))) == 1


def test_record_mode_pseudonyms_are_stable_across_runs_and_keyed_per_agency(net):
    """Re-sending the same extract gives the same pseudonyms (corrections line up); another
    agency's key gives different ones for the same client numbers."""
    first = net.open("shelter-north", net.contribute("shelter-north", "service_episode", mode="record", k=2, max_withheld_share=1.0))
    again = net.open("shelter-north", net.contribute("shelter-north", "service_episode", mode="record", k=2, max_withheld_share=1.0))
    assert first.table.column("client_pseudonym").equals(again.table.column("client_pseudonym"))
    other = net.contribute("valley-health", "service_episode", extract=net.extract("shelter-north", "service_episode"), mode="record", k=2, max_withheld_share=1.0)
    theirs = set(net.open("valley-health", other).table.column("client_pseudonym").to_pylist())
    assert theirs and not theirs & set(first.table.column("client_pseudonym").to_pylist())


@pytest.mark.parametrize("contract", ["service_episode", "research_extract"])
def test_a_record_payload_written_in_parts_holds_the_same_rows_as_one_part(net, monkeypatch, contract):
    """The keyed columns join the payload part by part (one Parquet row group each) as the
    hashing finishes; the parts must line up with the rows they belong to."""
    agency = "valley-health" if contract == "research_extract" else "shelter-north"
    whole = net.contribute(agency, contract, mode="record", k=2, max_withheld_share=0.5)
    monkeypatch.setattr(run, "PART_ROWS", 7)
    parts = net.contribute(agency, contract, mode="record", k=2, max_withheld_share=0.5)
    a, b = net.open(agency, whole), net.open(agency, parts)
    assert parts.sent == whole.sent > 14
    assert pq.ParquetFile(io.BytesIO(b.data)).metadata.num_row_groups == -(-parts.sent // 7)
    assert pq.ParquetFile(io.BytesIO(a.data)).metadata.num_row_groups == 1
    assert b.table.combine_chunks().equals(a.table.combine_chunks())


def test_a_record_run_that_sends_nobody_seals_an_empty_payload_with_every_column(net, tmp_path):
    source = net.extract("shelter-north", "service_episode")
    rows = source.read_text(encoding="utf-8").splitlines()
    header = rows[0].split(",")
    consent = header.index("consent_to_share")
    nobody = tmp_path / source.name
    nobody.write_text("\n".join([rows[0]] + [",".join(c if i != consent else "false" for i, c in enumerate(r.split(","))) for r in rows[1:]]) + "\n", encoding="utf-8")
    r = net.contribute("shelter-north", "service_episode", extract=nobody, mode="record")
    assert r.status == "sealed" and r.sent == 0 and r.excluded_consent == r.records_read > 0
    table = net.open("shelter-north", r).table
    assert table.num_rows == 0 and table.column_names == get_contract("service_episode").output_columns()
