"""The attacker's LPs write nothing to stdout: ``dvnet publish``'s output carries no solver banner."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Two margins of two suppressed cells each: two components, whose exact ranges are solved in HiGHS
# instances kept loaded. The process is fresh: the first instance is when HiGHS writes its banner.
SCRIPT = """
import numpy as np
import scipy.sparse as sp
from dvnet.anonymize.disclosure.attack import attacker_intervals
M = sp.csr_matrix(np.array([[1.0, -1.0, -1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, -1.0, -1.0]]))
L = np.array([10.0, 0.0, 0.0, 20.0, 0.0, 0.0])
U = np.array([10.0, np.inf, np.inf, 20.0, np.inf, np.inf])
result = attacker_intervals(M, L, U, np.array([1, 2, 4, 5]), np.full(4, 3.0))
assert result.n_components == 2 and result.method.tolist() == ["lp"] * 4
assert result.lower.tolist() == [0.0] * 4 and result.upper.tolist() == [10.0, 10.0, 20.0, 20.0]
print("ranges checked")
"""


@pytest.mark.slow
def test_a_fresh_process_solving_the_attackers_lps_prints_only_its_own_output():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == "ranges checked\n"
