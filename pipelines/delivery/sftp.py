"""A drop reached over SFTP, served by OpenSSH's sshd at the coordinator.

asyncssh, not paramiko or the ``sftp`` program: it is pure Python on top of ``cryptography``,
which every dvnet install already has (paramiko would add bcrypt, PyNaCl and invoke to the
agency's light install), and it raises typed errors, so the steward is told "the server is not the
one you pinned" apart from "your key was not accepted" (the ``sftp`` program only prints text).

Trust is pinned, never learned: the one host key in ``agency.yaml`` is the only key accepted
(no known_hosts file, no ~/.ssh/config, no agent: nothing on this machine changes whom we talk
to). Delivery is atomic on the server: written as ``.<name>.part``, size checked, then renamed with
OpenSSH's ``posix-rename`` extension, which replaces an earlier copy of the same bundle in one step.
"""

from __future__ import annotations

import asyncio
import posixpath
import stat
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from cryptography.utils import CryptographyDeprecationWarning

# asyncssh names cryptography's DSA classes when it is imported (it still reads ssh-dss keys), and
# cryptography warns about each: ten lines on every drop command's stderr about a key type dvnet
# never uses. Only that warning, only from asyncssh, only during its import.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="DSA is deprecated", category=CryptographyDeprecationWarning, module=r"asyncssh(\.|$)")
    import asyncssh

from dvnet.bundle.receipt import MAX_RECEIPT_SIZE
from dvnet.common.files import atomic_write
from dvnet.contracts.errors import RegistryError
from dvnet.pipelines.delivery.drop import SftpTarget
from dvnet.pipelines.delivery.errors import (
    DROP_HOST_KEY_MISMATCH,
    DROP_LOGIN_REFUSED,
    DROP_READ_FAILED,
    DROP_UNREACHABLE,
    DROP_WRITE_FAILED,
    DeliveryError,
)
from dvnet.pipelines.delivery.folder import RECEIPT_SUFFIX, temporary_name

CONNECT_TIMEOUT = 30  # seconds to reach the server and to log in
BLOCK = 1 << 20


def pinned_host_key(target: SftpTarget) -> asyncssh.SSHKey:
    try:
        return asyncssh.import_public_key(target.host_key)
    except (asyncssh.KeyImportError, ValueError):
        raise RegistryError("AGENCY_CONFIG_INVALID", "agency.yaml: drop.sftp.host_key is not an OpenSSH public key line",
                            field="drop.sftp.host_key", hint="copy the whole line the coordinator gave you, e.g. 'ssh-ed25519 AAAA...'") from None


def is_public_key(line: str) -> bool:
    """Whether ``line`` is an OpenSSH public key line asyncssh can pin."""
    try:
        asyncssh.import_public_key(line)
    except (asyncssh.KeyImportError, ValueError):
        return False
    return True


def fingerprint(host_key: str) -> str:
    """SHA256:... as ``ssh-keygen -l`` prints it, for comparing with the coordinator by phone."""
    return asyncssh.import_public_key(host_key).get_fingerprint("sha256")


@asynccontextmanager
async def _session(target: SftpTarget) -> AsyncIterator[asyncssh.SFTPClient]:
    key = pinned_host_key(target)
    if not target.identity_file.is_file():
        raise RegistryError("AGENCY_CONFIG_INVALID", f"agency.yaml: drop.sftp.identity_file: no SSH key at {target.identity_file}",
                            field="drop.sftp.identity_file", hint="`dvnet drop set` makes one and prints the public line for the coordinator")
    where = f"{target.host} port {target.port}"
    try:
        conn = await asyncssh.connect(
            target.host, target.port, username=target.user,
            known_hosts=([key], [], []), x509_trusted_certs=None,  # the pinned key, and nothing else
            client_keys=[str(target.identity_file)], agent_path=None, config=[], preferred_auth="publickey",
            connect_timeout=CONNECT_TIMEOUT, login_timeout=CONNECT_TIMEOUT,
        )  # fmt: skip
    except asyncssh.HostKeyNotVerifiable:
        raise DeliveryError(
            DROP_HOST_KEY_MISMATCH, f"the server at {where} is not the drop pinned in agency.yaml (its host key differs): nothing was sent",
            hint="someone may be intercepting the connection, or the coordinator changed its server key: "
            "confirm the new key's fingerprint with the coordinator by phone before changing drop.sftp.host_key",
        ) from None
    except asyncssh.PermissionDenied:
        raise DeliveryError(DROP_LOGIN_REFUSED, f"the drop at {where} did not accept this agency's SSH key for user {target.user}",
                            hint="send the coordinator the public line of drop.sftp.identity_file (`dvnet drop show`)") from None
    except (OSError, asyncssh.Error, asyncio.TimeoutError) as e:
        detail = getattr(e, "strerror", None) or getattr(e, "reason", None) or type(e).__name__
        raise DeliveryError(DROP_UNREACHABLE, f"could not reach the drop at {where} ({detail})",
                            hint="check the network, or ask the coordinator whether the drop is up") from None
    async with conn:
        async with conn.start_sftp_client() as sftp:
            yield sftp


