from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bias_sweep.config import from_typed_dict, grid_axes, load_config, typed
from bias_sweep.errors import UserError
from bias_sweep.identity import intervention_key, to_dict, trial_key
from bias_sweep.sweep.grid import PointConfigs, expand_grid, first_point, point_config
from bias_sweep.sweep.plan import make_plan

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_and_overrides() -> None:
    conf = load_config(None, ["data.rate=0.3", "train.epochs=1", "data.groups.lexicon=religion"])
    assert conf.data.rate == 0.3
    assert conf.train.epochs == 1
    assert conf.data.groups.lexicon == "religion"


def test_quickstart_grid_expands_in_stable_order() -> None:
    conf = load_config(ROOT / "sweeps" / "quickstart.yaml")
    points = expand_grid(conf)
    assert len(points) == 54  # 3 strengths x 3 intervened models x 3 rates x 2 seeds
    assert points == expand_grid(load_config(ROOT / "sweeps" / "quickstart.yaml"))
    assert first_point(conf) == {
        "intervention.strength": 0.0,
        "intervention.seed": 0,
        "data.rate": 0.1,
        "seed": 0,
    }


def test_none_is_one_intervened_model_whatever_its_seed() -> None:
    """`none` is the pre-trained model itself: replicating it would count one model k times."""
    conf = load_config(
        None,
        [
            "sweep.grid.intervention.method=[none,random-init,cda]",
            "sweep.grid.intervention.seed=[0,1,2]",
            "sweep.grid.intervention.strength=[0,1]",
        ],
    )
    plan = make_plan(conf)
    assert plan.replicates() == {
        ("tiny-bert", "none", 0.0): 1,
        ("tiny-bert", "random-init", 0.0): 3,
        ("tiny-bert", "cda", 0.0): 3,
        ("tiny-bert", "cda", 1.0): 3,
    }
    assert len(plan.points) == 1 + 3 + 6


def test_nested_and_dotted_grid_keys_mean_the_same_axis() -> None:
    a = load_config(None, ["sweep.grid.data.rate=[0.1,0.9]"])
    assert grid_axes(a) == {"data.rate": [0.1, 0.9]}


def test_strengthless_methods_collapse_their_strengths() -> None:
    conf = load_config(
        None,
        [
            "sweep.grid.intervention.method=[none,cda,random-init]",
            "sweep.grid.intervention.strength=[0,0.5,1]",
        ],
    )
    methods = [p["intervention.method"] for p in expand_grid(conf)]
    assert methods.count("none") == 1 and methods.count("random-init") == 1
    assert methods.count("cda") == 3


def test_an_identity_at_strength_0_is_one_intervened_model_whatever_its_seed() -> None:
    """projection and inlp at strength 0 are the pre-trained model itself: k seeds there are one
    replicate, built and fine-tuned once; at other strengths each seed is its own model."""
    conf = load_config(
        None,
        [
            "sweep.grid.intervention.method=[projection,inlp,cda]",
            "sweep.grid.intervention.seed=[0,1,2]",
            "sweep.grid.intervention.strength=[0,1]",
        ],
    )
    assert make_plan(conf).replicates() == {
        ("tiny-bert", "projection", 0.0): 1,
        ("tiny-bert", "projection", 1.0): 3,
        ("tiny-bert", "inlp", 0.0): 1,
        ("tiny-bert", "inlp", 1.0): 3,
        ("tiny-bert", "cda", 0.0): 3,
        ("tiny-bert", "cda", 1.0): 3,
    }
    points = expand_grid(conf)
    assert len(points) == 2 * 4 + 6  # per rate in data.rate's single value
    configs = PointConfigs(conf)
    zero = [configs(p) for p in points if p["intervention.strength"] == 0]
    assert {c["intervention"]["seed"] for c in zero if c["intervention"]["method"] != "cda"} == {0}

    def key(*overrides: str) -> str:
        return intervention_key(load_config(None, ["intervention.method=projection", *overrides]))

    zero_key = key("intervention.strength=0")
    assert zero_key == key("intervention.strength=0", "intervention.seed=4")
    assert key("intervention.strength=1") != key("intervention.strength=1", "intervention.seed=4")


def test_a_table_without_keys_counts_an_identity_at_strength_0_once() -> None:
    from bias_sweep.report.statistics.splitplot import intervened_model

    runs = pd.DataFrame(
        {
            "method": ["projection"] * 4 + ["cda"] * 2,
            "strength": [0.0, 0.0, 1.0, 1.0, 0.0, 0.0],
            "intervention_seed": [0, 1, 0, 1, 0, 1],
        }
    )
    units = intervened_model(runs)
    assert units[0] == units[1] and units[2] != units[3] and units[4] != units[5]


def test_trial_key_ignores_tracking_and_storage() -> None:
    base = load_config(None)
    same = load_config(None, ["tracking.mode=disabled", "sweep.storage=/x"])
    other = load_config(None, ["data.rate=0.9"])
    assert trial_key(base) == trial_key(same)
    assert trial_key(base) != trial_key(other)
    assert trial_key(base) != trial_key(load_config(None, ["sweep.name=other"]))


def test_train_settings_added_later_keep_the_trial_keys_of_older_sweeps() -> None:
    """precision and grad_accum at their defaults (what sweeps before them did) and compile (how,
    not what) leave a trial's key as it was; other values are other trials."""
    base = load_config(None)
    older = to_dict(base)
    older["train"] = {
        k: v for k, v in older["train"].items() if k not in ("precision", "grad_accum", "compile")
    }
    assert trial_key(base) == trial_key(older)
    assert trial_key(base) == trial_key(load_config(None, ["train.compile=true"]))
    for other in ("train.precision=bf16", "train.grad_accum=2", "train.batch_size=16"):
        assert trial_key(base) != trial_key(load_config(None, [other])), other


