"""`research_extract` version 1: service episodes at finer grain with a linkage token (Tier 4).

Only under a data-sharing agreement with ethics approval. A row is a service episode as in
`service_episode`, with the episode month kept, plus a **project-scoped linkage token**: an
HMAC-SHA256 of the normalised name and date of birth under a key derived (HKDF, info = project
id) from the network linkage key, which the coordinator never holds. Two projects' extracts
cannot be joined; the coordinator cannot run a dictionary attack.
"""

from __future__ import annotations

import pandas as pd
from pandera.typing import Series

from dvnet.contracts.roles import Role, Transform, field
from dvnet.contracts.v1 import common as f
from dvnet.contracts.v1.service_episode import ServiceEpisode, ServiceEpisodeOut


class ResearchExtract(ServiceEpisode):
    """One service episode for a Tier 4 research project (as held in the agency's system)."""

    client_name: Series[pd.StringDtype] = field(
        role=Role.DIRECT_IDENTIFIER,
        transform=Transform.LINKAGE_INPUT,
        description="Client's full name. Normalised (case, accents, spacing) into the linkage token, then dropped.",
        str_length={"min_value": 1, "max_value": 200},
        str_matches=r"^\s*\S",  # a name of blanks would normalise to nothing and link strangers
    )
    date_of_birth: Series[pd.Timestamp] = field(
        role=Role.QUASI_IDENTIFIER,
        transform=Transform.AGE_BAND,
        output="age_band",
        at="episode_start",
        description="Client's date of birth (YYYY-MM-DD). Feeds the linkage token; leaves only as an age band.",
    )
    episode_start: Series[pd.Timestamp] = field(
        role=Role.QUASI_IDENTIFIER,
        transform=Transform.MONTH,
        output="episode_month",
        description="Date the episode began (YYYY-MM-DD); leaves as its month.",
    )

    class Config:
        strict = True
        coerce = False
        description = "One service episode for a Tier 4 research project, with linkage inputs."


class ResearchExtractOut(ServiceEpisodeOut):
    """One de-identified research episode, with a project-scoped linkage token."""

    linkage_token: Series[pd.StringDtype] = f.out_field(
        role=Role.OPERATIONAL,
        description="Project-scoped linkage token (HMAC-SHA256 under the HKDF-derived project key, hex).",
        str_matches=r"^[0-9a-f]{64}$",
    )
    episode_quarter: Series[pd.StringDtype] = f.out_field(
        role=Role.QUASI_IDENTIFIER, description="Quarter the episode began (YYYY-Qn).", str_matches=r"^\d{4}-Q[1-4]$"
    )
    episode_month: Series[pd.StringDtype] = f.out_field(
        role=Role.QUASI_IDENTIFIER, description="Month the episode began (YYYY-MM).", str_matches=r"^\d{4}-\d{2}$"
    )

    class Config:
        strict = True
        description = "A de-identified research episode with its linkage token."
