"""Test kit for the central tests: a small network, de-identified frames, sealed bundles, snapshots.

Loaded by path from the central conftests (the test folders are not packages, see
``tests/conftest.py``), so the integration, adversarial and UI tests share one implementation.
Everything is synthetic: random pseudonyms, codes drawn from the contracts' code lists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dvnet import bundle
from dvnet.anonymize.counts import standard_counts
from dvnet.bundle import streamed
from dvnet.bundle.header import canonical_json
from dvnet.bundle.seal import encrypt_and_sign_streamed
from dvnet.contracts import codes
from dvnet.pipelines.demo_network import demo_geography
from dvnet.contracts.registry import get_contract
from dvnet.common import network as store
from dvnet.common.network import NetworkPaths
from dvnet.pipelines.ceremony import FOUNDER, Ceremony

REPO = Path(__file__).resolve().parents[3]

PERIOD = "2026-Q3"
KIT_RESEARCHER = "kit-researcher"
EARLIER_PERIOD = "2026-Q2"

#: id, type, tier: one agency per role the tests need.
AGENCIES = (
    ("shelter-a", "direct_service", 3),  # sends service episodes (record + aggregate) and referrals
    ("legal-b", "justice_legal", 2),  # referrals only: a service_episode bundle is a tier violation
    ("health-c", "health_social_care", 3),  # suspended by the tests that need it
    ("housing-d", "housing_homelessness", 1),  # directory only: no keys, sends nothing
)


@dataclass
class Kit:
    """A network folder and the agency-side material to seal bundles for it."""

    root: Path
    sequences: dict[str, int] = field(default_factory=dict)

    @property
    def paths(self) -> NetworkPaths:
        return NetworkPaths(self.root)

    @property
    def inbox(self) -> Path:
        return self.paths.inbox

    def agency_folder(self, agency: str) -> Path:
        return self.paths.agencies / agency

    def signing_key(self, agency: str):
        return bundle.load_signing_key(self.agency_folder(agency) / "keys" / "signing.key")

    def coordinator_public_key(self):
        return bundle.encryption_public_key_from_text(store.load_network(self.root).coordinator.encryption_public_key)

    def next_sequence(self, agency: str) -> int:
        self.sequences[agency] = self.sequences.get(agency, 0) + 1
        return self.sequences[agency]

    # --- sealing -------------------------------------------------------------------------------

    def seal(self, agency: str, contract_id: str, payload: bytes, record_count: int, *, period: str = PERIOD, mode: str = "record",
             sequence: int | None = None, signing_key=None, recipient=None, now: dt.datetime | None = None, **kw) -> bundle.SealedBundle:  # fmt: skip
        return bundle.seal(
            payload,
            agency_id=agency,
            contract_id=contract_id,
            contract_version=1,
            mode=mode,
            sequence=sequence if sequence is not None else self.next_sequence(agency),
            period=period,
            record_count=record_count,
            signing_key=signing_key or self.signing_key(agency),
            recipient_public_key=recipient or self.coordinator_public_key(),
            now=now or dt.datetime.now(dt.UTC).replace(microsecond=0),
            **kw,
        )

    def records(self, agency: str, contract_id: str = "service_episode", n: int = 40, *, seed: int = 0, period: str = PERIOD, **kw) -> bundle.SealedBundle:
        frame = FRAMES[contract_id](n, period, seed)
        return self.seal(agency, contract_id, parquet_bytes(frame), n, period=period, mode="record", **kw)

    def counts(self, agency: str, contract_id: str = "referral", n: int = 40, *, seed: int = 0, period: str = PERIOD, **kw) -> bundle.SealedBundle:
        table = standard_counts(FRAMES[contract_id](n, period, seed), get_contract(contract_id))
        return self.seal(agency, contract_id, parquet_bytes(table), table.num_rows, period=period, mode="aggregate", **kw)

    def drop(self, name: str, blob: bytes) -> Path:
        """Deliver a bundle as an agency would: a temporary name, then a rename into the inbox."""
        tmp = self.inbox / f".{name}.part"
        tmp.write_bytes(blob)
        path = self.inbox / f"{name}.dvb"
        os.replace(tmp, path)
        return path


def add_agency(kit: Kit, agency: str, tier: int, *, status: str = "active", org_type: str = "direct_service") -> None:
    """Register one more agency through the key ceremony (its own folder and keys; no linkage key
    is relayed: the central tests seal their own payloads); ``status`` suspended to suspend it."""
    from dvnet.common.people import PersonFolder

    founder = PersonFolder(kit.root / "people" / FOUNDER[0])
    Ceremony(kit.root, FOUNDER[0], {FOUNDER[0]: founder}).add_agency(agency, agency.replace("-", " ").title(), org_type, tier, demo_geography().region_ids[0])
    if status != "active":
        store.set_status(kit.root, agency, status, acting(kit.root, "network.suspend"))


def add_agreement(kit: Kit, dsa_id: str, parties: list[str], *, start: str = "2026-01-01", end: str = "2027-12-31",
                  status: str = "active", contracts: tuple[str, ...] = ("research_extract/v1",)) -> None:  # fmt: skip
    """Record a data-sharing agreement for research extracts between ``parties`` (``common.agreements``,
    by the founding coordinator; a researcher is registered for it the first time)."""
    from dvnet.common import agreements
    from dvnet.common.people import PersonFolder

    if store.load_network(kit.root).person(KIT_RESEARCHER) is None:
        Ceremony(kit.root, FOUNDER[0], {FOUNDER[0]: PersonFolder(kit.root / "people" / FOUNDER[0])}).add_person(
            KIT_RESEARCHER, "Kit Researcher (fictional)", "Hills University", ["researcher"])
    terms = {"id": dsa_id, "purpose": "Test evaluation", "parties": list(parties), "contracts": list(contracts), "fields": ["linkage_token"],
             "periods": [EARLIER_PERIOD, PERIOD], "start": start, "end": end, "ethics_approval": "REB-TEST", "ethics_expires": end, "researchers": [KIT_RESEARCHER],
             "min_cell_size": 5, "retention_end": "2028-12-31"}  # fmt: skip
    # An agreement that has ended was recorded while it could still be in force (its start date).
    ended = end < dt.date.today().isoformat()
    agreements.add(kit.root, terms, acting(kit.root, "dsa.add"), now=dt.datetime.combine(dt.date.fromisoformat(start), dt.time(), dt.UTC) if ended else None)
    if status == "revoked":
        agreements.revoke(kit.root, dsa_id, "revoked for the test", acting(kit.root, "dsa.revoke"))


def make_network(root: Path) -> Kit:
    ceremony = Ceremony.found(root, "Central test network")
    for i, (agency, org_type, tier) in enumerate(AGENCIES):
        ceremony.add_agency(agency, agency.replace("-", " ").title(), org_type, tier, demo_geography().region_ids[i % len(demo_geography().region_ids)])
    return Kit(root)


def acting(root: Path, action: str):
    """The founding coordinator granted ``action`` (for calls that change the registry)."""
    from dvnet.common.authority import authorise

    return authorise(root, FOUNDER[0], Path(root) / "people" / FOUNDER[0] / "signing.key", action)


def as_coordinator(root: Path) -> list[str]:
    """``--as``/``--key`` of the network's founding coordinator (the commands that change state need them)."""
    return ["--as", FOUNDER[0], "--key", str(Path(root) / "people" / FOUNDER[0] / "signing.key")]


