"""What every reader hands back: the extract as a frame of text, one column per header name."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

STRING = pa.large_string()  # what pandas' string[pyarrow] stores: no conversion on to_pandas
PANDAS_STRING = pd.StringDtype("pyarrow")


@dataclass
class RawExtract:
    """An extract as read: ``frame`` holds one row per data record and one column per header
    name as written, every column pandas ``string[pyarrow]`` with empty cells as NA.
    ``sha256`` and ``byte_size`` describe the file's bytes, so a report can name exactly
    which export was read."""

    frame: pd.DataFrame
    records: int
    source_format: str
    sha256: str
    byte_size: int


def to_frame(table: pa.Table, names: list[str]) -> pd.DataFrame:
    """A table of large strings as a frame of pandas ``string[pyarrow]`` columns (no copy of the
    text) named ``names``, which may repeat or be empty (the header checks decide about them)."""
    frame = table.rename_columns([f"f{i}" for i in range(table.num_columns)]).to_pandas(
        types_mapper=lambda t: PANDAS_STRING if t == STRING else None
    )
    frame.columns = pd.Index(list(names), dtype=object)
    return frame


def offset_type(chunk: pa.Array) -> type:
    """The numpy type of a text chunk's offsets buffer."""
    return np.int64 if pa.types.is_large_string(chunk.type) else np.int32
