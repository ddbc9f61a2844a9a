"""The attacker's LPs write nothing to stdout: ``dvnet publish``'s output carries no solver banner."""

from __future__ import annotations

import subprocess
import sys

import pytest

# A margin of two suppressed cells: its exact ranges are solved in a HiGHS instance kept loaded,
# the first one this (fresh) process makes, which is when HiGHS writes its banner.
SCRIPT = """
import numpy as np
import scipy.sparse as sp
from dvnet.anonymize.disclosure.attack import attacker_intervals
M = sp.csr_matrix(np.array([[1.0, -1.0, -1.0]]))
result = attacker_intervals(M, np.array([10.0, 0.0, 0.0]), np.array([10.0, np.inf, np.inf]), np.array([1, 2]), np.array([3.0, 3.0]))
assert result.method.tolist() == ["lp", "lp"]
assert result.lower.tolist() == [0.0, 0.0] and result.upper.tolist() == [10.0, 10.0]
print("ranges checked")
"""


@pytest.mark.slow
def test_a_fresh_process_solving_the_attackers_lps_prints_only_its_own_output():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == "ranges checked\n"
