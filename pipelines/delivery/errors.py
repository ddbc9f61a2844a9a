"""Why a delivery did not happen, as reason codes (exit 1: nothing was sent; the outbox is kept)."""

from __future__ import annotations

from dvnet.contracts.errors import DvnetError

DROP_UNREACHABLE = "DROP_UNREACHABLE"  # no connection, or the drop's folder is not there
DROP_HOST_KEY_MISMATCH = "DROP_HOST_KEY_MISMATCH"  # the server is not the one pinned in agency.yaml
DROP_LOGIN_REFUSED = "DROP_LOGIN_REFUSED"  # the server does not accept this agency's SSH key
DROP_WRITE_FAILED = "DROP_WRITE_FAILED"  # connected, but a bundle could not be written or renamed
DROP_READ_FAILED = "DROP_READ_FAILED"  # connected, but the receipts folder could not be read


class DeliveryError(DvnetError):
    """The drop could not be reached, trusted or written; what was not delivered stays in the outbox."""
