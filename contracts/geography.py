"""A network's own geography: its regions, the parent area each lies in, and the postal-code
prefixes that place a client in a region.

The network declares it in its registry (``geography:``; parsed and checked, with field-path
errors, by ``contracts.network``) and each agency receives it with the coordinator's public keys in
its ``agency.yaml``, because the contributor generalises postal codes before anything leaves.
Regions nest in parent areas; that hierarchy is what release tables publish (the parent area as
the ``province`` column) and what complementary suppression protects. A postal code generalises to
its region through its first ``PREFIX_LENGTH`` characters; a code with no declared prefix, or
none at all, becomes ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

#: The postal-code form contracts v1 accept (letter digit letter, optional space, digit letter digit).
POSTAL_CODE_PATTERN = r"^[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9]$"
#: A v1 postal code generalises through its first three characters (letter, digit, letter).
PREFIX_LENGTH = 3
PREFIX_PATTERN = r"^[A-Z][0-9][A-Z]$"
#: Region and parent-area ids: lowercase letters, digits and dashes (they become table values).
AREA_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,40}$"
#: Where a record's region is not known (no postal code, or a prefix the network did not declare).
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Region:
    id: str
    parent_area: str
    postal_prefixes: tuple[str, ...]
    name: str = ""


@dataclass(frozen=True)
class Geography:
    """Regions in declaration order; every lookup the code needs is derived from them."""

    regions: tuple[Region, ...]

    @cached_property
    def region_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.regions)

    @cached_property
    def parent_areas(self) -> tuple[str, ...]:
        return tuple(sorted({r.parent_area for r in self.regions}))

    @cached_property
    def parent_of(self) -> dict[str, str]:
        """region id -> parent area"""
        return {r.id: r.parent_area for r in self.regions}

    @cached_property
    def region_of_prefix(self) -> dict[str, str]:
        """postal prefix -> region id"""
        return {p: r.id for r in self.regions for p in r.postal_prefixes}

    def to_dict(self) -> dict:
        return {"regions": [{"id": r.id, **({"name": r.name} if r.name else {}), "parent_area": r.parent_area,
                             "postal_prefixes": list(r.postal_prefixes)} for r in self.regions]}  # fmt: skip
