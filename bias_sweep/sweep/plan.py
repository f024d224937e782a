"""The plan of a sweep: its trials, the intervened models they need, what is already done, and
(`check_data`, for `plan` and `run`) whether its data can hold every grid point."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from bias_sweep.caches import cache_root
from bias_sweep.config import grid_axes, typed
from bias_sweep.errors import UserError
from bias_sweep.files import unwritable
from bias_sweep.identity import intervention_key, trial_key
from bias_sweep.interventions import configured_corpus
from bias_sweep.schema import DataConfig, ModelConfig
from bias_sweep.store import ArtifactStore
from bias_sweep.sweep.grid import PointConfigs, expand_grid, point_columns
from bias_sweep.sweep.grow import GridChange, outside_grid
from bias_sweep.sweep.layout import SweepFolder
from bias_sweep.sweep.rerun import current_result, pending_reruns
from bias_sweep.tracking import resolved_mode

# The built-in model (`models.tiny.TINY_BERT`; that module imports torch, which the driver must not).
TINY_BERT = ModelConfig.name

if TYPE_CHECKING:
    from bias_sweep.data.class_feasibility import ClassCheck
    from bias_sweep.data.eval_sets import EvalSet
    from bias_sweep.data.feasibility import DataCheck
    from bias_sweep.schema import CorpusConfig


@dataclass
class Plan:
    conf: DictConfig
    folder: SweepFolder
    points: list[dict[str, Any]]
    keys: list[str]  # trial keys, one per point
    point_interventions: list[str]  # the intervention key of each point
    columns: list[dict[str, Any]]  # the axes of each point, short names (`grid.point_columns`)
    done: set[str] = field(default_factory=set)  # with a final result (`rerun.current_result`)
    reruns: int = 0  # trials a `rerun` asked for again, not finished yet (old result kept)
    set_aside: int = 0  # finished trials on disk outside this grid (`grow.outside_grid`)
    change: GridChange | None = None  # an existing sweep's edit: what it adds, keeps, sets aside
    cached_interventions: set[str] = field(default_factory=set)
    # Filled by check_data: (the data axes' values, the check) per distinct data config, and the
    # external eval sets as loaded.
    data_checks: list[tuple[str, DataCheck | ClassCheck]] | None = None
    eval_sets: list[EvalSet] | None = None
    corpora: list[str] | None = None  # each intervention.corpus of the grid, read, in words

    @property
    def intervention_keys(self) -> set[str]:
        return set(self.point_interventions)

    @property
    def exists(self) -> bool:
        return self.folder.exists

    def replicates(self) -> dict[tuple[str, str, float], int]:
        """Independent intervened models per intervention level (model, method, strength): the
        unit of replication of the intervention, however many fine-tuning runs use each."""
        keys: dict[tuple[str, str, float], set[str]] = {}
        for columns, ikey in zip(self.columns, self.point_interventions, strict=True):
            level = (columns["model"], columns["method"], columns["strength"])
            keys.setdefault(level, set()).add(ikey)
        return {level: len(k) for level, k in keys.items()}


def make_plan(conf: DictConfig, folder: SweepFolder | None = None) -> Plan:
    """The plan of a sweep config, in `folder` (an existing sweep's, wherever it is now; default:
    where the config's sweep.storage and name put it)."""
    folder = folder or SweepFolder.of(conf)
    points = expand_grid(conf) or [{}]
    keys, ikeys, columns = [], [], []
    resolve = PointConfigs(conf)
    for point in points:
        d = resolve(point)
        keys.append(trial_key(d))
        ikeys.append(intervention_key(d))
        columns.append(point_columns(d, point))
    plan = Plan(conf, folder, points, keys, ikeys, columns)
    plan.done = {k for k in keys if current_result(folder.trial(k)) is not None}
    plan.reruns = pending_reruns(folder, keys)
    plan.set_aside = outside_grid(folder, keys)
    store = ArtifactStore(folder.interventions)
    plan.cached_interventions = {k for k in plan.intervention_keys if store.has(k)}
    return plan


def prepare_new(conf: DictConfig, overwrite: bool = False) -> Plan:
    """Validate that the sweep can start in its storage; write nothing yet."""
    folder = SweepFolder.of(conf)
    if folder.exists and not overwrite:
        raise UserError(
            f"sweep '{conf.sweep.name}' already exists at {folder.root}; continue it with "
            f"`bias-sweep resume {conf.sweep.name}` or start over with --overwrite"
        )
    return prepare(conf)


def prepare(conf: DictConfig, change: GridChange | None = None) -> Plan:
    """Validate that the sweep (new, or an existing one's edited grid: `change`) can run in its
    storage; write nothing yet."""
    folder = SweepFolder.of(conf)
    for key, where in (("sweep.storage", folder.root), ("cache_dir", cache_root(conf.cache_dir))):
        problem = unwritable(where)
        if problem is not None:
            raise UserError(f"{key}: not writable: {problem}; give a folder this user can write in")
    plan = make_plan(conf)
    plan.change = change
    check_data(plan)
    return plan


def check_data(plan: Plan) -> None:
    """Whether every grid point's data fits, before anything runs: each distinct data config of
    the grid (every data setting but the rate) is loaded once and its train size fitted at all
    the rates it is paired with; the external eval sets are loaded too. UserError (one line) on
    the first that does not fit; otherwise the checks are kept on the plan for `describe_plan`."""
    # The data layer imports scikit-learn and reads files: only `plan` and `run` need it.
    from bias_sweep.data.eval_sets import load_eval_sets
    from bias_sweep.data.feasibility import check_data as check_data_config

    conf = plan.conf
    resolve = PointConfigs(conf)
    configs: dict[str, tuple[dict[str, Any], dict[str, Any], list[float]]] = {}
    for point in plan.points:
        data = resolve(point)["data"]
        axes = {k: v for k, v in point.items() if k.startswith("data.") and k != "data.rate"}
        ident = json.dumps(axes, sort_keys=True, default=str)
        configs.setdefault(ident, (axes, data, []))[2].append(data["rate"])
    checks = []
    tiny = any(columns["model"] == TINY_BERT for columns in plan.columns)
    for axes, data, rates in configs.values():
        data_cfg = typed({"data": data}).data
        check = check_data_config(data_cfg, rates, cache_dir=conf.cache_dir)
        label = ", ".join(f"{k}={v}" for k, v in axes.items())
        problem = check.problem()
        if problem is not None:
            raise UserError(f"{problem} [{label}]" if label else problem)
        if tiny:
            _check_pretraining_corpus(data_cfg, conf.cache_dir, label)
        checks.append((label, check))
    plan.data_checks = checks
    cfg = typed(conf)
    plan.eval_sets = load_eval_sets(cfg.eval.sets, cfg.data.groups, cache_root(conf.cache_dir))
    plan.corpora = check_corpora(plan)


def check_corpora(plan: Plan) -> list[str]:
    """Read each distinct intervention.corpus that a method of the grid learns from (UserError,
    one line, if one cannot be read); what each holds, in words: its texts and how many mention
    one group."""
    from bias_sweep.data import get_lexicon, group_counts
    from bias_sweep.data.intervention_corpus import load_corpus

    conf = plan.conf
    resolve = PointConfigs(conf)
    varies = any(
        k.startswith(("intervention.corpus", "intervention.method")) for k in grid_axes(conf)
    )
    corpora: dict[str, CorpusConfig] = {}
    for point in plan.points if varies else plan.points[:1]:
        corpus = configured_corpus(
            typed({"intervention": resolve(point)["intervention"]}).intervention
        )
        if corpus is not None:
            corpora.setdefault(json.dumps(asdict(corpus), sort_keys=True), corpus)
    lexicon = get_lexicon(typed(conf).data.groups)
    lines = []
    for corpus_cfg in corpora.values():
        corpus = load_corpus(corpus_cfg, cache_root(conf.cache_dir))
        c = group_counts(corpus.texts, lexicon)
        lines.append(
            f"intervention corpus: {corpus.source}: {c['rows']} texts, of which"
            f" {c['a']} mention {lexicon.name_a} only and {c['b']} {lexicon.name_b} only"
        )
    return lines


def _check_pretraining_corpus(data: DataConfig, cache_dir: str | None, label: str) -> None:
    """The built-in tiny BERT is pre-trained on the task's own texts, biased through its
    attribute words (`data.attribute_corpus`): texts without them fail every trial, so here."""
    from bias_sweep.data import load_task
    from bias_sweep.data.attribute_corpus import attribute_corpus

    try:
        attribute_corpus(load_task(data, seed=0, cache_dir=cache_dir), 0.5, seed=0)
    except UserError as exc:
        raise UserError(
            f"model.name={TINY_BERT}: {exc}" + (f" [{label}]" if label else "")
        ) from None


def trial_order(plan: Plan) -> list[str]:
    """The keys of the trials without a result, taking intervention keys in turn (a, b, c, a, b,
    c, ...): the first concurrent trials build different models in parallel, not one after another."""
    by_key: dict[str, list[str]] = {}
    for key, ikey in zip(plan.keys, plan.point_interventions, strict=True):
        if key not in plan.done:
            by_key.setdefault(ikey, []).append(key)
    queues = sorted(by_key.items(), key=lambda kv: kv[0] in plan.cached_interventions)
    order: list[str] = []
    for i in range(max((len(q) for _, q in queues), default=0)):
        order += [q[i] for _, q in queues if i < len(q)]
    return order


def describe_plan(plan: Plan) -> list[str]:
    conf = plan.conf
    res = conf.sweep.resources
    lines = [f"sweep '{conf.sweep.name}' at {plan.folder.root}"]
    for key, values in grid_axes(conf).items():
        lines.append(f"  axis {key:<24} {len(values):>4} values: {_short(values)}")
    lines += [
        f"  grid points (fine-tuning trials): {len(plan.points)}"
        + (f" ({_done_text(plan)})" if plan.exists else ""),
        *(plan.change.lines() if plan.change is not None else []),
        f"  intervention jobs: {len(plan.intervention_keys)} unique"
        f" ({len(plan.cached_interventions)} cached)",
        _replicates_text(plan),
        f"  resources per trial: cpu={res.cpu:g} gpu={res.gpu:g};"
        f" max concurrent: {conf.sweep.max_concurrent_trials or 'as resources allow'};"
        f" retries per trial: {conf.sweep.max_failures}",
        f"  tracking: W&B {_mode_text(conf.tracking.mode)} (project {conf.tracking.project})",
    ]
    for label, check in plan.data_checks or []:
        described = check.describe()
        if label:
            described[0] += f" [{label}]"
        lines += [f"  {line}" for line in described]
    lines += [f"  {line}" for line in plan.corpora or []]
    for one in plan.eval_sets or []:
        c, (a, b) = one.counts, one.groups
        lines.append(
            f"  external eval set '{one.name}': {one.path}: {c['kept']} of {c['rows']} rows kept"
            f" (groups from the {c['group_from']}: {a} {c['a']}, {b} {c['b']}, both {c['both']},"
            f" neither {c['neither']}; no twin {c['no_twin']})"
        )
    return lines


def _done_text(plan: Plan) -> str:
    text = f"{len(plan.done)} done"
    if plan.reruns:
        text += f", {plan.reruns} to rerun (their previous results kept until then)"
    if plan.set_aside and plan.change is None:
        text += f"; {plan.set_aside} finished trials set aside (outside the grid)"
    return text


def _replicates_text(plan: Plan) -> str:
    counts = plan.replicates()
    low, high = min(counts.values()), max(counts.values())
    text = f"  independent intervened models per (model, method, strength): {_span(low, high)}"
    by_level = ", ".join(f"{m}:{s:g} {n}" for (_, m, s), n in sorted(counts.items()))
    text += f" ({by_level})" if len(counts) <= 12 else ""
    if high < 2 and len(counts) > 1:
        text += (
            "; one per level: the intervention's effect cannot be told from model-to-model"
            " variation (add an intervention.seed axis)"
        )
    return text


def _span(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}-{high}"


def _mode_text(mode: str) -> str:
    effective = resolved_mode(mode)
    return effective if effective == mode else f"{effective} (WANDB_MODE; {mode} in the sweep)"


def _short(values: list[Any], most: int = 8) -> str:
    text = ", ".join(str(v) for v in values[:most])
    return text + (f", ... (+{len(values) - most})" if len(values) > most else "")
