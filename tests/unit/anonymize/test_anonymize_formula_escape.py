"""Release CSVs escape text that a spreadsheet would run as a formula."""

import pandas as pd

from dvnet.assets.releases.lib.files import escape_formula, escaped


def test_formula_like_text_gets_a_leading_apostrophe():
    for cell in ("=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx"):
        assert escape_formula(cell) == "'" + cell


def test_plain_text_and_numbers_are_untouched():
    assert escape_formula("Total") == "Total"
    assert escape_formula(12) == 12
    frame = escaped(pd.DataFrame({"dim": ["=HYPERLINK(1)", "woman"], "value": [3, 4]}))
    assert frame["dim"].tolist() == ["'=HYPERLINK(1)", "woman"]
    assert frame["value"].tolist() == [3, 4]
