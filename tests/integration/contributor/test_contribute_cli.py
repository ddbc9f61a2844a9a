"""`dvnet contribute` as a steward runs it: exit codes, the tier policy, dry runs, the report of
what leaves, the agency's audit log, and the process-wide settings made at the command's entry."""

from __future__ import annotations

import json
import threading

import pyarrow as pa
import pytest
from contribution_constants import PERIOD, aggregate_columns

from dvnet.contracts.registry import get_contract
from dvnet.common import audit
from dvnet.common.audit_trail import verify_log
from dvnet.pipelines.cli import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, main
from dvnet.pipelines.contributor import read, sequence
from dvnet.pipelines.contributor.read import ExtractRead, ReadLimits


def _run(net, agency_id, contract, extract, *extra):
    agency = net.agency(agency_id)
    return main(["contribute", "--agency", str(agency.folder), "--contract", contract, "--extract", str(extract), "--period", PERIOD, *extra])


def _audit_lines(agency):
    return audit.read(agency.audit_log)


def test_a_tier_2_agency_sending_service_episodes_is_a_tier_violation(net, capsys):
    agency = net.agency("legal-aid-south")
    assert agency.tier == 2
    code = _run(net, "legal-aid-south", "service_episode", net.extract("shelter-north", "service_episode"), "--mode", "aggregate")
    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "TIER_VIOLATION" in err
    assert "Traceback" not in err
    assert not list((agency.folder / "outbox").iterdir())
    assert sequence.current(agency.sequence_path) == 0


def test_a_tier_2_agency_may_send_referrals(net, capsys):
    code = _run(net, "legal-aid-south", "referral", net.extract("legal-aid-south", "referral"), "--mode", "aggregate")
    assert code == EXIT_OK, capsys.readouterr()
    assert len(list((net.agency("legal-aid-south").folder / "outbox").glob("*.dvb"))) == 1


def test_a_dry_run_seals_nothing_and_reports_what_would_leave(net, capsys):
    agency = net.agency("shelter-north")
    before = len(_audit_lines(agency))
    extract = net.extract("shelter-north", "service_episode")

    assert _run(net, "shelter-north", "service_episode", extract, "--mode", "record", "--k", "2", "--max-withheld-share", "1", "--dry-run") == EXIT_OK
    assert _run(net, "shelter-north", "service_episode", extract, "--mode", "aggregate", "--dry-run") == EXIT_OK
    out = capsys.readouterr().out
    assert "DRY RUN" in out and "output columns:" in out
    assert not list((agency.folder / "outbox").iterdir())
    assert sequence.current(agency.sequence_path) == 0

    reports = sorted((agency.folder / "reports").glob("*.json"))
    assert len(reports) == 2, "each run keeps its own report"
    by_mode = {json.loads(p.read_text())["mode"]: p for p in reports}
    record, aggregate = json.loads(by_mode["record"].read_text()), json.loads(by_mode["aggregate"].read_text())
    assert record["status"] == aggregate["status"] == "dry-run"
    assert record["output_columns"] == get_contract("service_episode").output_columns()
    assert aggregate["output_columns"] == aggregate_columns("service_episode")
    assert record["reconciles"] and aggregate["reconciles"]
    html = by_mode["record"].with_suffix(".html").read_text()
    for column in record["output_columns"]:
        assert f"<code>{column}</code>" in html
    assert "client_name" not in record["output_columns"] and "<code>client_name</code>" not in html

    lines = _audit_lines(agency)[before:]
    assert [(e["action"], e["outcome"], e["details"]["sequence"], e["objects"].get("bundle")) for e in lines] == [("contribution", "dry-run", None, None)] * 2
    assert {e["actor"] for e in lines} == {"agency:shelter-north"} and all(e["sig"] for e in lines)  # signed with the agency's key


