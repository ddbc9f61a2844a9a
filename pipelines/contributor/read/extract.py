"""What every reader hands back: the extract as text, one column per header name.

Reading needs no pandas (``ExtractRead`` runs it while the contributor's other imports load); the
frame is made when it is first asked for."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd

STRING = pa.large_string()  # what pandas' string[pyarrow] stores: no conversion on to_pandas


@dataclass
class RawExtract:
    """An extract as read: ``table`` holds one row per data record and one large-string column
    per header name in ``names`` (as written; they may repeat or be empty, the header checks
    decide about them), empty cells null. ``sha256`` and ``byte_size`` describe the file's
    bytes, so a report can name exactly which export was read."""

    table: pa.Table
    names: list[str]
    source_format: str
    sha256: str
    byte_size: int

    @property
    def records(self) -> int:
        return self.table.num_rows

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The table as a frame of pandas ``string[pyarrow]`` columns named ``names``, empty
        cells NA (no copy of the text)."""
        import pandas as pd

        as_pandas = pd.StringDtype("pyarrow")
        frame = self.table.rename_columns([f"f{i}" for i in range(self.table.num_columns)]).to_pandas(
            types_mapper=lambda t: as_pandas if t == STRING else None
        )
        frame.columns = pd.Index(list(self.names), dtype=object)
        return frame


def offset_type(chunk: pa.Array) -> type:
    """The numpy type of a text chunk's offsets buffer."""
    return np.int64 if pa.types.is_large_string(chunk.type) else np.int32
