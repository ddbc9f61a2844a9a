"""The coordinator checks content, not only form (issue 12 point 3): each rule's violation is
quarantined with its own reason code, nothing of the bundle is loaded, and the message names
column, rule and row count, never a value; the honest bundle beside it loads."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest

from dvnet.anonymize.counts import standard_counts
from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_file
from dvnet.contracts.errors import RegistryError
from dvnet.contracts.periods import Period
from dvnet.contracts.registry import get_contract

NAME = "jane-doe"  # has the form of an organisation id; registered nowhere (a client's name typed into the field)


@pytest.fixture
def load(kit):
    def _load(name: str, blob: bytes):
        with duckdb.connect(str(kit.paths.warehouse)) as con:
            return ingest_file(kit.drop(name, blob), CoordinatorContext.load(kit.root), con)

    return _load


def _refused(ck, kit, out, reason: str) -> None:
    assert (out.outcome, out.reason) == ("quarantined", reason), out.message
    assert NAME not in (out.message or "")
    assert not ck.query(kit.paths.warehouse, "SELECT count(*) FROM ledger")[0][0]


def _next_quarter() -> str:
    now = dt.datetime.now(dt.UTC)
    q = Period(now.year, (now.month - 1) // 3 + 1)
    return str(Period(q.year + (q.quarter == 4), q.quarter % 4 + 1))


@pytest.mark.parametrize("period", ["2999-Q4", "1990-Q1", "next quarter"])
def test_a_period_outside_the_window_is_refused(ck, kit, load, period):
    period = _next_quarter() if period == "next quarter" else period
    _refused(ck, kit, load("far", kit.counts("shelter-a", "referral", n=20, period=period).blob), "PERIOD_OUT_OF_WINDOW")


def test_the_window_is_the_networks_own_setting(ck, kit, load):
    """``reporting_window_years`` in the registry: a quarter three years back loads under the default
    window and not under a network's one-year window; a value out of range is a registry error."""
    now = dt.datetime.now(dt.UTC)
    three_years_back = str(Period(now.year - 3, (now.month - 1) // 3 + 1))
    registry = kit.paths.registry
    text = registry.read_text(encoding="utf-8")
    registry.write_text(text + "reporting_window_years: 1\n", encoding="utf-8")
    _refused(ck, kit, load("old", kit.counts("shelter-a", "referral", n=20, period=three_years_back).blob), "PERIOD_OUT_OF_WINDOW")
    registry.write_text(text + "reporting_window_years: 0\n", encoding="utf-8")
    with pytest.raises(RegistryError) as e:
        CoordinatorContext.load(kit.root)
    assert (e.value.reason, e.value.context.get("field")) == ("REGISTRY_INVALID", "reporting_window_years")
    registry.write_text(text, encoding="utf-8")
    assert load("old again", kit.counts("shelter-a", "referral", n=20, seed=1, period=three_years_back).blob).outcome == "loaded"


def test_period_9999_never_loads(ck, kit, load):
    table = standard_counts(ck.FRAMES["referral"](20, ck.PERIOD, 0), get_contract("referral"))
    out = load("far", kit.seal("shelter-a", "referral", ck.parquet_bytes(table), table.num_rows, period="9999-Q4", mode="aggregate").blob)
    assert out.outcome == "quarantined" and out.reason in ("PERIOD_INVALID", "PERIOD_OUT_OF_WINDOW")


@pytest.mark.parametrize("n", [2**62, 41], ids=["near 2^62", "one above the records declared"])
def test_a_count_above_the_records_declared_is_refused(ck, kit, load, n):
    table = standard_counts(ck.FRAMES["referral"](40, ck.PERIOD, 0), get_contract("referral"))
    values = table["n"].to_pylist()
    values[0] = n
    bad = table.set_column(table.column_names.index("n"), "n", pa.array(values, pa.int64()))
    blob = kit.seal("shelter-a", "referral", ck.parquet_bytes(bad), bad.num_rows, mode="aggregate", details={"records_sent": 40}).blob
    _refused(ck, kit, load("big", blob), "COUNT_OUT_OF_BOUNDS")
    good = kit.seal("shelter-a", "referral", ck.parquet_bytes(table), table.num_rows, mode="aggregate", details={"records_sent": 40}).blob
    assert load("good", good).outcome == "loaded"


def test_a_record_bundle_with_every_row_twice_is_refused(ck, kit, load):
    frame = ck.FRAMES["service_episode"](20, ck.PERIOD, 0)
    doubled = ck.parquet_bytes(pa.concat_tables([pa.Table.from_pandas(frame, preserve_index=False)] * 2))
    _refused(ck, kit, load("twice", kit.seal("shelter-a", "service_episode", doubled, 40).blob), "ROWS_DUPLICATED")


def test_rows_dated_outside_the_bundles_quarter_are_refused(ck, kit, load):
    frame = ck.FRAMES["service_episode"](20, ck.EARLIER_PERIOD, 0)  # rows of Q2, sealed as Q3
    _refused(ck, kit, load("early", kit.seal("shelter-a", "service_episode", ck.parquet_bytes(frame), 20).blob), "ROW_OUTSIDE_PERIOD")


@pytest.mark.parametrize("mode", ["record", "aggregate"])
def test_an_organisation_column_must_name_a_registered_organisation(ck, kit, load, mode):
    frame = ck.FRAMES["referral"](20, ck.PERIOD, 0)
    frame.loc[3, "receiving_org"] = NAME
    if mode == "record":
        blob = kit.seal("shelter-a", "referral", ck.parquet_bytes(frame), 20).blob
    else:
        table = standard_counts(frame, get_contract("referral"))
        blob = kit.seal("shelter-a", "referral", ck.parquet_bytes(table), table.num_rows, mode="aggregate").blob
    out = load("named", blob)
    _refused(ck, kit, out, "ORG_NOT_REGISTERED")
    assert "receiving_org" in out.message
