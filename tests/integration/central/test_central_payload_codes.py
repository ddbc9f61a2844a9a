"""The coordinator reads a record payload's code-list columns as Arrow dictionaries
(``ingest._read_payload``): each distinct value once, the rows as codes. That is a way of reading,
never a different verdict: whatever dictionaries the sender's file holds or declares, the rules,
the counts and the content checks see what they see in the same payload decoded, and a
dictionary whose codes point outside it (a hostile file) is refused before anything reads it. A
payload that would unpack to far more than its size (one long value stored once for every row,
or rows without end) is refused before it is unpacked, not left to stop the coordinator on every
retry."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dvnet.anonymize.counts import standard_counts
from dvnet.assets.intake.lib import ingest
from dvnet.assets.intake.lib.conform import record_failures
from dvnet.contracts.conformance import content
from dvnet.contracts.periods import Period
from dvnet.contracts.registry import get_contract


def _bytes(table: pa.Table, **kw) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **kw)
    return sink.getvalue()


def _decoded(table: pa.Table) -> pa.Table:
    """The table with every dictionary column as its plain values: what the rules must see."""
    return pa.table({n: c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for n, c in zip(table.column_names, table.columns)})


def _verdicts(table: pa.Table, contract, period: str):
    failures = sorted((f.column, f.rule, tuple(np.flatnonzero(f.mask))) for f in record_failures(table, contract))
    findings = sorted(f.describe() for f in content.record_findings(table, contract, Period.parse(period), ["shelter-a"]))
    return failures, findings, standard_counts(table, contract).sort_by([(c, "ascending") for c in ("table_name", "n")])


def _variants(ck, contract_id: str) -> dict[str, bytes]:
    """One payload written the ways a contributor's library may write it."""
    frame = ck.FRAMES[contract_id](600, ck.PERIOD, 5)
    frame.loc[7, "gender"] = "not-a-gender"  # off the code list: a failure the codes must still find
    frame.loc[11, "gender"] = None
    plain = pa.Table.from_pandas(frame, preserve_index=False)
    # Values that appear only in later row groups: each row group has a dictionary of its own.
    ordered = plain.take(pc.sort_indices(plain, [("gender", "ascending")]))
    coded = get_contract(contract_id).coded_columns()
    declared = pa.table({n: c.dictionary_encode() if n in coded else c for n, c in zip(plain.column_names, plain.columns)})
    numbers = plain.set_column(plain.column_names.index("gender"), "gender", pa.array(np.arange(600) % 3).dictionary_encode())
    as_bytes = plain.set_column(plain.column_names.index("gender"), "gender", plain["gender"].cast(pa.binary()).dictionary_encode())
    return {
        "plain text, one row group": _bytes(plain, compression="zstd"),
        "row groups with dictionaries of their own": _bytes(ordered, row_group_size=50),
        "no dictionary in the file": _bytes(plain, use_dictionary=False),
        "dictionaries the file declares": _bytes(declared, store_schema=True),
        "a code-list column of numbers, declared as a dictionary": _bytes(numbers, store_schema=True),
        "a code-list column of bytes, declared as a dictionary": _bytes(as_bytes, store_schema=True),
    }


@pytest.mark.parametrize("contract_id", ["service_episode", "referral", "research_extract"])
def test_reading_the_code_list_columns_as_dictionaries_never_changes_a_verdict_or_a_count(ck, contract_id):
    contract = get_contract(contract_id)
    for name, payload in _variants(ck, contract_id).items():
        read = ingest._read_payload(memoryview(payload), "parquet", contract.coded_columns())
        reference = _decoded(pq.read_table(io.BytesIO(payload)))
        assert read.num_rows == reference.num_rows, name
        assert any(pa.types.is_dictionary(t) for t in read.schema.types) or name.startswith("a code-list column of numbers"), name
        got, want = _verdicts(read, contract, ck.PERIOD), _verdicts(reference, contract, ck.PERIOD)
        assert got[0] == want[0] and got[0], name  # the off-list and missing values are found, at the same rows
        assert got[1] == want[1], name
        assert got[2].equals(want[2]), name


def _repeating_dictionary(declared: bool, row_groups: int = 1) -> bytes:
    """A payload whose ``gender`` dictionary page holds one value twice: Arrow's reader then makes
    a dictionary of one value with codes 0 and 1, an array no kernel may read. ``declared``: the
    file itself says the column is a dictionary (read so whatever the coordinator asks).
    ``row_groups`` > 1: the broken dictionary is in a later row group, so joining the chunks
    (which maps every code through its dictionary) would read past it before any check."""
    values = ["woman", "man"] * (row_groups - 1) + ["woman", "wom4n", "woman"]
    gender = pa.array(values)
    table = pa.table({"gender": gender.dictionary_encode() if declared else gender, "n": pa.array(range(len(values)))})
    payload = _bytes(table, compression="none", store_schema=declared, row_group_size=2 if row_groups > 1 else None)
    assert payload.count(b"wom4n") > 0
    return payload.replace(b"wom4n", b"woman")


