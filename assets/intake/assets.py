"""Intake assets: what the coordinator accepted, per agency × period (group ``intake``).

One op, ``intake``, verifies the partition's bundles (``lib.ingest.verify_files``) outside the
warehouse lock, then loads them under it (``load_verified``), and materialises the assets it touched:

- ``intake`` (always): the bundles received for the partition, loaded, duplicate or quarantined;
- ``staged_referrals`` / ``staged_service_episodes`` / ``staged_research_extracts``: the
  de-identified rows of record-mode bundles, when one of that contract loaded;
- ``contribution_counts``: the contracts' standard count tables, when a bundle added counts.

Metadata holds counts, reason codes, contract versions and bundle ids only: never a row, a value
or a refusal message (DESIGN §6, STYLE "Privacy in every line").
"""

# No `from __future__ import annotations`: Dagster reads config and resource types from the
# signatures at definition time.

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    multi_asset,
)
from pydantic import Field

from dvnet.assets.intake.partitions import AGENCY, PERIOD, intake_partitions, plan_groups
from dvnet.contracts.registry import Contract, all_contracts, get_contract
from dvnet.assets.intake.lib.ingest import CoordinatorContext, IngestOutcome, load_verified, verify_files
from dvnet.assets.resources import NetworkResource, WarehouseResource
from dvnet.assets.warehouse.lib.schema import staged_table
from dvnet.assets.warehouse.lib.writes import staged_rows_of

GROUP = "intake"
INTAKE = AssetKey("intake")
CONTRIBUTION_COUNTS = AssetKey("contribution_counts")
#: contract id -> asset key of its staged rows (the table is ``staged_<contract id>``).
STAGED = {
    "referral": AssetKey("staged_referrals"),
    "service_episode": AssetKey("staged_service_episodes"),
    "research_extract": AssetKey("staged_research_extracts"),
}


class IntakeConfig(Config):
    """Which inbox files a run processes."""

    files: list[str] = Field(
        default=[],
        description="Inbox entries by their safe name (inbox_name; the sensor names one). Empty: every pending arrival filed under this partition.",
    )


# --- pure helpers (no Dagster) -------------------------------------------------------------------


def select_files(ctx: CoordinatorContext, agency: str, period: str, names: list[str]) -> tuple[list[Path], Counter]:
    """Inbox files of this partition, in ingest order (agency, then sequence); and what was skipped.

    Named files that are no longer in the inbox were processed by an earlier run: re-running a run
    therefore changes nothing. A file filed under another partition is left for its own run.
    """
    groups, skipped = plan_groups(ctx, names)
    chosen = [path for a, p, files in groups if (a, p) == (agency, period) for path in files]
    if names:
        skipped["other_partition"] = sum(len(files) for a, p, files in groups if (a, p) != (agency, period))
    return chosen, +skipped


@dataclass
class IntakeSummary:
    """Value-free facts about one run's outcomes, for Dagster metadata."""

    outcomes: list[IngestOutcome]
    skipped: Counter = field(default_factory=Counter)

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    @property
    def rejections_by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(o.reason for o in self.outcomes if o.outcome == "quarantined").items()))

    def loaded(self, contract_id: str | None = None, mode: str | None = None) -> list[IngestOutcome]:
        return [
            o for o in self.outcomes
            if o.outcome == "loaded" and (contract_id is None or (o.contract or "").split("/")[0] == contract_id) and (mode is None or o.mode == mode)
        ]  # fmt: skip

    def headline(self) -> str:
        return (f"{len(self.outcomes)} bundle(s): {self.count('loaded')} loaded, {self.count('duplicate')} duplicate, "
                f"{self.count('quarantined')} quarantined {self.rejections_by_reason or ''}")

    def intake_metadata(self) -> dict:
        return {
            "bundles_processed": len(self.outcomes),
            "loaded": self.count("loaded"),
            "duplicate": self.count("duplicate"),
            "quarantined": self.count("quarantined"),
            "rows_loaded": sum(o.rows_loaded for o in self.loaded()),  # by this run: not a duplicate's earlier rows
            "rejections_by_reason": MetadataValue.json(self.rejections_by_reason),
            "contract_versions": MetadataValue.json(sorted({o.contract for o in self.outcomes if o.contract})),
            "bundle_ids": MetadataValue.json([o.bundle_id for o in self.outcomes if o.bundle_id]),
            "replaced_bundle_ids": MetadataValue.json([o.replaced for o in self.outcomes if o.replaced]),
            "skipped": MetadataValue.json(dict(self.skipped)),
            "bundles": MetadataValue.json([
                {"file": o.file_name, "bundle_id": o.bundle_id, "agency": o.agency_id, "contract": o.contract, "mode": o.mode,
                 "period": o.period, "outcome": o.outcome, "reason": o.reason, "rows_loaded": o.rows_loaded}
                for o in self.outcomes
            ]),  # fmt: skip
        }


def output_schema(contract: Contract) -> TableSchema:
    """Column names, types and descriptions of a staged table (structure, never values)."""
    keys = [TableColumn(k, "VARCHAR", description=d) for k, d in (
        ("bundle_id", "Bundle the row arrived in."), ("agency_id", "Contributing agency."),
        ("period", "Reporting quarter of the bundle."), ("contract_id", "Contract of the bundle."))]  # fmt: skip
    cols = [TableColumn(n, str(c.dtype), description=c.description or "") for n, c in contract.output_schema.columns.items()]
    return TableSchema(columns=keys + cols)