def test_every_run_appends_one_audit_line_and_the_chain_verifies(net, capsys):
    agency = net.agency("shelter-north")
    before = len(_audit_lines(agency))
    extract = net.extract("shelter-north", "service_episode")
    faulty = net.extract("shelter-north", "service_episode", faulty=True)
    codes = [  # one quarter, again and again on purpose: --resend (the first run needs none)
        _run(net, "shelter-north", "service_episode", extract, "--mode", "aggregate"),
        _run(net, "shelter-north", "service_episode", extract, "--mode", "aggregate", "--dry-run", "--resend"),
        _run(net, "shelter-north", "service_episode", faulty, "--mode", "aggregate", "--resend"),  # refused by the reader
        _run(net, "shelter-north", "service_episode", extract, "--mode", "record", "--resend"),  # refused for k
        _run(net, "shelter-north", "service_episode", extract, "--mode", "aggregate", "--resend"),
    ]
    assert codes == [EXIT_OK, EXIT_OK, EXIT_REFUSED, EXIT_REFUSED, EXIT_OK]
    lines = _audit_lines(agency)[before:]
    assert [e["outcome"] for e in lines] == ["sealed", "dry-run", "refused", "refused", "sealed"]
    assert [e["details"]["sequence"] for e in lines] == [1, None, None, None, 2]
    assert lines[3]["reason"] == "K_ANONYMITY_NOT_MET"
    for e in (line["details"] for line in lines):  # each line accounts for its records on its own
        assert e["records_read"] == e["rejected"] + e["excluded_consent"] + e["withheld_k"] + e["held_back"] + e["sent"]
    assert lines[3]["details"]["held_back"] > 0 and lines[0]["details"]["held_back"] == 0
    assert verify_log(agency.audit_log).entries == before + 5
    out = capsys.readouterr().out
    assert out.count("SEALED") == 2 and out.count("REFUSED") == 2


def test_a_research_extract_needs_a_project(net, capsys):
    code = _run(net, "valley-health", "research_extract", net.extract("valley-health", "research_extract"))
    assert code == EXIT_USAGE
    assert "USAGE_PROJECT_REQUIRED" in capsys.readouterr().err


@pytest.fixture
def arrow_pool():
    """Arrow's default pool as a test found it, restored afterwards (it is process-wide)."""
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


@pytest.mark.parametrize("chosen", [None, "jemalloc"])
def test_dvnet_contribute_runs_arrow_on_the_system_allocator_unless_the_operator_chose_one(net, monkeypatch, capsys, arrow_pool, chosen):
    """pyarrow's default mimalloc cost a fifth of a record-mode run in huge-page faults here
    (kernels/arrow_memory.py); Arrow's own ARROW_DEFAULT_MEMORY_POOL still wins."""
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    if chosen:
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", chosen)
    else:
        monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    pools = []  # the pool the extract was read on: the command reads it ahead, so the choice must come first
    opening = read._open
    monkeypatch.setattr(read, "_open", lambda *args: (pools.append(pa.default_memory_pool().backend_name), opening(*args))[1])
    extract = net.extract("shelter-north", "service_episode")
    code = _run(net, "shelter-north", "service_episode", extract, "--mode", "record", "--k", "2", "--max-withheld-share", "0.5")
    assert code == EXIT_OK, capsys.readouterr()
    assert pa.default_memory_pool().backend_name == ("mimalloc" if chosen else "system")
    assert pools == ["mimalloc" if chosen else "system"]


def test_contribute_called_as_a_library_leaves_its_hosts_allocator_alone(net, monkeypatch, arrow_pool):
    """The allocator is process-wide: only the command's entry may choose it."""
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    r = net.contribute("shelter-north", "service_episode", mode="record", k=2, max_withheld_share=0.5)
    assert r.status == "sealed"
    assert pa.default_memory_pool().backend_name == "mimalloc"


def test_contribute_refuses_a_read_ahead_of_another_file_or_under_other_limits(net, tmp_path):
    """The command hands contribute() the reading it started: it must be of the extract the options name."""
    extract = net.extract("shelter-north", "service_episode")
    for reading in (ExtractRead(net.extract("shelter-north", "referral")), ExtractRead(extract, ReadLimits(max_columns=30))):
        with pytest.raises(ValueError, match="read_ahead"):
            net.contribute("shelter-north", "service_episode", extract, read_ahead=reading)
    assert net.contribute("shelter-north", "service_episode", extract, read_ahead=ExtractRead(extract).ahead()).status == "sealed"


