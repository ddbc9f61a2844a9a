"""The sealed-bundle wire format between an agency and the coordinator (see ``bundle/SPEC.md``).

It belongs to neither side. It imports only ``cryptography``, the standard library and
``contracts.errors``.
"""

from dvnet.bundle.errors import REASONS, BundleError
from dvnet.bundle.framing import DEFAULT_MAX_BUNDLE_SIZE, DEFAULT_MAX_HEADER_SIZE, read_bundle_file
from dvnet.bundle.header import FORMAT, SUITE
from dvnet.bundle.keys import (
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
from dvnet.bundle.opening import (
    DEFAULT_MAX_CLOCK_SKEW,
    OpenedBundle,
    ParsedBundle,
    check_freshness,
    check_manifest,
    check_recipient,
    decrypt,
    open_bundle,
    parse,
    peek_header,
    verify_signature,
)
from dvnet.bundle.receipt import make_receipt, verify_receipt
from dvnet.bundle.seal import BundleWriter, Handover, SealedBundle, SealedStream, seal

__all__ = [
    "DEFAULT_MAX_BUNDLE_SIZE",
    "DEFAULT_MAX_CLOCK_SKEW",
    "DEFAULT_MAX_HEADER_SIZE",
    "FORMAT",
    "REASONS",
    "SUITE",
    "BundleError",
    "BundleWriter",
    "Handover",
    "OpenedBundle",
    "ParsedBundle",
    "SealedBundle",
    "SealedStream",
    "check_freshness",
    "check_manifest",
    "check_recipient",
    "decrypt",
    "encryption_public_key_from_text",
    "generate_encryption_key",
    "generate_signing_key",
    "key_id",
    "load_encryption_key",
    "load_signing_key",
    "make_receipt",
    "open_bundle",
    "parse",
    "peek_header",
    "public_key_to_text",
    "read_bundle_file",
    "read_secret",
    "seal",
    "signing_public_key_from_text",
    "verify_receipt",
    "verify_signature",
    "write_private_key",
    "write_secret",
]
