"""Who may do what: the network's people's roles and the one table of actions they allow.

Every command that changes the network's state or hands out data names an action of ``POLICY``
and runs as a person (``--as``) whose registered roles must include one the action allows
(``dvnet.common.authority.authorise``). Read the table as the network's access policy: a change
to it is a change of governance, reviewed like one (DESIGN §10; concept sheet, Tier 4 "advanced
role-based access for analytic purposes").
"""

from __future__ import annotations

#: The roles a person can hold, with what each is for.
ROLES: dict[str, str] = {
    "steward": "an agency's data steward: runs the local contributor for one agency",
    "coordinator": "coalition staff: keeps the registry, ingests bundles, publishes releases",
    "reviewer": "checks release requests before they are published (output checking)",
    "evaluator": "reads published releases",
    "researcher": "named on a data-sharing agreement; receives its research extracts",
    "auditor": "reads and verifies the audit log",
    "custodian": "makes and keeps the network linkage key; never the coordinator",
}

#: Roles no one person may hold together. The custodian keeps the linkage key away from the
#: coordinator, who holds every token: together they could reverse them (DESIGN §6). A researcher
#: holds their project's tokens: with the linkage key (and the project id, the HKDF info) they
#: could hash candidate names and birth dates to the same tokens.
EXCLUSIVE_ROLES: tuple[frozenset[str], ...] = (frozenset({"coordinator", "custodian"}), frozenset({"custodian", "researcher"}))

#: Roles that act for one agency: the person's organisation must be a registered agency.
AGENCY_ROLES = frozenset({"steward"})
#: Roles that act for the coalition (the coordinator's registry id) when an action is for one
#: organisation: coalition staff record the coalition's decisions, never an agency's.
COALITION_ROLES = frozenset({"coordinator"})

#: action -> the roles allowed to do it. Nothing else is allowed.
POLICY: dict[str, frozenset[str]] = {
    "network.register-agency": frozenset({"coordinator"}),
    "network.add-person": frozenset({"coordinator"}),
    "network.suspend": frozenset({"coordinator"}),
    "network.reinstate": frozenset({"coordinator"}),
    "ingest": frozenset({"coordinator"}),
    "warehouse.move": frozenset({"coordinator"}),
    # Publishing is two steps with two people between them: coalition staff request a release,
    # two reviewers other than the requester approve it (output checking), staff publish it.
    "publish": frozenset({"coordinator"}),
    "review.read": frozenset({"reviewer", "coordinator"}),
    "review.approve": frozenset({"reviewer"}),
    "review.reject": frozenset({"reviewer"}),
    "release.publish": frozenset({"coordinator"}),
    "release.withdraw": frozenset({"coordinator"}),
    # A DSA is signed for the coalition by its staff once the parties and the ethics board have
    # agreed it on paper; a researcher named on it never changes its terms.
    "dsa.add": frozenset({"coordinator"}),
    "dsa.amend": frozenset({"coordinator"}),
    "dsa.revoke": frozenset({"coordinator"}),
    "dsa.close": frozenset({"coordinator"}),
    # The coordinator's software assembles and seals an extract; only the researchers named on the
    # DSA can open it (it is sealed to their keys), so no one else needs this action.
    "extract": frozenset({"coordinator"}),
    # An organisation records its own decisions: a steward for their agency, coalition staff for the
    # coalition (``AGENCY_ROLES``, ``COALITION_ROLES``); no role acts for another organisation.
    "decision.add": frozenset({"steward", "coordinator"}),
}


def roles_conflict(roles: set[str] | frozenset[str]) -> frozenset[str] | None:
    """The first set of mutually exclusive roles all present in ``roles``, if any."""
    return next((pair for pair in EXCLUSIVE_ROLES if pair <= set(roles)), None)
