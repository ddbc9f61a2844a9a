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
from rich.table import Table

from dvnet.common.yaml_text import load_yaml
from dvnet.contracts.errors import ExtractError
from dvnet.contracts.registry import Contract


@dataclass
class Mapping:
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    ignore_columns: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Mapping:
        if not Path(path).exists():
            return cls()
        return cls.load_text(Path(path).read_text(encoding="utf-8"), Path(path).name)

    @classmethod
    def load_text(cls, text: str, name: str) -> Mapping:
        try:
            data = load_yaml(text) or {}
        except yaml.YAMLError as e:  # its message quotes the file: only the line is kept
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ExtractError("MAPPING_INVALID", f"{name}: not valid YAML{where}", hint="compare the line with the scaffold's examples (dvnet mapping init --replace makes a fresh one)") from None
        if not isinstance(data, dict):
            raise ExtractError("MAPPING_INVALID", f"{name}: must hold the keys columns, values and ignore_columns")
        unknown = set(data) - {"columns", "values", "ignore_columns"}
        if unknown:
            raise ExtractError("MAPPING_INVALID", f"{name}: unknown key {sorted(unknown)[0]}")
        try:
            return cls(
                columns={str(k): str(v) for k, v in (data.get("columns") or {}).items()},
                values={str(c): {str(k): str(v) for k, v in m.items()} for c, m in (data.get("values") or {}).items()},
                ignore_columns=[str(c) for c in data.get("ignore_columns") or []],
            )
        except AttributeError:
            raise ExtractError("MAPPING_INVALID", f"{name}: columns and values must be mappings") from None

    def known_names(self, contract: Contract) -> frozenset[str]:
        """The header names a message may repeat: the contract's fields and the names the steward
        wrote in this mapping (any other header text may be a value; see ``read_extract``)."""
        return frozenset(f.name for f in contract.fields()) | set(self.columns) | set(self.ignore_columns)

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (the export's columns) under this mapping: ignored columns dropped, the rest
        renamed, codes replaced. Two columns that would become one name (two mapping lines onto
        one field, or a mapped column and one already named so) are refused: which one holds the
        field would be a guess."""
        self._check_one_source_each(list(frame.columns))
        frame = frame.drop(columns=[c for c in self.ignore_columns if c in frame.columns])
        frame = frame.rename(columns=self.columns)
        for column, codes in self.values.items():
            if column in frame.columns and codes:
                frame[column] = frame[column].replace(codes)
        return frame


    def _check_one_source_each(self, header: list[str]) -> None:
        ignored = set(self.ignore_columns)
        becomes: dict[str, list[int]] = {}
        for position, name in enumerate(header, start=1):
            if name not in ignored:
                becomes.setdefault(self.columns.get(name, name), []).append(position)
        clashes = [(target, where) for target, where in becomes.items() if len(where) > 1]
        if clashes:
            # Named only by the mapping's own text (a clash comes from a mapping line: the reader
            # refuses two equal header names); a header of the export may be a value.
            said = "; ".join(f"columns {', '.join(map(str, where[:-1]))} and {where[-1]} {'both' if len(where) == 2 else 'all'} become "
                             + (f"'{target}'" if target in self.columns.values() else "one name") for target, where in clashes)
            raise ExtractError(
                "COLUMNS_MISMATCH", f"the mapping makes more than one column of the export into one field: {said}",
                hint="in the agency's mapping file keep one of them under columns: and list the others under ignore_columns: "
                     "(never read, never sent), then try it with `dvnet mapping check`",
            )


@dataclass
class ColumnPlan:
    """What a mapping makes of an export's header, for ``dvnet mapping check``. A header name is
    shown only when the steward's mapping or the contract names it: an export without its header
    row has its first record there, so any other name is given by position."""

    fields: list[tuple[str, bool, list[tuple[int, str]]]]  # contract field, required, [(position, how)]
    unread: list[int]  # positions of export columns nothing reads
    ignored: int
    mapping_notes: list[str]

    def table(self) -> Table:
        t = Table(title="The contract's fields and the export's columns they come from", title_justify="left")
        for h in ("contract field", "required", "from the export"):
            t.add_column(h)
        for name, required, sources in self.fields:
            if not sources:
                found = "[red]missing[/]" if required else "not in the export (optional: left empty)"
            elif len(sources) > 1:
                found = "[red]" + " and ".join(f"column {p}" for p, _ in sources) + " both become it: map only one[/]"
            else:
                found = f"column {sources[0][0]}, {sources[0][1]}"
            t.add_row(name, "yes" if required else "no", found)
        return t

    def notes(self) -> list[str]:
        out = list(self.mapping_notes)
        if self.unread:
            shown = ", ".join(map(str, self.unread[:20])) + (", ..." if len(self.unread) > 20 else "")
            out.append(f"{len(self.unread)} column(s) of the export that nothing reads, at position(s) {shown}: "
                       "map each onto a contract field under `columns:`, or list it under `ignore_columns:` (never read, never sent)")
        if self.ignored:
            out.append(f"{self.ignored} column(s) listed under ignore_columns: dropped before anything else reads them")
        return out

    @property
    def complete(self) -> bool:
        return not self.unread and all(len(s) == 1 or (not s and not req) for _, req, s in self.fields)


def column_plan(mapping: Mapping, contract: Contract, header: list[str]) -> ColumnPlan:
    """Where each contract field comes from under ``mapping``, given the export's header names."""
    fields = {f.name: f for f in contract.fields()}
    ignore = set(mapping.ignore_columns)
    sources: dict[str, list[tuple[int, str]]] = {name: [] for name in fields}
    unread, ignored = [], 0
    for position, name in enumerate(header, start=1):
        if name in ignore:
            ignored += 1
        elif name in mapping.columns and mapping.columns[name] in fields:
            sources[mapping.columns[name]].append((position, f"'{name}', mapped"))
        elif name in fields and name not in mapping.columns:
            sources[name].append((position, "same name"))
        else:
            unread.append(position)
    notes = [f"mapping line '{k}: {v}': '{v}' is not a field of {contract.ref}" for k, v in mapping.columns.items() if v not in fields]
    notes += [f"mapping line '{k}: ...': the export has no column '{k}'" for k in mapping.columns if k not in header]
    notes += [f"values for '{c}': not a field of {contract.ref}, so never used" for c in mapping.values if c not in fields]
    rows = [(name, not f.nullable, sources[name]) for name, f in fields.items()]
    return ColumnPlan(rows, unread, ignored, notes)
