"""The tier policy: which contracts and modes an agency at each participation tier may send.

Tier 1 (directory) sends nothing. Tier 2 adds the referral minimum dataset, Tier 3 service-episode
indicators, Tier 4 research extracts under a data-sharing agreement. Victim-service providers
default to aggregate mode (the VAWA/HUD "comparable database" posture: individual-level data does
not leave, even encrypted); record mode is an explicit choice and sends only consented rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dvnet.contracts.errors import ContractError

if TYPE_CHECKING:  # the tier table itself is read by every command's --help: no pandera import for it
    from dvnet.contracts.registry import Contract

TIERS = {
    1: "Directory & contact presence",
    2: "Referral & coordination",
    3: "Shared frameworks & indicators",
    4: "Data integration & research",
}
AGGREGATE = "aggregate"
RECORD = "record"
MODES = (AGGREGATE, RECORD)


def allowed(tier: int, contract: Contract, mode: str) -> bool:
    """True when an agency at ``tier`` may send ``contract`` in ``mode``."""
    return tier >= contract.min_tier and mode in contract.modes


def check_allowed(tier: int, contract: Contract, mode: str) -> None:
    if mode not in MODES:
        raise ContractError("MODE_UNKNOWN", f"mode must be one of {', '.join(MODES)}")
    if mode not in contract.modes:
        raise ContractError(
            "MODE_NOT_ALLOWED", f"contract {contract.ref} is sent in {'/'.join(contract.modes)} mode only"
        )
    if tier < contract.min_tier:
        raise ContractError(
            "TIER_VIOLATION",
            f"tier {tier} agencies may not send {contract.ref} (needs tier {contract.min_tier} or above)",
        )


def default_mode(contract: Contract) -> str:
    """Aggregate where the contract allows it: only counts leave."""
    return AGGREGATE if AGGREGATE in contract.modes else RECORD


def contracts_for_tier(tier: int, contracts: list[Contract]) -> list[Contract]:
    return [c for c in contracts if tier >= c.min_tier]
