"""The adaptation as a factor of the report, on simulated sweeps with a known truth: an
intervention that matters only under `frozen` is named as an intervention x adaptation
interaction; with none, the test rejects at its nominal rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
from simulate import Design, Truth, simulate_sweep

from bias_sweep.report.adaptation import by_adaptation
from bias_sweep.report.statistics.adaptation_interaction import interaction_table
from bias_sweep.report.statistics.analysis import Question, analyse
from bias_sweep.report.text.document import persistence_sentences
from bias_sweep.report.text.headline import lead_text

DESIGN = Design(methods={"cda": (0.0, 0.5, 1.0)}, models_per_level=3)


def sweep(slopes: dict[str, float], rng: np.random.Generator) -> pd.DataFrame:
    """One simulated sweep per adaptation: the intervention's slope under each, the rate's
    effect the same; intervened models vary (sd 0.02) independently per adaptation."""
    tables = []
    for adaptation, slope in slopes.items():
        truth = Truth(rate_effect=0.3, slopes={"cda": slope}, sd_model=0.02, sd_seed=0.02)
        tables.append(simulate_sweep(DESIGN, {"tpr_gap": truth}, rng).assign(adaptation=adaptation))
    return by_adaptation(pd.concat(tables, ignore_index=True))


def test_an_intervention_that_matters_only_when_frozen_is_named() -> None:
    runs = sweep({"frozen": -0.15, "full": 0.0}, np.random.default_rng(7))
    assert set(runs["model"]) == {"tiny-bert · frozen", "tiny-bert · full"}
    analysis = analyse(runs, Question(["tpr_gap"], "tpr_gap", n_boot=200))
    row = analysis.adaptation.iloc[0]
    assert row["model"] == "tiny-bert" and row["adaptations"] == "frozen, full"
    assert row["p_interaction"] < 0.01 and (row["df_num"], row["df_den"]) == (2, 6)
    effects = analysis.effects.set_index("model")
    assert effects.loc["tiny-bert · frozen", "share_intervention"] > 0.15
    assert effects.loc["tiny-bert · full", "share_intervention"] < 0.05
    lead = lead_text(analysis)
    assert "For tpr_gap on tiny-bert · frozen" in lead and "on tiny-bert · full" in lead
    assert "depends on the adaptation (intervention x adaptation interaction" in lead
    assert "under frozen" in lead and "under full" in lead


def test_without_an_interaction_the_test_holds_its_level() -> None:
    rng = np.random.default_rng(11)
    p = [
        interaction_table(sweep({"frozen": -0.1, "full": -0.1}, rng), ["tpr_gap"]).iloc[0][
            "p_interaction"
        ]
        for _ in range(200)
    ]
    rejected = np.mean(np.asarray(p) < 0.05)
    assert 0.015 <= rejected <= 0.095, rejected  # nominal 5% (200 sweeps: 3 SEs either side)
    runs = sweep({"frozen": -0.1, "full": -0.1}, rng)
    lead = lead_text(analyse(runs, Question(["tpr_gap"], "tpr_gap", n_boot=100)))
    assert "was not shown to depend on the adaptation" in lead


def test_one_adaptation_is_no_factor_and_methods_group_by_persistence() -> None:
    runs = simulate_sweep(DESIGN, {"tpr_gap": Truth()}, np.random.default_rng(0))
    assert "base_model" not in by_adaptation(runs.assign(adaptation="full")).columns
    assert interaction_table(runs, ["tpr_gap"]).empty
    mixed = pd.DataFrame({"method": ["none", "cda", "inlp", "projection", "dropout"]})
    assert persistence_sentences(mixed) == [
        "fine-tuning can undo it: cda, dropout",
        "persists through fine-tuning: inlp, projection",
    ]
