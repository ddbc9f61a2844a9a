"""Data-sharing agreements from the command line: added, amended and revoked by a coordinator as
new signed versions (the old ones stay readable), refused to anyone else (audited either way),
and read by ingest's ``DSA_INVALID`` check."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_inbox
from dvnet.assets.warehouse.lib import schema as warehouse
from dvnet.common import agreements, audit
from dvnet.common import network as store
from dvnet.common.authority import authorise
from dvnet.contracts.errors import RegistryError
from dvnet.pipelines.ceremony import FOUNDER
from dvnet.pipelines.cli import EXIT_OK, EXIT_USAGE, main
from dvnet.pipelines.demo import DemoPlanItem, deliver, run_contributions
from dvnet.pipelines.synth import synthesize

DSA = "dsa-2026-01"


def _run(capsys, argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv], {})
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    return code, out.out, out.err


def _entries(root) -> list[dict]:
    return audit.read(store.NetworkPaths(root).audit_log)


def _coordinator(root):
    return authorise(root, FOUNDER[0], root / "people" / FOUNDER[0] / "signing.key", "dsa.amend")


def _add_argv(root, terms: dict) -> list:
    """`dvnet dsa add` with every term, lists given once comma-separated and once repeated."""
    t = terms
    return ["dsa", "add", "--network", root, "--id", t["id"], "--purpose", t["purpose"], "--party", ",".join(t["parties"]),
            "--contract", t["contracts"][0], "--field", t["fields"][0], "--field", ",".join(t["fields"][1:]),
            *[a for p in t["periods"] for a in ("--period", p)], "--start", t["start"], "--end", t["end"],
            "--ethics", t["ethics_approval"], "--ethics-expires", t["ethics_expires"], "--researcher", t["researchers"][0], "--min-cell-size", str(t["min_cell_size"]),
            "--retention-end", t["retention_end"]]  # fmt: skip


def test_a_coordinator_adds_a_dsa_from_the_command_line_and_anyone_on_the_coordinators_machine_reads_it(network_dir, as_coordinator, capsys, dsa_terms):
    researcher = network_dir / "people" / "ada"
    _run(capsys, ["person", "init", researcher, "--id", "ada-researcher", "--name", "Dr Ada Okafor", "--org", "uni-research"])
    _run(capsys, ["network", "add-person", "--network", network_dir, researcher / "person.yaml", "--role", "researcher", *as_coordinator])
    argv = [*_add_argv(network_dir, dsa_terms), *as_coordinator]
    code, out, err = _run(capsys, argv)
    assert code == EXIT_OK, err
    assert f"added {DSA} version 1" in out and FOUNDER[0] in out
    assert agreements.require(network_dir, DSA).terms() == dsa_terms
    code, out, _ = _run(capsys, ["dsa", "list", "--network", network_dir])
    assert code == EXIT_OK and DSA in out and "in force" in out
    code, out, _ = _run(capsys, ["dsa", "show", "--network", network_dir, DSA])
    assert code == EXIT_OK and "REB-2025-0420" in out and "ada-researcher" in out
    entry = _entries(network_dir)[-1]
    assert (entry["action"], entry["actor"], entry["objects"]) == ("dsa_added", FOUNDER[0], {"dsa": DSA, "version": 1}) and entry["sig"]


def test_amending_makes_a_new_version_and_the_old_stays_readable(dsa_network, capsys):
    argv = ["dsa", "amend", "--network", dsa_network, DSA, "--period", "2026-Q2,2026-Q3,2026-Q4", "--reason", "extended by the ethics board",
            "--as", FOUNDER[0], "--key", dsa_network / "people" / FOUNDER[0] / "signing.key"]  # fmt: skip
    code, out, err = _run(capsys, argv)
    assert code == EXIT_OK, err
    assert "now version 2" in out
    (v1, who1), (v2, who2) = agreements.history(dsa_network, DSA)
    assert v1.periods == ("2026-Q2", "2026-Q3") and v2.periods == ("2026-Q2", "2026-Q3", "2026-Q4")
    assert v2.note == "extended by the ethics board" and who1["signed_by"] == who2["signed_by"] == FOUNDER[0]
    code, out, _ = _run(capsys, ["dsa", "show", "--network", dsa_network, DSA, "--version", "1"])
    assert code == EXIT_OK and "version 1 of 2" in out and "2026-Q4" not in out.split("versions")[0]
    assert "extended by the ethics board" in out


def test_a_revoked_dsa_can_no_longer_change(dsa_network, capsys):
    agreements.revoke(dsa_network, DSA, "consent model withdrawn", _coordinator(dsa_network))
    assert agreements.require(dsa_network, DSA).status == "revoked"
    with pytest.raises(RegistryError) as exc:
        agreements.amend(dsa_network, DSA, {"purpose": "something else"}, "try again", _coordinator(dsa_network))
    assert exc.value.reason == "AGREEMENT_NOT_ACTIVE"
    assert len(agreements.history(dsa_network, DSA)) == 2


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"parties": ["valley-health", "nobody-here"]}, "AGREEMENT_INVALID"),
        ({"researchers": [FOUNDER[0]]}, "AGREEMENT_INVALID"),  # registered, but not a researcher
        ({"fields": ["linkage_token", "client_name"]}, "AGREEMENT_INVALID"),
        ({"id": "dsa-other"}, "AGREEMENT_INVALID"),
        ({}, "AGREEMENT_INVALID"),
    ],
)
def test_an_amendment_the_registry_or_the_contract_does_not_allow_is_refused_and_nothing_is_written(dsa_network, change, reason):
    with pytest.raises(RegistryError) as exc:
        agreements.amend(dsa_network, DSA, change, "because", _coordinator(dsa_network))
    assert exc.value.reason == reason
    assert len(agreements.history(dsa_network, DSA)) == 1


def test_an_amendment_needs_a_reason(dsa_network):
    with pytest.raises(RegistryError) as exc:
        agreements.amend(dsa_network, DSA, {"purpose": "x y"}, "  ", _coordinator(dsa_network))
    assert exc.value.context["field"] == "reason"


def test_terms_that_have_ended_are_neither_added_nor_amended_to(dsa_network, dsa_terms, capsys, as_coordinator):
    """An agreement recorded past its end would stand in the books as active with nothing allowed
    to flow: refused, at the end date's last second too, and nothing is written."""
    ended = {**dsa_terms, "id": "dsa-ended", "start": "2020-01-01", "end": "2020-06-30", "retention_end": "2021-06-30"}
    code, _, err = _run(capsys, [*_add_argv(dsa_network, ended), *as_coordinator])
    assert code == EXIT_USAGE and "AGREEMENT_INVALID" in err and "end:" in err
    assert agreements.current(dsa_network, "dsa-ended") is None
    last_second = dt.datetime(2020, 6, 30, 23, 59, 59, tzinfo=dt.UTC)
    assert agreements.add(dsa_network, ended, _coordinator(dsa_network), now=last_second).version == 1
    with pytest.raises(RegistryError) as exc:
        agreements.amend(dsa_network, DSA, {"end": "2026-01-01"}, "shortened into the past", _coordinator(dsa_network))
    assert (exc.value.reason, exc.value.context["field"]) == ("AGREEMENT_INVALID", "end")
    assert len(agreements.history(dsa_network, DSA)) == 1


