"""De-identification of a validated extract by the contract's field roles and transforms.

Direct identifiers are dropped or become keyed pseudonyms / linkage tokens; quasi-identifiers are
generalised; sensitive and operational fields are kept; consent fields are dropped. The result is
validated against the contract's output model, so nothing outside it can leave.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from anonymize import generalise, pseudonyms
from contracts.errors import DvnetError
from contracts.registry import Contract
from contracts.roles import Transform


class DeidentificationError(DvnetError):
    """The de-identified frame does not match the output model (a bug or a contract mistake)."""


def deidentify(
    frame: pd.DataFrame,
    contract: Contract,
    *,
    pseudonym_key: bytes,
    project_key: bytes | None = None,
) -> pd.DataFrame:
    """The de-identified frame (output-model columns, in order) for validated ``frame``."""
    frame = frame.reset_index(drop=True)
    out: dict[str, pd.Series] = {}
    for f in contract.fields():
        target = f.output or f.name
        col = frame[f.name]
        if f.transform is Transform.PSEUDONYM:
            out[target] = pd.Series(pd.array(pseudonyms.pseudonymise(col.to_numpy(dtype=object), key=pseudonym_key, field=f.name), dtype="string"))
        elif f.transform is Transform.AGE_BAND:
            out[target] = generalise.age_band(col, frame[f.at])
        elif f.transform is Transform.POSTAL_REGION:
            out[target] = generalise.postal_region(col)
        elif f.transform is Transform.QUARTER:
            out[target] = generalise.quarter(col)
        elif f.transform is Transform.MONTH:
            out[target] = generalise.month(col)
        elif f.transform is Transform.KEEP:
            out[target] = col
        # DROP, CONSENT and LINKAGE_INPUT fields do not leave.
    out[contract.quarter_column] = generalise.quarter(frame[contract.event_date])
    if contract.linkage_inputs:
        if project_key is None:
            raise DvnetError("LINKAGE_KEY_MISSING", f"{contract.ref} needs a project linkage key (Tier 4, under a DSA)")
        name_col, dob_col = contract.linkage_inputs
        dobs = frame[dob_col].dt.strftime("%Y-%m-%d").fillna("")
        out["linkage_token"] = pd.Series(
            pd.array(pseudonyms.linkage_tokens(frame[name_col].fillna("").tolist(), dobs.tolist(), project_key=project_key), dtype="string")
        )
    columns = contract.output_columns()
    result = pd.DataFrame({c: out[c] for c in columns})
    try:
        contract.output.to_schema().validate(result, lazy=True)
    except pa.errors.SchemaErrors as e:
        failed = sorted({str(c) for c in e.failure_cases["column"].dropna()})
        raise DeidentificationError(
            "OUTPUT_MODEL_VIOLATION", f"de-identified {contract.ref} fails its output model in column(s): {', '.join(failed)}"
        ) from None
    return result
