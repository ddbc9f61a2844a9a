"""Key pairs, key ids, registry text for public keys, and private key files (SPEC §1, §7).

A private key or secret is never printed, logged or put in an exception message. Files holding
one are created with mode 0600 from the start. A later chmod would leave a window in which the
key is readable. They are never overwritten, because losing an agency's key strands its
sequence history.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from dvnet.bundle.errors import KEY_EXISTS, KEY_FILE_INSECURE, KEY_INVALID, BundleError

KEY_ID_HEX_CHARS = 16
SECRET_SIZE = 32
SECRET_PREFIX = b"dvnet-secret/1:"
# A PEM PKCS#8 Ed25519/X25519 key is about 120 bytes. The cap stops a reader from slurping a
# wrong, huge file that someone pointed the configuration at by mistake.
_MAX_KEY_FILE_BYTES = 16 * 1024

PublicKey = ed25519.Ed25519PublicKey | x25519.X25519PublicKey
PrivateKey = ed25519.Ed25519PrivateKey | x25519.X25519PrivateKey


def generate_signing_key() -> ed25519.Ed25519PrivateKey:
    """A fresh Ed25519 key. An agency signs its bundles with it; the coordinator signs receipts."""
    return ed25519.Ed25519PrivateKey.generate()


def generate_encryption_key() -> x25519.X25519PrivateKey:
    """A fresh X25519 key. The coordinator's, pinned by every agency, to which bundles are sealed."""
    return x25519.X25519PrivateKey.generate()