async def _put(sftp: asyncssh.SFTPClient, path: Path, inbox: str) -> None:
    tmp, final = posixpath.join(inbox, temporary_name(path.name)), posixpath.join(inbox, path.name)
    size = path.stat().st_size
    async with sftp.open(tmp, "wb", attrs=asyncssh.SFTPAttrs(permissions=0o600)) as out:
        with path.open("rb") as src:
            while block := src.read(BLOCK):
                await out.write(block)
        try:
            await out.fsync()
        except asyncssh.SFTPOpUnsupported:
            pass  # a server without fsync@openssh.com: the size check below still guards the rename
    if (await sftp.stat(tmp)).size != size:
        raise DeliveryError(DROP_WRITE_FAILED, f"{path.name} arrived incomplete at the drop; it was not put in the inbox")
    await sftp.posix_rename(tmp, final)


async def _deliver(target: SftpTarget, inbox: str, files: Sequence[Path], delivered: Callable[[Path], None]) -> None:
    async with _session(target) as sftp:
        for path in files:
            try:
                await _put(sftp, path, inbox)
            except asyncssh.SFTPOpUnsupported:
                raise DeliveryError(DROP_WRITE_FAILED, "the drop's server cannot replace a file in one step (no posix-rename): ask the coordinator to use OpenSSH's sshd") from None
            except (asyncssh.SFTPError, OSError) as e:
                raise DeliveryError(DROP_WRITE_FAILED, f"could not write {path.name} into {inbox} at the drop ({getattr(e, 'reason', None) or type(e).__name__})") from None
            delivered(path)


async def _fetch(target: SftpTarget, receipts: str) -> list[tuple[str, bytes]]:
    found = []
    async with _session(target) as sftp:
        try:
            for entry in sorted(await sftp.readdir(receipts), key=lambda e: str(e.filename)):
                name, mode = str(entry.filename), entry.attrs.permissions
                if name.endswith(RECEIPT_SUFFIX) and mode is not None and stat.S_ISREG(mode):
                    async with sftp.open(posixpath.join(receipts, name), "rb") as f:
                        found.append((name, await f.read(MAX_RECEIPT_SIZE + 1)))
        except (asyncssh.SFTPError, OSError) as e:
            raise DeliveryError(DROP_READ_FAILED, f"could not read the receipts in {receipts} at the drop ({getattr(e, 'reason', None) or type(e).__name__})") from None
    return found


def deliver(target: SftpTarget, inbox: str, files: Sequence[Path], delivered: Callable[[Path], None]) -> None:
    """Upload each file into the remote ``inbox`` atomically; ``delivered(file)`` after each."""
    asyncio.run(_deliver(target, inbox, files, delivered))


def fetch_receipts(target: SftpTarget, receipts: str) -> list[tuple[str, bytes]]:
    """(name, bytes) of every regular receipt file in the remote folder, each read up to the cap + 1."""
    return asyncio.run(_fetch(target, receipts))


def make_identity(path: Path) -> str:
    """A new Ed25519 SSH key for this agency at ``path`` (0600); returns its public line."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment=path.name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, key.export_private_key(), mode=0o600)
    return public_line(path)


def public_line(path: Path) -> str:
    """The public half of the agency's SSH key, as a line for the server's authorized_keys."""
    return asyncssh.read_private_key(str(path)).export_public_key().decode().strip()
