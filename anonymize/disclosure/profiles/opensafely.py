"""OpenSAFELY's ehrQL measures rule: counts <= 7 redacted, then every count rounded to 5.

Policy: https://docs.opensafely.org/releasing-files/ and ehrQL's
``ehrql/measures/disclosure_control.py`` (``SUPPRESSION_THRESHOLD = 7``, ``ROUNDING_MULTIPLE = 5``,
``apply_sdc``: ``0 if value <= 7 else round(value / 5) * 5``). Rates are computed from the rounded
counts (ehrQL does the same: ``ratio = numerator / denominator`` after ``apply_sdc``).

Worked examples, ehrQL -> dvnet:
  0 -> 0 (published; ehrQL also outputs 0)
  1..7 -> ehrQL outputs 0; dvnet outputs NA marked "suppressed: primary", because a bare 0
          standing for a suppressed count is forbidden in dvnet releases (DESIGN section 9)
  8 -> 10, 12 -> 10, 13 -> 15, 17 -> 15, 18 -> 20
Integers never sit half-way between multiples of 5, so half-up and Python's half-even ``round``
agree for this profile.

Margins are computed from the true counts and rounded independently, so a published total need
not equal the sum of its published parts. The audit treats each published value v as the
interval [v-2, v+2]; a redacted cell must stay at least as uncertain as a rounded one
(``PROTECTION_WIDTH = 4``, the width of [v-2, v+2]). ehrQL has no dominance rule; dvnet's applies.
"""

from dvnet.anonymize.disclosure.profiles.base import Profile

NAME = "opensafely"
SUPPRESSION_THRESHOLD = 7  # ehrQL: counts <= 7 are redacted
ROUNDING_MULTIPLE = 5
THRESHOLD = SUPPRESSION_THRESHOLD + 1  # smallest publishable count in Profile terms
ZEROS = "publish"
PROTECTION_WIDTH = 2 * (ROUNDING_MULTIPLE // 2)
DOMINANCE_SHARE = 0.8  # dvnet's rule, not OpenSAFELY's
SOURCE = "https://docs.opensafely.org/releasing-files/ ; ehrql/measures/disclosure_control.py"

PROFILE = Profile(
    name=NAME,
    threshold=THRESHOLD,
    zeros=ZEROS,
    rounding_base=ROUNDING_MULTIPLE,
    dominance_share=DOMINANCE_SHARE,
    protection_width=PROTECTION_WIDTH,
    source=SOURCE,
)
