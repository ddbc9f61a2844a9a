"""The heuristic's propagated rule (``_RowState.enforce_propagated``): a failure no single
equation shows, but bound propagation through several does, repaired without an LP."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from dvnet.anonymize.disclosure import complementary_heuristic
from dvnet.anonymize.disclosure.audit import AttackerView
from dvnet.anonymize.disclosure.complementary import Problem
from dvnet.anonymize.disclosure.complementary_heuristic import _RowState, heuristic

# Quantities: p (sensitive, width 5), q, r, u, v (suppressed with it), and four published totals.
P, Q, R, U_, V, T1, T2, T3, C9 = range(9)
TRUTH = np.array([7, 3, 9, 1, 0, 10, 12, 10, 9], dtype=float)
# p + q = T1, q + r = T2, r + u = T3, r - v = C9: r lies in [0, 10] by the third equation and in
# [9, inf) by the fourth, so in [9, 10]; then q in [2, 3] and p in [7, 8], one count wide. Each
# equation alone (the others at [0, inf)) leaves p at least 10 wide.
EQUATIONS = [{P: 1, Q: 1, T1: -1}, {Q: 1, R: 1, T2: -1}, {R: 1, U_: 1, T3: -1}, {R: 1, V: -1, C9: -1}]


def _problem() -> tuple[Problem, np.ndarray]:
    M = sp.lil_matrix((len(EQUATIONS), len(TRUTH)))
    for i, eq in enumerate(EQUATIONS):
        for j, a in eq.items():
            M[i, j] = a
    n = len(TRUTH)
    view = AttackerView(TRUTH.copy(), TRUTH.copy(), np.zeros(n), np.full(n, np.inf), np.ones(n, dtype=bool))
    sensitive = np.zeros(n, dtype=bool)
    sensitive[P] = True
    required = np.where(sensitive, 5.0, 1.0)
    problem = Problem(M.tocsr(), view, TRUTH, sensitive, np.ones(n, dtype=bool), required, np.ones(n))
    suppressed = np.zeros(n, dtype=bool)
    suppressed[[P, Q, R, U_, V]] = True
    return problem, suppressed


def test_a_failure_only_propagation_shows_gets_a_cell_from_the_equation_that_pins_it():
    problem, suppressed = _problem()
    before = problem.audit(suppressed)
    assert before.verdict.tolist() == ["narrow"] and (before.lower[0], before.upper[0]) == (7.0, 8.0)
    rows = _RowState(problem)
    assert rows.enforce(suppressed, None) == 0  # every equation alone leaves p wide enough
    assert rows.enforce_propagated(suppressed, None) == 1
    assert suppressed[T1] and suppressed.sum() == 6  # p's own equation's published total
    after = problem.audit(suppressed, targets=np.nonzero(suppressed)[0])
    assert (after.verdict == "protected").all()


def test_the_heuristic_uses_the_propagated_rule_on_blocks_from_its_size(monkeypatch):
    """Above ``PROPAGATION_RULE_MIN_CELLS`` the failure is repaired before any audit finds it (no
    LP given duals for it); below, the audit's duals repair it as before."""
    problem, seed = _problem()
    calls = []
    original = _RowState.enforce_propagated

    def counted(self, *a, **kw):
        calls.append(1)
        return original(self, *a, **kw)

    monkeypatch.setattr(_RowState, "enforce_propagated", counted)
    monkeypatch.setattr(complementary_heuristic, "PROPAGATION_RULE_MIN_CELLS", problem.n + 1)
    small, _ = heuristic(problem, suppressed=seed.copy())
    assert not calls
    monkeypatch.setattr(complementary_heuristic, "PROPAGATION_RULE_MIN_CELLS", problem.n)
    large, _ = heuristic(problem, suppressed=seed.copy())
    assert calls
    for pattern in (small, large):
        assert (problem.audit(pattern, targets=np.nonzero(pattern)[0]).verdict == "protected").all()
