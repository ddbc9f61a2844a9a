"""A signed record is written once: a second writer of the same name is refused, the first's
file and signature are kept, and no temporary file is left behind."""

from __future__ import annotations

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ed25519

from dvnet.common.audit import KeySigner
from dvnet.common.signed_records import write_signed
from dvnet.contracts.errors import RegistryError


def test_a_second_record_of_the_same_name_is_refused_and_the_first_kept(tmp_path):
    first, second = KeySigner("alice", ed25519.Ed25519PrivateKey.generate()), KeySigner("bob", ed25519.Ed25519PrivateKey.generate())
    path = tmp_path / "v001.yaml"
    write_signed(path, {"decision": "first"}, first)
    kept = path.read_bytes()
    with pytest.raises(RegistryError) as exc:
        write_signed(path, {"decision": "second"}, second)
    assert exc.value.reason == "RECORD_EXISTS"
    assert path.read_bytes() == kept and yaml.safe_load(kept)["signed_by"] == "alice"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v001.yaml"]
    assert path.stat().st_mode & 0o777 == 0o600
