"""Two writers (issue 12, point 7): a command that finds the warehouse in use by another process
waits for it (saying so, also when piped), up to ``--wait``, then exits 2 with WAREHOUSE_BUSY —
never DuckDB's lock error and a traceback. Real processes: the holder takes the one lock module
every writer uses (``assets/warehouse/lib/lock.py``) and keeps the DuckDB file open for writing,
as an ingest in progress does."""

from __future__ import annotations

import subprocess
import sys

import pytest

HOLDER = """
import sys, duckdb
from dvnet.assets.warehouse.lib.lock import warehouse_lock
with warehouse_lock(sys.argv[1], wait=0):
    con = duckdb.connect(sys.argv[1])  # as a writer does: DuckDB's own file lock is held too
    print("held", flush=True)
    sys.stdin.readline()  # until the test says release
    con.close()
"""


@pytest.fixture
def holder_of():
    """``holder_of(kit)``: a process holding the network's warehouse (lock and DuckDB file) until ``.release()``."""
    procs = []

    def start(kit):
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(kit.paths.warehouse)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"

        def release() -> None:
            proc.stdin.write("go\n")
            proc.stdin.close()
            assert proc.wait(timeout=60) == 0

        proc.release = release
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        with proc:  # closes its pipes and waits
            pass


@pytest.fixture
def holder(kit, holder_of):
    return holder_of(kit)


def test_a_second_writer_gives_up_after_its_wait_with_warehouse_busy(ck, kit, holder):
    kit.drop("a", kit.records("shelter-a", n=10, seed=1).blob)
    for argv in (["ingest"], ["publish", "--period", ck.PERIOD]):
        out = ck.run_cli([*argv, "--network", str(kit.root), "--wait", "1", *ck.as_coordinator(kit.root)])
        assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
        assert f"waiting for the warehouse: in use by process {holder.pid}" in out.stderr  # piped: said anyway
        assert "error: WAREHOUSE_BUSY:" in out.stderr and not ck.shows_a_trace(out.stderr) and "IOException" not in out.stderr, out.stderr[-3000:]
    assert len(list(kit.inbox.glob("*.dvb"))) == 1, "nothing was ingested"
    assert not kit.paths.releases.exists() or not any(kit.paths.releases.iterdir())


def test_a_second_writer_waits_for_the_first_and_then_does_its_work(ck, kit, holder):
    kit.drop("a", kit.records("shelter-a", n=10, seed=2).blob)
    waiting = subprocess.Popen([sys.executable, "-m", "dvnet.pipelines.cli", "ingest", "--network", str(kit.root), "--wait", "600",
                                *ck.as_coordinator(kit.root)], cwd=ck.REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert "waiting for the warehouse: in use by process" in waiting.stderr.readline()
        holder.release()
        out, err = waiting.communicate(timeout=600)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, out[-2000:] + err[-2000:]
    assert "totals: 1 loaded, 0 duplicate, 0 quarantined; 10 rows loaded" in out


def test_two_publishes_waiting_for_the_same_release_of_the_lock_take_turns(ck, kit, holder_of):
    """Two coordinator staff press publish while an ingest holds the warehouse; when it lets go both
    reach for the lock at the same instant: one waits for the other, neither meets DuckDB's lock
    error, and each ends done or with a typed refusal, never a traceback."""
    kit.drop("a", kit.counts("shelter-a", n=60, seed=3).blob)
    assert ck.run_cli(["ingest", "--network", str(kit.root), *ck.as_coordinator(kit.root)]).returncode == 0
    holder = holder_of(kit)
    argv = [sys.executable, "-m", "dvnet.pipelines.cli", "publish", "--network", str(kit.root), "--period", ck.PERIOD, "--wait", "600",
            *ck.as_coordinator(kit.root)]  # fmt: skip
    both = [subprocess.Popen(argv, cwd=ck.REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for p in both:
            assert "waiting for the warehouse: in use by process" in p.stderr.readline()
        holder.release()
        results = [(p.wait(timeout=900), *p.communicate()) for p in both]
    finally:
        for p in both:
            if p.poll() is None:
                p.kill()
    for code, out, err in results:
        assert code in (0, 1), out[-2000:] + err[-2000:]
        assert not ck.shows_a_trace(err) and "IOException" not in err and "Could not set lock" not in err, err[-2000:]
        assert code == 0 or "error: " in err, err[-2000:]  # a refusal is one typed line
    assert any(code == 0 for code, *_ in results)


PROBE = """
import os, sys, time
from dvnet.assets.warehouse.lib.lock import holder, warehouse_lock
database, events = sys.argv[1], []
while not os.path.exists(sys.argv[2]):  # until the test says the ingest has ended
    if "dvnet ingest" in holder(database):
        events.append("I")  # the ingest holds the lock: this writer waits for it, as a sensor run or a publish would
    with warehouse_lock(database, wait=60):
        events.append("P")  # this other writer had its turn
    time.sleep(0.01)
print("".join(e for i, e in enumerate(events) if i == 0 or e != events[i - 1]) or "-", flush=True)
"""


def test_an_ingest_holds_the_warehouse_for_each_groups_loads_not_for_the_whole_batch(ck, kit, tmp_path):
    """A sensor-launched run or a publish waits for one agency × period's loads, never for a whole
    batch: the load suite's sensor runs timed out (WAREHOUSE_BUSY after 600 s) behind a long `dvnet
    ingest`. The batch lets go and takes the lock again between groups; a waiter gets its turn."""
    kit.drop("a", kit.records("shelter-a", n=20, seed=1).blob)
    kit.drop("b", kit.records("legal-b", "referral", n=20, seed=2).blob)
    kit.drop("c", kit.records("health-c", n=20, seed=3).blob)
    done = tmp_path / "ingest-done"
    probe = subprocess.Popen([sys.executable, "-c", PROBE, str(kit.paths.warehouse), str(done)], stdout=subprocess.PIPE, text=True)
    try:
        out = ck.run_cli(["ingest", "--network", str(kit.root), *ck.as_coordinator(kit.root)])
    finally:
        done.touch()
        events = probe.communicate(timeout=60)[0].strip()
    assert out.returncode == 0, out.stderr[-2000:]
    assert "totals: 3 loaded" in out.stdout
    # Three groups' loads and the cube rebuild, each a hold of its own, the other writer in between
    # (I, P, I, P, I, ...). One hold for the three groups shows at most as I, P, I (batch, cubes).
    assert "IPIPI" in events, events
