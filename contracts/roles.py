"""Field roles and de-identification transforms: what each contract field is, and how it leaves.

Every field of every contract carries a ``role`` and a ``transform`` in its pandera metadata.
The role says what the field *is*; the transform says what the contributor does to it before
anything leaves the agency. The two are tied: a direct identifier can only be dropped or turned
into a keyed pseudonym or linkage-token input; a quasi-identifier is generalised (or kept only
where it is already coarse, such as a coded gender); sensitive and operational fields are kept.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Role(StrEnum):
    DIRECT_IDENTIFIER = "direct_identifier"
    QUASI_IDENTIFIER = "quasi_identifier"
    SENSITIVE = "sensitive"
    OPERATIONAL = "operational"


class Transform(StrEnum):
    DROP = "drop"  # never leaves
    PSEUDONYM = "pseudonym"  # agency-scoped HMAC-SHA256 pseudonym
    LINKAGE_INPUT = "linkage_input"  # feeds the project-scoped linkage token, then dropped
    AGE_BAND = "age_band"  # date of birth -> age band at the contract's event date
    POSTAL_REGION = "postal_region"  # postal code -> region
    QUARTER = "quarter"  # date -> YYYY-Qn
    MONTH = "month"  # date -> YYYY-MM
    DAYS_BUCKET = "days_bucket"  # a count of days -> a coarse bucket
    KEEP = "keep"  # leaves as it is (coded, coarse)
    CONSENT = "consent"  # used for the consent filter, then dropped


ALLOWED_TRANSFORMS: dict[Role, frozenset[Transform]] = {
    Role.DIRECT_IDENTIFIER: frozenset({Transform.DROP, Transform.PSEUDONYM, Transform.LINKAGE_INPUT}),
    Role.QUASI_IDENTIFIER: frozenset(
        {Transform.AGE_BAND, Transform.POSTAL_REGION, Transform.QUARTER, Transform.MONTH, Transform.KEEP, Transform.DROP}
    ),
    Role.SENSITIVE: frozenset({Transform.KEEP, Transform.DAYS_BUCKET, Transform.DROP}),
    Role.OPERATIONAL: frozenset({Transform.KEEP, Transform.CONSENT, Transform.DROP}),
}


def field(
    *,
    role: Role,
    description: str,
    transform: Transform,
    output: str | None = None,
    at: str | None = None,
    **checks: Any,
) -> Any:
    """A pandera ``Field`` that also records the field's role and de-identification transform.

    ``output`` names the de-identified column the transform produces (defaults to the field's
    own name); ``at`` names the event-date column an age band is computed at.
    """
    if transform not in ALLOWED_TRANSFORMS[role]:
        raise ValueError(f"transform {transform} is not allowed for role {role}")
    import pandera.pandas as pa  # the models import it anyway; the compiled contracts do not

    metadata = {"role": str(role), "transform": str(transform), "output": output, "at": at}
    return pa.Field(description=description, metadata=metadata, **checks)


def out_field(*, role: Role, description: str, **checks: Any) -> Any:
    """A pandera ``Field`` for a de-identified output model (role only, nothing more to do)."""
    import pandera.pandas as pa

    return pa.Field(description=description, metadata={"role": str(role)}, **checks)
