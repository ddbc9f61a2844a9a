"""Earlier releases of the same population, as the attacker holds them, joined to this release.

Every release ever published (withdrawn ones too) is in the attacker's hands, whatever profile it
used. A cell shown by several releases is one quantity while its true count has not changed: the
attacker who guesses "nothing changed there" is right, so the audit must assume he does. When the
count has changed (a correction, a late contribution), each version is its own quantity and the
change between consecutive versions is a quantity too, ``new - old = difference``, whose sign the
attacker is assumed to know (late records only add): that is how three late episodes become
visible when both releases publish the margins they fall in. The audit then asks for every hidden
cell of every release to stay as wide as its release promised, and for every difference not to be
a small count or pinned narrow.

Linking versions needs the true counts of the earlier releases: the coordinator's internal record
keeps them (never the release folder). A release sharing cells with this one whose record is
missing makes the audit impossible: ``HISTORY_INCOMPLETE``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from dvnet.anonymize.disclosure.errors import HISTORY_INCOMPLETE, DisclosureError
from dvnet.anonymize.disclosure.profiles.base import Profile
from dvnet.anonymize.disclosure.rounding import published_bounds
from dvnet.anonymize.disclosure.tables import VALUE_COLUMN, LinkedModel, Table, additivity_entries, constraint_matrix, quantity_keys


@dataclass(frozen=True)
class PublishedRelease:
    """One earlier release: its tables as published (value NA where suppressed), the profile it
    was published under, and, from the coordinator's record, each table's true counts row by row."""

    release_id: str
    profile: Profile
    tables: tuple[Table, ...]
    truth: Mapping[str, np.ndarray] | None = None


@dataclass
class _Versions:
    """Growing lists of the extra quantities (earlier versions, differences) and their equations."""

    n: int
    keys: list
    truth: list
    lo: list
    hi: list
    width: list
    band: list
    origin: list
    rows: list

    def add(self, key: str, truth: float, lo: float, hi: float, width: float, band: float, origin: str) -> int:
        self.keys.append(key), self.truth.append(truth), self.lo.append(lo), self.hi.append(hi)
        self.width.append(width), self.band.append(band), self.origin.append(origin)
        self.n += 1
        return self.n - 1


def with_history(model: LinkedModel, history: Sequence[PublishedRelease], profile: Profile) -> LinkedModel:
    """``model`` (this release, true counts known) joined to the earlier releases sharing its cells."""
    index = pd.Index(model.keys)
    relevant = [r for r in history if any(index.get_indexer(_keys(t)).max(initial=-1) >= 0 for t in r.tables)]
    if not relevant:
        return model
    missing = [r.release_id for r in relevant if r.truth is None]
    if missing:
        raise DisclosureError(
            HISTORY_INCOMPLETE,
            f"{len(missing)} earlier release(s) of the same periods cannot be joined to this one: the coordinator's record of their true counts is missing",
            hint="restore coordinator/release_records/ from a backup; without it the audit cannot check this release against them",
            releases=missing,
        )
    n0 = model.n
    v = _Versions(n0, [], [], [], [], [], [], [], [])
    hist_lo, hist_hi = model.hist_lo.copy(), model.hist_hi.copy()
    hidden_width = model.hidden_width.copy()
    # Newest version first: each key's current quantity, and the truth it stands for.
    latest = {k: (q, model.truth[q]) for q, k in enumerate(model.keys)}
    entries = []
    for r in reversed(relevant):
        qids_by_table = {}
        for t in r.tables:
            keys = _keys(t)
            truth = np.asarray(r.truth[t.name], dtype=float)
            shown = t.frame[VALUE_COLUMN].to_numpy(dtype=float, na_value=np.nan)
            qids = np.empty(len(keys), dtype=np.int64)
            for i, (k, tv) in enumerate(zip(keys, truth, strict=True)):
                qids[i] = _version_of(k, tv, latest, v, r.release_id, profile)
            qids_by_table[t.name] = qids
            lo, hi = published_bounds(np.nan_to_num(shown, nan=0.0), r.profile)
            pub = ~np.isnan(shown)
            _narrow(hist_lo, hist_hi, v, qids[pub], lo[pub], hi[pub])
            _hide(hidden_width, v, qids[~pub], float(r.profile.protection_width))
            entries.append(additivity_entries(t.frame, t.dims, qids))
        _check_truth_fits(r, qids_by_table)
    return replace(_joined(model, v, entries, hist_lo, hist_hi, hidden_width), joined=tuple(r.release_id for r in relevant))


def _keys(t: Table) -> np.ndarray:
    return quantity_keys(t.frame, t.dims, t.measure)


def _version_of(key: str, truth: float, latest: dict, v: _Versions, release_id: str, profile: Profile) -> int:
    """The quantity standing for ``key`` in release ``release_id`` (true count ``truth``)."""
    if key in latest and latest[key][1] == truth:
        return latest[key][0]
    q = v.add(key, truth, 0.0, np.inf, 0.0, 0.0, release_id)
    if key in latest:
        newer, newer_truth = latest[key]
        change = newer_truth - truth
        lo, hi = (0.0, np.inf) if change > 0 else (-np.inf, 0.0)
        d = v.add(key, change, lo, hi, float(profile.protection_width), float(profile.threshold - 1), f"difference since {release_id}")
        v.rows.append((newer, q, d))
    latest[key] = (q, truth)
    return q


def _narrow(lo: np.ndarray, hi: np.ndarray, v: _Versions, qids: np.ndarray, plo: np.ndarray, phi: np.ndarray) -> None:
    """Intersect what earlier releases published into the bounds (this release's or the extra list)."""
    for q, a, b in zip(qids, plo, phi, strict=True):
        if q < len(lo):
            lo[q], hi[q] = max(lo[q], a), min(hi[q], b)
        else:
            j = q - len(lo)
            v.lo[j], v.hi[j] = max(v.lo[j], a), min(v.hi[j], b)


def _hide(width: np.ndarray, v: _Versions, qids: np.ndarray, w: float) -> None:
    for q in qids:
        if q < len(width):
            width[q] = max(width[q], w)
        else:
            v.width[q - len(width)] = max(v.width[q - len(width)], w)


def _check_truth_fits(r: PublishedRelease, qids_by_table: dict) -> None:
    """A record whose true counts contradict what its release published is not that release's."""
    for t in r.tables:
        shown = t.frame[VALUE_COLUMN].to_numpy(dtype=float, na_value=np.nan)
        lo, hi = published_bounds(np.nan_to_num(shown, nan=0.0), r.profile)
        truth = np.asarray(r.truth[t.name], dtype=float)
        bad = ~np.isnan(shown) & ((truth < lo - 1e-9) | (truth > hi + 1e-9))
        if bad.any():
            raise DisclosureError(
                HISTORY_INCOMPLETE,
                f"the coordinator's record of release {r.release_id} does not match its published table {t.name} ({int(bad.sum())} cell(s))",
                hint="the record belongs to another release, or the release folder was edited",
                release=r.release_id,
                table=t.name,
            )


def _joined(model: LinkedModel, v: _Versions, entries: list, hist_lo: np.ndarray, hist_hi: np.ndarray, hidden_width: np.ndarray) -> LinkedModel:
    n = v.n
    link = _link_entries(v.rows)
    M_hist = constraint_matrix([*entries, link], n, dedupe=True) if entries or v.rows else sp.csr_matrix((0, n))
    M_now = sp.hstack([model.M, sp.csr_matrix((model.M.shape[0], n - model.n))]).tocsr()
    M = constraint_matrix([_coo(M_now), _coo(M_hist)], n, dedupe=True)
    extra = len(v.keys)
    pad = lambda a, b, dt=float: np.concatenate([a, np.asarray(b, dtype=dt)])  # noqa: E731
    return replace(
        model,
        keys=pad(model.keys, v.keys, object),
        M=M,
        truth=pad(model.truth, v.truth),
        in_release=pad(model.in_release, np.zeros(extra, dtype=bool), bool),
        multiplicity=pad(model.multiplicity, np.zeros(extra, dtype=np.int64), np.int64),
        hist_lo=pad(hist_lo, v.lo),
        hist_hi=pad(hist_hi, v.hi),
        hidden_width=pad(hidden_width, v.width),
        band=pad(model.band, v.band),
        origin=pad(model.origin, v.origin, object),
    )


def _link_entries(rows: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``newer - older - difference = 0`` for each change."""
    k = len(rows)
    if not k:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.int8), 0
    arr = np.asarray(rows, dtype=np.int64)
    r = np.repeat(np.arange(k), 3)
    c = arr.ravel()
    vals = np.tile(np.array([1, -1, -1], dtype=np.int8), k)
    return r, c, vals, k


def _coo(M: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    c = M.tocoo()
    return c.row.astype(np.int64), c.col.astype(np.int64), c.data, M.shape[0]