def raw_public_bytes(public_key: PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 or X25519 public key."""
    if not isinstance(public_key, (ed25519.Ed25519PublicKey, x25519.X25519PublicKey)):
        raise TypeError("expected an Ed25519 or X25519 public key")
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: PublicKey) -> str:
    """First 16 lowercase hex chars of SHA-256 over the raw public key: the id the header carries."""
    return hashlib.sha256(raw_public_bytes(public_key)).hexdigest()[:KEY_ID_HEX_CHARS]


def public_key_to_text(public_key: PublicKey) -> str:
    """Standard base64 of the raw public key, as written in the YAML registry."""
    return base64.b64encode(raw_public_bytes(public_key)).decode("ascii")


def _raw_from_text(text: str) -> bytes:
    if not isinstance(text, str):
        raise BundleError(KEY_INVALID, "public key text is not a string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise BundleError(KEY_INVALID, "public key text is not valid base64") from None
    # Only the canonical spelling is accepted, so a registry entry has one form to compare.
    if len(raw) != 32 or base64.b64encode(raw).decode("ascii") != text:
        raise BundleError(KEY_INVALID, "public key text is not canonical base64 of 32 bytes")
    return raw


def signing_public_key_from_text(text: str) -> ed25519.Ed25519PublicKey:
    """Read an Ed25519 public key from registry text (strict canonical base64)."""
    return ed25519.Ed25519PublicKey.from_public_bytes(_raw_from_text(text))


def encryption_public_key_from_text(text: str) -> x25519.X25519PublicKey:
    """Read an X25519 public key from registry text (strict canonical base64)."""
    return x25519.X25519PublicKey.from_public_bytes(_raw_from_text(text))


def _write_new_private_file(path: str | os.PathLike[str], content: bytes) -> None:
    """Create ``path`` holding ``content`` with mode 0600, atomically; never overwrite.

    The content goes to a temporary name created O_EXCL with mode 0600 and is fsynced, then
    hard-linked to the final name. link() fails if the name exists, so a crash leaves either
    no file or a complete one, and an existing key is never replaced.
    """
    path = Path(path)
    if os.path.lexists(path):
        raise BundleError(KEY_EXISTS, "refusing to overwrite an existing key file", path=str(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise BundleError(KEY_EXISTS, "refusing to overwrite an existing key file", path=str(path)) from None
        except OSError:
            # Some filesystems (FAT on a USB stick, some network shares) have no hard links.
            # Creating the final name O_EXCL still never overwrites and never widens the mode.
            # Only the crash atomicity is lost.
            _write_direct(path, content, flags)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    _fsync_dir(path.parent)


def _write_direct(path: Path, content: bytes, flags: int) -> None:
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise BundleError(KEY_EXISTS, "refusing to overwrite an existing key file", path=str(path)) from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_private_file(path: str | os.PathLike[str]) -> bytes:
    """Read a private file, refusing a missing, odd, huge or group/other-accessible one."""
    path = Path(path)
    try:
        # O_NONBLOCK so that a FIFO planted at the path cannot hang the reader before the check below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise BundleError(KEY_INVALID, "key file not found", path=str(path)) from None
    except OSError as exc:
        raise BundleError(KEY_INVALID, f"key file cannot be opened ({exc.strerror})", path=str(path)) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise BundleError(KEY_INVALID, "key file is not a regular file", path=str(path))
    with os.fdopen(fd, "rb") as handle:
        if os.name == "posix" and info.st_mode & 0o077:
            raise BundleError(
                KEY_FILE_INSECURE,
                f"key file has mode {stat.S_IMODE(info.st_mode):04o}; group and others must have no access",
                hint="check who could have read it; if no one, chmod 600 the file, otherwise replace the key",
                path=str(path),
            )
        content = handle.read(_MAX_KEY_FILE_BYTES + 1)
    if len(content) > _MAX_KEY_FILE_BYTES:
        raise BundleError(KEY_INVALID, "key file is too large to be a key", path=str(path))
    return content


def write_private_key(path: str | os.PathLike[str], private_key: PrivateKey) -> None:
    """Write an Ed25519 or X25519 private key as unencrypted PKCS#8 PEM, mode 0600, never overwriting."""
    if not isinstance(private_key, (ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey)):
        raise TypeError("expected an Ed25519 or X25519 private key")
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_new_private_file(path, pem)


def _load_private_key(path: str | os.PathLike[str], expected: type, what: str):
    content = _read_private_file(path)
    try:
        key = serialization.load_pem_private_key(content, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # The parser's message could quote the file; say only what kind of failure it was.
        raise BundleError(KEY_INVALID, f"key file is not an unencrypted PKCS#8 PEM {what} key", path=str(path)) from None
    if not isinstance(key, expected):
        raise BundleError(KEY_INVALID, f"key file does not hold an {what} key", path=str(path))
    return key


def load_signing_key(path: str | os.PathLike[str]) -> ed25519.Ed25519PrivateKey:
    """Load an Ed25519 private key file written by ``write_private_key``."""
    return _load_private_key(path, ed25519.Ed25519PrivateKey, "Ed25519")


def load_encryption_key(path: str | os.PathLike[str]) -> x25519.X25519PrivateKey:
    """Load an X25519 private key file written by ``write_private_key``."""
    return _load_private_key(path, x25519.X25519PrivateKey, "X25519")


def load_private_key_file(path: str | os.PathLike[str]) -> PrivateKey:
    """Load an Ed25519 or X25519 private key file, whichever it holds."""
    return _load_private_key(path, (ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey), "Ed25519 or X25519")


def write_secret(path: str | os.PathLike[str], secret: bytes) -> None:
    """Write a 32-byte symmetric secret (e.g. a pseudonym key), mode 0600, never overwriting."""
    if not isinstance(secret, (bytes, bytearray)) or len(secret) != SECRET_SIZE:
        raise BundleError(KEY_INVALID, f"a secret must be exactly {SECRET_SIZE} bytes")
    _write_new_private_file(path, SECRET_PREFIX + base64.b64encode(bytes(secret)) + b"\n")


def read_secret(path: str | os.PathLike[str]) -> bytes:
    """Read a 32-byte secret written by ``write_secret``."""
    content = _read_private_file(path)
    if not content.startswith(SECRET_PREFIX) or not content.endswith(b"\n"):
        raise BundleError(KEY_INVALID, "secret file is not in dvnet-secret/1 form", path=str(path))
    try:
        secret = base64.b64decode(content[len(SECRET_PREFIX) : -1], validate=True)
    except binascii.Error:
        raise BundleError(KEY_INVALID, "secret file is not valid base64", path=str(path)) from None
    if len(secret) != SECRET_SIZE:
        raise BundleError(KEY_INVALID, f"secret file does not hold {SECRET_SIZE} bytes", path=str(path))
    return secret
