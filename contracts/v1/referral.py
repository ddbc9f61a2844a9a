"""`referral` version 1: the shared minimum referral dataset (Tier 2 and above).

A row is one referral **sent** by the contributing agency to another organisation in the
network, with what the agency learned of its outcome. Warm handoffs and time to first contact are
the coordination measures the network agreed on.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from dvnet.contracts import codes
from dvnet.contracts.roles import Role, Transform, field
from dvnet.contracts.v1 import common as f


class Referral(pa.DataFrameModel):
    """One referral sent by the agency (as held in the agency's own system)."""

    referral_id: Series[pd.StringDtype] = field(
        role=Role.DIRECT_IDENTIFIER,
        transform=Transform.PSEUDONYM,
        output="referral_pseudonym",
        description="The agency's own referral number, unique within the extract.",
        str_matches=f.ID_PATTERN,
        unique=True,
    )
    client_id: Series[pd.StringDtype] = f.client_id()
    client_name: Series[pd.StringDtype] = f.client_name()
    date_of_birth: Series[pd.Timestamp] = f.date_of_birth(at="referral_date")
    postal_code: Series[pd.StringDtype] = f.postal_code()
    referral_date: Series[pd.Timestamp] = field(
        role=Role.QUASI_IDENTIFIER,
        transform=Transform.QUARTER,
        output="referral_quarter",
        description="Date the referral was made (YYYY-MM-DD); must fall in the contributed period.",
    )
    referring_org: Series[pd.StringDtype] = field(
        role=Role.OPERATIONAL,
        transform=Transform.KEEP,
        description="Registry id of the organisation that made the referral (the contributing agency).",
        str_matches=f.ORG_ID_PATTERN,
    )
    receiving_org: Series[pd.StringDtype] = field(
        role=Role.OPERATIONAL,
        transform=Transform.KEEP,
        description="Registry id of the organisation the client was referred to.",
        str_matches=f.ORG_ID_PATTERN,
    )
    referral_reason: Series[pd.StringDtype] = f.coded(Role.SENSITIVE, codes.REFERRAL_REASONS, "Main reason for the referral.")
    handoff_type: Series[pd.StringDtype] = f.coded(
        Role.SENSITIVE, codes.HANDOFF_TYPES, "`warm` when staff connected the client in person or by a joint call."
    )
    outcome: Series[pd.StringDtype] = f.coded(Role.SENSITIVE, codes.REFERRAL_OUTCOMES, "What became of the referral.")
    days_to_first_contact: Series[pd.Int64Dtype] = field(
        role=Role.SENSITIVE,
        transform=Transform.KEEP,
        description="Days from referral to the receiving organisation's first contact; empty if none yet.",
        nullable=True,
        ge=0,
        le=3650,
    )
    gender: Series[pd.StringDtype] = f.gender()
    language: Series[pd.StringDtype] = f.language()
    risk_level: Series[pd.StringDtype] = f.risk_level()
    consent_to_share: Series[pd.BooleanDtype] = f.consent_to_share()
    consent_expiry: Series[pd.Timestamp] = f.consent_expiry()

    class Config:
        strict = True
        coerce = False
        description = "One referral sent by the agency to another organisation in the network."


class ReferralOut(pa.DataFrameModel):
    """One de-identified referral, as it leaves the agency in record mode."""

    referral_pseudonym: Series[pd.StringDtype] = f.out_pseudonym("referral")
    client_pseudonym: Series[pd.StringDtype] = f.out_pseudonym("client")
    age_band: Series[pd.StringDtype] = f.out_age_band()
    region: Series[pd.StringDtype] = f.out_region()
    referral_quarter: Series[pd.StringDtype] = f.out_field(
        role=Role.QUASI_IDENTIFIER, description="Quarter of the referral date (YYYY-Qn).", str_matches=r"^\d{4}-Q[1-4]$"
    )
    referring_org: Series[pd.StringDtype] = f.out_field(role=Role.OPERATIONAL, description="Referring organisation id.")
    receiving_org: Series[pd.StringDtype] = f.out_field(role=Role.OPERATIONAL, description="Receiving organisation id.")
    referral_reason: Series[pd.StringDtype] = f.out_coded(Role.SENSITIVE, codes.REFERRAL_REASONS, "Main reason.")
    handoff_type: Series[pd.StringDtype] = f.out_coded(Role.SENSITIVE, codes.HANDOFF_TYPES, "Warm or standard handoff.")
    outcome: Series[pd.StringDtype] = f.out_coded(Role.SENSITIVE, codes.REFERRAL_OUTCOMES, "Referral outcome.")
    days_to_first_contact: Series[pd.Int64Dtype] = f.out_field(
        role=Role.SENSITIVE, description="Days to first contact; empty if none yet.", nullable=True, ge=0
    )
    gender: Series[pd.StringDtype] = f.out_coded(Role.QUASI_IDENTIFIER, codes.GENDERS, "Gender, coded.")
    language: Series[pd.StringDtype] = f.out_coded(Role.QUASI_IDENTIFIER, codes.LANGUAGES, "Preferred language.")
    risk_level: Series[pd.StringDtype] = f.out_coded(Role.SENSITIVE, codes.RISK_LEVELS, "Risk level.")

    class Config:
        strict = True
        description = "A de-identified referral."
