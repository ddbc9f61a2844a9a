"""The commented mapping file a steward starts from: ``mapping/<contract>.yaml``.

A case-management system exports its own column names and codes; the mapping renames them onto
the contract's and translates codes (``pipelines/contributor/mapping.py`` applies it). The scaffold
is made from the contract itself, so it lists every field the contract reads, whether it is
required, what it means, and, for a coded field, the codes the contract accepts. As made, it maps
nothing (an export already in the contract's shape needs no mapping); the steward uncomments and
edits lines. ``dvnet mapping check`` then dry-runs it against an extract.
"""

from __future__ import annotations

from dvnet.contracts.codes import code_list
from dvnet.contracts.dictionary import TYPE_NAMES
from dvnet.contracts.registry import Contract

#: Longest code list written out in full in the scaffold; longer ones are named by count.
SHOWN_CODES = 24


def _codes(contract: Contract) -> dict[str, tuple[str, ...]]:
    return {name: listed.values for name, col in contract.source_schema.columns.items()
            if (listed := code_list(col)) is not None}  # fmt: skip


def scaffold(contract: Contract) -> str:
    """The YAML text: valid as it stands (an empty mapping); removing the ``#`` of an example line
    gives valid YAML."""
    codes = _codes(contract)
    fields = contract.fields()
    width = max(len(f.name) for f in fields)
    out = [
        f"# dvnet mapping for {contract.ref}: {contract.title}",
        "#",
        "# Your system's export may name its columns and codes differently from the contract. This file",
        "# tells dvnet how to read it; nothing here leaves your machine. As made, it maps nothing: an",
        "# export whose first row already holds the contract's column names needs no change.",
        "#",
        "# 1. columns: one line per column of YOUR export whose name differs, `your name: contract field`.",
        "# 2. values:  for a coded field, `your code: contract code` for each code that differs.",
        "# 3. ignore_columns: columns of your export dvnet must never read (they are dropped first).",
        "#",
        "# Then try it without sending anything:",
        f"#   dvnet mapping check --agency <this agency's folder> --contract {contract.id} --extract <your export> --period <YYYY-Qn>",
        "#",
        "# The contract's fields (required = a row without it is rejected):",
    ]
    for f in fields:
        required = "optional" if f.nullable else "required"
        kind = TYPE_NAMES.get(f.dtype, f.dtype)
        out.append(f"#   {f.name:<{width}}  {kind}, {required}: {' '.join(f.description.split())}".rstrip())
    out += ["", "columns:", "# (your export's column name on the left; remove the # at the start of a line to use it)"]
    for f in fields[:3]:
        out.append(f"#  {f.name.replace('_', ' ').title().replace(' ', '')}: {f.name}")
    out += ["", "values:"]
    for name, values in codes.items():
        shown = ", ".join(values[:SHOWN_CODES]) + (f", ... ({len(values)} codes)" if len(values) > SHOWN_CODES else "")
        out.append(f"#  {name}:   # accepted: {shown}")
        out.append(f"#    YOUR_CODE: {values[0]}")
    out += ["", "ignore_columns:", "#  - Notes", "#  - CaseWorker", ""]
    return "\n".join(out)