def test_extending_the_end_beyond_the_ethics_approval_needs_its_renewal(dsa_network):
    with pytest.raises(RegistryError) as exc:
        agreements.amend(dsa_network, DSA, {"end": "2028-06-30", "retention_end": "2029-06-30"}, "one more year", _coordinator(dsa_network))
    assert (exc.value.reason, exc.value.context["field"]) == ("AGREEMENT_INVALID", "ethics_expires")
    renewed = agreements.amend(dsa_network, DSA, {"end": "2028-06-30", "retention_end": "2029-06-30", "ethics_expires": "2028-06-30"},
                               "ethics board renewed the approval", _coordinator(dsa_network))  # fmt: skip
    assert (renewed.version, renewed.ethics_expires) == (2, "2028-06-30")


def test_a_version_signed_before_the_ethics_date_was_a_term_reads_its_end_as_that_date(dsa_network):
    from dvnet.common.signed_records import write_signed

    path = agreements.folder(dsa_network, DSA) / "v002.yaml"
    old = {k: v for k, v in agreements.require(dsa_network, DSA).to_dict().items() if k != "ethics_expires"}
    write_signed(path, {"format": agreements.FORMAT, **old, "version": 2, "note": "written by an older dvnet"}, _coordinator(dsa_network))
    current = agreements.require(dsa_network, DSA)
    assert (current.version, current.ethics_expires) == (2, current.end)


def test_list_and_show_say_what_is_in_force_today(dsa_network, dsa_terms, capsys):
    """An active version whose end has passed reads as ended, not active (recorded while in force)."""
    ended = {**dsa_terms, "id": "dsa-ended", "start": "2020-01-01", "end": "2020-06-30", "retention_end": "2021-06-30"}
    agreements.add(dsa_network, ended, _coordinator(dsa_network), now=dt.datetime(2020, 3, 1, tzinfo=dt.UTC))
    code, out, _ = _run(capsys, ["dsa", "list", "--network", dsa_network])
    assert code == EXIT_OK
    assert "ended" in next(line for line in out.splitlines() if "dsa-ended" in line)
    assert "in force" in next(line for line in out.splitlines() if DSA in line)
    code, out, _ = _run(capsys, ["dsa", "show", "--network", dsa_network, "dsa-ended"])
    assert code == EXIT_OK and "today the agreement (version 1) is ended" in out


