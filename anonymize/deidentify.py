"""De-identification by field role (DESIGN §6).

Direct identifiers are dropped or become keyed pseudonyms / linkage tokens; quasi-identifiers are
generalised; sensitive and operational fields are kept; consent fields are dropped. ``deidentify``
makes the columns that need no key, ``KeyedColumns`` the pseudonyms and linkage tokens (hashed in
worker processes, part by part); each half is checked against the contract's output model
(``contracts.conformance``), so nothing outside it can leave.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from dvnet.anonymize import generalise, pseudonyms
from dvnet.anonymize.scratch import SpillingBuffer
from dvnet.contracts.compiled import Schema
from dvnet.contracts.conformance import arrow_text, schema_failures
from dvnet.contracts.errors import DvnetError
from dvnet.contracts.geography import Geography
from dvnet.contracts.registry import Contract
from dvnet.contracts.roles import Transform
from dvnet.kernels.masks import RowFlags


#: Transforms that need no key (``_generalised``); KEEP passes the column through.
_GENERALISING = frozenset({Transform.AGE_BAND, Transform.POSTAL_REGION, Transform.QUARTER, Transform.MONTH, Transform.KEEP})


class DeidentificationError(DvnetError):
    """The de-identified frame does not match the output model (a bug or a contract mistake)."""


def _source_columns(contract: Contract, made: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """The extract columns ``deidentify`` reads to make the unkeyed output columns not in
    ``made``: kept fields, the fields generalised and the dates an age band is computed at, and
    the event date for the quarter. Keyed inputs (record keys, linkage inputs) are read by
    ``KeyedColumns``; dropped fields (names, consent, helper dates) by nothing, so a caller can
    leave them behind before copying rows."""
    needed: set[str] = set()
    for f in contract.fields():
        if f.transform in _GENERALISING and (f.output or f.name) not in made:
            needed.update([f.name, *([f.at] if f.at else [])])
    if contract.quarter_column not in made:
        needed.add(contract.event_date)
    return [f.name for f in contract.fields() if f.name in needed]


def read_after_validation(contract: Contract, *, records: bool, generalised: bool = False) -> list[str]:
    """The extract columns a contribution reads once the extract is validated: the sources of
    the unkeyed output columns (``_source_columns``), and for one that sends records (not counts)
    the keyed inputs (pseudonymised fields and the linkage inputs) and the consent fields.
    Everything else (names, helper dates; in aggregate mode keys and consent too) is read by
    nothing after validation, so the validated rows are kept without it. ``generalised``: the
    rows went through ``generalise_early``: its output columns instead of the sources only they
    read."""
    made = set(_early_outputs(contract)) if generalised else set()
    needed = set(_source_columns(contract, made))
    if records:
        needed.update(f.name for f in contract.fields() if f.transform in (Transform.PSEUDONYM, Transform.LINKAGE_INPUT, Transform.CONSENT))
        needed.update(contract.linkage_inputs)
    return [f.name for f in contract.fields() if f.name in needed] + [c for c in _early_outputs(contract) if c in made]


#: Generalisations whose labels do not depend on the rows (every age band, every region of the
#: network), so a block's column is the same as the whole extract's rows of that block; and whose
#: sources (postal codes as text, birth dates) are far larger than the codes they become.
_EARLY = (Transform.AGE_BAND, Transform.POSTAL_REGION)


def _early_outputs(contract: Contract) -> list[str]:
    return [f.output or f.name for f in contract.fields() if f.transform in _EARLY]


def generalise_early(frame: pd.DataFrame, contract: Contract, geography: Geography) -> None:
    """Add to ``frame`` (a block of validated rows, in place) the output columns of the
    generalisations whose labels do not depend on the rows (``_EARLY``: age bands, regions),
    so the block can be kept without their sources (``read_after_validation(generalised=True)``);
    ``quasi_identifier_frame`` and ``deidentify`` then take them as they are."""
    for f in contract.fields():
        if f.transform in _EARLY:
            frame[f.output or f.name] = _generalised(f, frame, geography).array  # by position, whatever the index


def take_rows(frame: pd.DataFrame, keep: np.ndarray, *, consume: bool = False) -> pd.DataFrame:
    """The rows of ``frame`` where ``keep`` holds, with a fresh RangeIndex (no copy if all).

    Arrow-backed text is filtered with Arrow's ``filter``; other columns take the kept positions
    (``take`` with positions found once costs a fifth of pandas' boolean indexing per column).
    The frame is assembled without pandas' copy and block consolidation (``copy=False``).
    ``consume``: ``frame`` is the caller's to give up: each column is deleted from it once taken,
    so the rows are never held twice whole (``frame`` is left without columns)."""
    keep = np.asarray(keep, dtype=bool)
    names = list(frame.columns)
    if keep.all():
        out = frame.reset_index(drop=True)
        if consume:
            out = pd.DataFrame({name: out[name] for name in names}, columns=names, copy=False)
            for name in names:
                del frame[name]
        return out
    mask = pa.array(keep)
    positions = np.flatnonzero(keep)
    columns = {}
    for name in names:
        s = frame[name]
        if isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow":
            columns[name] = pd.arrays.ArrowStringArray(pa.array(s.array).filter(mask))
        else:
            columns[name] = s.array.take(positions)
        if consume:
            del s, frame[name]
    return pd.DataFrame(columns, columns=names, copy=False)


def _generalised(f, frame: pd.DataFrame, geography: Geography) -> pd.Series | None:
    """The column field ``f`` leaves as, for the transforms that need no key; None otherwise."""
    if f.transform is Transform.AGE_BAND:
        return generalise.age_band(frame[f.name], frame[f.at])
    if f.transform is Transform.POSTAL_REGION:
        return generalise.postal_region(frame[f.name], geography)
    if f.transform is Transform.QUARTER:
        return generalise.quarter(frame[f.name])
    if f.transform is Transform.MONTH:
        return generalise.month(frame[f.name])
    if f.transform is Transform.KEEP:
        return frame[f.name]  # callers pass a frame with a RangeIndex
    return None  # PSEUDONYM needs the key; DROP, CONSENT and LINKAGE_INPUT fields do not leave


LINKAGE_TOKEN = "linkage_token"


def _digests(scratch: str | None) -> SpillingBuffer:
    """Where a keyed column's digests wait for the payload: past 4 MiB (a quarter of a million
    pseudonyms, ``SpillingBuffer.MEMORY``), in an encrypted scratch file (in ``scratch``, default
    the temporary folder), so they do not grow the contributor's memory with the extract."""
    return SpillingBuffer(prefix="dvnet-keyed-digests-", parent=scratch)


