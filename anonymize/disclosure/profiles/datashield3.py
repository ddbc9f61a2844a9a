"""DataSHIELD's table filter: a table with any non-zero count below 3 is refused.

Policy: dsBase option ``nfilter.tab`` ("the minimum non-zero cell count allowed in any cell if a
contingency table is to be returned", default 3), see
https://rdrr.io/github/datashield/dsBaseClient/man/ds.listDisclosureSettings.html.

Decision: dvnet follows DataSHIELD and *refuses* the table (``DisclosureError`` with reason
``TABLE_REFUSED``, naming the table and how many cells failed) instead of suppressing cells. A
profile that suppresses 1-2 is ``get_profile("custom", threshold=3)``. Cells that fail dvnet's
agency-dominance rule also refuse the table under this profile, for the same reason.
"""

from dvnet.anonymize.disclosure.profiles.base import Profile

NAME = "datashield-3"
NFILTER_TAB = 3
THRESHOLD = NFILTER_TAB
ZEROS = "publish"  # nfilter.tab counts non-zero cells only
ON_SENSITIVE = "refuse"
PROTECTION_WIDTH = NFILTER_TAB - 1
DOMINANCE_SHARE = 0.8  # dvnet's rule, not DataSHIELD's
SOURCE = "https://rdrr.io/github/datashield/dsBaseClient/man/ds.listDisclosureSettings.html"

PROFILE = Profile(
    name=NAME,
    threshold=THRESHOLD,
    zeros=ZEROS,
    on_sensitive=ON_SENSITIVE,
    dominance_share=DOMINANCE_SHARE,
    protection_width=PROTECTION_WIDTH,
    source=SOURCE,
)
