"""What this agency already sent for a contract × quarter (× project), from its own records.

The coordinator counts one live contribution per agency × contract × period (× project) and
quarantines a second one that does not name the first in ``--supersedes`` (PERIOD_ALREADY_LOADED).
The contributor refuses it before sealing instead, from what it knows: the ``contribution`` entries
of its own audit log (every sealed bundle, with its contract, period, project and ``supersedes``)
and the coordinator's receipts it has fetched. A bundle counts as sent unless its receipt says it
was quarantined, or a later bundle that was not quarantined replaced it.

``--resend`` is the deliberate way round for a bundle that never reached the coordinator (lost on
the way, or quarantined with no receipt fetched yet); it is refused when a receipt shows the
earlier bundle loaded, because the coordinator would then quarantine the new one.
"""

from __future__ import annotations

from dvnet.common import audit
from dvnet.common.network import AgencyConfig
from dvnet.contracts.errors import DvnetError, RegistryError
from dvnet.pipelines.contributor.outbox import CONTRIBUTION
from dvnet.pipelines.delivery.receipts import outcomes_by_bundle

ALREADY_SENT = "USAGE_PERIOD_ALREADY_SENT"


def sent_bundles(agency: AgencyConfig, contract_id: str, period: str, project: str | None) -> list[tuple[str, str | None]]:
    """(bundle id, receipt outcome or None) of the bundles sent for this key that still count, oldest first."""
    try:
        outcomes = outcomes_by_bundle(agency)
    except RegistryError:  # no coordinator key pinned: no receipt can be trusted, so none is read
        outcomes = {}
    sealed = []
    for e in audit.read(agency.audit_log):
        details, objects = e.get("details") or {}, e.get("objects") or {}
        if e.get("action") != CONTRIBUTION or e.get("outcome") != "sealed" or not objects.get("bundle"):
            continue
        if str(details.get("contract", "")).split("/")[0] == contract_id and details.get("period") == period and details.get("project") == project:
            sealed.append((objects["bundle"], details.get("supersedes")))
    replaced = {old for bundle_id, old in sealed if old and outcomes.get(bundle_id) != "quarantined"}
    return [(b, outcomes.get(b)) for b, _ in sealed if b not in replaced and outcomes.get(b) != "quarantined"]


def check_not_sent(agency: AgencyConfig, contract_id: str, period: str, project: str | None, supersedes: str | None, resend: bool) -> None:
    """Refuse (exit 2) a contribution for a key this agency already sent, unless it corrects the
    bundle sent (``--supersedes``) or deliberately sends again (``--resend``) one never loaded."""
    if supersedes:
        return
    sent = sent_bundles(agency, contract_id, period, project)
    if not sent:
        return
    what = f"{contract_id} for {period}" + (f" (project {project})" if project else "")
    last, outcome = sent[-1]
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
