"""Suite 4, crash consistency: SIGKILL at random moments of `dvnet ingest`, `dvnet contribute` and
`dvnet publish`.

The named fault points are killed in ``tests/integration/central/test_central_crash.py`` (ingest)
and ``tests/integration/releases/test_release_crash.py`` (publish); this adds kills at moments
nobody chose, spread over a whole run, each followed by a restart. After every kill the state is
checked before the restart:

- ingest: every bundle in the ledger has all its rows and no rows belong to a bundle the ledger
  does not hold (never *partial*); after the restart the warehouse equals the one an uninterrupted
  run made (no *rows lost*, nothing *duplicate*), and every bundle has exactly one audit line and
  one receipt (nothing *unrecorded*);
- contribute: every ``*.dvb`` in the outbox is a whole bundle; after the restart exactly one bundle
  for the quarter exists, its sealing is in the agency's audit log, and the log verifies;
- publish (a release request): no request folder exists that the coordinator's log does not name;
  after the restart no unfinished folder is left and the log verifies.

All kills here and at the named points add to one headline (the ``tally`` fixture):
``crash consistency: K kills, 0 partial, 0 duplicate, 0 unrecorded, 0 rows lost``.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from dvnet import bundle
from dvnet.assets.warehouse.lib import schema as warehouse
from dvnet.common import audit
from dvnet.common import network as store
from dvnet.pipelines.demo_network import demo_geography
from dvnet.pipelines.synth import synthesize

REPO = Path(__file__).resolve().parents[3]
KILLS = 6

pytestmark = pytest.mark.slow


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dvnet.pipelines.cli", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def _run(args: list[str]) -> tuple[int, float]:
    """Run ``dvnet ARGS`` to its end: (exit code, seconds). A traceback fails the test: a restart
    that dies (exit 1, like a refusal) on what a kill left is the fault this suite looks for."""
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "dvnet.pipelines.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    return out.returncode, time.monotonic() - started


def _kill_during(args: list[str], seconds: float, fresh) -> bool:
    """Start ``dvnet ARGS`` (after ``fresh()`` made its folder anew) and SIGKILL its process group
    after ``seconds``; a run that finished first is started again with half the delay (the first,
    reference run was the slowest: nothing cached yet). Whether a kill happened."""
    for _ in range(4):
        fresh()
        proc = _start(args)
        try:
            proc.wait(timeout=seconds)
            seconds /= 2
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
    return False


def _moments(duration: float, seed: int) -> list[float]:
    """``KILLS`` moments spread over a run of ``duration`` seconds (start-up included), jittered."""
    rng = random.Random(seed)
    return [duration * (0.1 + 0.85 * (i + rng.random()) / KILLS) for i in range(KILLS)]


def _rows_by_bundle(db: Path) -> dict[str, dict[str, int]]:
    """bundle id -> {table: rows} over every warehouse table with a bundle id (the ledger included,
    the quarantine log not: a quarantine is no load)."""
    if not db.exists():
        return {}
    con = duckdb.connect(str(db))  # read-write: replays what a killed writer left in the WAL
    try:
        out: dict[str, dict[str, int]] = {}
        for (t,) in con.execute("SELECT DISTINCT table_name FROM information_schema.columns WHERE column_name = 'bundle_id'").fetchall():
            if t in ("quarantine_log", "unfinished_loads"):
                continue
            for bid, n in con.execute(f'SELECT bundle_id, count(*) FROM "{t}" GROUP BY bundle_id').fetchall():
                out.setdefault(bid, {})[t] = n
        return out
    finally:
        con.close()


def _partial_bundles(db: Path, whole: dict[str, dict[str, int]]) -> int:
    """Bundles that are neither absent nor whole: some of their rows, or their rows without their
    ledger entry (``whole``: each bundle's rows after an uninterrupted run)."""
    return sum(rows != whole.get(bid) for bid, rows in _rows_by_bundle(db).items())


def _ingest_records(ck, kit, bundles: dict[str, str]) -> tuple[int, int]:
    """(bundles without their one audit line and receipt, bundles with more than one of either)."""
    entries = [e for e in audit.read(kit.paths.audit_log) if e["action"].startswith("bundle_")]
    receipts = list(ck.receipts(kit).values())
    missing = duplicate = 0
    for bundle_id in bundles.values():
        lines = sum(e["objects"].get("bundle") == bundle_id for e in entries)
        got = sum(r["bundle_id"] == bundle_id for r in receipts)
        missing += lines == 0 or got == 0
        duplicate += lines > 1 or got > 1
    return missing, duplicate


def test_kills_at_random_moments_of_an_ingest(ck, tmp_path, tally):
    template = ck.make_network(tmp_path / "template" / "net")
    made = {
        "a-episodes": template.records("shelter-a", n=60, seed=1),
        "a-referrals": template.counts("shelter-a", "referral", n=60, seed=2),
        "c-episodes": template.records("health-c", n=50, seed=3),
        "b-referrals": template.records("legal-b", "referral", n=40, seed=4),
        "a-referrals-again": template.counts("shelter-a", "referral", n=30, seed=5),  # the same quarter: quarantined
    }
    for name, sealed in made.items():
        template.drop(name, sealed.blob)
    bundles = {name: sealed.bundle_id for name, sealed in made.items()}

    def ingest_args(kit) -> list[str]:
        return ["ingest", "--network", str(kit.root), "--dagster-home", str(kit.root.parent / "dagster_home"), *ck.as_coordinator(kit.root)]

    def copy(label: str):
        kit = ck.Kit(tmp_path / label / "net")
        _fresh_copy(template.root, kit.root)
        ck.dagster_home(kit.root.parent)
        return kit

    reference = copy("reference")
    code, duration = _run(ingest_args(reference))
    assert code == 1  # one bundle quarantined
    after = {t: r for t, r in ck.snapshot(reference.paths.warehouse).items() if not t.startswith("cube_")}
    whole = _rows_by_bundle(reference.paths.warehouse)
    # The check itself sees a partial load: some rows of one bundle gone, or one bundle's ledger entry.
    broken = tmp_path / "broken.duckdb"
    shutil.copy(reference.paths.warehouse, broken)
    shutil.copytree(reference.paths.warehouse.with_name(f"{reference.paths.warehouse.name}.staged"), tmp_path / "broken.duckdb.staged")
    warehouse.connect(broken).close()  # its views rebased onto its own files
    with duckdb.connect(str(broken)) as con:
        ck.alter_staged(con, "service_episode", "DELETE FROM staged_service_episode WHERE rowid % 2 = 0 AND bundle_id = ?", [bundles["a-episodes"]])
        con.execute("DELETE FROM ledger WHERE bundle_id = ?", [bundles["b-referrals"]])
    assert _partial_bundles(broken, whole) == 2

    totals = dict(kills=0, partial=0, duplicate=0, unrecorded=0, rows_lost=0, stray_files=0)
    differing: list[str] = []  # which tables a restart left unlike the uninterrupted run's (names and counts)
    for i, moment in enumerate(_moments(duration, seed=2026)):
        kit = ck.Kit(tmp_path / f"kill-{i}" / "net")
        if not _kill_during(ingest_args(kit), moment, lambda i=i: copy(f"kill-{i}")):
            continue  # it kept finishing first: not a kill
        totals["kills"] += 1
        totals["partial"] += _partial_bundles(kit.paths.warehouse, whole)
        assert _run(ingest_args(kit))[0] in (0, 1)
        final = {t: r for t, r in ck.snapshot(kit.paths.warehouse).items() if not t.startswith("cube_")}
        missing, duplicate = _ingest_records(ck, kit, bundles)
        totals["unrecorded"] += missing + len(list(kit.inbox.glob("*.dvb")))
        totals["duplicate"] += duplicate
        totals["rows_lost"] += int(final != after)
        differing += [f"kill {i} at {moment:.1f} s: {t} has {len(final.get(t, []))} rows against {len(after.get(t, []))}" for t in sorted(set(final) | set(after)) if final.get(t) != after.get(t)]
        on_disk, listed = ck.staged_files_on_disk(kit.paths.warehouse)
        totals["stray_files"] += len(on_disk ^ listed)
    tally("crash consistency", **totals)
    assert totals["kills"] >= KILLS - 1, totals  # the moments fell inside the run
    assert totals == {**totals, "partial": 0, "duplicate": 0, "unrecorded": 0, "rows_lost": 0, "stray_files": 0}, (totals, differing)


def test_kills_at_random_moments_of_a_contribution(network_dir, tally):
    agency_id, period, contract = "shelter-north", "2026-Q3", "service_episode"
    org = store.load_network(network_dir).organisation(agency_id)
    agencies = store.NetworkPaths(network_dir).agencies
    synthesize([org], agencies, seed=11, periods=[period], scale=0.2, geography=demo_geography())
    template = agencies / agency_id

    def args(folder: Path) -> list[str]:
        return ["contribute", "--agency", str(folder), "--contract", contract, "--extract", str(folder / "extracts" / f"{contract}_{period}.csv"), "--period", period]

    reference = template.with_name("reference")
    shutil.copytree(template, reference, symlinks=True)
    code, duration = _run(args(reference))
    assert code == 0

    totals = dict(kills=0, partial=0, duplicate=0, unrecorded=0, rows_lost=0, stray_files=0)
    for i, moment in enumerate(_moments(duration, seed=2027)):
        folder = template.with_name(f"kill-{i}")
        if not _kill_during(args(folder), moment, lambda folder=folder: _fresh_copy(template, folder)):
            continue
        totals["kills"] += 1
        totals["partial"] += sum(not _whole(p) for p in (folder / "outbox").glob("*.dvb"))
        rerun = _run(args(folder))[0]
        assert rerun in (0, 2), rerun  # sealed now, or USAGE_PERIOD_IN_OUTBOX: the killed run had sealed it
        sealed = [p for p in (folder / "outbox").glob("*.dvb") if _whole(p)]
        totals["duplicate"] += max(0, len(sealed) - 1)
        ids = {bundle.parse(p.read_bytes()).header["bundle_id"] for p in sealed}
        logged = {(e.get("objects") or {}).get("bundle") for e in audit.read(folder / "audit.log")}
        totals["unrecorded"] += int(len(sealed) == 0 or not ids <= logged)
        audit.verify(folder / "audit.log")
    tally("crash consistency", **totals)
    assert totals["kills"] >= KILLS - 1, totals
    assert totals == {**totals, "partial": 0, "duplicate": 0, "unrecorded": 0}, totals


def test_kills_at_random_moments_of_a_release_request(loaded_network_template, tmp_path, tally):
    """`dvnet publish` (suppression, audit, the request's files, its Dagster run) killed at random
    moments: after each kill no request exists that nobody logged, and the rerun makes its request,
    leaves no unfinished folder and a log that verifies."""
    from dvnet.pipelines.ceremony import FOUNDER

    template = tmp_path / "template" / "net"
    shutil.copytree(loaded_network_template, template, symlinks=True)

    def args(root: Path) -> list[str]:
        return ["publish", "--network", str(root), "--period", "2026-Q3", "--dagster-home", str(root.parent / "dagster_home"),
                "--as", FOUNDER[0], "--key", str(root / "people" / FOUNDER[0] / "signing.key")]  # fmt: skip

    def requests(root: Path) -> tuple[list[str], list[str]]:
        """(request folders nobody logged, unfinished folders)."""
        folder = store.NetworkPaths(root).coordinator / "release-requests"
        logged = {e["objects"].get("request") for e in audit.read(store.NetworkPaths(root).audit_log) if e["action"] == "release_requested"}
        names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
        return [n for n in names if not n.startswith(".") and n not in logged], [n for n in names if n.startswith(".")]

    reference = tmp_path / "reference" / "net"
    shutil.copytree(template, reference, symlinks=True)
    code, duration = _run(args(reference))
    assert code == 0

    totals = dict(kills=0, partial=0, duplicate=0, unrecorded=0, rows_lost=0)
    for i, moment in enumerate(_moments(duration, seed=2028)):
        root = tmp_path / f"kill-{i}" / "net"

        def fresh(root: Path = root) -> None:
            shutil.rmtree(root.parent, ignore_errors=True)
            shutil.copytree(template, root, symlinks=True)

        if not _kill_during(args(root), moment, fresh):
            continue
        totals["kills"] += 1
        totals["unrecorded"] += len(requests(root)[0])
        assert _run(args(root))[0] == 0
        unlogged, unfinished = requests(root)
        totals["unrecorded"] += len(unlogged)
        totals["partial"] += len(unfinished)
        audit.verify(store.NetworkPaths(root).audit_log)
    tally("crash consistency", **totals)
    assert totals["kills"] >= KILLS - 1, totals
    assert totals == {**totals, "partial": 0, "unrecorded": 0}, totals


def _fresh_copy(src: Path, dst: Path) -> None:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, symlinks=True)


def _whole(path: Path) -> bool:
    try:
        bundle.parse(path.read_bytes())
        return True
    except Exception:  # noqa: BLE001 - any failure to parse is a partial file
        return False
