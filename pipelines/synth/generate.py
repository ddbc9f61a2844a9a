"""``synthesize``: a whole synthetic network's extracts, seeded and byte-for-byte reproducible."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dvnet.common.files import atomic_write, make_private, private_dir
from dvnet.contracts.geography import Geography
from dvnet.contracts.network import Organisation
from dvnet.contracts.registry import get_contract
from dvnet.pipelines.synth import rates
from dvnet.pipelines.synth.common import Period, format_ids, parse_period, rng_for
from dvnet.pipelines.synth.episodes import build_episodes, research_rows
from dvnet.pipelines.synth.faults import FAULT_KINDS, InjectedFault, inject
from dvnet.pipelines.synth.people import assign_people, make_roster
from dvnet.pipelines.synth.referrals import build_referrals
from dvnet.pipelines.synth.writer import CsvFile

REFERRAL, EPISODE, RESEARCH = "referral", "service_episode", "research_extract"
GROUND_TRUTH_DIR = "_ground_truth"  # not a valid agency id, so it never collides with one


@dataclass(frozen=True)
class SynthSummary:
    """What a run wrote. Counts and paths only: never a value from the synthetic rows."""

    rows: dict[tuple[str, str, str], int]  # (agency id, contract id, period) -> rows in the clean file
    total_rows: int
    files: list[Path]  # every extract written, clean and faulty
    seconds: float
    faults: list[InjectedFault] = field(default_factory=list)
    ground_truth: Path | None = None  # the _ground_truth folder

    def by_agency_contract(self) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for (agency, contract, _), n in self.rows.items():
            out[(agency, contract)] = out.get((agency, contract), 0) + n
        return out


def contributors(orgs: list[Organisation]) -> list[Organisation]:
    """Organisations that hold extracts (tier 2 and above), in id order."""
    ids = [o.id for o in orgs]
    if len(set(ids)) != len(ids):
        raise ValueError("organisation ids must be unique")
    return sorted((o for o in orgs if o.tier >= 2), key=lambda o: o.id)


def plan_volumes(orgs: list[Organisation], *, seed: int, periods: list[str], scale: float = 1.0) -> dict[tuple[str, str, str], int]:
    """Rows of referrals and episodes per (agency, contract, period) before they are made.

    Research extracts are not planned: they are the episodes with both linkage inputs present.
    """
    if scale <= 0:
        raise ValueError("scale must be positive")
    plan = {}
    for org in contributors(orgs):
        size = rng_for(seed, "agency-size", org.id).lognormal(0.0, rates.AGENCY_SIZE_SIGMA)
        for label in sorted(set(periods)):
            jitter = rng_for(seed, "period-size", org.id, label).lognormal(0.0, rates.PERIOD_SIZE_SIGMA, 2)
            base = rates.region_size(org.region) * size * scale
            plan[(org.id, REFERRAL, label)] = max(rates.MIN_ROWS, int(round(rates.REFERRALS_PER_QUARTER[org.type] * base * jitter[0])))
            if org.tier >= 3:
                plan[(org.id, EPISODE, label)] = max(rates.MIN_ROWS, int(round(rates.EPISODES_PER_QUARTER[org.type] * base * jitter[1])))
    return plan


def _assign_records(rng: np.random.Generator, n_clients: int, n_records: int) -> np.ndarray:
    """A client for every record: each client at least once, the rest repeat clients."""
    out = rng.integers(0, n_clients, n_records)
    out[rng.permutation(n_records)[:n_clients]] = np.arange(n_clients)
    return out


def synthesize(
    orgs: list[Organisation],
    out_root: Path,
    *,
    seed: int,
    periods: list[str],
    scale: float = 1.0,
    geography: Geography,
    faults: frozenset[str] = frozenset(),
    progress: Callable[[int], None] | None = None,
) -> SynthSummary:
    """Write every contributing agency's synthetic extracts under ``out_root/<agency>/extracts/``.

    Tier 2+ agencies get ``referral_<period>.csv``, tier 3+ also ``service_episode_<period>.csv``,
    tier 4 also ``research_extract_<period>.csv``; each clean file satisfies its contract's source
    model, and every postal code lies in a region of the network's ``geography``. With ``faults``, a ``<stem>.faulty.csv`` copy of each file carries the planted faults.
    Who is who across agencies goes to ``out_root/_ground_truth/persons.parquet`` and the
    planted faults to ``faults.json``. Same seed and inputs give byte-identical files.
    ``progress`` is called with the number of rows of each clean file as it is written.
    """
    t0 = time.perf_counter()
    unknown = sorted(set(faults) - set(FAULT_KINDS))
    if unknown:
        raise ValueError(f"unknown fault kind {unknown[0]!r}")
    if not periods:
        raise ValueError("at least one period is needed")
    parsed: list[Period] = [parse_period(p) for p in sorted(set(periods))]
    out_root = Path(out_root)
    orgs = sorted(orgs, key=lambda o: o.id)  # the registry's order must not change the data
    agencies = contributors(orgs)
    plan = plan_volumes(orgs, seed=seed, periods=[p.label for p in parsed], scale=scale)
    shape = (len(agencies), len(parsed))
    n_ref = np.array([[plan[(o.id, REFERRAL, p.label)] for p in parsed] for o in agencies], dtype=np.int64).reshape(shape)
    n_ep = np.array([[plan.get((o.id, EPISODE, p.label), 0) for p in parsed] for o in agencies], dtype=np.int64).reshape(shape)
    records = n_ref.sum(axis=1) + n_ep.sum(axis=1)
    if agencies:
        population, clients = assign_people(rng_for(seed, "people"), agencies, records, parsed[0].start, geography)
    columns = {cid: list(get_contract(cid).source_schema.columns) for cid in (REFERRAL, EPISODE, RESEARCH)}

    rows: dict[tuple[str, str, str], int] = {}
    files: list[Path] = []
    injected: list[InjectedFault] = []
    truth_person, truth_agency, truth_client = [], [], []

    def emit(org: Organisation, contract_id: str, cols: dict[str, pa.Array], period_idx: np.ndarray) -> None:
        contract = get_contract(contract_id)
        table = pa.table({c: cols[c] for c in columns[contract_id]})
        bounds = np.searchsorted(period_idx, np.arange(len(parsed) + 1))
        for i, period in enumerate(parsed):
            part = table.slice(bounds[i], bounds[i + 1] - bounds[i])
            folder = out_root / org.id / "extracts"
            path = folder / f"{contract_id}_{period.label}.csv"
            faulty = folder / f"{contract_id}_{period.label}.faulty.csv"
            rendered = CsvFile(columns[contract_id], part)
            atomic_write(path, rendered.header, rendered.body, durable=False)  # regenerated at will: no fsync
            files.append(path)
            rows[(org.id, contract_id, period.label)] = part.num_rows
            if faults:
                bad, planted = inject(
                    rng_for(seed, "faults", org.id, contract_id, period.label),
                    rendered.to_bytes(),
                    file=faulty.relative_to(out_root).as_posix(),
                    columns=columns[contract_id],
                    id_column="referral_id" if contract_id == REFERRAL else "episode_id",
                    event_column=contract.event_date,
                    period=period,
                    kinds=faults,
                )
                atomic_write(faulty, bad, durable=False)
                files.append(faulty)
                injected.extend(planted)
            else:
                faulty.unlink(missing_ok=True)  # never leave an earlier run's faulty copy behind
            if progress is not None:
                progress(part.num_rows)

    for a, org in enumerate(agencies):
        roster = make_roster(rng_for(seed, "roster", org.id), org, population, clients[a])
        rng = rng_for(seed, "records", org.id)
        rec_client = _assign_records(rng, len(roster), int(records[a]))
        split = int(n_ref[a].sum())
        others = [o for o in orgs if o.id != org.id and o.active] or [o for o in orgs if o.id != org.id]
        cols, pidx = build_referrals(
            rng_for(seed, REFERRAL, org.id), org, others, roster, population,
            rec_client[:split], np.repeat(np.arange(len(parsed)), n_ref[a]), parsed,
        )
        emit(org, REFERRAL, cols, pidx)
        if org.tier >= 3:
            cols, pidx = build_episodes(
                rng_for(seed, EPISODE, org.id), org, roster, population,
                rec_client[split:], np.repeat(np.arange(len(parsed)), n_ep[a]), parsed,
            )
            emit(org, EPISODE, cols, pidx)
            if org.tier >= 4:
                keep = research_rows(cols)
                mask = pa.array(keep)
                emit(org, RESEARCH, {k: v.filter(mask) for k, v in cols.items()}, pidx[keep])
        truth_person.append(roster.person)
        truth_agency.append(np.full(len(roster), a, dtype=np.int32))
        truth_client.append(roster.client_id)

    truth_dir = out_root / GROUND_TRUTH_DIR
    private_dir(truth_dir)
    person = np.concatenate(truth_person) if truth_person else np.zeros(0, dtype=np.int64)
    agency = np.concatenate(truth_agency) if truth_agency else np.zeros(0, dtype=np.int32)
    client = pa.concat_arrays(truth_client) if truth_client else pa.array([], pa.string())
    order = pa.array(np.lexsort((agency, person)))  # by person, then agency
    truth = pa.table({
        "person_id": format_ids("P", person + 1, 7),
        "agency_id": pa.DictionaryArray.from_arrays(pa.array(agency), pa.array([o.id for o in agencies], pa.string())),
        "client_id": client,
    }).take(order)
    pq.write_table(truth, truth_dir / "persons.parquet", compression="zstd")
    make_private(truth_dir / "persons.parquet")
    faults_doc = {
        "seed": seed,
        "record_number": "1-based data record; the header is not counted (physical line = record_number + 1)",
        "faults": [f.to_dict() for f in injected],
    }
    atomic_write(truth_dir / "faults.json", (json.dumps(faults_doc, indent=1, ensure_ascii=True) + "\n").encode("ascii"), durable=False)
    return SynthSummary(
        rows=rows,
        total_rows=sum(rows.values()),
        files=files,
        seconds=time.perf_counter() - t0,
        faults=injected,
        ground_truth=truth_dir,
    )
