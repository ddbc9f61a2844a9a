"""Seeded, realistic synthetic extracts for a whole network (``dvnet synth``).

Synthetic data only: invented names, fictional places. The modules split by concern:
``people`` (one shared population, each agency's clients), ``referrals`` and ``episodes`` (the
rows), ``faults`` (planted errors), ``writer`` (CSV bytes), ``rates`` (every realism knob), and
``generate`` (``synthesize``, which ties them together).
"""

from dvnet.pipelines.synth.faults import FAULT_KINDS, InjectedFault, parse_faults
from dvnet.pipelines.synth.generate import SynthSummary, contributors, plan_volumes, synthesize

__all__ = ["FAULT_KINDS", "InjectedFault", "SynthSummary", "contributors", "parse_faults", "plan_volumes", "synthesize"]
