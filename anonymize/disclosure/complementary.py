"""Complementary suppression: hide enough further cells that no sensitive cell can be worked out.

Cost (information loss) of suppressing a quantity i, made explicit::

    cost_i = m_i * (1 + a_i / (1 + sum_j m_j a_j))

where a_i is its true value and m_i the number of table cells showing it. The fractional part of
any pattern's total cost is below 1, so minimising the sum is lexicographic: fewest suppressed
cells first, then the smallest suppressed total.

Protection: for every sensitive cell p (primary or dominance) the attacker's range (see
``audit.py``) must be at least ``required[p]`` wide, and reach ``top[p]`` upwards (an upper
protection level; -inf for most cells). This module holds what both methods share:
the problem over one block of linked quantities, its independent blocks, and the protection
inequality read off the attacker's LP duals. The methods: ``complementary_milp.solve_milp``
(exact) and ``complementary_heuristic.heuristic`` (fast, for blocks beyond the MILP's reach).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from dvnet.anonymize.disclosure.attack import attacker_intervals
from dvnet.anonymize.disclosure.audit import AttackerView
from dvnet.anonymize.disclosure.intervals import IntervalResult
from dvnet.anonymize.disclosure.seen_ranges import SeenRanges


@dataclass
class Problem:
    """One complementary-suppression problem over quantities 0..n-1 (``M y = 0`` holds for truth)."""

    M: sp.csr_matrix
    view: AttackerView
    truth: np.ndarray
    sensitive: np.ndarray
    can_suppress: np.ndarray
    required: np.ndarray
    cost: np.ndarray
    ids: np.ndarray = field(default=None)  # quantity ids in the parent problem
    top: np.ndarray = field(default=None)  # the value each range must reach upwards (-inf: width only)

    _equations: dict = field(default_factory=dict, repr=False)  # rows -> (their transpose, the cells they touch)

    def __post_init__(self) -> None:
        if self.top is None:
            self.top = np.full(self.n, -np.inf)

    def equations(self, rows: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray]:
        """Equations ``rows`` transposed (cells x rows: every cell's reduced cost in one product)
        and the cells they touch, sorted. The cuts of one audit mostly share their rows (a
        component's equations), so they are kept per set of rows."""
        key = rows.tobytes()
        if key not in self._equations:
            if len(self._equations) >= 64:  # neighbourhood LPs each have rows of their own: keep only the recent
                self._equations.clear()
            Mr = self.M[rows]
            self._equations[key] = (Mr.T.tocsc(), np.unique(Mr.indices))
        return self._equations[key]

    @property
    def n(self) -> int:
        return self.M.shape[1]

    def restrict(self, q: np.ndarray) -> Problem:
        q = np.asarray(q, dtype=np.int64)
        sub = self.M[:, q]
        rows = np.nonzero(np.diff(sub.tocsr().indptr) > 0)[0]
        v = self.view
        return Problem(
            M=sub.tocsr()[rows],
            view=AttackerView(v.pub_lo[q], v.pub_hi[q], v.sup_lo[q], v.sup_hi[q], v.in_release[q]),
            truth=self.truth[q],
            sensitive=self.sensitive[q],
            can_suppress=self.can_suppress[q],
            required=self.required[q],
            cost=self.cost[q],
            ids=q if self.ids is None else self.ids[q],
            top=self.top[q],
        )

    def audit(
        self,
        suppressed: np.ndarray,
        targets: np.ndarray | None = None,
        *,
        want_duals: bool = False,
        report_exact: bool = False,
        time_limit: float | None = None,
        exact_limit: int = 400,
        seen: SeenRanges | None = None,
        duals_apart: bool = False,
        stop_at_failure: bool = False,
    ) -> IntervalResult:
        L, U = self.view.bounds(suppressed)
        if targets is None:
            targets = np.nonzero(self.sensitive)[0]
        return attacker_intervals(
            self.M,
            L,
            U,
            targets,
            self.required[targets],
            truth=self.truth,
            want_duals=want_duals,
            report_exact=report_exact,
            time_limit=time_limit,
            exact_limit=exact_limit,
            seen=seen,
            duals_apart=duals_apart,
            top=self.top[targets],
            stop_at_failure=stop_at_failure,
        )


def information_cost(truth: np.ndarray, multiplicity: np.ndarray) -> np.ndarray:
    """cost_i = m_i (1 + a_i / (1 + sum m a)): fewest cells first, then smallest suppressed total."""
    a = np.nan_to_num(truth, nan=0.0)
    return multiplicity * (1.0 + a / (1.0 + float(np.sum(multiplicity * a))))


def blocks(problem: Problem) -> list[np.ndarray]:
    """Independent sub-problems: connected groups of quantities that contain a sensitive cell."""
    M = problem.M
    n = problem.n
    if M.shape[0] == 0:
        return [np.array([i]) for i in np.nonzero(problem.sensitive)[0]]
    B = sp.bmat([[None, M], [M.T, None]], format="csr")
    _, labels = connected_components(B, directed=False)
    var_labels = labels[M.shape[0] :]
    out = []
    for lab in np.unique(var_labels[problem.sensitive]):
        out.append(np.nonzero(var_labels == lab)[0])
    return out if n else []


@dataclass
class Cut:
    """Dual bound on the attacker's range: K + sum d_i x_i over suppressible quantities.

    Every protecting pattern x satisfies ``K + sum d_i x_i >= required``; ``bound`` is the value
    at the pattern the duals came from (= the LP range there, by strong duality).
    """

    cols: np.ndarray
    d: np.ndarray  # may be inf: suppressing that cell frees the attacker's LP in that direction
    K: float
    bound: float

    def inequality(self, required: float) -> tuple[np.ndarray, np.ndarray, float]:
        """``sum coefs x >= rhs`` with coefficients clipped at the right-hand side (same 0/1 set)."""
        rhs = required - self.K
        coefs = np.minimum(self.d, max(rhs, 0.0))
        keep = coefs > 1e-9
        return self.cols[keep], coefs[keep], rhs


def dual_cut(
    problem: Problem, suppressed: np.ndarray, p: int, rows: np.ndarray, lam_max: np.ndarray, lam_min: np.ndarray, frozen: np.ndarray | None = None,
    *, upper: bool = False,
) -> Cut:
    """The protection inequality for sensitive ``p`` from its max/min LP duals at ``suppressed``:
    a bound on its range's width, or with ``upper`` on its max alone (for ``top[p]``).

    ``frozen``: quantities the LP held at fixed values (a neighbourhood LP); the result is then a
    local guide for the heuristic, not a valid cut, and ``K`` is meaningless.
    """
    MrT, touched = problem.equations(rows)
    pi = int(np.searchsorted(touched, p))
    cols = touched if pi < len(touched) and touched[pi] == p else np.insert(touched, pi, p)
    alpha = np.zeros(len(cols))
    beta = np.zeros(len(cols))
    for sign, lam in ((1.0, lam_max),) if upper else ((1.0, lam_max), (-1.0, lam_min)):
        rc = -(MrT @ lam)[cols]
        rc[pi] += sign
        rc[np.abs(rc) < 1e-9] = 0.0
        alpha += np.maximum(rc, 0.0)
        beta += np.maximum(-rc, 0.0)
    v = problem.view

    def term(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.where(alpha > 0, alpha * hi, 0.0) - np.where(beta > 0, beta * lo, 0.0)

    t_pub = term(v.pub_lo[cols], v.pub_hi[cols])
    t_sup = term(v.sup_lo[cols], v.sup_hi[cols])
    variable = problem.can_suppress[cols]
    if frozen is not None and len(frozen):
        variable &= ~np.isin(cols, frozen)
    hidden_const = problem.sensitive[cols] | ~v.in_release[cols]
    const = np.where(variable, t_pub, np.where(hidden_const, t_sup, t_pub))
    K = float(np.sum(const))
    with np.errstate(invalid="ignore"):
        d = np.where(variable, t_sup - t_pub, 0.0)
    d = np.nan_to_num(d, nan=0.0, posinf=np.inf)
    bound = K + float(np.sum(np.where(variable & suppressed[cols], d, 0.0)))
    keep = variable & (d > 1e-9)
    return Cut(cols[keep], d[keep], K, bound)


@dataclass
class SolveInfo:
    """How one block was solved ("milp" or "heuristic"): time, rounds, cuts, LPs, and why it stopped."""

    method: str
    seconds: float = 0.0
    iterations: int = 0
    cuts: int = 0
    lp_solves: int = 0
    optimal: bool = False
    note: str = ""
    #: The MILP's last pattern: its result, or where it stopped short (the heuristic's seed).
    pattern: np.ndarray | None = None