def _specs() -> list[AssetSpec]:
    specs = [
        AssetSpec(
            INTAKE,
            group_name=GROUP,
            description=(
                "Bundles received from one agency for one quarter: each verified in DESIGN §7's order, then loaded, "
                "recognised as a duplicate, or quarantined with a reason code, a reason file and a signed receipt. "
                "Partition `_unverified|_unknown` holds bundles that do not authenticate to a registered agency."
            ),
            metadata={"dagster/table_name": "ledger, quarantine_log"},
        ),
        AssetSpec(
            CONTRIBUTION_COUNTS,
            group_name=GROUP,
            skippable=True,
            deps=[INTAKE, *dict.fromkeys(STAGED[c.id] for c in all_contracts() if c.standard_tables and c.id in STAGED)],
            description=(
                "Every contract's standard count tables per bundle: as sent in aggregate mode, or counted here from "
                "staged rows in record mode. A correction replaces the bundle it supersedes. Indicator cubes sum this."
            ),
            metadata={"dagster/table_name": "contribution_counts"},
        ),
    ]
    for contract in all_contracts():
        key = STAGED.get(contract.id)
        if key is None or any(s.key == key for s in specs):
            continue
        specs.append(
            AssetSpec(
                key,
                group_name=GROUP,
                skippable=True,
                deps=[INTAKE],
                description=(
                    f"De-identified {contract.title.lower()} rows ({contract.ref} output model) from record-mode bundles, "
                    "by agency × period × bundle; re-validated against the contract before loading. A correction replaces, never adds."
                ),
                metadata={"dagster/table_name": staged_table(contract.id), "dagster/column_schema": output_schema(contract)},
            )
        )
    return specs


# --- the op --------------------------------------------------------------------------------------


@multi_asset(name="intake", specs=_specs(), partitions_def=intake_partitions, can_subset=False)
def intake(context: AssetExecutionContext, config: IntakeConfig, network: NetworkResource, warehouse: WarehouseResource) -> Iterator[MaterializeResult]:
    """Verify, then load or quarantine, this partition's inbox bundles (one DuckDB transaction each)."""
    keys = context.partition_key.keys_by_dimension  # type: ignore[attr-defined]
    ctx = network.coordinator_context()
    files, skipped = select_files(ctx, keys[AGENCY], keys[PERIOD], list(config.files))
    # Verification (signature, decryption, re-validation) needs no warehouse: it runs before the
    # lock, in parallel with other partitions' runs. Only the load waits for the one writer.
    verified = verify_files(files, ctx)
    with warehouse.writer() as con:
        outcomes, gone = load_verified(verified, ctx, con)
        if gone:
            skipped["not_in_inbox"] += gone
        summary = IntakeSummary(outcomes, +skipped)
        context.log.info(summary.headline())
        for key, metadata in partition_materialisations(summary, con, keys[AGENCY], keys[PERIOD]):
            yield MaterializeResult(asset_key=key, metadata=metadata)


def partition_materialisations(summary: IntakeSummary, con, agency: str, period: str) -> Iterator[tuple[AssetKey, dict]]:
    """What one agency × period's intake materialises, in the order Dagster wants: ``intake``
    always, each staged asset a record bundle added rows to, then ``contribution_counts`` (which
    depends on the staged assets) when a bundle added counts. Value-free metadata."""
    yield INTAKE, summary.intake_metadata()
    for contract_id, key in STAGED.items():
        loaded = summary.loaded(contract_id, mode="record")
        if not loaded:
            continue
        in_partition = staged_rows_of(con, contract_id, agency, period)
        yield key, {
            "rows_loaded": sum(o.rows_loaded for o in loaded),
            "bundle_ids": MetadataValue.json([o.bundle_id for o in loaded]),
            "replaced_bundle_ids": MetadataValue.json([o.replaced for o in loaded if o.replaced]),
            "contract_versions": MetadataValue.json(sorted({o.contract for o in loaded})),
            "dagster/partition_row_count": in_partition,
        }
    counted = [o.bundle_id for o in summary.loaded() if _has_counts(o)]
    if counted:
        rows, tables = con.execute(
            "SELECT count(*), count(DISTINCT table_name) FROM contribution_counts WHERE list_contains(?::VARCHAR[], bundle_id)", [counted]
        ).fetchone()
        in_partition = con.execute("SELECT count(*) FROM contribution_counts WHERE agency_id = ? AND period = ?", [agency, period]).fetchone()[0]
        yield CONTRIBUTION_COUNTS, {
            "count_rows_loaded": rows,
            "standard_tables": tables,
            "bundle_ids": MetadataValue.json(counted),
            "dagster/partition_row_count": in_partition,
        }


def _has_counts(outcome: IngestOutcome) -> bool:
    contract_id, _, version = (outcome.contract or "").partition("/v")
    return outcome.mode == "aggregate" or bool(get_contract(contract_id, int(version)).standard_tables)


ASSETS = [intake]
