"""The intervened model's intrinsic bias, as columns of every trial's results.

Measured once per intervened model (`probes.intrinsic_bias`: positive when group A is more
associated with the positive-class attribute words), before and after the intervention: the
manipulation check. Filled by the trial, not computed from the predictions table. Values of
different kinds (`intrinsic_kind`) are on different scales.
"""

from __future__ import annotations

from bias_sweep.metrics.registry import SIGNED, Metric, register_metric

INTRINSIC_BEFORE = register_metric(
    Metric("intrinsic_before", "intrinsic bias before intervention", SIGNED, signed_difference=True)
).name
INTRINSIC_AFTER = register_metric(
    Metric(
        "intrinsic_after",
        "intrinsic bias after intervention",
        SIGNED,
        signed_difference=True,
        report=12,
    )  # fmt: skip
).name
