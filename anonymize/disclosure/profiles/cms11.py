"""CMS cell size suppression policy: no cell 1-10, nor any value from which one can be derived.

Policy: https://www.hhs.gov/guidance/document/cms-cell-suppression-policy (also ResDAC,
https://resdac.org/articles/cms-cell-size-suppression-policy): "no cell ... containing a value of
1 to 10 can be reported directly. A value of zero does not violate the minimum cell size policy.
In addition, no cell can be reported that allows a value of 1 to 10 to be derived".

"Derived" is enforced by the LP audit: a suppressed cell's attacker range must be at least 11
wide, so with its lower end at 0 its upper end is >= 11 and the cell cannot be shown to be 1-10.
CMS has no dominance rule; dvnet keeps its agency-dominance rule on top (set
``dominance_share=None`` to publish under the bare CMS rule).
"""

from dvnet.anonymize.disclosure.profiles.base import Profile

NAME = "cms-11"
THRESHOLD = 11
ZEROS = "publish"  # "A value of zero does not violate the minimum cell size policy"
PROTECTION_WIDTH = 11
DOMINANCE_SHARE = 0.8  # dvnet's rule, not CMS's
SOURCE = "https://www.hhs.gov/guidance/document/cms-cell-suppression-policy"

PROFILE = Profile(
    name=NAME,
    threshold=THRESHOLD,
    zeros=ZEROS,
    dominance_share=DOMINANCE_SHARE,
    protection_width=PROTECTION_WIDTH,
    source=SOURCE,
)
