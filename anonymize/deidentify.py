"""De-identification of a validated extract by the contract's field roles and transforms.

Direct identifiers are dropped or become keyed pseudonyms / linkage tokens; quasi-identifiers are
generalised; sensitive and operational fields are kept; consent fields are dropped. The result is
validated against the contract's output model, so nothing outside it can leave.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from anonymize import generalise, pseudonyms
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


def deidentify(
    frame: pd.DataFrame,
    contract: Contract,
    *,
    pseudonym_key: bytes | None,
    project_key: bytes | None = None,
    pseudonyms_needed: bool = True,
) -> pd.DataFrame:
    """The de-identified frame (output-model columns, in order) for validated ``frame``.

    With ``pseudonyms_needed=False`` (aggregate mode: only counts leave, and no count is by
    client or episode) the pseudonym and linkage-token columns are not computed at all; the
    other columns are exactly as in record mode.
    """
    from pipelines.contributor.validate import schema_failures  # the contract-rule engine

    frame = frame.reset_index(drop=True)
    out: dict[str, pd.Series] = {}
    skipped: set[str] = set()
    for f in contract.fields():
        target = f.output or f.name
        if f.transform is Transform.PSEUDONYM:
            if not pseudonyms_needed:
                skipped.add(target)
                continue
            if pseudonym_key is None:
                raise DvnetError("PSEUDONYM_KEY_MISSING", f"{contract.ref} needs the agency's pseudonym key")
            col = pa.array(frame[f.name].astype(pd.StringDtype("pyarrow")).array)
            out[target] = pd.Series(pd.arrays.ArrowStringArray(pseudonyms.pseudonym_array(col, key=pseudonym_key, field=f.name)))
        elif f.transform is Transform.AGE_BAND:
            out[target] = generalise.age_band(frame[f.name], frame[f.at])
        elif f.transform is Transform.POSTAL_REGION:
            out[target] = generalise.postal_region(frame[f.name])
        elif f.transform is Transform.QUARTER:
            out[target] = generalise.quarter(frame[f.name])
        elif f.transform is Transform.MONTH:
            out[target] = generalise.month(frame[f.name])
        elif f.transform is Transform.KEEP:
            out[target] = frame[f.name]
        # DROP, CONSENT and LINKAGE_INPUT fields do not leave.
    event_quarter = next((f for f in contract.fields() if f.transform is Transform.QUARTER and f.name == contract.event_date), None)
    if event_quarter is None or (event_quarter.output or event_quarter.name) != contract.quarter_column:
        out[contract.quarter_column] = generalise.quarter(frame[contract.event_date])
    # else: the event date's QUARTER transform made exactly this column already
    if contract.linkage_inputs:
        if not pseudonyms_needed:
            skipped.add("linkage_token")
        else:
            if project_key is None:
                raise DvnetError("LINKAGE_KEY_MISSING", f"{contract.ref} needs a project linkage key (Tier 4, under a DSA)")
            name_col, dob_col = contract.linkage_inputs
            dobs = frame[dob_col].dt.strftime("%Y-%m-%d").fillna("")
            out["linkage_token"] = pd.Series(
                pd.array(pseudonyms.linkage_tokens(frame[name_col].fillna("").tolist(), dobs.tolist(), project_key=project_key), dtype="string")
            )
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
