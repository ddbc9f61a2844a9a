"""The functions of the contracts' rules over several columns of a row, by name.

A model declares such a rule as a pandera ``dataframe_check`` that calls the function here, so
the compiled contract (``contracts.compiled``) runs the same function without pandera. Names are
unique across contract versions: a rule that changes meaning gets a new name.
"""

from __future__ import annotations

import pandas as pd


def end_not_before_start(df: pd.DataFrame) -> pd.Series:
    """``episode_end`` is empty (still open) or not before ``episode_start``."""
    return df["episode_end"].isna() | (df["episode_end"] >= df["episode_start"])


FRAME_RULES = {"end_not_before_start": end_not_before_start}