@pytest.mark.parametrize("declared, coded", [(False, ["gender"]), (True, [])], ids=["read as codes", "declared by the file"])
@pytest.mark.parametrize("row_groups", [1, 3], ids=["one row group", "in a later row group"])
def test_a_dictionary_whose_codes_point_outside_it_is_refused_by_position(ck, declared, coded, row_groups):
    with pytest.raises(ingest.IngestRefusal) as refused:
        ingest._read_payload(memoryview(_repeating_dictionary(declared, row_groups)), "parquet", coded)
    assert refused.value.reason == "PAYLOAD_INVALID" and "column 1 " in str(refused.value) and "gender" not in str(refused.value)


def test_a_bundle_whose_payload_has_a_broken_dictionary_is_quarantined_and_loads_nothing(ck, kit):
    import duckdb

    from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_file

    good = pa.Table.from_pandas(ck.service_episode_frame(3, ck.PERIOD, 4), preserve_index=False)
    good = good.set_column(good.column_names.index("gender"), "gender", pa.array(["woman", "wom4n", "woman"]))
    payload = _bytes(good, compression="none").replace(b"wom4n", b"woman")
    with duckdb.connect(str(kit.paths.warehouse)) as con:
        out = ingest_file(kit.drop("broken", kit.seal("shelter-a", "service_episode", payload, 3).blob), CoordinatorContext.load(kit.root), con)
    assert (out.outcome, out.reason) == ("quarantined", "PAYLOAD_INVALID")
    assert ck.query(kit.paths.warehouse, "SELECT count(*) FROM ledger") == [(0,)]


def _bomb(kind: str) -> bytes:
    rows = 100_000
    if kind == "plain":  # one long value, written out for every row: the metadata says how large
        return _bytes(pa.table({"region": pa.array(["x" * 1000] * rows)}), compression="zstd", use_dictionary=False)
    if kind == "dictionary":  # stored once, every row pointing at it: nothing in the metadata says how large
        return _bytes(pa.table({"region": pa.array(["x" * 1000] * rows)}), compression="zstd")
    return _bytes(pa.table({"n": pa.array(np.zeros(10_000_000, np.int8))}), compression="zstd")  # rows without end


@pytest.mark.parametrize("kind", ["plain", "dictionary", "rows"])
def test_a_payload_that_would_unpack_far_beyond_its_size_is_refused_before_it_is_unpacked(ck, kind):
    payload = _bomb(kind)
    assert len(payload) < 200_000
    with pytest.raises(ingest.IngestRefusal) as refused:
        ingest._read_payload(memoryview(payload), "parquet", get_contract("service_episode").coded_columns())
    assert refused.value.reason == "PAYLOAD_INVALID" and "would unpack to more than" in str(refused.value)


def test_a_bundle_that_would_unpack_far_beyond_its_size_is_quarantined_and_loads_nothing(ck, kit):
    import duckdb

    from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_file

    payload = _bomb("dictionary")
    with duckdb.connect(str(kit.paths.warehouse)) as con:
        out = ingest_file(kit.drop("bomb", kit.seal("shelter-a", "service_episode", payload, 100_000).blob), CoordinatorContext.load(kit.root), con)
    assert (out.outcome, out.reason) == ("quarantined", "PAYLOAD_INVALID")
    assert ck.query(kit.paths.warehouse, "SELECT count(*) FROM ledger") == [(0,)]


@pytest.mark.parametrize("kind", ["plain", "dictionary", "rows"])
def test_refusing_a_payload_that_would_unpack_far_beyond_its_size_never_unpacks_it(ck, kind, tmp_path):
    """What makes the refusal worth having: Arrow's allocations while it is refused stay far below
    what the payload unpacks to (100 MB of text, 10M rows). In a process of its own, so the
    memory pool's peak is this read's."""
    import subprocess
    import sys

    (tmp_path / "payload").write_bytes(_bomb(kind))
    code = (
        "import sys, pyarrow as pa\n"
        "from dvnet.assets.intake.lib import ingest\n"
        "from dvnet.contracts.registry import get_contract\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "try:\n"
        "    ingest._read_payload(memoryview(data), 'parquet', get_contract('service_episode').coded_columns())\n"
        "except ingest.IngestRefusal as e:\n"
        "    print(e.reason, pa.default_memory_pool().max_memory())\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "payload")], capture_output=True, text=True, timeout=120)
    reason, peak = out.stdout.split()
    assert reason == "PAYLOAD_INVALID" and int(peak) < 20 * 2**20, out.stderr