class KeyedColumns:
    """The keyed output columns (pseudonyms, and the linkage token of a research extract) of the
    rows ``rows`` of each block of validated rows given (``add``, in order), computed beside the
    caller from the moment the block is given: a contribution gives each block as soon as it is
    validated and its consent settled, so the hashing runs while the next blocks are read.
    ``close`` once every block is given. The digests wait in memory up to 4 MiB a column, then
    in an encrypted scratch file (``anonymize.scratch``) until ``parts`` takes them; which rows
    they are made for, a bit a row (``RowFlags``)."""

    def __init__(self, contract: Contract, *, pseudonym_key: bytes | None, project_key: bytes | None = None,
                 scratch: str | None = None) -> None:
        self._contract = contract
        self._schema = _output_schema(contract, keyed=True)
        self._blocks = RowFlags()
        self._rows: np.ndarray | None = None
        self._pending: dict[str, pseudonyms.PendingHexes] = {}
        self._fields = [f for f in contract.fields() if f.transform is Transform.PSEUDONYM]
        for f in self._fields:
            if pseudonym_key is None:
                raise DvnetError("PSEUDONYM_KEY_MISSING", f"{contract.ref} needs the agency's pseudonym key")
            self._pending[f.output or f.name] = pseudonyms.pending_pseudonyms(None, key=pseudonym_key, field=f.name, more=True, digests=_digests(scratch))
        if contract.linkage_inputs:
            if project_key is None:
                raise DvnetError("LINKAGE_KEY_MISSING", f"{contract.ref} needs a project linkage key (Tier 4, under a DSA)")
            self._pending[LINKAGE_TOKEN] = pseudonyms.pending_linkage_tokens(None, None, project_key=project_key, more=True, digests=_digests(scratch))

    def add(self, frame: pd.DataFrame, rows: np.ndarray) -> None:
        """The next block of validated rows: the keyed columns of its rows ``rows`` (a boolean
        mask) start being hashed; the other rows are never hashed."""
        rows = np.array(rows, dtype=bool)  # a copy: callers narrow their own mask later
        self._blocks.append(rows)
        self._rows = None
        mask = None if rows.all() else pa.array(rows)

        def text(name: str) -> pa.ChunkedArray:
            column = arrow_text(frame[name])
            return column if mask is None else column.filter(mask)

        for f in self._fields:
            self._pending[f.output or f.name].add(text(f.name))
        if self._contract.linkage_inputs:
            name_col, dob_col = self._contract.linkage_inputs
            names = frame[name_col][rows].fillna("").tolist()
            dobs = frame[dob_col][rows].dt.strftime("%Y-%m-%d").fillna("").tolist()
            self._pending[LINKAGE_TOKEN].add(pseudonyms.linkage_messages(names, dobs))

    def close(self) -> None:
        """Every block was given."""
        for pending in self._pending.values():
            pending.close()

    @property
    def rows(self) -> np.ndarray:
        """Which validated rows, over every block given, the keyed columns are made for."""
        if self._rows is None:
            self._rows = self._blocks.joined()
        return self._rows

    def parts(self, rows: np.ndarray, size: int) -> Iterator[tuple[int, dict[str, pd.Series]]]:
        """The keyed columns of the rows ``rows`` of the frame (a subset of the rows they were
        started for), ``size`` rows at a time, as (rows in the part, columns), each part checked
        against the output model. A part is ready as soon as the workers have hashed that far,
        so the caller can write the first parts while the last are still being hashed."""
        self.close()
        rows = np.asarray(rows, dtype=bool)
        if len(rows) != len(self.rows) or (rows & ~self.rows).any():
            raise ValueError("keyed columns were not computed for some of these rows")
        within = rows[self.rows]
        positions = np.flatnonzero(within)
        for start in range(0, len(positions), size):
            stop = min(start + size, len(positions))
            low, high = int(positions[start]), int(positions[stop - 1]) + 1
            keep = pa.array(within[low:high])
            part = {name: pd.Series(pd.arrays.ArrowStringArray(pending.rows(low, high).filter(keep))) for name, pending in self._pending.items()}
            _check_output(pd.DataFrame(part, copy=False), self._schema, self._contract)
            yield stop - start, part
        for pending in self._pending.values():  # every digest was taken: their scratch files go now
            pending.release()

    def cancel(self) -> None:
        """Stop whatever hashing is still running (nothing to do once the columns were taken)."""
        for pending in self._pending.values():
            pending.cancel()


