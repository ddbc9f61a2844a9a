"""Contract conformance: which rows of a frame break which rule of a contract model.

The contract's pandera model is the single source of truth for types and rules; this package
evaluates them column-wise, for the contributor's validation of an extract, for the de-identified
output before it is sealed, and for the coordinator's re-validation of every record-mode bundle.
pandera's pandas backend is not what runs them on a million rows: it turns Arrow-backed text into
Python strings and calls a Python function per cell (about 30 s for a million service episodes),
and its ``failure_cases`` carry the raw values. Here a failure is a boolean mask, never a value.
Three engines, one module each, chosen per column by ``schema.schema_failures``:

* ``text``: text rules (``isin``, ``str_length``, ``str_matches``) as Arrow kernels;
  ``str_matches`` keeps Python ``re.match`` semantics exactly (``kernels.text_match``);
* ``coded``: the same rules on a code-list column held as codes, decided once per list value;
* ``fallback``: any other check, and the models' dataframe-level checks, run by the pandera
  ``Check`` object itself, so a new rule in a contract is enforced before it gets a fast path.

pyarrow is imported here although DESIGN §4 lists pandas and pandera only for ``contracts/``:
it is the storage behind pandas' own ``string[pyarrow]`` columns, not a new dependency.
"""

from dvnet.contracts.conformance.coded import code_column, is_coded_text
from dvnet.contracts.conformance.failure import ROW_COLUMN, Failure
from dvnet.contracts.conformance.schema import schema_failures
from dvnet.contracts.conformance.text import arrow_text, as_text, distinct_values
from dvnet.kernels.column_pool import run_per_column
from dvnet.kernels.distinct import spread
from dvnet.kernels.masks import bool_mask

__all__ = [
    "ROW_COLUMN", "Failure", "arrow_text", "as_text", "bool_mask", "code_column", "distinct_values", "is_coded_text",
    "run_per_column", "schema_failures", "spread",
]
