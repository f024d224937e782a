"""The intervened model's intrinsic bias, as columns of every trial's results.

Measured once per intervened model (`probes.intrinsic_bias`: positive when group A is more
associated with the positive-class attribute words), before and after the intervention: the
manipulation check; and once per trial on the fine-tuned encoder, in the intervened model's kind
(`probes.finetuned_intrinsic_bias`): did the intervention's effect survive fine-tuning? Filled
by the trial, not computed from the predictions table. Values of different kinds
(`intrinsic_kind`) are on different scales.
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
# Analysed by default where the trials measured it (`report.load.default_metrics`); older
# results have no such column.
INTRINSIC_FINETUNED = register_metric(
    Metric(
        "intrinsic_finetuned", "intrinsic bias after fine-tuning", SIGNED, signed_difference=True
    )
).name
