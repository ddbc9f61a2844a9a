"""Primary suppression: which counts are sensitive by the profile's threshold and zero rule."""

from __future__ import annotations

import numpy as np

from dvnet.anonymize.disclosure.errors import TABLE_REFUSED, DisclosureError
from dvnet.anonymize.disclosure.profiles.base import Profile


def small_count_mask(values: np.ndarray, profile: Profile) -> np.ndarray:
    """True for every count the profile forbids publishing: 1..threshold-1 (and 0 if zeros are)."""
    values = np.asarray(values)
    mask = (values >= 1) & (values < profile.threshold)
    if profile.zeros == "suppress":
        mask |= values == 0
    return mask


def refuse_tables(counts_by_table: dict[str, tuple[int, int]], profile: Profile) -> None:
    """Raise ``TABLE_REFUSED`` for a refusing profile when any table has a sensitive cell.

    ``counts_by_table`` maps a table name to (small-count cells, dominance cells).
    """
    if profile.on_sensitive != "refuse":
        return
    refused = {name: c for name, c in counts_by_table.items() if c[0] or c[1]}
    if refused:
        first = sorted(refused)[0]
        raise DisclosureError(
            TABLE_REFUSED,
            f"{len(refused)} table(s) refused under profile {profile.name}: table {first} has "
            f"{refused[first][0]} cell(s) below the threshold and {refused[first][1]} dominated cell(s)",
            hint="aggregate the table further, or use a suppressing profile (e.g. custom threshold=3)",
            tables=sorted(refused),
            small_cells=sum(c[0] for c in refused.values()),
            dominance_cells=sum(c[1] for c in refused.values()),
        )
