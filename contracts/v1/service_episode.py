"""`service_episode` version 1: shared indicators (Tier 3 and above).

A row is one episode of service: one client receiving one type of service from the agency,
from start to end (or still open), with the network's shared risk indicators, outcomes and the
equity dimensions the network watches for inequitable impacts across communities.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from dvnet.contracts import codes, rules
from dvnet.contracts.roles import Role, Transform, field
from dvnet.contracts.v1 import common as f


def _indicator(what: str):
    return field(
        role=Role.SENSITIVE,
        transform=Transform.KEEP,
        description=f"Shared risk indicator: {what} (`true`/`false`) at intake assessment.",
    )


def _out_indicator(what: str):
    return f.out_field(role=Role.SENSITIVE, description=f"Risk indicator: {what}.")


class ServiceEpisode(pa.DataFrameModel):
    """One episode of service delivered by the agency (as held in the agency's own system)."""

    episode_id: Series[pd.StringDtype] = field(
        role=Role.DIRECT_IDENTIFIER,
        transform=Transform.PSEUDONYM,
        output="episode_pseudonym",
        description="The agency's own episode number, unique within the extract.",
        str_matches=f.ID_PATTERN,
        unique=True,
    )
    client_id: Series[pd.StringDtype] = f.client_id()
    client_name: Series[pd.StringDtype] = f.client_name()
    date_of_birth: Series[pd.Timestamp] = f.date_of_birth(at="episode_start")
    postal_code: Series[pd.StringDtype] = f.postal_code()
    service_type: Series[pd.StringDtype] = f.coded(Role.SENSITIVE, codes.SERVICE_TYPES, "Type of service delivered.")
    episode_start: Series[pd.Timestamp] = field(
        role=Role.QUASI_IDENTIFIER,
        transform=Transform.QUARTER,
        output="episode_quarter",
        description="Date the episode began (YYYY-MM-DD); must fall in the contributed period.",
    )
    episode_end: Series[pd.Timestamp] = field(
        role=Role.QUASI_IDENTIFIER,
        transform=Transform.DROP,
        description="Date the episode ended (YYYY-MM-DD); empty while still open. Used for checks only.",
        nullable=True,
    )
    referral_source_type: Series[pd.StringDtype] = f.coded(
        Role.SENSITIVE, codes.REFERRAL_SOURCE_TYPES, "Who referred the client (self, police, or an organisation type)."
    )
    risk_level: Series[pd.StringDtype] = f.risk_level()
    risk_strangulation: Series[pd.BooleanDtype] = _indicator("non-fatal strangulation")
    risk_weapon_access: Series[pd.BooleanDtype] = _indicator("abuser has access to a weapon")
    risk_escalation: Series[pd.BooleanDtype] = _indicator("violence escalating in frequency or severity")
    risk_recent_separation: Series[pd.BooleanDtype] = _indicator("recent or pending separation")
    risk_threats_to_kill: Series[pd.BooleanDtype] = _indicator("threats to kill")
    risk_children_in_household: Series[pd.BooleanDtype] = _indicator("children in the household")
    risk_pregnancy: Series[pd.BooleanDtype] = _indicator("pregnancy")
    safety_plan_completed: Series[pd.BooleanDtype] = field(
        role=Role.SENSITIVE, transform=Transform.KEEP, description="A safety plan was completed with the client."
    )
    protection_order_status: Series[pd.StringDtype] = f.coded(
        Role.SENSITIVE, codes.PROTECTION_ORDER_STATUSES, "Protection order status at the end of the episode."
    )
    housing_status_at_exit: Series[pd.StringDtype] = f.coded(
        Role.SENSITIVE, codes.HOUSING_AT_EXIT, "Housing status at exit (`still_in_service` while open)."
    )
    gender: Series[pd.StringDtype] = f.gender()
    indigenous_identity: Series[pd.StringDtype] = f.coded(
        Role.QUASI_IDENTIFIER, codes.YES_NO_NOT_STATED, "Client identifies as Indigenous (self-identified)."
    )
    disability: Series[pd.StringDtype] = f.coded(
        Role.QUASI_IDENTIFIER, codes.YES_NO_NOT_STATED, "Client reports a disability (self-identified)."
    )
    language: Series[pd.StringDtype] = f.language()
    consent_to_share: Series[pd.BooleanDtype] = f.consent_to_share()
    consent_expiry: Series[pd.Timestamp] = f.consent_expiry()

    class Config:
        strict = True
        coerce = False
        description = "One episode of service delivered by the agency."

    @pa.dataframe_check(description="episode_end is not before episode_start")
    def end_not_before_start(cls, df: pd.DataFrame) -> Series[bool]:
        return rules.end_not_before_start(df)


class ServiceEpisodeOut(pa.DataFrameModel):
    """One de-identified service episode, as it leaves the agency in record mode."""

    episode_pseudonym: Series[pd.StringDtype] = f.out_pseudonym("episode")
    client_pseudonym: Series[pd.StringDtype] = f.out_pseudonym("client")
    age_band: Series[pd.StringDtype] = f.out_age_band()
    region: Series[pd.StringDtype] = f.out_region()
    service_type: Series[pd.StringDtype] = f.out_coded(Role.SENSITIVE, codes.SERVICE_TYPES, "Type of service.")
    episode_quarter: Series[pd.StringDtype] = f.out_field(
        role=Role.QUASI_IDENTIFIER, description="Quarter the episode began (YYYY-Qn).", str_matches=r"^\d{4}-Q[1-4]$"
    )
    referral_source_type: Series[pd.StringDtype] = f.out_coded(
        Role.SENSITIVE, codes.REFERRAL_SOURCE_TYPES, "Referral source type."
    )
    risk_level: Series[pd.StringDtype] = f.out_coded(Role.SENSITIVE, codes.RISK_LEVELS, "Risk level.")
    risk_strangulation: Series[pd.BooleanDtype] = _out_indicator("non-fatal strangulation")
    risk_weapon_access: Series[pd.BooleanDtype] = _out_indicator("weapon access")
    risk_escalation: Series[pd.BooleanDtype] = _out_indicator("escalation")
    risk_recent_separation: Series[pd.BooleanDtype] = _out_indicator("recent separation")
    risk_threats_to_kill: Series[pd.BooleanDtype] = _out_indicator("threats to kill")
    risk_children_in_household: Series[pd.BooleanDtype] = _out_indicator("children in household")
    risk_pregnancy: Series[pd.BooleanDtype] = _out_indicator("pregnancy")
    safety_plan_completed: Series[pd.BooleanDtype] = f.out_field(role=Role.SENSITIVE, description="Safety plan completed.")
    protection_order_status: Series[pd.StringDtype] = f.out_coded(
        Role.SENSITIVE, codes.PROTECTION_ORDER_STATUSES, "Protection order status."
    )
    housing_status_at_exit: Series[pd.StringDtype] = f.out_coded(Role.SENSITIVE, codes.HOUSING_AT_EXIT, "Housing at exit.")
    gender: Series[pd.StringDtype] = f.out_coded(Role.QUASI_IDENTIFIER, codes.GENDERS, "Gender, coded.")
    indigenous_identity: Series[pd.StringDtype] = f.out_coded(
        Role.QUASI_IDENTIFIER, codes.YES_NO_NOT_STATED, "Indigenous identity."
    )
    disability: Series[pd.StringDtype] = f.out_coded(Role.QUASI_IDENTIFIER, codes.YES_NO_NOT_STATED, "Disability.")
    language: Series[pd.StringDtype] = f.out_coded(Role.QUASI_IDENTIFIER, codes.LANGUAGES, "Preferred language.")

    class Config:
        strict = True
        description = "A de-identified service episode."
