"""Several bundles in one run: the next bundle is verified in a thread while this one loads.

The outcomes must be exactly those of a strictly sequential pass (DESIGN §7's order): a refusal
found ahead of time after the replay check is reported only when the replay check passes, and a
check that needs the ledger sees every bundle loaded before it in the same batch.
"""

from __future__ import annotations

import duckdb

from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_file, ingest_files


def test_a_batch_reports_what_a_sequential_pass_would(ck, kit):
    ctx = CoordinatorContext.load(kit.root)
    first = kit.records("shelter-a", n=30, seed=1)
    with duckdb.connect(str(kit.paths.warehouse)) as con:
        assert ingest_file(kit.drop("first", first.blob), ctx, con).outcome == "loaded"

    violating = ck.service_episode_frame(12, ck.PERIOD, 2)
    violating.loc[0, "service_type"] = "not-a-service-type"
    # Claims the loaded bundle's id *and* breaks the contract: the replay check comes first.
    replay = kit.seal("shelter-a", "service_episode", ck.parquet_bytes(violating), 12, rng=lambda k: bytes.fromhex(first.bundle_id))
    good = kit.records("shelter-a", n=15, seed=3, period=ck.EARLIER_PERIOD)  # Q3 already has its live bundle (first)
    rollback = kit.records("shelter-a", n=10, seed=4, sequence=good.header["sequence"] - 1)
    batch = [
        kit.drop("first-again", first.blob),  # the same bytes as an already loaded bundle
        kit.drop("replay", replay.blob),
        kit.drop("good", good.blob),
        kit.drop("good-again", good.blob),  # needs the ledger row the previous file committed
        kit.drop("rollback", rollback.blob),
    ]
    with duckdb.connect(str(kit.paths.warehouse)) as con:
        outcomes = list(ingest_files(batch, ctx, con))

    assert [(o.file_name, o.outcome, o.reason) for o in outcomes] == [
        ("first-again.dvb", "duplicate", "DUPLICATE"),
        ("replay.dvb", "quarantined", "REPLAY"),
        ("good.dvb", "loaded", None),
        ("good-again.dvb", "duplicate", "DUPLICATE"),
        ("rollback.dvb", "quarantined", "SEQUENCE_ROLLBACK"),
    ]
    db = kit.paths.warehouse
    assert dict(ck.query(db, "SELECT bundle_id, count(*) FROM staged_service_episode GROUP BY ALL")) == {first.bundle_id: 30, good.bundle_id: 15}
    assert {r[0] for r in ck.query(db, "SELECT DISTINCT bundle_id FROM contribution_counts")} == {first.bundle_id, good.bundle_id}
    assert not list(kit.inbox.glob("*.dvb"))
    # records in = records loaded + records quarantined (duplicates load nothing twice)
    assert ck.query(db, "SELECT sum(rows_loaded) FROM ledger") == [(45,)]
