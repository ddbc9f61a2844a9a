"""The agency's column mapping: its own system's column names and codes onto the contract's.

``<agency>/mapping/<contract>.yaml``::

    columns:            # agency column -> contract column
      ClientNo: client_id
    values:             # contract column -> {agency code: contract code}
      gender: {F: woman, M: man}
    ignore_columns: [Notes, CaseWorker]   # never read further, never sent

Unmapped codes are left as they are, so the contract reports them as ``CODE_UNKNOWN``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from dvnet.contracts.errors import ExtractError


@dataclass
class Mapping:
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    ignore_columns: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Mapping:
        if not Path(path).exists():
            return cls()
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        unknown = set(data) - {"columns", "values", "ignore_columns"}
        if unknown:
            raise ExtractError("MAPPING_INVALID", f"{Path(path).name}: unknown key {sorted(unknown)[0]}")
        try:
            return cls(
                columns={str(k): str(v) for k, v in (data.get("columns") or {}).items()},
                values={str(c): {str(k): str(v) for k, v in m.items()} for c, m in (data.get("values") or {}).items()},
                ignore_columns=[str(c) for c in data.get("ignore_columns") or []],
            )
        except AttributeError:
            raise ExtractError("MAPPING_INVALID", f"{Path(path).name}: columns and values must be mappings") from None

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.drop(columns=[c for c in self.ignore_columns if c in frame.columns])
        frame = frame.rename(columns=self.columns)
        for column, codes in self.values.items():
            if column in frame.columns and codes:
                frame[column] = frame[column].replace(codes)
        return frame
