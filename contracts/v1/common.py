"""Field definitions shared by several version-1 contracts (same meaning, same checks)."""

from __future__ import annotations

from dvnet.contracts import codes
from dvnet.contracts.geography import AREA_ID_PATTERN, POSTAL_CODE_PATTERN
from dvnet.contracts.roles import Role, Transform, field, out_field

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
ORG_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,40}$"
PSEUDONYM_PATTERN = r"^[0-9a-f]{32}$"


def client_id():
    return field(
        role=Role.DIRECT_IDENTIFIER,
        transform=Transform.PSEUDONYM,
        output="client_pseudonym",
        description="The agency's own client number. Leaves only as an agency-scoped keyed pseudonym.",
        str_matches=ID_PATTERN,
    )


def client_name():
    return field(
        role=Role.DIRECT_IDENTIFIER,
        transform=Transform.DROP,
        description="Client's full name as recorded by the agency. Never leaves the agency.",
        nullable=True,
        str_length={"max_value": 200},
    )


def date_of_birth(at: str):
    return field(
        role=Role.QUASI_IDENTIFIER,
        transform=Transform.AGE_BAND,
        output="age_band",
        at=at,
        description=f"Client's date of birth (YYYY-MM-DD). Leaves only as an age band at `{at}`.",
        nullable=True,
    )


def postal_code():
    return field(
        role=Role.QUASI_IDENTIFIER,
        transform=Transform.POSTAL_REGION,
        output="region",
        description="Client's postal code (e.g. `S1A 2B3`). Leaves only as the region its prefix lies in, "
        "in the network's declared geography.",
        nullable=True,
        str_matches=POSTAL_CODE_PATTERN,
    )


def coded(role: Role, codes_: tuple[str, ...], description: str, *, nullable: bool = False):
    return field(
        role=role,
        transform=Transform.KEEP,
        description=f"{description} One of: {', '.join(f'`{c}`' for c in codes_)}.",
        isin=list(codes_),
        nullable=nullable,
    )


def gender():
    return coded(Role.QUASI_IDENTIFIER, codes.GENDERS, "Client's gender as self-described, coded.")


def language():
    return coded(Role.QUASI_IDENTIFIER, codes.LANGUAGES, "Language the client prefers to receive services in.")


def risk_level():
    return coded(Role.SENSITIVE, codes.RISK_LEVELS, "Risk level from the network's shared risk assessment.")


def consent_to_share():
    return field(
        role=Role.OPERATIONAL,
        transform=Transform.CONSENT,
        description="Client's informed, written consent to share de-identified records (`true`/`false`). "
        "Record mode sends only rows with consent unexpired at the period's end. Never leaves.",
    )


def consent_expiry():
    return field(
        role=Role.OPERATIONAL,
        transform=Transform.CONSENT,
        description="Date the consent to share ends (YYYY-MM-DD); empty when no consent was given. Never leaves.",
        nullable=True,
    )


# Output-side fields ---------------------------------------------------------------------------


def out_pseudonym(what: str):
    return out_field(
        role=Role.OPERATIONAL,
        description=f"Agency-scoped keyed pseudonym of the {what} (HMAC-SHA256, 128 bits, hex).",
        str_matches=PSEUDONYM_PATTERN,
    )


def out_age_band():
    return out_field(
        role=Role.QUASI_IDENTIFIER,
        description="Age band at the event date; `unknown` when no date of birth was recorded.",
        isin=[*codes.AGE_BANDS, "unknown"],
    )


def out_region():
    return out_field(
        role=Role.QUASI_IDENTIFIER,
        # The network's own regions (its registry's geography), so the contract holds their form
        # only; the contributor makes no other value and the coordinator checks the list at ingest.
        description="Region of the client's postal code, one of the network's declared regions; `unknown` when missing or not declared.",
        str_matches=AREA_ID_PATTERN,
    )


def out_coded(role: Role, codes_: tuple[str, ...], description: str, *, nullable: bool = False):
    return out_field(role=role, description=description, isin=list(codes_), nullable=nullable)
