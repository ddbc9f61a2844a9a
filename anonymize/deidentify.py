"""De-identification by field role (DESIGN §6).

Direct identifiers are dropped or become keyed pseudonyms / linkage tokens; quasi-identifiers are
generalised; sensitive and operational fields are kept; consent fields are dropped. The result is
checked against the contract's output model (``contracts.conformance``), so nothing outside it
can leave.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa

from anonymize import generalise, pseudonyms
from contracts.conformance import arrow_text, schema_failures
from contracts.errors import DvnetError
from contracts.registry import Contract
from contracts.roles import Transform


class DeidentificationError(DvnetError):
    """The de-identified frame does not match the output model (a bug or a contract mistake)."""


def source_columns(contract: Contract) -> list[str]:
    """The extract columns ``deidentify`` reads: every field that leaves in some form, the
    dates an age band is computed at, and the linkage inputs. Dropped fields (names, consent,
    helper dates) are not among them, so a caller can leave them behind before copying rows."""
    needed: list[str] = []
    for f in contract.fields():
        if f.transform not in (Transform.DROP, Transform.CONSENT, Transform.LINKAGE_INPUT):
            needed.append(f.name)
        if f.at:
            needed.append(f.at)
    needed += [contract.event_date, *contract.linkage_inputs]
    return [f.name for f in contract.fields() if f.name in set(needed)]


def take_rows(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """The rows of ``frame`` where ``keep`` holds, with a fresh RangeIndex (no copy if all).

    Arrow-backed text is filtered chunk by chunk with Arrow's ``filter``; pandas' boolean
    indexing turns the mask into positions and gathers across every chunk, which costs about
    three times more for a million rows of text."""
    keep = np.asarray(keep, dtype=bool)
    if keep.all():
        return frame.reset_index(drop=True)
    mask = pa.array(keep)
    columns = {}
    for name in frame.columns:
        s = frame[name]
        if isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow":
            columns[name] = pd.arrays.ArrowStringArray(pa.array(s.array).filter(mask))
        else:
            columns[name] = s.array[keep]
    return pd.DataFrame(columns, columns=frame.columns)


def _generalised(f, frame: pd.DataFrame) -> pd.Series | None:
    """The column field ``f`` leaves as, for the transforms that need no key; None otherwise."""
    if f.transform is Transform.AGE_BAND:
        return generalise.age_band(frame[f.name], frame[f.at])
    if f.transform is Transform.POSTAL_REGION:
        return generalise.postal_region(frame[f.name])
    if f.transform is Transform.QUARTER:
        return generalise.quarter(frame[f.name])
    if f.transform is Transform.MONTH:
        return generalise.month(frame[f.name])
    if f.transform is Transform.KEEP:
        return frame[f.name]  # callers pass a frame with a RangeIndex
    return None  # PSEUDONYM needs the key; DROP, CONSENT and LINKAGE_INPUT fields do not leave


#: Transforms that need no key (``_generalised``); KEEP passes the column through.
_GENERALISING = frozenset({Transform.AGE_BAND, Transform.POSTAL_REGION, Transform.QUARTER, Transform.MONTH, Transform.KEEP})


def _pseudonym_column(values: pd.Series, key: bytes, field: str) -> pd.Series:
    return pd.Series(pd.arrays.ArrowStringArray(pseudonyms.pseudonym_array(arrow_text(values), key=key, field=field)))


def _linkage_column(names: pd.Series, dates_of_birth: pd.Series, project_key: bytes) -> pd.Series:
    dobs = dates_of_birth.dt.strftime("%Y-%m-%d").fillna("")
    return pd.Series(pd.array(pseudonyms.linkage_tokens(names.fillna("").tolist(), dobs.tolist(), project_key=project_key), dtype="string"))


def _run_columns(work: dict[str, Callable[[], pd.Series]], first: set[str]) -> dict[str, pd.Series]:
    """Each output column from its own function, two at a time: keyed hashing holds Python's
    lock, but the generalisations (numpy and Arrow kernels) run beside it on the other core.
    ``first`` (the keyed columns, the longest) are started first."""
    order = sorted(work, key=lambda name: name not in first)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="dvnet-deidentify") as pool:
        futures = {name: pool.submit(work[name]) for name in order}
        return {name: futures[name].result() for name in work}


def quasi_identifier_frame(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """The contract's quasi-identifier columns exactly as ``deidentify`` makes them, one row per
    row of ``frame``: what k-anonymity is measured over, before any pseudonym is computed (so
    records withheld for k are never pseudonymised, and rows are copied once, not twice)."""
    frame = frame.reset_index(drop=True)
    made = {}
    for f in contract.fields():
        target = f.output or f.name
        if target in contract.quasi_identifiers():
            made[target] = _generalised(f, frame)
    return pd.DataFrame({q: made[q] for q in contract.quasi_identifiers()})


def deidentify(
    frame: pd.DataFrame,
    contract: Contract,
    *,
    pseudonym_key: bytes | None,
    project_key: bytes | None = None,
    pseudonyms_needed: bool = True,
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """The de-identified frame (output-model columns, in order) for validated ``frame``.

    ``rows`` (a boolean mask) de-identifies only those rows: the others (excluded for consent,
    withheld for k) are left behind before anything is computed for them. With
    ``pseudonyms_needed=False`` (aggregate mode: only counts leave, and no count is by client or
    episode) the pseudonym and linkage-token columns are not computed at all; the other columns
    are exactly as in record mode.
    """
    if rows is not None:
        # Only the columns read below are copied (names, consent and helper dates stay behind).
        frame = take_rows(frame[source_columns(contract)], rows)
    frame = frame.reset_index(drop=True)
    # Columns are taken out of the frame here, once: the workers below only read these series.
    source = {name: frame[name] for name in frame.columns}
    work: dict[str, Callable[[], pd.Series]] = {}
    skipped: set[str] = set()
    for f in contract.fields():
        target = f.output or f.name
        if f.transform is Transform.PSEUDONYM:
            if not pseudonyms_needed:
                skipped.add(target)
                continue
            if pseudonym_key is None:
                raise DvnetError("PSEUDONYM_KEY_MISSING", f"{contract.ref} needs the agency's pseudonym key")
            work[target] = partial(_pseudonym_column, source[f.name], pseudonym_key, f.name)
        elif f.transform in _GENERALISING:
            work[target] = partial(_generalised, f, source)
    event_quarter = next((f for f in contract.fields() if f.transform is Transform.QUARTER and f.name == contract.event_date), None)
    if event_quarter is None or (event_quarter.output or event_quarter.name) != contract.quarter_column:
        work[contract.quarter_column] = partial(generalise.quarter, source[contract.event_date])
    # else: the event date's QUARTER transform makes exactly this column already
    if contract.linkage_inputs:
        if not pseudonyms_needed:
            skipped.add("linkage_token")
        else:
            if project_key is None:
                raise DvnetError("LINKAGE_KEY_MISSING", f"{contract.ref} needs a project linkage key (Tier 4, under a DSA)")
            name_col, dob_col = contract.linkage_inputs
            work["linkage_token"] = partial(_linkage_column, source[name_col], source[dob_col], project_key)
    keyed = {f.output or f.name for f in contract.fields() if f.transform is Transform.PSEUDONYM} | {"linkage_token"}
    out = _run_columns(work, first=keyed)
    columns = [c for c in contract.output_columns() if c not in skipped]
    result = pd.DataFrame({c: out[c] for c in columns})
    schema = contract.output.to_schema()
    if skipped:
        schema = schema.remove_columns(sorted(skipped))
    failed = sorted({f.column for f in schema_failures(result, schema)})
    if failed:
        raise DeidentificationError(
            "OUTPUT_MODEL_VIOLATION", f"de-identified {contract.ref} fails its output model in column(s): {', '.join(failed)}"
        )
    return result