def quasi_identifier_frame(frame: pd.DataFrame, contract: Contract, geography: Geography, rows: np.ndarray | None = None) -> pd.DataFrame:
    """The contract's quasi-identifier columns exactly as ``deidentify`` makes them, one row per
    row of ``frame`` (or per row in the mask ``rows``): what k-anonymity is measured over, and
    what ``deidentify`` then takes as ``generalised`` instead of making them again."""
    made = {}
    fields = [f for f in contract.fields() if (f.output or f.name) in contract.quasi_identifiers()]
    ready = [f for f in fields if f.transform in _EARLY and (f.output or f.name) in frame.columns]  # generalise_early made them
    fields = [f for f in fields if f not in ready]
    needed = [c for c in dict.fromkeys([*(n for f in fields for n in (f.name, f.at) if n), *(f.output or f.name for f in ready)])]
    source = take_rows(frame[needed], rows) if rows is not None else frame[needed].reset_index(drop=True)
    for f in ready:
        made[f.output or f.name] = source[f.output or f.name]
    for f in fields:
        made[f.output or f.name] = _generalised(f, source, geography)
    return pd.DataFrame({q: made[q] for q in contract.quasi_identifiers()}, copy=False)


def _output_schema(contract: Contract, *, keyed: bool) -> Schema:
    """The output model's keyed columns (pseudonyms, linkage token), or all the others. Every
    output rule is about one column (a test in tests/unit/contracts checks there is no rule over
    several columns and no uniqueness), so the two halves can be checked apart, and keyed parts
    alone."""
    schema = contract.output_schema
    made_with_key = set(keyed_outputs(contract))
    return schema.remove_columns([c for c in schema.columns if (c in made_with_key) != keyed])


