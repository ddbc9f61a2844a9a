"""Keyed pseudonyms and project-scoped linkage tokens, checked against published test vectors.

Vectors are quoted from RFC 5869 (HKDF-SHA256), not computed here; RFC 4231's (HMAC-SHA256) are
checked on the hashing kernel (tests/unit/kernels/test_kernels_keyed_hashes.py). The expected
keys and tokens below were made by the earlier, hand-written HKDF: changing them would break
every project's linkage.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pyarrow as pa
import pytest

from dvnet.anonymize import pseudonyms
from dvnet.kernels import keyed_hashes
from dvnet.anonymize.pseudonyms import (
    HKDF_INFO_PREFIX,
    PSEUDONYM_HEX_CHARS,
    KeyedHashError,
    hkdf_sha256,
    linkage_tokens,
    normalise_name,
    project_linkage_key,
    pseudonym_array,
    pseudonymise,
)

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


# RFC 5869 ----------------------------------------------------------------------------------------


def test_hkdf_rfc5869_case_1():
    okm = hkdf_sha256(b"\x0b" * 22, salt=bytes(range(0x00, 0x0D)), info=bytes(range(0xF0, 0xFA)), length=42)
    assert okm.hex() == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"


def test_hkdf_rfc5869_case_2_long_inputs_and_output():
    okm = hkdf_sha256(bytes(range(0x00, 0x50)), salt=bytes(range(0x60, 0xB0)), info=bytes(range(0xB0, 0x100)), length=82)
    assert okm.hex() == (
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f1d87"
    )


@pytest.mark.parametrize("salt", [b"", None], ids=["empty salt", "no salt"])
def test_hkdf_rfc5869_case_3_no_salt_no_info(salt):
    okm = hkdf_sha256(b"\x0b" * 22, salt=salt, info=b"", length=42)
    assert okm.hex() == "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"


# Pseudonyms --------------------------------------------------------------------------------------


def test_pseudonym_is_truncated_hmac_of_field_and_value_under_the_agency_key():
    # Pinned construction: changing it would break every agency's history of pseudonyms.
    got = pseudonymise(["C-1001"], key=KEY_A, field="client_id")[0]
    want = hmac.new(KEY_A, b"client_id\x00C-1001", hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS]
    assert got == want
    assert len(got) == 32 and int(got, 16) >= 0


def test_same_key_same_value_gives_the_same_pseudonym():
    a = pseudonymise(["C-1", "C-2", "C-1"], key=KEY_A, field="client_id")
    b = pseudonymise(["C-2", "C-1"], key=KEY_A, field="client_id")
    assert a[0] == a[2] == b[1]
    assert a[1] == b[0]
    assert a[0] != a[1]


def test_different_key_gives_a_different_pseudonym():
    a = pseudonymise(["C-1", "C-2"], key=KEY_A, field="client_id")
    b = pseudonymise(["C-1", "C-2"], key=KEY_B, field="client_id")
    assert set(a).isdisjoint(set(b))


def test_the_same_value_in_another_field_gives_another_pseudonym():
    a = pseudonymise(["1001"], key=KEY_A, field="client_id")
    b = pseudonymise(["1001"], key=KEY_A, field="referral_id")
    assert a[0] != b[0]


def test_pseudonyms_keep_row_order_for_many_rows():
    values = np.array([f"C-{i % 97}" for i in range(1000)], dtype=object)
    out = pseudonymise(values, key=KEY_A, field="client_id")
    assert len(out) == 1000
    single = {v: pseudonymise([v], key=KEY_A, field="client_id")[0] for v in set(values)}
    assert list(out) == [single[v] for v in values]


def test_bulk_pseudonyms_equal_hmac_row_by_row_in_order_across_chunks():
    """Enough values (in several Arrow chunks) to be hashed in the worker process: each row still
    gets exactly the HMAC of its own value."""
    values = [f"EP-{i:07d}" for i in range(300_000)]
    column = pa.chunked_array([pa.array(values[i : i + 70_000], pa.large_string()) for i in range(0, len(values), 70_000)])
    got = pseudonym_array(column, key=KEY_A, field="episode_id").to_pylist()
    want = [hmac.new(KEY_A, b"episode_id\x00" + v.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS] for v in values]
    assert got == want


def test_missing_values_stay_missing_and_the_others_keep_their_rows():
    values = pa.chunked_array([pa.array(["C-1", None, "C-2"], pa.large_string()), pa.array([None, "C-1"], pa.large_string())])
    got = pseudonym_array(values, key=KEY_A, field="client_id").to_pylist()
    one, two = (hmac.new(KEY_A, b"client_id\x00" + v, hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS] for v in (b"C-1", b"C-2"))
    assert got == [one, None, two, None, one]


@pytest.mark.parametrize("in_worker", [True, False], ids=["worker process", "in this process"])
def test_a_column_given_in_blocks_equals_the_column_given_whole(monkeypatch, in_worker):
    """Blocks (some with missing values, one empty, one without any) give the digests of the
    whole column, NA where NA, and any rows can be taken across the blocks' boundaries."""
    monkeypatch.setattr(keyed_hashes, "WORKER_MIN_MESSAGES", 1 if in_worker else 10**9)
    values = [None if i % 5 == 2 else f"C-{i % 17}" for i in range(300)]
    whole = pseudonym_array(pa.array(values, pa.large_string()), key=KEY_A, field="client_id").to_pylist()
    pending = pseudonyms.pending_pseudonyms(None, key=KEY_A, field="client_id", more=True)
    for low, high in ((0, 3), (3, 3), (3, 120), (120, 121), (121, 300)):
        pending.add(pa.array(values[low:high], pa.string()))
    pending.close()
    assert pending.rows(0, 300).to_pylist() == whole
    assert pending.rows(100, 130).to_pylist() == whole[100:130]
    assert pending.result().to_pylist() == whole


