"""A Parquet file as text to search for planted markers: every cell, the schema and its metadata,
the file's key-value metadata and every column statistic (min/max can hold a value too)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow.parquet as pq


def parquet_text(source: Path | bytes) -> str:
    opened = pq.ParquetFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    table = opened.read()
    parts = [json.dumps(table.to_pylist(), default=str), str(table.schema), repr(table.schema.metadata), repr(opened.metadata.metadata)]
    meta = opened.metadata
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            stats = meta.row_group(g).column(c).statistics
            if stats is not None and stats.has_min_max:
                parts.append(f"{stats.min!r} {stats.max!r}")
    return "\n".join(parts)