def test_adding_a_dsa_twice_is_refused(dsa_network, dsa_terms):
    with pytest.raises(RegistryError) as exc:
        agreements.add(dsa_network, dsa_terms, _coordinator(dsa_network))
    assert exc.value.reason == "AGREEMENT_EXISTS"


@pytest.mark.parametrize("edit", ["end", "status", "signed_by", "version"])
def test_an_edited_version_is_noticed_on_every_read(dsa_network, edit):
    path = store.NetworkPaths(dsa_network).coordinator / "agreements" / DSA / "v001.yaml"
    doc = yaml.safe_load(path.read_text())
    doc[edit] = {"end": "2099-12-31", "status": "revoked", "signed_by": "ada-researcher", "version": 2}[edit]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(RegistryError) as exc:
        agreements.current(dsa_network, DSA)
    assert exc.value.reason == "RECORD_TAMPERED"


def test_a_version_file_removed_from_the_middle_is_noticed(dsa_network):
    agreements.amend(dsa_network, DSA, {"purpose": "second"}, "r", _coordinator(dsa_network))
    agreements.amend(dsa_network, DSA, {"purpose": "third"}, "r", _coordinator(dsa_network))
    (store.NetworkPaths(dsa_network).coordinator / "agreements" / DSA / "v002.yaml").unlink()
    with pytest.raises(RegistryError) as exc:
        agreements.history(dsa_network, DSA)
    assert exc.value.reason == "RECORD_TAMPERED"


@pytest.mark.parametrize("command", ["add", "amend", "revoke"])
def test_a_researcher_may_not_add_amend_or_revoke_a_dsa(dsa_network, capsys, command, dsa_terms):
    key = dsa_network / "people" / "ada-researcher" / "signing.key"
    argv = {"add": _add_argv(dsa_network, {**dsa_terms, "id": "dsa-x"}), "amend": ["dsa", "amend", "--network", dsa_network, DSA, "--purpose", "p", "--reason", "r"],
            "revoke": ["dsa", "revoke", "--network", dsa_network, DSA, "--reason", "r"]}[command]  # fmt: skip
    code, _, err = _run(capsys, [*argv, "--as", "ada-researcher", "--key", key])
    assert code == EXIT_USAGE and "ROLE_NOT_ALLOWED" in err
    entry = _entries(dsa_network)[-1]
    assert (entry["actor"], entry["action"], entry["outcome"]) == ("ada-researcher", f"dsa.{command}", "refused") and entry["sig"]
    assert len(agreements.history(dsa_network, DSA)) == 1 and agreements.current(dsa_network, "dsa-x") is None


def test_show_of_an_unknown_dsa_or_version_is_one_clear_line(dsa_network, capsys):
    code, _, err = _run(capsys, ["dsa", "show", "--network", dsa_network, "dsa-none"])
    assert code == EXIT_USAGE and "AGREEMENT_UNKNOWN" in err
    code, _, err = _run(capsys, ["dsa", "show", "--network", dsa_network, DSA, "--version", "3"])
    assert code == EXIT_USAGE and "AGREEMENT_VERSION_UNKNOWN" in err


# ingest reads the agreement in force ---------------------------------------------------------------

PERIOD = "2026-Q3"


def _contribute_and_ingest(root) -> list:
    synthesize([store.load_network(root).organisation("valley-health")], root / "agencies", seed=7, periods=[PERIOD], scale=0.2, geography=store.load_network(root).geography)
    item = DemoPlanItem("valley-health", "research_extract", PERIOD, "record", {"project": DSA, "max_withheld_share": 0.9, "k": 2})
    assert [r.status for r in run_contributions(root, [item])] == ["sealed"]
    deliver(root)
    ctx = CoordinatorContext.load(root)
    con = warehouse.connect(ctx.paths.warehouse)
    try:
        return [(o.outcome, o.reason) for o in ingest_inbox(ctx, con)]
    finally:
        con.close()


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("in force", ("loaded", None)),
        ("revoked", ("quarantined", "DSA_INVALID")),
        ("period dropped", ("quarantined", "DSA_INVALID")),
        ("agency dropped", ("quarantined", "DSA_INVALID")),
    ],
)
def test_ingest_loads_research_rows_only_under_the_dsa_version_in_force(dsa_network, how, expected):
    coordinator = _coordinator(dsa_network)
    if how == "revoked":
        agreements.revoke(dsa_network, DSA, "withdrawn", coordinator)
    elif how == "period dropped":
        agreements.amend(dsa_network, DSA, {"periods": ["2026-Q2"]}, "narrowed", coordinator)
    elif how == "agency dropped":
        agreements.amend(dsa_network, DSA, {"parties": ["uni-research"]}, "valley-health left", coordinator)
    assert _contribute_and_ingest(dsa_network) == [expected]