# --- de-identified frames ------------------------------------------------------------------------


def _pick(rng: np.random.Generator, values, n: int) -> pd.arrays.StringArray:
    return pd.array(np.asarray(values, dtype=object)[rng.integers(0, len(values), n)], dtype="string")


def _hex(rng: np.random.Generator, n: int, nbytes: int = 16) -> pd.arrays.StringArray:
    raw = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    return pd.array([row.tobytes().hex() for row in raw], dtype="string")


def service_episode_frame(n: int, period: str = PERIOD, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    flags = ("risk_strangulation", "risk_weapon_access", "risk_escalation", "risk_recent_separation", "risk_threats_to_kill",
             "risk_children_in_household", "risk_pregnancy", "safety_plan_completed")  # fmt: skip
    frame = pd.DataFrame(
        {
            "episode_pseudonym": _hex(rng, n),
            "client_pseudonym": _hex(rng, n),
            "age_band": _pick(rng, codes.AGE_BANDS, n),
            "region": _pick(rng, demo_geography().region_ids, n),
            "service_type": _pick(rng, codes.SERVICE_TYPES, n),
            "episode_quarter": pd.array([period] * n, dtype="string"),
            "referral_source_type": _pick(rng, codes.REFERRAL_SOURCE_TYPES, n),
            "risk_level": _pick(rng, codes.RISK_LEVELS, n),
            **{c: pd.array(rng.integers(0, 2, n).astype(bool), dtype="boolean") for c in flags},
            "protection_order_status": _pick(rng, codes.PROTECTION_ORDER_STATUSES, n),
            "housing_status_at_exit": _pick(rng, codes.HOUSING_AT_EXIT, n),
            "gender": _pick(rng, codes.GENDERS, n),
            "indigenous_identity": _pick(rng, codes.YES_NO_NOT_STATED, n),
            "disability": _pick(rng, codes.YES_NO_NOT_STATED, n),
            "language": _pick(rng, codes.LANGUAGES, n),
        }
    )
    return frame[get_contract("service_episode").output_columns()]


def referral_frame(n: int, period: str = PERIOD, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 40, n).astype("int64")
    frame = pd.DataFrame(
        {
            "referral_pseudonym": _hex(rng, n),
            "client_pseudonym": _hex(rng, n),
            "age_band": _pick(rng, codes.AGE_BANDS, n),
            "region": _pick(rng, demo_geography().region_ids, n),
            "referral_quarter": pd.array([period] * n, dtype="string"),
            "referring_org": _pick(rng, [a for a, _, _ in AGENCIES], n),
            "receiving_org": _pick(rng, [a for a, _, _ in AGENCIES], n),
            "referral_reason": _pick(rng, codes.REFERRAL_REASONS, n),
            "handoff_type": _pick(rng, codes.HANDOFF_TYPES, n),
            "outcome": _pick(rng, codes.REFERRAL_OUTCOMES, n),
            "days_to_first_contact": pd.array(np.where(rng.random(n) < 0.2, -1, days), dtype="Int64").astype("Int64"),
            "gender": _pick(rng, codes.GENDERS, n),
            "language": _pick(rng, codes.LANGUAGES, n),
            "risk_level": _pick(rng, codes.RISK_LEVELS, n),
        }
    )
    frame.loc[frame["days_to_first_contact"] < 0, "days_to_first_contact"] = pd.NA
    return frame[get_contract("referral").output_columns()]


def research_extract_frame(n: int, period: str = PERIOD, seed: int = 0) -> pd.DataFrame:
    """Service episodes with a project linkage token and the month of the episode (Tier 4)."""
    rng = np.random.default_rng(seed)
    frame = service_episode_frame(n, period, seed)
    frame["linkage_token"] = _hex(rng, n, 32)
    year, quarter = int(period[:4]), int(period[-1])
    frame["episode_month"] = pd.array([f"{year}-{3 * quarter - 2 + int(m):02d}" for m in rng.integers(0, 3, n)], dtype="string")
    return frame[get_contract("research_extract").output_columns()]


FRAMES = {"service_episode": service_episode_frame, "referral": referral_frame, "research_extract": research_extract_frame}


def parquet_bytes(data: pd.DataFrame | pa.Table) -> bytes:
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


# --- hostile bundles -----------------------------------------------------------------------------


def flip(blob: bytes, index: int) -> bytes:
    return blob[:index] + bytes([blob[index] ^ 0x01]) + blob[index + 1 :]


def header_tampered(blob: bytes) -> bytes:
    """One hex digit of bundle_id changed: the header stays canonical, only the signature notices."""
    at = blob.index(b'"bundle_id":"') + len(b'"bundle_id":"')
    return blob[:at] + (b"b" if blob[at : at + 1] == b"a" else b"a") + blob[at + 1 :]


def signature_tampered(blob: bytes) -> bytes:
    """One bit of the Ed25519 signature flipped (it follows the 13-byte prefix and the header)."""
    return flip(blob, 13 + int.from_bytes(blob[9:13], "big") + 10)


def ciphertext_tampered(blob: bytes) -> bytes:
    """One bit of the ciphertext flipped (near the end, before the AEAD tag)."""
    return flip(blob, len(blob) - 40)


def manifest_mismatch(kit: Kit, agency: str, n: int = 10) -> bytes:
    """Signed by the real agency key and sealed to the coordinator; the inner manifest names another agency."""
    good = kit.records(agency, n=n, seed=99)
    data = parquet_bytes(service_episode_frame(n, PERIOD, 99))
    manifest = canonical_json(dict(good.manifest, agency_id="legal-b", data_sha256=hashlib.sha256(data).hexdigest()))
    header = dict(good.header, ciphertext_length=streamed.ciphertext_length(len(data), len(manifest)))
    return encrypt_and_sign_streamed(canonical_json(header), manifest, data, kit.signing_key(agency), kit.coordinator_public_key())


# --- warehouse snapshots -------------------------------------------------------------------------

TIME_COLUMNS = {"received_at", "quarantined_at"}


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every warehouse table's rows, sorted, without arrival times (which differ between runs)."""
    if not Path(db).exists():
        return {}
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables ORDER BY table_name").fetchall():
            cols = [c for (c,) in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position", [table]).fetchall()]
            keep = ", ".join(f'"{c}"' for c in cols if c not in TIME_COLUMNS)
            out[table] = sorted(con.execute(f'SELECT {keep} FROM "{table}"').fetchall(), key=repr)
        return out
    finally:
        con.close()


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def staged_files_on_disk(db: Path) -> tuple[set[str], set[str]]:
    """The files under the warehouse's staged folder, and those its ``record_files`` lists
    (relative paths): equal when nothing is left over from a load that never committed."""
    from dvnet.assets.warehouse.lib import staged_files

    base = Path(db).with_name(f"{Path(db).name}.staged")
    on_disk = {str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()} if base.is_dir() else set()
    return on_disk, {f for (f,) in query(db, f"SELECT file FROM {staged_files.REGISTRY}")}


def alter_staged(con, contract: str, sql: str, params: list | None = None) -> None:
    """Change ``contract``'s staged rows the way someone editing the warehouse's files would:
    ``sql`` runs on a table named like the staged view (``staged_<contract>``, with a ``rowid`` in
    file order) holding every listed file's rows, and each file is written back with what is left
    of its rows (a row whose bundle id changed stays in its file). Files whose rows the edit left
    as they were are not touched."""
    from dvnet.assets.warehouse.lib import staged_files

    base = staged_files.folder(con)
    files = [f for (f,) in con.execute(f"SELECT file FROM {staged_files.REGISTRY} WHERE contract_id = ? ORDER BY bundle_id", [contract]).fetchall()]
    table = staged_files.table_name(contract)
    edit = duckdb.connect()
    try:
        parts = " UNION ALL BY NAME ".join(f"SELECT *, {i} AS __file FROM read_parquet('{base / f}')" for i, f in enumerate(files))
        edit.execute(f"CREATE TABLE {table} AS {parts}")

        def rows(i: int) -> list[tuple]:
            return edit.execute(f"SELECT * EXCLUDE (__file) FROM {table} WHERE __file = {i} ORDER BY rowid").fetchall()

        before = [rows(i) for i in range(len(files))]
        edit.execute(sql, params or [])
        for i, f in enumerate(files):
            if rows(i) == before[i]:
                continue
            tmp = base / f"{f}.edit"
            edit.execute(f"COPY (SELECT * EXCLUDE (__file) FROM {table} WHERE __file = {i} ORDER BY rowid) TO '{tmp}' (FORMAT parquet)")
            os.chmod(tmp, 0o600)
            os.replace(tmp, base / f)
    finally:
        edit.close()


# --- running Dagster -----------------------------------------------------------------------------


def dagster_home(tmp: Path) -> Path:
    """A temporary DAGSTER_HOME holding a copy of the committed dagster.yaml."""
    home = tmp / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_bytes((REPO / "dagster_home" / "dagster.yaml").read_bytes())
    return home


#: How a stack trace starts on a terminal: Python's, and Dagster's console logger's for a failed step.
TRACE_MARKERS = ("Traceback (most recent call last)", "Stack Trace:")


def shows_a_trace(text: str) -> bool:
    """Whether ``text`` (a command's output) holds a stack trace of either kind."""
    return any(marker in text for marker in TRACE_MARKERS)


def run_cli(args: list[str], env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """``dvnet ARGS`` in a fresh interpreter (what a coordinator types)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "dvnet.pipelines.cli", *args], cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout)


def ingest(kit: Kit) -> list:
    """Every inbox bundle through ``ingest_inbox`` (no Dagster run): the outcomes."""
    from dvnet.assets.intake.lib.ingest import CoordinatorContext, ingest_inbox
    from dvnet.assets.warehouse.lib import schema as warehouse

    ctx = CoordinatorContext.load(kit.root)
    con = warehouse.connect(ctx.paths.warehouse)
    try:
        return ingest_inbox(ctx, con)
    finally:
        con.close()


def receipts(kit: Kit) -> dict[str, dict]:
    """Every receipt the coordinator wrote, by bundle id (or file hash prefix)."""
    return {p.name.removesuffix(".receipt.json"): json.loads(p.read_bytes()) for p in kit.paths.receipts.rglob("*.receipt.json")}


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def tick(kit: Kit, instance, cursor: str | None = None):
    """One evaluation of the inbox sensor, then what the daemon does with its result: add the
    dynamic partitions it asks for and run ``intake_job`` for each run request, in order.

    Returns (sensor result, [(run request, execute_in_process result)]). Run keys already used on
    this instance are skipped, as the daemon skips them.
    """
    from dagster import RunsFilter, build_sensor_context

    from dvnet.assets.intake.sensors import inbox_sensor
    from dvnet.assets.definitions import build_definitions
    from dvnet.assets.resources import NetworkResource

    context = build_sensor_context(instance=instance, cursor=cursor, resources={"network": NetworkResource(root=str(kit.root))})
    result = inbox_sensor(context)
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    job = build_definitions(kit.root).resolve_job_def("intake_job")
    runs = []
    for req in result.run_requests or []:
        if instance.get_runs(filters=RunsFilter(tags={"dagster/run_key": req.run_key})):
            continue
        tags = {**req.tags, "dagster/run_key": req.run_key}
        runs.append((req, job.execute_in_process(run_config=req.run_config, instance=instance, partition_key=req.partition_key, tags=tags)))
    return result, runs


def run_partition(kit: Kit, instance, agency: str, period: str, files: list[str] | None = None):
    """``intake_job`` for one partition (all its pending bundles, or ``files``), in-process."""
    from dvnet.assets.intake.partitions import AGENCY, PERIOD, partition_key
    from dvnet.assets.definitions import build_definitions

    for dim, key in ((AGENCY, agency), (PERIOD, period)):
        if key not in instance.get_dynamic_partitions(dim):
            instance.add_dynamic_partitions(dim, [key])
    job = build_definitions(kit.root).resolve_job_def("intake_job")
    return job.execute_in_process(run_config={"ops": {"intake": {"config": {"files": files or []}}}}, instance=instance, partition_key=str(partition_key(agency, period)))


def materialization(result, key: str):
    """The metadata (plain values) of asset ``key`` materialised in an execute_in_process result."""
    for mat in result.asset_materializations_for_node("intake"):
        if mat.asset_key.to_user_string() == key:
            return {k: v.value for k, v in mat.metadata.items()}
    return None


def check_results(result) -> dict[str, tuple[bool, str]]:
    """'<asset>:<check>' -> (passed, severity) for every check evaluated in a run."""
    out = {}
    for ev in result.get_asset_check_evaluations():
        out[f"{ev.asset_key.to_user_string()}:{ev.check_name}"] = (ev.passed, ev.severity.value)
    return out


def run_batch(kit: Kit, instance, files: list[str] | None = None, raise_on_error: bool = True):
    """``intake_batch`` (what ``dvnet ingest`` runs) over the pending bundles, or ``files``, in-process."""
    from dvnet.assets.definitions import build_definitions

    job = build_definitions(kit.root).resolve_job_def("intake_batch")
    return job.execute_in_process(run_config={"ops": {"load_batch": {"config": {"files": files or []}}}}, instance=instance, raise_on_error=raise_on_error)


def partition_reports(instance, asset: str) -> dict[str, list]:
    """partition -> every bundle entry (or, without ``bundles`` metadata, every metadata dict) the
    instance's materialisations of ``asset`` reported for it, oldest first."""
    from dagster import AssetKey

    out: dict[str, list] = {}
    for record in reversed(instance.fetch_materializations(AssetKey(asset), limit=1000).records):
        meta = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        out.setdefault(record.partition_key, []).extend(meta.pop("bundles", None) or [meta])
    return out
