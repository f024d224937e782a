"""Bias metrics: extrinsic (group and counterfactual, over a predictions table), intrinsic
(probes of a pre-trained or intervened model), and the names of them all (`names`).

Kept free of imports, so that reading the metric names does not import fairlearn or torch.
"""