def test_a_usage_error_found_while_the_extract_is_read_ahead_still_exits_2_with_nothing_sent(net, capsys, monkeypatch):
    agency = net.agency("shelter-north")

    class SmallBlocks(ExtractRead):  # blocks of 10 records: the reading is still waiting for room when the error comes
        def __init__(self, path, limits=None):
            super().__init__(path, ReadLimits(block_records=10))

    monkeypatch.setattr(read, "ExtractRead", SmallBlocks)
    code = _run(net, "shelter-north", "service_episode", net.extract("shelter-north", "service_episode"), "--mode", "record", "--k", "0")
    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err and "USAGE_K_INVALID" in err
    assert not list((agency.folder / "outbox").iterdir())
    # the reading started ahead was stopped and joined before the command returned (left to the
    # interpreter's exit, it races Arrow's thread-pool teardown: see test_read_ahead)
    assert not [t for t in threading.enumerate() if t.name == "extract-read-ahead"]


def test_the_command_in_its_own_process_freezes_its_imports_and_leaves_a_host_alone(net, monkeypatch, capsys):
    """``imports_settled``: in the console script's own process the imported objects leave the
    collector's sight (gc.freeze); a host calling ``main`` (this test process) keeps its collector."""
    import gc

    from dvnet.pipelines import cli

    extract = net.extract("shelter-north", "service_episode")
    gc.unfreeze()
    assert _run(net, "shelter-north", "service_episode", extract, "--mode", "aggregate", "--dry-run") == EXIT_OK, capsys.readouterr()
    assert gc.get_freeze_count() == 0
    monkeypatch.setattr(cli, "_OWN_PROCESS", True)
    try:
        assert _run(net, "shelter-north", "service_episode", extract, "--mode", "aggregate", "--dry-run") == EXIT_OK, capsys.readouterr()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_console_script_entry_marks_the_process_as_the_commands_own():
    import subprocess
    import sys

    code = ("import sys\nfrom dvnet.pipelines import cli\nsys.argv = ['dvnet', '--help']\n"
            "try:\n    cli.run()\nexcept SystemExit:\n    pass\nprint('OWN', cli._OWN_PROCESS)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "OWN True" in out


def test_a_command_in_its_own_process_leaves_its_objects_out_of_the_exits_collections():
    """``run`` freezes what is alive once the command has returned, so the interpreter's exit does
    not walk it (0.8 s of a `dvnet ingest`): seen from the last atexit handler, which runs after it."""
    import subprocess
    import sys

    code = ("import atexit, gc, sys\natexit.register(lambda: print('FROZEN', gc.get_freeze_count() > 0))\n"
            "from dvnet.pipelines import cli\nsys.argv = ['dvnet', 'contracts', 'list']\ncli.run()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "FROZEN True" in out.stdout, (out.stdout + out.stderr)[-2000:]


@pytest.mark.parametrize("contract", ["service_episode", "referral"])
@pytest.mark.parametrize("mode", ["record", "aggregate"])
def test_a_contribution_reads_its_contract_compiled_and_never_imports_pandera(net, contract, mode):
    """pandera and its imports cost a steward 0.2–0.35 s of a three-second contribution: the
    contributor reads the compiled contract (``contracts.compiled``), whose every rule has a fast
    path (which path a rule takes does not depend on the values), so a whole contribution runs without it."""
    import subprocess
    import sys

    agency = net.agency("shelter-north")
    argv = ["contribute", "--agency", str(agency.folder), "--contract", contract, "--extract", str(net.extract("shelter-north", contract)),
            "--period", PERIOD, "--mode", mode, "--resend", *(["--max-withheld-share", "1"] if mode == "record" else [])]
    code = (f"import sys\nfrom dvnet.pipelines.cli import main\nrc = main({argv!r})\n"
            "print('RC', rc, 'PANDERA', sorted({m.split('.')[0] for m in sys.modules} & {'pandera', 'typeguard'}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "RC 0 PANDERA []" in out, out[-2000:]
