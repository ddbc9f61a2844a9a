"""Constants shared by the contributor's tests. A uniquely named module: ``from conftest import``
would pick whichever test folder's ``conftest`` was imported first."""

from __future__ import annotations

from dvnet.anonymize.counts import all_dimensions
from dvnet.contracts.registry import get_contract

PERIOD = "2026-Q3"
SEED = 20260930
PROJECT = "dsa-2026-07"  # a research project id, as a data-sharing agreement names it


def aggregate_columns(contract_id: str) -> list[str]:
    """The standard-table layout of an aggregate payload: table name, every dimension, count."""
    return ["table_name", *all_dimensions(get_contract(contract_id)), "n"]