def keyed_outputs(contract: Contract) -> list[str]:
    """The output columns made with a key: pseudonyms and the linkage token."""
    names = [f.output or f.name for f in contract.fields() if f.transform is Transform.PSEUDONYM]
    return names + ([LINKAGE_TOKEN] if contract.linkage_inputs else [])


def _check_output(frame: pd.DataFrame, schema: Schema, contract: Contract) -> None:
    failed = sorted({f.column for f in schema_failures(frame, schema)})
    if failed:
        raise DeidentificationError(
            "OUTPUT_MODEL_VIOLATION", f"de-identified {contract.ref} fails its output model in column(s): {', '.join(failed)}"
        )


def deidentify(
    frame: pd.DataFrame,
    contract: Contract,
    geography: Geography,
    *,
    rows: np.ndarray | None = None,
    generalised: pd.DataFrame | None = None,
    consume: bool = False,
) -> pd.DataFrame:
    """The de-identified columns that need no key (every output-model column but the pseudonyms
    and the linkage token, which ``KeyedColumns`` makes), in output order, checked against the
    output model, for validated ``frame``. Postal codes become regions of the network's ``geography``.

    ``rows`` (a boolean mask) de-identifies only those rows: the others (excluded for consent,
    withheld for k) are left behind before anything is computed for them. ``generalised``:
    columns already made by ``quasi_identifier_frame`` for exactly those rows, used as they are.
    ``consume``: ``frame`` is the caller's to give up (``take_rows``): its columns go as they are
    taken, and the columns nothing reads first.
    """
    rows = np.ones(len(frame), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    ready = dict(generalised.items()) if generalised is not None else {}
    early = [c for c in _early_outputs(contract) if c in frame.columns and c not in ready]  # generalise_early made them
    # Only the columns still to be read are copied (names, consent and helper dates stay behind).
    needed = [c for c in _source_columns(contract, made={*ready, *early}) if c in frame.columns] + early
    if consume:
        for name in [c for c in frame.columns if c not in needed]:
            del frame[name]
        source = take_rows(frame, rows, consume=True)
    else:
        source = take_rows(frame[needed], rows)
    ready.update({c: source[c] for c in early})
    out: dict[str, pd.Series] = {}
    for f in contract.fields():
        target = f.output or f.name
        if target in ready:
            out[target] = ready[target].reset_index(drop=True)
        elif f.transform in _GENERALISING:
            out[target] = _generalised(f, source, geography)
    if contract.quarter_column not in out:
        out[contract.quarter_column] = generalise.quarter(source[contract.event_date])
    keyed = set(keyed_outputs(contract))
    result = pd.DataFrame({c: out[c] for c in contract.output_columns() if c not in keyed}, copy=False)
    _check_output(result, _output_schema(contract, keyed=False), contract)
    return result
