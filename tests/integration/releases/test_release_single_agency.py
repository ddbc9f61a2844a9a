"""A network's first contribution: one agency, so every count is that agency's caseload.

The README's first-contribution walk-through ends here: one shelter contributes, the coordinator
ingests and publishes. Every non-zero cell is dominance-suppressed, and the audit (with nothing
published to anchor the attacker's programme, and true counts in the thousands) must still run
and pass instead of calling the release inconsistent.
"""

from __future__ import annotations

import duckdb

from dvnet.common import network as store
from dvnet.pipelines.demo_network import demo_geography
from fixtures_central import publish_reviewed as build_release
from dvnet.pipelines.ceremony import Ceremony
from dvnet.pipelines.demo import DemoPlanItem
from dvnet.pipelines.synth import synthesize

PERIOD = "2026-Q3"


def test_a_release_from_one_agency_publishes_nothing_identifying_and_passes_its_audit(tmp_path, contribute_and_ingest):
    root = tmp_path / "net"
    Ceremony.found(root, "One-shelter network").add_agency("harbour-house", "Harbour House", "direct_service", 3, "south-metro")
    orgs = store.load_network(root).organisations
    synthesize(orgs, root / "agencies", seed=5, periods=[PERIOD], scale=1.0, geography=demo_geography())
    contribute_and_ingest(root, [DemoPlanItem("harbour-house", c, PERIOD, "aggregate") for c in ("referral", "service_episode")])

    release = build_release(root, "dv-default", [PERIOD])

    assert release.manifest["audit"]["passed"]
    assert release.manifest["contributing_agencies"] == 1
    stats = release.internal  # per reason: the coordinator's figures, not the release's
    assert stats["cells"] > 0 and stats["dominance"] > 0
    with duckdb.connect(str(release.folder / "release.duckdb"), read_only=True) as db:
        counts = [t for t, meta in release.manifest["tables"].items() if meta["kind"] == "count"]
        shown = sum(db.execute(f'SELECT count(*) FROM "{t}" WHERE status = \'published\' AND value > 0').fetchone()[0] for t in counts)
    assert shown == 0, "one agency's caseload never shows as a published count"
