"""The one error type the bundle package raises for bad input, and its stable reason codes.

Codes are listed in `bundle/SPEC.md` §5; tests and the coordinator's quarantine rely on them, so
they never change meaning. Messages name fields, offsets and lengths, never plaintext, key
material or header values.
"""

from __future__ import annotations

from dvnet.contracts.errors import DvnetError

TOO_LARGE = "TOO_LARGE"
FRAMING_INVALID = "FRAMING_INVALID"
HEADER_INVALID = "HEADER_INVALID"
FORMAT_UNSUPPORTED = "FORMAT_UNSUPPORTED"
SUITE_UNSUPPORTED = "SUITE_UNSUPPORTED"
SIGNATURE_INVALID = "SIGNATURE_INVALID"
WRONG_RECIPIENT = "WRONG_RECIPIENT"
NOT_YET_VALID = "NOT_YET_VALID"
EXPIRED = "EXPIRED"
DECRYPT_FAILED = "DECRYPT_FAILED"
MANIFEST_INVALID = "MANIFEST_INVALID"
DATA_HASH_MISMATCH = "DATA_HASH_MISMATCH"
MANIFEST_MISMATCH = "MANIFEST_MISMATCH"
RECEIPT_INVALID = "RECEIPT_INVALID"
KEY_INVALID = "KEY_INVALID"
KEY_EXISTS = "KEY_EXISTS"
KEY_FILE_INSECURE = "KEY_FILE_INSECURE"
WRAP_INVALID = "WRAP_INVALID"
WRAP_NOT_FOR_AGENCY = "WRAP_NOT_FOR_AGENCY"
WRAP_WRONG_CUSTODIAN = "WRAP_WRONG_CUSTODIAN"

#: Every reason this package can raise, in the order the opening checks meet them.
REASONS = (
    TOO_LARGE,
    FRAMING_INVALID,
    HEADER_INVALID,
    FORMAT_UNSUPPORTED,
    SUITE_UNSUPPORTED,
    SIGNATURE_INVALID,
    WRONG_RECIPIENT,
    NOT_YET_VALID,
    EXPIRED,
    DECRYPT_FAILED,
    MANIFEST_INVALID,
    DATA_HASH_MISMATCH,
    MANIFEST_MISMATCH,
    RECEIPT_INVALID,
    KEY_INVALID,
    KEY_EXISTS,
    KEY_FILE_INSECURE,
    WRAP_INVALID,
    WRAP_NOT_FOR_AGENCY,
    WRAP_WRONG_CUSTODIAN,
)


class BundleError(DvnetError):
    """A bundle, receipt or key file that is refused; ``reason`` is one of ``REASONS``."""
