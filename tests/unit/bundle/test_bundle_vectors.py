"""Every committed vector file opens to its named outcome (SPEC §8), and the generator still works."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from dvnet.bundle import REASONS, BundleError, open_bundle
from dvnet.bundle import make_vectors
from dvnet.bundle.header import parse_time

VECTOR_DIR = Path(make_vectors.__file__).parent / "vectors"
VECTOR_FILES = sorted(VECTOR_DIR.glob("*.json"))
REQUIRED = {
    "success", "header_tampered", "signature_tampered", "ciphertext_tampered", "wrong_recipient",
    "truncated", "trailing_garbage", "header_not_canonical", "suite_unsupported", "expired",
    "not_yet_valid", "manifest_mismatch",
}  # fmt: skip


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="ascii"))


def _open(vector: dict):
    """Open with the public API only, independently of make_vectors' own runner."""
    keys, params = vector["test_keys"], vector["open_with"]
    signing = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(keys["agency_signing_private_hex"]))
    recipient = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(keys["coordinator_encryption_private_hex"]))
    return open_bundle(
        bytes.fromhex(vector["bundle_hex"]),
        signing_public_key=signing.public_key(),
        recipient_private_key=recipient,
        now=parse_time(params["now"]),
        max_size=params["max_size"],
        max_clock_skew=timedelta(seconds=params["max_clock_skew_seconds"]),
    )


def test_required_scenarios_are_present():
    assert REQUIRED <= {path.stem for path in VECTOR_FILES}


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: p.stem)
def test_vector_has_its_expected_outcome(path):
    vector = _load(path)
    assert vector["scenario"] == path.stem
    assert vector["expected_outcome"] == "success" or vector["expected_outcome"] in REASONS
    assert "TEST KEYS ONLY" in vector["test_keys"]["warning"]
    if vector["expected_outcome"] == "success":
        opened = _open(vector)
        assert opened.header == vector["expected"]["header"]
        assert opened.manifest == vector["expected"]["manifest"]
        assert bytes(opened.data).hex() == vector["expected"]["data_hex"]
        assert hashlib.sha256(opened.data).hexdigest() == opened.manifest["data_sha256"]
    else:
        with pytest.raises(BundleError) as caught:
            _open(vector)
        assert caught.value.reason == vector["expected_outcome"]


def test_generator_regenerates_and_checks(tmp_path, capsys):
    assert make_vectors.main(["--out", str(tmp_path)]) == 0
    assert make_vectors.main(["--out", str(tmp_path), "--check"]) == 0
    assert make_vectors.main(["--check"]) == 0
    capsys.readouterr()
    assert {p.name for p in tmp_path.glob("*.json")} == {p.name for p in VECTOR_FILES}
    fresh, committed = _load(tmp_path / "success.json"), _load(VECTOR_DIR / "success.json")
    # Deterministic parts are identical; the HPKE output is not (no injectable ephemeral key).
    assert fresh["expected"] == committed["expected"]
    assert fresh["test_keys"] == committed["test_keys"]
    assert fresh["bundle_hex"] != committed["bundle_hex"]


def test_check_reports_a_wrong_outcome(tmp_path, capsys):
    vector = _load(VECTOR_DIR / "success.json")
    vector["expected_outcome"] = "EXPIRED"
    (tmp_path / "success.json").write_text(json.dumps(vector), encoding="ascii")
    assert make_vectors.main(["--out", str(tmp_path), "--check"]) == 1
    assert "expected EXPIRED, got success" in capsys.readouterr().out
