"""A block boundary never changes a contribution.

``contribute`` reads and validates the extract a block of records at a time
(``ReadLimits.block_records``). Whatever the block size, from one record to the whole file, and
wherever pyarrow's own read blocks end (inside a quoted field too), the run must come out the
same: the counts by reason, every issue with its first row numbers, the k-anonymity decisions,
the report, and the payload's bytes. The extracts carry every row fault synth plants, plus keys
repeated far apart (first and last record, second and middle), so uniqueness must be decided
across blocks."""

from __future__ import annotations

import csv
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from contribution_constants import PERIOD
from full_disk import FullDisk

from dvnet.common import network as store
from dvnet.contracts.conformance import schema
from dvnet.pipelines.contributor import run as contributor_run
from dvnet.pipelines.contributor.read import ReadLimits, csv_fast
from dvnet.pipelines.contributor.read import parquet as parquet_reader
from dvnet.pipelines.demo_network import demo_geography
from dvnet.pipelines.synth import FAULT_KINDS, synthesize

ROW_FAULTS = frozenset(FAULT_KINDS) - {"ragged_rows", "bad_encoding", "control_chars"}
#: Fields that differ between two seals of the same contribution (each seal takes a new number).
PER_SEAL = {"bundle_id", "bundle_file", "bundle_sha256", "sequence"}
#: Fields that describe the file rather than what was read from it.
FORMAT_FIELDS = {"extract_name", "extract_sha256"}


