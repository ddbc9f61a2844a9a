"""What this agency already sent for a contract × quarter (× project), from its own records.

The coordinator counts one live contribution per agency × contract × period (× project) and
quarantines a second one that does not name the first in ``--supersedes`` (PERIOD_ALREADY_LOADED).
The contributor refuses it before sealing instead, from what it knows: the ``contribution`` entries
of its own audit log (every sealed bundle, with its contract, period, project and ``supersedes``)
and the coordinator's receipts it has fetched. A bundle counts as sent unless its receipt says it
was quarantined, or a later bundle that was not quarantined replaced it.

A bundle still waiting in the outbox has not reached the coordinator: the steward is pointed at
`dvnet send` (``USAGE_PERIOD_IN_OUTBOX``). ``--resend`` is the deliberate way round: for a waiting
bundle it seals the new one in its place (the waiting one is withdrawn unsent, ``outbox``), and
for a sent bundle that never reached the coordinator (lost on the way, or quarantined with no
receipt fetched yet) it seals another; it is refused when a receipt shows the earlier bundle
loaded, because the coordinator would then quarantine the new one.
"""

from __future__ import annotations

from dvnet.common.network import AgencyConfig
from dvnet.contracts.errors import DvnetError, RegistryError
from dvnet.pipelines.contributor import outbox
from dvnet.pipelines.delivery.receipts import outcomes_by_bundle

ALREADY_SENT = "USAGE_PERIOD_ALREADY_SENT"
#: The quarter's bundle has not left yet: `dvnet send` delivers it; --resend seals one in its place.
IN_OUTBOX = "USAGE_PERIOD_IN_OUTBOX"


def sent_bundles(agency: AgencyConfig, contract_id: str, period: str, project: str | None) -> list[tuple[str, str | None]]:
    """(bundle id, receipt outcome or None) of the bundles sealed for this key that still count, oldest first."""
    try:
        outcomes = outcomes_by_bundle(agency)
    except RegistryError:  # no coordinator key pinned: no receipt can be trusted, so none is read
        outcomes = {}
    withdrawn = outbox.withdrawn(agency)
    sealed = [s for s in outbox.sealed(agency) if s.key == (contract_id, period, project)]
    replaced = {s.supersedes for s in sealed if s.supersedes and outcomes.get(s.bundle_id) != "quarantined"}
    return [(s.bundle_id, outcomes.get(s.bundle_id)) for s in sealed
            if s.bundle_id not in replaced and outcomes.get(s.bundle_id) != "quarantined"
            and (s.bundle_id not in withdrawn or outcomes.get(s.bundle_id) == "loaded")]  # a receipt outweighs our own record  # fmt: skip


def check_not_sent(agency: AgencyConfig, contract_id: str, period: str, project: str | None, supersedes: str | None, resend: bool) -> None:
    """Refuse (exit 2) a contribution for a key this agency already sealed, unless it corrects the
    bundle sealed (``--supersedes``) or deliberately seals again (``--resend``) one never loaded: in
    place of one still waiting in the outbox (which is then withdrawn unsent), or of one lost on the way."""
    if supersedes:
        return
    sent = sent_bundles(agency, contract_id, period, project)
    if not sent:
        return
    what = f"{contract_id} for {period}" + (f" (project {project})" if project else "")
    last, outcome = sent[-1]
    if not resend and last in outbox.waiting_ids(agency):
        raise DvnetError(
            IN_OUTBOX, f"{what} is already sealed in bundle {last}, still waiting in {outbox.folder(agency)} to be sent",
            hint=f"deliver it with `dvnet send --agency {agency.folder}`; to send this extract in its place, add --resend "
            f"(bundle {last} is then taken out of the outbox unsent, kept in {outbox.withdrawn_folder(agency)})",
        )  # fmt: skip
    if not resend:
        raise DvnetError(
            ALREADY_SENT,
            f"{what} was already sealed in bundle {last}" + (" and loaded" if outcome == "loaded" else "")
            + "; the coordinator counts one contribution per contract and quarter",
            hint=f"to correct it, contribute again with --supersedes {last}; if that bundle never reached the coordinator, add --resend",
        )
    loaded = [b for b, o in sent if o == "loaded"]
    if loaded:
        raise DvnetError(ALREADY_SENT, f"{what} is loaded at the coordinator from bundle {loaded[-1]} (its receipt says so); a resent bundle would be quarantined",
                         hint=f"to correct it, contribute again with --supersedes {loaded[-1]}")
