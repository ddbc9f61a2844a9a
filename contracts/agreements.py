"""Data-sharing agreements (DSAs): the terms under which Tier 4 research data is contributed and
handed to named researchers (DESIGN §10; concept sheet, Example 3).

A DSA names its parties (agencies), purpose, contracts and the exact output fields and periods
that may flow, its start and end date, the ethics approval and the last day it covers (the end
never lies beyond it), the named researchers (people with the
``researcher`` role), the minimum cell size of any output from it and the date its project data
must be destroyed. It is never edited in place: amending or revoking writes a new version and the
old ones stay readable (``dvnet.common.agreements`` keeps them, each signed by its author). This
module only validates plain dicts; field errors name the field.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from typing import Any

from dvnet.contracts.errors import ContractError, DvnetError, RegistryError
from dvnet.contracts.network import ORG_ID, Network
from dvnet.contracts.periods import Period

DSA_ID = ORG_ID
CONTRACT_REF = re.compile(r"^([a-z_]+)/v(\d+)$")
STATUSES = ("active", "revoked", "closed")
#: What an active version is on a given day (``Agreement.standing``).
IN_FORCE, NOT_STARTED, ENDED = "in force", "not started", "ended"
RETENTION_PASSED = "ended, close due"  # past its retention end: `dvnet dsa close` destroys its data
#: A cell smaller than this identifies too few people to publish anything from it.
MIN_CELL_SIZE_FLOOR = 3
#: The terms of an agreement, in the order they are written and shown.
TERMS = ("id", "purpose", "parties", "contracts", "fields", "periods", "start", "end", "ethics_approval",
         "ethics_expires", "researchers", "min_cell_size", "retention_end")  # fmt: skip
#: Terms ``dvnet dsa amend`` may change (the id never changes).
AMENDABLE = TERMS[1:]


@dataclass(frozen=True)
class Agreement:
    """One version of a DSA."""

    id: str
    purpose: str
    parties: tuple[str, ...]
    contracts: tuple[str, ...]
    fields: tuple[str, ...]
    periods: tuple[str, ...]
    start: str
    end: str
    ethics_approval: str
    ethics_expires: str  # the ethics approval's last day: the agreement's end never lies beyond it
    researchers: tuple[str, ...]
    min_cell_size: int
    retention_end: str
    version: int = 1
    status: str = "active"
    note: str = ""  # why this version was made (an amendment's or revocation's reason)

    @property
    def ends_at(self) -> dt.datetime:
        """The first instant after the end date (UTC): from then on nothing flows under it."""
        return dt.datetime.combine(dt.date.fromisoformat(self.end) + dt.timedelta(days=1), dt.time(), dt.UTC)

    def standing(self, at: dt.datetime) -> str:
        """What this version is at ``at`` (aware): ``in force`` from the start date's first second to
        the end date's last, else ``not started``, ``ended`` (past its retention end too: a close is
        due), or its status (revoked, closed). ``dsa list`` and ``dsa show`` say it, so an active
        agreement past its end reads as ended."""
        if self.status == "closed":
            return self.status
        retained = dt.datetime.combine(dt.date.fromisoformat(self.retention_end) + dt.timedelta(days=1), dt.time(), dt.UTC)
        if at >= retained:
            return RETENTION_PASSED
        if self.status != "active":
            return self.status
        if at < dt.datetime.combine(dt.date.fromisoformat(self.start), dt.time(), dt.UTC):
            return NOT_STARTED
        return IN_FORCE if at < self.ends_at else ENDED

    def in_force(self, at: dt.datetime) -> bool:
        """Active, and ``at`` (aware) lies from the start date's first second to the end date's last."""
        return self.standing(at) == IN_FORCE

    def covers(self, agency: str, contract_ref: str, period: str) -> bool:
        return agency in self.parties and contract_ref in self.contracts and period in self.periods

    def terms(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if k in TERMS}

    def to_dict(self) -> dict[str, Any]:
        return {**self.terms(), "version": self.version, "status": self.status, "note": self.note}


def _fail(field: str, problem: str) -> RegistryError:
    return RegistryError("AGREEMENT_INVALID", f"{field}: {problem}", field=field)


def _text(d: dict, key: str) -> str:
    value = d.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(key, "must be a non-empty text")
    return value.strip()


def _names(d: dict, key: str) -> tuple[str, ...]:
    value = d.get(key)
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v for v in value):
        raise _fail(key, "must list at least one")
    if len(set(value)) != len(value):
        raise _fail(key, "names one twice")
    return tuple(value)


def _date(d: dict, key: str) -> str:
    value = d.get(key)
    if isinstance(value, dt.date):  # YAML reads an unquoted date as a date
        return value.isoformat()
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise _fail(key, "must be a date (YYYY-MM-DD)") from None


def parse_agreement(data: Any, *, version: int = 1, status: str = "active", note: str = "") -> Agreement:
    """One version's terms from a plain dict, validated on their own (``check_against`` checks them
    against the registry)."""
    if not isinstance(data, dict):
        raise _fail("(top level)", "must be a mapping")
    unknown = sorted(set(data) - set(TERMS))
    if unknown:
        raise _fail(unknown[0], "is not a term of an agreement")
    dsa_id = _text(data, "id")
    if not DSA_ID.match(dsa_id):
        raise _fail("id", f"must match {DSA_ID.pattern} (lowercase letters, digits, dashes)")
    from dvnet.contracts.registry import get_contract  # pandera: only when an agreement is read, not for --help

    contracts = _names(data, "contracts")
    outputs: set[str] = set()
    for ref in contracts:
        m = CONTRACT_REF.match(ref)
        try:
            contract = get_contract(m.group(1), int(m.group(2))) if m else None
        except ContractError:
            contract = None
        if contract is None or not contract.linkage_inputs:
            raise _fail("contracts", f"'{ref}' is not a research contract (written like research_extract/v1)")
        outputs |= set(contract.output_columns())
    fields = _names(data, "fields")
    for name in fields:
        if name not in outputs:
            raise _fail("fields", f"'{name}' is not an output field of {', '.join(contracts)}")
    periods = _names(data, "periods")
    for p in periods:
        try:
            Period.parse(p)
        except DvnetError:
            raise _fail("periods", f"'{p}' is not a quarter written like 2026-Q3") from None
    cell = data.get("min_cell_size")
    if not isinstance(cell, int) or isinstance(cell, bool) or cell < MIN_CELL_SIZE_FLOOR:
        raise _fail("min_cell_size", f"must be a whole number of at least {MIN_CELL_SIZE_FLOOR}")
    agreement = Agreement(
        id=dsa_id, purpose=_text(data, "purpose"), parties=_names(data, "parties"), contracts=contracts, fields=fields,
        periods=tuple(sorted(periods)), start=_date(data, "start"), end=_date(data, "end"),
        ethics_approval=_text(data, "ethics_approval"), ethics_expires=_date(data, "ethics_expires"), researchers=_names(data, "researchers"), min_cell_size=cell,
        retention_end=_date(data, "retention_end"), version=version, status=status, note=note,
    )  # fmt: skip
    if agreement.end < agreement.start:
        raise _fail("end", "is before start")
    if agreement.ethics_expires < agreement.end:
        raise _fail("ethics_expires", "is before end: nothing may flow beyond the ethics approval (amend the end, or record its renewal)")
    if agreement.retention_end < agreement.end:
        raise _fail("retention_end", "is before end: project data would have to be destroyed while it still flows")
    if status not in STATUSES:
        raise _fail("status", f"must be one of {', '.join(STATUSES)}")
    return agreement


def check_against(agreement: Agreement, network: Network) -> None:
    """Every party is a registered organisation and every researcher a registered person holding
    the researcher role."""
    for party in agreement.parties:
        if network.organisation(party) is None:
            raise _fail("parties", f"'{party}' is not a registered organisation")
    for person_id in agreement.researchers:
        person = network.person(person_id)
        if person is None or "researcher" not in person.roles:
            raise _fail("researchers", f"'{person_id}' is not a registered person with the researcher role")
