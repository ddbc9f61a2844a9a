"""Which intake partition (agency × reporting period) a bundle is filed under: the rule the inbox
sensor, a partition's run and the batch all apply, written once (Dagster-free).

A bundle is filed under its partition only when it authenticates to a registered agency: the
header's agency is in the registry and the bundle's signature verifies under that agency's key,
and the manifest inside names a valid quarter. Anything else (bad framing, a tampered byte, a
wrong recipient, an unknown agency, a forged sender) is filed under the sentinel partition
``_unverified|_unknown``, where its run quarantines it with the reason the ordered checks find.
Unauthenticated bytes therefore never create an agency or period partition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dvnet import bundle
from dvnet.contracts.errors import DvnetError
from dvnet.contracts.periods import Period

if TYPE_CHECKING:
    from dvnet.assets.intake.lib.ingest import CoordinatorContext

#: Sentinel dimension values for bundles that do not authenticate to a registered agency.
UNVERIFIED_AGENCY = "_unverified"
UNKNOWN_PERIOD = "_unknown"
SENTINEL = (UNVERIFIED_AGENCY, UNKNOWN_PERIOD)


def partition_of(blob: bytes | None, ctx: CoordinatorContext, parsed: bundle.ParsedBundle | None = None, signed: bool | None = None,
                 period: str | None = None) -> tuple[str, str]:  # fmt: skip
    """(agency, period) the bundle ``blob`` is filed under; ``SENTINEL`` when it does not
    authenticate (or was not read: ``blob`` None). Not a verification: the run checks everything
    again, in DESIGN §7's order.

    ``parsed``, ``signed`` and ``period``: what a verification of the same bytes already found
    (its parse; whether the signature verified under the header agency's registered key; the
    decrypted manifest's period), so the batch files each bundle as it verifies it without doing
    that work twice. None: not found there, found here."""
    if blob is None:
        return SENTINEL
    try:
        parsed = parsed or bundle.parse(blob, ctx.max_bundle_bytes)
        agency = parsed.header["agency_id"]
        org = ctx.network.organisation(agency)
        if org is None or not org.signing_public_key:
            return SENTINEL
        if signed is None:
            bundle.verify_signature(parsed, bundle.signing_public_key_from_text(org.signing_public_key))
        elif not signed:
            return SENTINEL
        if period is None:
            period = str(bundle.decrypt(parsed, ctx.encryption_key).manifest["period"])
        Period.parse(period)
    except DvnetError:
        return SENTINEL
    return agency, period