def test_a_hashing_process_that_dies_is_keyed_hash_failed(monkeypatch, tmp_path):
    """The kernel's worker failure reaches the contributor as its reason code, no value in it."""
    dying = tmp_path / "dying_worker.py"
    dying.write_text("import sys\nsys.exit(3)\n", encoding="utf-8")
    monkeypatch.setattr(keyed_hashes, "WORKER_MIN_MESSAGES", 1)
    monkeypatch.setattr(keyed_hashes, "_WORKER", dying)
    values = pa.array([f"C-{i}" for i in range(100)], pa.large_string())
    pending = pseudonyms.pending_pseudonyms(values, key=KEY_A, field="client_id")
    with pytest.raises(KeyedHashError, match="stopped before it finished") as failure:
        pending.result()
    assert failure.value.reason == "KEYED_HASH_FAILED" and "nothing was sealed" in failure.value.message
    assert "C-1" not in failure.value.message


def test_the_pseudonym_does_not_contain_the_value():
    out = pseudonymise(["123456"], key=KEY_A, field="client_id")[0]
    assert "123456" not in out


# Linkage tokens ----------------------------------------------------------------------------------


def test_project_key_is_hkdf_of_the_network_key_with_the_project_id_as_info():
    assert project_linkage_key(KEY_A, "dsa-1") == hkdf_sha256(KEY_A, salt=None, info=HKDF_INFO_PREFIX + b"dsa-1")


def test_project_keys_and_tokens_are_the_ones_made_before():
    assert project_linkage_key(KEY_A, "dsa-1").hex() == "1a56633dca53221f9a08eb44037a008e2c1a01aaa7d9d4fa4167cd812933d7e5"
    key = project_linkage_key(KEY_A, "dsa-2026-01")
    assert key.hex() == "4b5256fca9e0ddaa6ac6593e4257948c683ee09a54d5c37886927dc7aee01f4c"
    assert linkage_tokens(["José Martínez", "Ana Silva"], ["1985-07-14", "1990-04-02"], project_key=key) == [
        "ba65d19164525ff71db0f94c2f531dd40d164d7e2b77926e479fffa6c04224dd",
        "84efafb2b24e56d25c456788e68e892e304972fa9413bf265445160e990ff4dc",
    ]


def test_linkage_tokens_differ_between_projects():
    ka, kb = project_linkage_key(KEY_A, "dsa-2026-01"), project_linkage_key(KEY_A, "dsa-2026-02")
    assert ka != kb
    ta = linkage_tokens(["Ana Silva"], ["1990-04-02"], project_key=ka)
    tb = linkage_tokens(["Ana Silva"], ["1990-04-02"], project_key=kb)
    assert ta != tb


def test_linkage_tokens_match_across_name_spellings():
    key = project_linkage_key(KEY_A, "dsa-2026-01")
    tokens = linkage_tokens(
        ["José  Martínez", "jose martinez", "MARTINEZ, Jose", "Ana Silva"],
        ["1985-07-14"] * 4,
        project_key=key,
    )
    assert tokens[0] == tokens[1] == tokens[2]
    assert tokens[3] != tokens[0]
    assert all(len(t) == 64 for t in tokens)


def test_linkage_tokens_differ_by_date_of_birth():
    key = project_linkage_key(KEY_A, "dsa-2026-01")
    a, b = linkage_tokens(["jose martinez"] * 2, ["1985-07-14", "1985-07-15"], project_key=key)
    assert a != b


def test_linkage_token_is_hmac_of_normalised_name_and_birth_date():
    key = project_linkage_key(KEY_A, "dsa-2026-01")
    want = hmac.new(key, "jose martinez|1985-07-14".encode(), hashlib.sha256).hexdigest()
    assert linkage_tokens(["José Martínez"], ["1985-07-14"], project_key=key) == [want]


@pytest.mark.parametrize(
    ("a", "b"),
    [("José  Martínez", "jose martinez"), ("Zoë O'Neil", "zoe o neil"), ("ANA-MARIA silva", "silva ana maria"), ("  Ana\tSilva ", "ana silva")],
)
def test_normalised_names_ignore_case_accents_punctuation_spacing_and_order(a, b):
    assert normalise_name(a) == normalise_name(b)
