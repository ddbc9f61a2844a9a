"""Coded text: a text column whose values come from a code list, held as codes into that list
(a pandas categorical). Its rules are decided once per list value and read back per row through
the codes; k-anonymity, row selection and the output checks then work on small integers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dvnet.contracts.conformance.failure import Failure
from dvnet.contracts.conformance.fallback import pandera_check
from dvnet.contracts.conformance.text import LARGE_STRING, TEXT, arrow_text, text_check
from dvnet.kernels.masks import bool_mask


def is_coded_text(s: pd.Series) -> bool:
    """Whether ``s`` is text held as codes into a list of values (a pandas categorical of text,
    as validation makes a code-list column: see ``code_column``)."""
    return isinstance(s.dtype, pd.CategoricalDtype) and s.cat.categories.inferred_type in ("string", "empty")


def code_column(text: pd.Series, allowed: list[str]) -> tuple[pd.Series, np.ndarray]:
    """A text column whose values come from the code list ``allowed``, as codes into that list
    (a pandas categorical of ``allowed``, in that order), and the rows whose value is not on
    the list (they become NA). Every later step reads the codes instead of the text: k-anonymity
    classes, row selection and the output checks work on small integers, and Parquet writes the
    dictionary it is given instead of hashing every value again."""
    allowed = list(dict.fromkeys(allowed))  # a list given twice over is still one list of codes
    values = arrow_text(text)
    found = pc.fill_null(pc.index_in(values, value_set=pa.array(allowed, LARGE_STRING)), -1)
    codes = np.concatenate([c.to_numpy() for c in found.chunks]) if found.num_chunks else np.zeros(0, np.int32)
    off_list = (codes < 0) & bool_mask(pc.is_valid(values), len(values))
    coded = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(allowed))  # pandas narrows the codes
    return pd.Series(coded, index=text.index), off_list


def coded_failures(s: pd.Series, column, name: str, required: bool) -> list[Failure]:
    """The failures of a coded text column, in the order ``schema_failures`` documents: each
    rule is decided once per value of its code list and read back per row through the codes.
    The text fast-path rules (``isin``, ``str_matches``, ``str_length``) are about one value at a
    time, so this is exact; any other check runs on the column as text."""
    n = len(s)
    codes = s.cat.codes.to_numpy()
    present = codes >= 0
    values = arrow_text(pd.Series(pd.array(list(s.cat.categories), dtype=TEXT)))
    out: list[Failure] = []
    if required and not present.all():
        out.append(Failure(name, "not_nullable", ~present, True))
    if column.unique:
        counts = np.bincount(codes[present], minlength=1)
        dup = present & (counts[np.maximum(codes, 0)] > 1)
        if dup.any():
            out.append(Failure(name, "field_uniqueness", dup, required))
    for check in column.checks:
        per_value = text_check(check, values, len(values))
        if per_value is None:
            mask = pandera_check(check, s.astype(TEXT), n)
        else:
            mask = present & np.append(per_value, False)[codes]  # code -1 (NA) reads the False
        if mask.any():
            out.append(Failure(name, check.error or check.name, mask, required))
    return out