def test_more_than_one_gpu_per_trial_is_refused_by_plan(tmp_path: Path) -> None:
    from bias_sweep.cli import main

    args = [str(ROOT / "sweeps" / "quickstart.yaml"), f"sweep.storage={tmp_path}"]
    assert main(["plan", *args, "sweep.resources.gpu=2"]) == 2
    assert main(["plan", *args, "sweep.resources.gpu=0.25"]) == 0


def test_report_section_is_not_part_of_a_trials_identity() -> None:
    """report.primary_metric chooses the headline: changing it must not re-run any trial."""
    base = load_config(ROOT / "sweeps" / "quickstart.yaml")
    other = load_config(ROOT / "sweeps" / "quickstart.yaml", ["report.primary_metric=fpr_gap"])
    assert base.report.primary_metric == "tpr_gap" and other.report.primary_metric == "fpr_gap"
    assert trial_key(base) == trial_key(other)
    plain = {k: v for k, v in to_dict(base).items() if k != "report"}
    assert trial_key(base) == trial_key(plain)  # the section changed no key that existed before
    for name in ("tpr_gap@winobias", "tpr_gap_twin", "intrinsic_after"):
        assert load_config(None, [f"report.primary_metric={name}"]).report.primary_metric == name
    with pytest.raises(UserError, match="report.primary_metric"):
        load_config(None, ["report.primary_metric=flip_rate_twin"])  # no such column
    with pytest.raises(UserError, match="sweep.grid.report.primary_metric"):
        load_config(None, ["sweep.grid.report.primary_metric=[tpr_gap,fpr_gap]"])


def test_trial_config_sets_point_values() -> None:
    conf = load_config(ROOT / "sweeps" / "quickstart.yaml")
    cfg = point_config(conf, {"data.rate": 0.9, "seed": 1, "intervention.strength": 0.5})
    assert (cfg.data.rate, cfg.seed, cfg.intervention.strength) == (0.9, 1, 0.5)


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        (["foo=1"], "foo"),
        (["data.rate=1.5"], "data.rate"),
        (["data.rate=abc"], "data.rate"),
        (["intervention.strength=-0.1"], "intervention.strength"),
        (["intervention.term_mask_prob=1.5"], "intervention.term_mask_prob"),
        (["data.groups.pairs=[]"], "data.groups.pairs"),
        (["data.groups.lexicon=custom"], "data.groups.pairs"),
        (["intervention.method=magic"], "intervention.method"),
        (["data.source=web"], "data.source"),
        (["data.train_size=0"], "data.train_size"),
        (["sweep.grid.data.nope=[1]"], "data.nope"),
        (["sweep.grid.data.rate=[]"], "data.rate"),
        (["sweep.grid.data.rate=[0.5,2]"], "data.rate"),
        (["sweep.resources.gpu=3.5"], "sweep.resources.gpu"),
        (["sweep.resources.gpu=2"], "sweep.resources.gpu"),
        (["train.precision=fp8"], "train.precision"),
        (["train.grad_accum=0"], "train.grad_accum"),
        (["train.grad_accum=1.5"], "train.grad_accum"),
        (["train.compile=maybe"], "train.compile"),
        (["sweep.grid.train.precision=[bf16,int8]"], "train.precision"),
        (["sweep.name=a/b"], "sweep.name"),
        (["seed"], "seed"),
        (["report.primary_metric=nonsense"], "report.primary_metric"),
        (["report.primary_metric=tpr_gap@"], "report.primary_metric"),
    ],
)
def test_bad_values_name_the_key(overrides: list[str], names: str) -> None:
    with pytest.raises(UserError) as info:
        load_config(None, overrides)
    message = str(info.value)
    assert names in message
    assert "\n" not in message


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(bad)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("data:\n  rte: 0.5\n")
    with pytest.raises(UserError, match="data.rte"):
        load_config(unknown)


def test_intervention_key_hashes_only_the_settings_its_method_uses() -> None:
    def key(method: str, *overrides: str) -> str:
        return intervention_key(load_config(None, [f"intervention.method={method}", *overrides]))

    # cda and skew continue pre-training: their steps are part of what they build.
    assert key("cda") != key("cda", "intervention.steps=20")
    # projection has no steps: a setting of other methods leaves its intervened models alone.
    assert key("projection") == key("projection", "intervention.steps=20")
    assert key("projection") != key("projection", "intervention.strength=0.5")
    # none is the pre-trained model whatever its strength and seed; random-init has no strength.
    assert key("none") == key("none", "intervention.strength=0.5", "intervention.seed=3")
    assert key("random-init") == key("random-init", "intervention.strength=0.5")
    assert key("random-init") != key("random-init", "intervention.seed=3")


def test_a_points_config_built_directly_equals_omegaconfs(tmp_path: Path) -> None:
    """The worker's fast path (`from_typed_dict`) gives the very dataclasses OmegaConf's merge
    gives, for every sweep shipped and for sections in lists and optional sections."""
    (tmp_path / "set.csv").write_text("text,label\na,0\n")
    extra = [
        f"eval.sets=[{{name: s, path: {tmp_path / 'set.csv'}}}]",
        "data.groups.lexicon=custom",
        "data.groups.pairs=[[he,she],[man,woman]]",
        "sweep.grid.intervention.method=[none,cda]",
    ]
    configs = [load_config(path, []) for path in sorted((ROOT / "sweeps").glob("*.yaml"))]
    configs.append(load_config(None, extra))
    for conf in configs:
        points = PointConfigs(conf)
        for point in expand_grid(conf)[:20]:
            values = points(point)
            assert from_typed_dict(values) == typed(values), point
    assert from_typed_dict(values).eval.sets[0].name == "s"
