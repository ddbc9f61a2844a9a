"""Seeded, realistic synthetic extracts for a whole network (``dvnet synth``).

Synthetic data only: invented names, fictional places. The modules split by concern:
``people`` (one shared population, each agency's clients), ``referrals`` and ``episodes`` (the
rows), ``faults`` (planted errors), ``writer`` (CSV bytes), ``rates`` (every realism knob), and
``generate`` (``synthesize``, which ties them together).
"""


from typing import TYPE_CHECKING

from dvnet.kernels.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from dvnet.pipelines.synth.faults import FAULT_KINDS, InjectedFault, parse_faults
    from dvnet.pipelines.synth.generate import SynthSummary, contributors, plan_volumes, synthesize

# Resolved on first use: `dvnet synth --help` needs only the fault kinds, not numpy and pyarrow.
lazy_exports(__name__, {
    **dict.fromkeys(("FAULT_KINDS", "InjectedFault", "parse_faults"), "faults"),
    **dict.fromkeys(("SynthSummary", "contributors", "plan_volumes", "synthesize"), "generate"),
})  # fmt: skip

__all__ = ["FAULT_KINDS", "InjectedFault", "SynthSummary", "contributors", "parse_faults", "plan_volumes", "synthesize"]
