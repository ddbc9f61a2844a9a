"""Fixtures for the contributor's end-to-end tests: a network with synthetic extracts, a way to
run ``contribute`` that checks the accounting every time, and a coordinator-side opener.

Helpers are fixtures; constants live in ``contribution_constants.py``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dvnet import bundle
from dvnet.common import network as store
from dvnet.pipelines.contributor.run import ContributionOptions, ContributionResult, contribute
from dvnet.pipelines.demo_network import demo_geography
from dvnet.pipelines.synth import FAULT_KINDS, synthesize

from contribution_constants import PERIOD, PROJECT, SEED


def accounted(r: ContributionResult) -> int:
    return r.rejected + r.excluded_consent + r.withheld_k + r.held_back + r.sent


@dataclass
class Opened:
    header: dict
    manifest: dict
    table: pa.Table
    data: bytes  # the decrypted Parquet bytes


class Network:
    """A network folder whose agencies hold synthetic extracts (clean and ``.faulty.csv``)."""

    def __init__(self, root: Path, faults: dict):
        self.root = root
        self.faults = faults

    def agency(self, agency_id: str) -> store.AgencyConfig:
        return store.load_agency(store.NetworkPaths(self.root).agencies / agency_id)

    def extract(self, agency_id: str, contract: str, *, faulty: bool = False) -> Path:
        name = f"{contract}_{PERIOD}{'.faulty' if faulty else ''}.csv"
        return store.NetworkPaths(self.root).agencies / agency_id / "extracts" / name

    def planted(self, agency_id: str, contract: str) -> list[dict]:
        """The faults synth planted in the agency's ``.faulty.csv`` of ``contract``."""
        rel = f"{agency_id}/extracts/{contract}_{PERIOD}.faulty.csv"
        return [f for f in self.faults["faults"] if f["file"] == rel]

    def contribute(self, agency_id: str, contract: str, extract: Path | None = None, **options) -> ContributionResult:
        """Run ``contribute`` and check that every record read is accounted for."""
        if contract == "research_extract":
            options.setdefault("project", PROJECT)
        # These tests send one quarter again on purpose (to compare runs): the refusal of a
        # quarter already sent has its own tests (test_contribute_period_already_sent.py).
        options.setdefault("resend", True)
        opts = ContributionOptions(contract_id=contract, extract=extract or self.extract(agency_id, contract), period=PERIOD, **options)
        result = contribute(self.agency(agency_id), opts)
        assert result.reconciles
        assert result.records_read == accounted(result), result.to_dict()
        return result

    def open(self, agency_id: str, result: ContributionResult) -> Opened:
        """Open the sealed bundle as the coordinator does: agency key from the registry,
        coordinator private key from its key folder."""
        org = store.load_network(self.root).organisation(agency_id)
        opened = bundle.open_bundle(
            Path(result.bundle_file).read_bytes(),
            signing_public_key=bundle.signing_public_key_from_text(org.signing_public_key),
            recipient_private_key=bundle.load_encryption_key(store.NetworkPaths(self.root).keys / "encryption.key"),
            now=dt.datetime.now(dt.UTC),
        )
        data = bytes(opened.data)
        return Opened(opened.header, opened.manifest, pq.read_table(io.BytesIO(data)), data)


@pytest.fixture
def net(network_dir: Path) -> Network:
    """``network_dir`` with one quarter of synthetic extracts for every Tier 2+ agency, each
    with a ``.faulty.csv`` copy carrying every kind of planted fault."""
    orgs = store.load_network(network_dir).organisations
    summary = synthesize(orgs, store.NetworkPaths(network_dir).agencies, seed=SEED, periods=[PERIOD], faults=frozenset(FAULT_KINDS), geography=demo_geography())
    faults = json.loads((summary.ground_truth / "faults.json").read_text())
    return Network(network_dir, faults)