@pytest.fixture
def faulty(network_dir, tmp_path):
    """``(rows, quoted)`` -> an extract of shelter-north with every row fault, keys repeated
    across the file, optionally some names quoted around a comma and a line break."""
    orgs = [o for o in store.load_network(network_dir).organisations if o.id == "shelter-north"]
    out = network_dir / "synth" / "row-faults"
    synthesize(orgs, out, seed=11, periods=[PERIOD], faults=ROW_FAULTS, geography=demo_geography())
    source = out / "shelter-north" / "extracts" / f"service_episode_{PERIOD}.faulty.csv"

    def make(rows: int | None, quoted: bool):
        with open(source, newline="", encoding="utf-8") as handle:
            header, *body = list(csv.reader(handle))
        body = body[:rows] if rows else body
        key, name = header.index("episode_id"), header.index("client_name")
        body[-1][key] = body[0][key]
        body[len(body) // 2][key] = body[1][key]
        if quoted:
            for row in body[::5]:
                row[name] = f"{row[name]},\nsecond line"
        path = tmp_path / f"extract-{rows}-{quoted}.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle, lineterminator="\r\n" if quoted else "\n").writerows([header, *body])
        return path

    return make


def _run(net, path, mode, block_records, block_bytes=ReadLimits().block_bytes):
    r = net.contribute("shelter-north", "service_episode", extract=path, mode=mode, k=2, max_reject_share=0.5,
                       max_withheld_share=1.0, limits=ReadLimits(block_records=block_records, block_bytes=block_bytes))
    assert r.status == "sealed", r.refusal
    summary = {k: v for k, v in r.to_dict().items() if k not in PER_SEAL}
    return summary, net.open("shelter-north", r).data


@pytest.mark.parametrize("mode", ["aggregate", "record"])
@pytest.mark.parametrize("rows, quoted, blocks", [(60, False, [1, 2, 7]), (60, True, [1, 3]), (None, False, [64, 500]), (None, True, [97])],
                         ids=["small", "small-quoted", "whole", "whole-quoted"])
def test_every_block_size_gives_the_same_contribution(net, faulty, monkeypatch, mode, rows, quoted, blocks):
    path = faulty(rows, quoted)
    if quoted:  # pyarrow's read blocks of a few dozen bytes end inside quoted fields, CRLFs and escapes
        monkeypatch.setattr(csv_fast, "_BLOCK", 48)
    whole, payload = _run(net, path, mode, ReadLimits().block_records)
    duplicates = [i for i in whole["issues"] if i["reason"] == "DUPLICATE_KEY"]
    assert duplicates and duplicates[0]["rows"] >= 4 and 1 in duplicates[0]["first_rows"]
    assert whole["rejected"] > 4 and whole["sent"] > 0
    if mode == "record":
        assert whole["excluded_consent"] > 0
    for size in blocks:
        assert _run(net, path, mode, size) == (whole, payload), f"block of {size} records"


@pytest.mark.parametrize("mode", ["aggregate", "record"])
def test_blocks_cut_by_their_bytes_give_the_same_contribution(net, faulty, mode):
    """A wide export holds fewer records a block (``ReadLimits.block_bytes``), never more memory:
    blocks of a few kilobytes, and of one record each, send what one block sends."""
    path = faulty(None, False)
    whole = _run(net, path, mode, ReadLimits().block_records)
    for block_bytes in (4_096, 1):
        assert _run(net, path, mode, ReadLimits().block_records, block_bytes) == whole, f"blocks of {block_bytes} bytes"


def test_a_quote_free_file_is_parsed_in_line_ranges_that_end_where_lines_end(net, faulty, monkeypatch):
    """Ranges of a few hundred bytes (two or three records): each one parsed on its own, none may
    split a record."""
    path = faulty(60, False)
    whole = _run(net, path, "record", ReadLimits().block_records)
    monkeypatch.setattr(csv_fast, "_BLOCK", 512)  # longer than a record: pyarrow needs a record within a block
    monkeypatch.setattr(csv_fast, "_PIECE_BLOCKS", 1)
    monkeypatch.setattr(csv_fast, "ExactCsv", lambda *args, **kw: pytest.fail("the fast path doubted a clean file"))
    ranges = []
    parse = csv_fast._arrow_csv
    monkeypatch.setattr(csv_fast, "_arrow_csv", lambda *args, **kw: ranges.append(args[1]) or parse(*args, **kw))
    assert _run(net, path, "record", 5) == whole
    assert len(ranges) > 20


class _Readings:
    """Counts the readings of the extract a contribution starts."""

    def __init__(self, monkeypatch):
        self.count = 0
        real = contributor_run.ExtractRead

        def reading(*args, **kwargs):
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(contributor_run, "ExtractRead", reading)


@pytest.mark.parametrize("mode", ["aggregate", "record"])
def test_keys_that_only_hash_alike_are_compared_before_any_is_refused(net, faulty, monkeypatch, mode):
    """Uniqueness across blocks keeps a 64-bit hash per key, not the keys. With a hash so weak
    that every key of one length hashes alike, the second reading marks every such key; comparing
    the values it kept finds most held once, and a third reading, told the exact repeated values,
    gives the contribution the real hash gives: nobody is refused for a hash."""
    path = faulty(60, False)
    readings = _Readings(monkeypatch)
    expected = _run(net, path, mode, 7)
    assert readings.count == 2  # the file repeats keys: read again, told their hashes
    monkeypatch.setattr(schema, "text_hashes", lambda text: pc.fill_null(pc.utf8_length(text), 0).to_numpy().astype(np.uint64))
    readings.count = 0
    assert _run(net, path, mode, 7) == expected
    assert readings.count == 3


def test_an_extract_without_repeated_keys_is_read_once(net, faulty, monkeypatch):
    path = faulty(60, False)
    rows = path.read_text().splitlines()
    key = rows[0].split(",").index("episode_id")
    body = [r.split(",") for r in rows[1:]]
    for i, r in enumerate(body):
        r[key] = f"EP{9_000_000 + i}"
    path.write_text("\n".join([rows[0], *(",".join(r) for r in body)]) + "\n")
    readings = _Readings(monkeypatch)
    summary, _ = _run(net, path, "record", 7)
    assert readings.count == 1
    assert not [i for i in summary["issues"] if i["reason"] == "DUPLICATE_KEY"]


def test_a_research_extract_in_blocks_sends_what_it_sends_whole(net):
    """A research extract (Tier 4): linkage tokens made a block at a time, months as labels of
    the rows present, age bands and regions made per block: the same payload bytes and report
    whatever the block size."""
    def run(block_records):
        r = net.contribute("valley-health", "research_extract", mode="record", k=2, max_withheld_share=0.5,
                           limits=ReadLimits(block_records=block_records))
        assert r.status == "sealed", r.refusal
        return {k: v for k, v in r.to_dict().items() if k not in PER_SEAL}, net.open("valley-health", r).data

    whole = run(ReadLimits().block_records)
    assert whole[0]["sent"] > 0 and whole[0]["excluded_consent"] > 0
    for size in (1, 6):
        assert run(size) == whole, f"block of {size} records"


@pytest.mark.parametrize("mode", ["aggregate", "record"])
def test_keys_hashed_to_disk_find_the_same_repeats(net, faulty, monkeypatch, mode):
    """Past a size the key hashes go to disk (``HashStore``); keys repeated far apart across
    blocks are found there as in memory: the same contribution, for any block size."""
    from dvnet.pipelines.contributor.hash_spill import HashStore

    path = faulty(60, False)
    whole = _run(net, path, mode, ReadLimits().block_records)
    stores = []
    real = HashStore.__init__
    monkeypatch.setattr(HashStore, "MEMORY", 0)
    monkeypatch.setattr(HashStore, "__init__", lambda self, *a: stores.append(self) or real(self, *a))
    for size in (1, 7):
        assert _run(net, path, mode, size) == whole, f"block of {size} records"
    assert stores and all(s.spilled for s in stores)


@pytest.mark.parametrize("contract", ["service_episode", "research_extract"])
def test_pseudonyms_and_tokens_kept_on_disk_send_the_same_payload(net, faulty, monkeypatch, contract):
    """Past a size a keyed column's digests wait for the payload in an encrypted scratch file
    (``anonymize.scratch.SpillingBuffer``): the payload and report are the ones sent with them in
    memory, for any block size, and the files are gone once the contribution is sealed."""
    from dvnet.anonymize import scratch
    from dvnet.anonymize.scratch import SpillingBuffer

    if contract == "research_extract":
        def run(block_records):
            r = net.contribute("valley-health", contract, mode="record", k=2, max_withheld_share=0.5,
                               limits=ReadLimits(block_records=block_records))
            assert r.status == "sealed", r.refusal
            return {k: v for k, v in r.to_dict().items() if k not in PER_SEAL}, net.open("valley-health", r).data
    else:
        path = faulty(60, False)

        def run(block_records):
            return _run(net, path, "record", block_records)

    whole = run(ReadLimits().block_records)
    folders = []
    real = scratch.ScratchFolder.__init__
    monkeypatch.setattr(SpillingBuffer, "MEMORY", 0)
    monkeypatch.setattr(scratch.ScratchFolder, "__init__", lambda self, prefix, parent=None: real(self, prefix, parent) or folders.append((prefix, self.path)))
    for size in (1, 7, ReadLimits().block_records):
        before = len(folders)
        assert run(size) == whole, f"block of {size} records"
        made = [path for prefix, path in folders[before:] if prefix == "dvnet-keyed-digests-"]
        assert len(made) >= 2  # every keyed column went to disk
        assert not any(os.path.exists(path) for path in made)  # and was deleted once taken


@pytest.mark.parametrize("room", [0, 2_000], ids=["disk full at once", "disk full soon"])
def test_a_disk_that_fills_up_changes_nothing_sent(net, faulty, monkeypatch, room):
    """The key hashes and the keyed digests go to disk past a size; a disk that fills up while
    they are written sends them back to memory: the same contribution, nothing refused."""
    from dvnet.anonymize import scratch
    from dvnet.pipelines.contributor.hash_spill import HashStore

    path = faulty(60, False)
    whole = _run(net, path, "record", ReadLimits().block_records)
    monkeypatch.setattr(HashStore, "MEMORY", 0)
    monkeypatch.setattr(scratch.SpillingBuffer, "MEMORY", 0)
    for size in (1, 7):
        monkeypatch.setattr(scratch, "_pwrite", FullDisk(room))
        assert _run(net, path, "record", size) == whole, f"block of {size} records"


def test_where_the_temporary_folder_is_held_in_memory_the_scratch_files_go_to_the_agency_folder(net, faulty, monkeypatch):
    """A tmpfs ``/tmp`` would keep in memory what the scratch files take out of it: the run puts
    them in the agency's own folder instead (owner-only), and they are gone when it ends."""
    from dvnet.anonymize import scratch
    from dvnet.pipelines.contributor.hash_spill import HashStore

    path = faulty(60, False)
    whole = _run(net, path, "record", ReadLimits().block_records)
    folders = []
    real = scratch.ScratchFolder.__init__
    monkeypatch.setattr(scratch, "memory_backed", lambda path, mountinfo=None: True)
    monkeypatch.setattr(HashStore, "MEMORY", 0)
    monkeypatch.setattr(scratch.SpillingBuffer, "MEMORY", 0)
    monkeypatch.setattr(scratch.ScratchFolder, "__init__", lambda self, prefix, parent=None: real(self, prefix, parent) or folders.append(self.path))
    assert _run(net, path, "record", 7) == whole
    inside = net.agency("shelter-north").folder / "scratch"
    assert len(folders) >= 3 and all(os.path.dirname(f) == str(inside) for f in folders)  # key hashes and both keyed columns
    assert not any(os.path.exists(f) for f in folders) and os.stat(inside).st_mode & 0o777 == 0o700


@pytest.mark.parametrize("mode", ["aggregate", "record"])
def test_a_parquet_extract_read_in_batches_contributes_what_its_csv_does(net, faulty, monkeypatch, tmp_path, mode):
    """A Parquet extract is read a batch at a time too (never whole): batches of 3 records in row
    groups of 5, joined into blocks of every size, send the CSV's payload and report its counts,
    issues and first rows."""
    source = faulty(60, False)
    with open(source, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    table = pacsv.read_csv(source, convert_options=pacsv.ConvertOptions(column_types={name: pa.string() for name in header}))
    path = tmp_path / "extract.parquet"
    pq.write_table(table, path, row_group_size=5)
    monkeypatch.setattr(parquet_reader, "_BATCH_RECORDS", 3)
    as_csv, payload = _run(net, source, mode, ReadLimits().block_records)
    for size in [1, 2, 7, ReadLimits().block_records]:
        summary, sent = _run(net, path, mode, size)
        assert sent == payload, f"block of {size} records"
        assert {k: v for k, v in summary.items() if k not in FORMAT_FIELDS} == {k: v for k, v in as_csv.items() if k not in FORMAT_FIELDS}
        assert summary["extract_name"] == "extract.parquet"
