"""Profiles: names, overrides, typed errors, and the DataSHIELD refusal decision."""

from __future__ import annotations

import pandas as pd
import pytest

from dvnet.anonymize.disclosure import PROFILE_NAMES, DisclosureError, Table, get_profile, protect
from dvnet.anonymize.disclosure.profiles import cms11, datashield3, dv_default, opensafely


def test_every_named_profile_resolves_with_its_constants():
    assert set(PROFILE_NAMES) == {"dv-default", "cms-11", "opensafely", "datashield-3", "custom"}
    assert get_profile("dv-default").threshold == dv_default.THRESHOLD == 11
    assert get_profile("cms-11").protection_width == cms11.PROTECTION_WIDTH == 11
    os_ = get_profile("opensafely")
    assert (os_.threshold, os_.rounding_base) == (opensafely.SUPPRESSION_THRESHOLD + 1, opensafely.ROUNDING_MULTIPLE)
    assert get_profile("datashield-3").on_sensitive == datashield3.ON_SENSITIVE == "refuse"
    for name in PROFILE_NAMES[:-1]:
        assert get_profile(name).source.startswith(("http", "dvnet"))


def test_unknown_profile_is_a_typed_error_with_a_hint():
    with pytest.raises(DisclosureError) as err:
        get_profile("k-anonymity-5")
    assert err.value.reason == "UNKNOWN_PROFILE"
    assert "dv-default" in err.value.hint


def test_overrides_apply_and_bad_ones_are_rejected():
    assert get_profile("dv-default", dominance_share=0.9).dominance_share == 0.9
    with pytest.raises(DisclosureError) as err:
        get_profile("dv-default", treshold=5)
    assert err.value.reason == "INVALID_PROFILE"
    with pytest.raises(DisclosureError) as err:
        get_profile("dv-default", protection_width=0)
    assert err.value.reason == "INVALID_PROFILE"


def test_custom_profile_derives_its_protection_width():
    p = get_profile("custom", threshold=6, rounding_base=10, zeros="suppress", dominance_share=None)
    assert (p.threshold, p.rounding_base, p.zeros, p.dominance_share) == (6, 10, "suppress", None)
    assert p.protection_width == 10  # a rounded base-10 value spans 10 counts (v-5 .. v+4)
    assert get_profile("custom", threshold=6).protection_width == 5
    with pytest.raises(DisclosureError) as err:
        get_profile("custom", zeros="maybe")
    assert err.value.reason == "INVALID_PROFILE"


def _row(values):
    frame = pd.DataFrame({"region": [*map(str, range(len(values))), "Total"], "value": [*values, sum(values)]})
    return Table("by_region", frame, ("region",), "episodes")


def test_datashield_refuses_a_table_with_a_count_of_one_or_two():
    with pytest.raises(DisclosureError) as err:
        protect([_row([2, 40, 30])], "datashield-3")
    assert err.value.reason == "TABLE_REFUSED"
    assert err.value.context["tables"] == ["by_region"]
    assert err.value.context["small_cells"] == 1


def test_datashield_publishes_a_table_whose_non_zero_counts_are_all_three_or_more():
    release = protect([_row([0, 3, 40])], "datashield-3")
    assert (release.tables["by_region"]["status"] == "published").all()
    assert release.tables["by_region"]["value"].tolist() == [0, 3, 40, 43]


def test_zero_rule_is_configurable():
    release = protect([_row([0, 30, 40, 50])], get_profile("custom", threshold=11, zeros="suppress"))
    frame = release.tables["by_region"]
    assert frame.loc[0, "status"] == "suppressed"
    assert pd.isna(frame.loc[0, "value"])
    assert release.audit.passed
