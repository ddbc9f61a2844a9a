"""The contract registry: every released contract, looked up by id and version.

A released version is frozen (a snapshot test guards it); a change is a new version with a
converter from the previous one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from dvnet.contracts import compiled
from dvnet.contracts.codes import code_list
from dvnet.contracts.errors import ContractError
from dvnet.contracts.roles import Role, Transform
from dvnet.contracts.standard_tables import BOOLEAN_CODES, DERIVED_CODES, REFERRAL_TABLES, SERVICE_EPISODE_TABLES, StandardTable

if TYPE_CHECKING:
    import pandera.pandas as pa


@dataclass(frozen=True)
class FieldSpec:
    """One field of a contract, as read from the model's metadata."""

    name: str
    dtype: str
    role: Role
    transform: Transform
    output: str | None
    at: str | None
    nullable: bool
    description: str
    checks: tuple[str, ...]


@dataclass(frozen=True)
class Contract:
    """A released data contract: the agency-side model, the output model and how rows leave.

    The models are named (``module:Class``) and imported, with pandera, only when asked for
    (``source``, ``output``); validation and de-identification read their compiled form
    (``source_schema``, ``output_schema``: ``contracts.compiled``), which needs no pandera. A
    model given as a class (a test's variant of a contract) is compiled on first use.
    """

    id: str
    version: int
    title: str
    min_tier: int
    modes: tuple[str, ...]
    source_model: str | type[pa.DataFrameModel]
    output_model: str | type[pa.DataFrameModel]
    event_date: str  # the date that places a row in a period
    quarter_column: str  # output column holding the event date's quarter
    key_column: str  # output column unique per row
    standard_tables: tuple[StandardTable, ...] = ()
    linkage_inputs: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.id}/v{self.version}"

    @property
    def source(self) -> type[pa.DataFrameModel]:
        """The agency-side pandera model (imports pandera)."""
        return _model(self.source_model)

    @property
    def output(self) -> type[pa.DataFrameModel]:
        """The de-identified output's pandera model (imports pandera)."""
        return _model(self.output_model)

    @cached_property
    def source_schema(self) -> compiled.Schema:
        """The agency-side model, compiled (no pandera import for a released contract)."""
        return self._compiled("source", self.source_model)

    @cached_property
    def output_schema(self) -> compiled.Schema:
        """The output model, compiled."""
        return self._compiled("output", self.output_model)

    def _compiled(self, side: str, model: str | type) -> compiled.Schema:
        if isinstance(model, str):
            return compiled.load(self.id, self.version)[side]
        return compiled.compile_model(model)

    def fields(self) -> list[FieldSpec]:
        return [_field_spec(name, col) for name, col in self.source_schema.columns.items()]

    def output_columns(self) -> list[str]:
        return list(self.output_schema.columns)

    def dimension_codes(self) -> dict[str, tuple[str, ...]]:
        """The values a count-table dimension may take, by name: an output column's code list,
        ``true``/``false`` for a boolean column, the labels of a derived dimension."""
        out: dict[str, tuple[str, ...]] = dict(DERIVED_CODES)
        for name, col in self.output_schema.columns.items():
            listed = code_list(col)
            if listed is not None:
                out[name] = listed.values
            elif str(col.dtype) == "boolean":
                out[name] = BOOLEAN_CODES
        return out

    def coded_columns(self) -> list[str]:
        """Output text columns whose values come from a code list: the coordinator reads a
        payload's as Arrow dictionaries (each distinct value once, rows as codes into it)."""
        return [name for name, col in self.output_schema.columns.items() if code_list(col) is not None]

    def quasi_identifiers(self) -> list[str]:
        """Output columns that are quasi-identifiers: the columns k-anonymity is measured over."""
        return [
            name
            for name, col in self.output_schema.columns.items()
            if (col.metadata or {}).get("role") == Role.QUASI_IDENTIFIER and name not in (self.quarter_column,)
        ]


def _model(model: str | type) -> type:
    return compiled.model(model) if isinstance(model, str) else model


def _field_spec(name: str, col: compiled.Column) -> FieldSpec:
    meta = col.metadata or {}
    return FieldSpec(
        name=name,
        dtype=str(col.dtype),
        role=Role(meta["role"]),
        transform=Transform(meta["transform"]),
        output=meta.get("output"),
        at=meta.get("at"),
        nullable=bool(col.nullable),
        description=col.description or "",
        checks=tuple(str(c) for c in col.checks) + (("unique",) if col.unique else ()),
    )


CONTRACTS: dict[tuple[str, int], Contract] = {
    (c.id, c.version): c
    for c in (
        Contract(
            id="referral",
            version=1,
            title="Referral minimum dataset",
            min_tier=2,
            modes=("aggregate", "record"),
            source_model="dvnet.contracts.v1.referral:Referral",
            output_model="dvnet.contracts.v1.referral:ReferralOut",
            event_date="referral_date",
            quarter_column="referral_quarter",
            key_column="referral_pseudonym",
            standard_tables=REFERRAL_TABLES,
        ),
        Contract(
            id="service_episode",
            version=1,
            title="Service episodes and shared indicators",
            min_tier=3,
            modes=("aggregate", "record"),
            source_model="dvnet.contracts.v1.service_episode:ServiceEpisode",
            output_model="dvnet.contracts.v1.service_episode:ServiceEpisodeOut",
            event_date="episode_start",
            quarter_column="episode_quarter",
            key_column="episode_pseudonym",
            standard_tables=SERVICE_EPISODE_TABLES,
        ),
        Contract(
            id="research_extract",
            version=1,
            title="Research extract with project-scoped linkage tokens",
            min_tier=4,
            modes=("record",),
            source_model="dvnet.contracts.v1.research_extract:ResearchExtract",
            output_model="dvnet.contracts.v1.research_extract:ResearchExtractOut",
            event_date="episode_start",
            quarter_column="episode_quarter",
            key_column="episode_pseudonym",
            linkage_inputs=("client_name", "date_of_birth"),
        ),
    )
}


def get_contract(contract_id: str, version: int | None = None) -> Contract:
    """The contract with this id and version (the latest when version is None)."""
    versions = sorted(v for (cid, v) in CONTRACTS if cid == contract_id)
    if not versions:
        known = ", ".join(sorted({cid for cid, _ in CONTRACTS}))
        raise ContractError("CONTRACT_UNKNOWN", f"no contract named '{contract_id}'", hint=f"known contracts: {known}")
    chosen = versions[-1] if version is None else version
    if chosen not in versions:
        raise ContractError(
            "CONTRACT_VERSION_UNKNOWN",
            f"contract '{contract_id}' has no version {chosen}",
            hint=f"released versions: {', '.join(map(str, versions))}",
        )
    return CONTRACTS[(contract_id, chosen)]


def all_contracts() -> list[Contract]:
    return [CONTRACTS[k] for k in sorted(CONTRACTS)]
