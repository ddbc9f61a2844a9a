"""The network's (fictional) geography: provinces, regions and postal-code prefixes.

Regions nest in provinces; that hierarchy is what release tables publish and what complementary
suppression protects. Several regions are small communities on purpose, so small cells are real.
A postal code generalises to its region through its 3-character prefix.
"""

from __future__ import annotations

REGION_PROVINCE = {
    "north-coast": "northland",
    "north-lakes": "northland",
    "north-islands": "northland",
    "north-tundra": "northland",
    "south-metro": "southland",
    "south-valley": "southland",
    "south-plains": "southland",
    "south-hills": "southland",
}
PROVINCES = tuple(sorted(set(REGION_PROVINCE.values())))
REGIONS = tuple(REGION_PROVINCE)

# Each region owns a few 3-character postal prefixes (letter, digit, letter).
REGION_POSTAL_PREFIXES = {
    "north-coast": ("N1A", "N1B", "N1C", "N1E"),
    "north-lakes": ("N2A", "N2B", "N2C"),
    "north-islands": ("N3A",),
    "north-tundra": ("N4A",),
    "south-metro": ("S1A", "S1B", "S1C", "S1E", "S1G", "S1H"),
    "south-valley": ("S2A", "S2B", "S2C"),
    "south-plains": ("S3A", "S3B"),
    "south-hills": ("S4A",),
}
POSTAL_PREFIX_REGION = {p: r for r, ps in REGION_POSTAL_PREFIXES.items() for p in ps}
POSTAL_CODE_PATTERN = r"^[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9]$"
