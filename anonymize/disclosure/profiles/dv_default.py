"""dvnet's default release policy: no count 1-10, zeros published, agency dominance 80 %.

Policy: DESIGN.md section 9 ("a DV default (suppress 1-10, i.e. threshold 11)"). The threshold is
the one the CMS policy uses (https://www.hhs.gov/guidance/document/cms-cell-suppression-policy);
the dominance rules are dvnet's own, because a cell that is mostly one shelter's clients shows that
shelter's caseload (the (1, k) dominance rule of tau-ARGUS / ACRO with k = 80 %), and a cell of two
agencies shows each its partner's (the p % rule with p = 20).
"""

from dvnet.anonymize.disclosure.profiles.base import Profile

NAME = "dv-default"
THRESHOLD = 11  # counts 1..10 are suppressed
ZEROS = "publish"  # a true zero says nothing about a survivor
DOMINANCE_SHARE = 0.8
DOMINANCE_PROTECTION = 0.2  # a dominated cell's range must span 20 % of its value (p %-rule style)
# The p % rule against insiders: an agency that subtracts its own count must not know another's
# to within 20 %. 20 is the protection the audit demands of a dominated cell (DOMINANCE_PROTECTION),
# so the rule that finds a cell sensitive and the range that protects it say the same thing; it is
# also above the 10-15 % statistical offices commonly use for business counts, because here one
# agency's figure is a shelter's caseload.
P_PERCENT = 20.0
# The attacker's range for a suppressed count must span at least as many values as the band it
# hides (1..10): otherwise suppression tells more than "small".
PROTECTION_WIDTH = 10
SOURCE = "dvnet DESIGN.md section 9; threshold as https://www.hhs.gov/guidance/document/cms-cell-suppression-policy"

PROFILE = Profile(
    name=NAME,
    threshold=THRESHOLD,
    zeros=ZEROS,
    dominance_share=DOMINANCE_SHARE,
    dominance_protection=DOMINANCE_PROTECTION,
    p_percent=P_PERCENT,
    protection_width=PROTECTION_WIDTH,
    source=SOURCE,
)
