"""The `bias-sweep` command: every argument parser of the project.

Bad input (config, arguments, data) ends with one line `bias-sweep: error: ...` and exit code 2.
Each command imports what it runs when it runs (Ray, torch, matplotlib take seconds to import),
so that `bias-sweep --help`, `plan` and `status` answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bias_sweep.errors import UserError
from bias_sweep.launch import LAUNCHERS
from bias_sweep.launch.record import describe, find_launched
from bias_sweep.schema import ReportConfig
from bias_sweep.sweep.layout import DEFAULT_STORAGE, EXIT_USAGE, find_sweep

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from bias_sweep.sweep.trainable import AttemptHooks  # torch: only where trials run


def _load_sweep(args: argparse.Namespace) -> tuple[DictConfig, Path]:
    """The sweep file and overrides of a command: (config, the sweep file's absolute path)."""
    from bias_sweep.config import load_sweep  # the registries, pandas

    return load_sweep(args.sweep, args.overrides)


def cmd_trial(args: argparse.Namespace) -> int:
    from bias_sweep.config import load_config, override_key, split_words
    from bias_sweep.identity import trial_key
    from bias_sweep.sweep.grid import first_point, point_config

    path, overrides = split_words(args.words)
    conf = load_config(path, overrides)
    overridden = {override_key(w) for w in overrides}
    point = {k: v for k, v in first_point(conf).items() if k not in overridden}
    cfg = point_config(conf, point)
    out = Path(args.out or Path(DEFAULT_STORAGE) / "trials" / trial_key(cfg)).resolve()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out: '{out}' exists and is not a folder")
    # Imported once the input is checked: torch and transformers take seconds.
    from bias_sweep.metrics import default_report_metrics
    from bias_sweep.sweep.results import realised_text, write_trial  # pandas
    from bias_sweep.trial import run_trial  # torch, transformers

    output = run_trial(cfg)
    out.mkdir(parents=True, exist_ok=True)
    result = write_trial(out, output, {"point": point})
    ib = result["intrinsic_bias"]
    shown = [m for m in default_report_metrics() if m in result["metrics"]]
    print(
        f"trial {result['trial_key']}: {realised_text(result)}; intrinsic"
        f" {ib['after']['kind']} {ib['before']['value']:+.4f} -> {ib['after']['value']:+.4f}"
        f" (fine-tuned {ib['finetuned']['value']:+.4f}); "
        + ", ".join(f"{m} {result['metrics'][m]:+.3f}" for m in shown)
        + f"; {result['timings']['total_s']:.1f} s"
    )
    print(f"wrote {out / 'result.json'}, {out / 'predictions.parquet'} and {out / 'train.parquet'}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from bias_sweep.config import read_saved
    from bias_sweep.sweep.grow import compare_grids
    from bias_sweep.sweep.plan import check_data, describe_plan, make_plan  # pandas

    if args.pilot is not None and not args.pilot > 0:
        raise UserError(f"--pilot: {args.pilot:g} is not a positive number of seconds")
    conf = _load_sweep(args)[0]
    plan = make_plan(conf)
    state = "new"
    if plan.exists:
        # What `run` would do to the existing sweep: the same diff, before anything runs.
        plan.change = compare_grids(read_saved(plan.folder.sweep_file), conf, plan.folder)
        if plan.change.unchanged:
            plan.change = None
            state = f"exists, same config (continue it: bias-sweep resume {conf.sweep.name})"
        elif plan.change.recomputed:
            state = "exists; `run` refuses this edit without --recompute (see above)"
        else:
            state = "exists; `run` grows it to this grid (see the grid change above)"
    check_data(plan)  # the data can hold every grid point, or one line and exit 2
    for line in describe_plan(plan):
        print(line)
    if plan.exists:
        from bias_sweep.sweep.cost import local_slots, plan_estimate

        cost = plan_estimate(plan)
        if cost is not None and cost.trials_left:
            print("  " + cost.line(local_slots(plan)))
    print("  state: " + state)
    if args.pilot is not None:
        from bias_sweep.sweep.pilot import pilot_lines

        for line in pilot_lines(plan, [w for w in (args.sweep, *args.overrides) if w], args.pilot):
            print(line)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from bias_sweep.sweep.driver import run_sweep  # Ray

    conf = _load_sweep(args)[0]
    run = {"address": args.address, "overwrite": args.overwrite, "recompute": args.recompute}
    run["hooks"] = args.hooks
    if args.until_decided:
        from bias_sweep.until_decided import Budget, run_until_decided  # statsmodels

        budget = Budget(args.budget_trials, args.budget_hours)
        return run_until_decided(conf, budget, args.metric, args.target_width, **run)
    if args.budget_trials is not None or args.budget_hours is not None:
        raise UserError("--budget-trials/--budget-hours: only with --until-decided")
    return run_sweep(conf, resume_existing=args.resume_existing, **run)


def cmd_resume(args: argparse.Namespace) -> int:
    from bias_sweep.sweep.driver import resume_sweep  # Ray

    return resume_sweep(find_sweep(args.name, args.storage), address=args.address, hooks=args.hooks)


def cmd_rerun(args: argparse.Namespace) -> int:
    from bias_sweep.sweep.driver import rerun_sweep  # Ray

    folder = find_sweep(args.name, args.storage)
    return rerun_sweep(folder, args.where or [], address=args.address, hooks=args.hooks)


def cmd_status(args: argparse.Namespace) -> int:
    from bias_sweep.sweep.status import status_lines  # pandas

    try:
        folder = find_sweep(args.name, args.storage)
    except UserError:
        path = find_launched(args.name, args.storage)
        if path is None:
            raise
        print(f"sweep {path.name}: launched, its driver has not started yet ({path})")
        for line in describe(path):
            print(line)
        return 0
    for line in [*status_lines(folder), *describe(folder.root)]:
        print(line)
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from bias_sweep.sweep.wandb_runs import sync_sweep  # pandas

    return sync_sweep(find_sweep(args.name, args.storage))


def cmd_report(args: argparse.Namespace) -> int:
    from bias_sweep.report.command import report  # matplotlib, statsmodels

    return report(args)


def cmd_next(args: argparse.Namespace) -> int:
    """`decided: <verdict>`, `budget spent: <verdict>`, or the next round as YAML."""
    from bias_sweep.report.command import next_round  # statsmodels

    return next_round(args)


def cmd_compare(args: argparse.Namespace) -> int:
    from bias_sweep.report.command import compare_sweeps  # matplotlib, statsmodels

    return compare_sweeps(args)


def cmd_launch(args: argparse.Namespace) -> int:
    return LAUNCHERS.get(args.launcher).submit(args, lambda: _load_sweep(args))


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2) like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", nargs="?", metavar="SWEEP", help="sweep YAML, e.g. sweeps/x.yaml")
    p.add_argument("overrides", nargs="*", metavar="key=value")


def _recompute_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--recompute",
        action="store_true",
        help="accept an edit of an existing sweep that changes what its finished trials compute"
        " (a non-axis setting such as train.epochs): they run again under new keys",
    )


def _until_decided_args(p: argparse.ArgumentParser) -> None:
    """`run --until-decided`: rounds of the sweep until the verdict is decided (`next`)."""
    p.add_argument("--until-decided", action="store_true",
                   help="grow the sweep in rounds until the primary metric's verdict is decided"
                   " (see `bias-sweep next`), within --budget-trials or --budget-hours")  # fmt: skip
    p.add_argument("--budget-trials", type=int, metavar="N", help="runs in all, earlier included")
    p.add_argument("--budget-hours", type=float, metavar="H", help="wall-clock hours in all")
    p.add_argument("--metric", metavar="M", help="the verdict's metric (default: the sweep's "
                   "report.primary_metric)")  # fmt: skip
    p.add_argument("--target-width", type=float, metavar="W",
                   help="95%% CI width of the share difference that decides (default 0.5)")  # fmt: skip


def _name_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="sweep name or folder")
    p.add_argument("--storage", help=f"storage folder (default: ./{DEFAULT_STORAGE})")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bias-sweep",
        description="Bias experiments on language models: intervention x co-occurrence grids.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("trial", help="run one grid point, without Ray")
    p.add_argument("words", nargs="*", metavar="[CONFIG] [key=value ...]")
    p.add_argument("--out", help=f"output folder (default: {DEFAULT_STORAGE}/trials/<key>)")
    p.set_defaults(func=cmd_trial)

    p = sub.add_parser("plan", help="validate a sweep and show its grid, stages and resources")
    _sweep_args(p)
    p.add_argument("--pilot", type=float, nargs="?", const=600.0, metavar="SECONDS",
                   help="also run one trial (and its build), capped at SECONDS (default 600), "
                   "to estimate the whole grid's time")  # fmt: skip
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("run", help="run a sweep on Ray Tune")
    _sweep_args(p)
    p.add_argument("--address", help="Ray cluster address ('auto', host:port); default: local")
    p.add_argument("--overwrite", action="store_true", help="delete an existing sweep first")
    p.add_argument(
        "--resume-existing",
        action="store_true",
        help="continue the sweep if it already exists (an edited grid grows it, as `run` does)",
    )
    _recompute_arg(p)
    _until_decided_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("resume", help="continue a stopped, killed or partly failed sweep")
    _name_args(p)
    p.add_argument("--address", help="Ray cluster address ('auto', host:port); default: local")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("rerun", help="run chosen trials again (fresh W&B runs, old results kept)")
    _name_args(p)
    p.add_argument(
        "--where",
        nargs="+",
        action="extend",
        metavar="KEY=VALUE",
        help="the trials to rerun: an axis (seed, rate, method, ...) or trial_key and its value;"
        " every key must match, a key given twice matches either value",
    )
    p.add_argument("--address", help="Ray cluster address ('auto', host:port); default: local")
    p.set_defaults(func=cmd_rerun)

    for name, func, text in (
        ("status", cmd_status, "grid completeness: done/running/failed/pending per cell"),
        ("sync", cmd_sync, "upload a sweep's offline W&B runs (wandb sync)"),
    ):
        _name_args(p := sub.add_parser(name, help=text))
        p.set_defaults(func=func)

    _analysis_parsers(sub)
    _launch_parsers(sub)
    return parser


def _analysis_parsers(sub: Any) -> None:
    """`report`, `next` and `compare`: what reads the runs."""
    p = sub.add_parser("report", help="the answer, effect sizes and plots: a sweep or a table")
    p.add_argument("name", nargs="?", metavar="NAME", help="sweep name or folder")
    p.add_argument("--table", metavar="FILE", help="a CSV/parquet table of runs instead of NAME")
    p.add_argument("--storage", help=f"storage folder (default: ./{DEFAULT_STORAGE})")
    p.add_argument("--out", help="output folder (default: <sweep>/report, <table-stem>-report)")
    p.add_argument("--no-plots", action="store_true", help="skip the figures")
    p.add_argument("--wandb", action="store_true", help="also log a summary run to W&B")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("next", help="decided, or the next round of a table of runs (YAML)")
    p.add_argument("--table", metavar="FILE", required=True, help="a CSV/parquet table of runs")
    p.add_argument("--budget-trials", type=int, required=True, metavar="N",
                   help="runs in all, those in the table included")  # fmt: skip
    p.add_argument(
        "--metric",
        metavar="M",
        help=f"the verdict's metric (default: {ReportConfig.primary_metric})",
    )
    p.add_argument("--target-width", type=float, metavar="W",
                   help="95%% CI width of the share difference that decides (default 0.5)")  # fmt: skip
    p.add_argument("--build-cost", type=float, default=1.0, metavar="C",
                   help="an intervened model's build, in fine-tuning runs (default 1)")  # fmt: skip
    p.set_defaults(func=cmd_next)

    p = sub.add_parser("compare", help="variance shares and verdicts of sweeps side by side")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--storage", help=f"storage folder (default: ./{DEFAULT_STORAGE})")
    p.add_argument("--out", help="output folder (default: ./bias-sweep-compare)")
    p.add_argument("--wandb", action="store_true", help="also log the comparison to W&B")
    p.set_defaults(func=cmd_compare)
    for p in (sub.choices["report"], sub.choices["compare"]):
        p.add_argument("--metric", action="append", help="metric to analyse (repeatable)")
        default = ReportConfig.primary_metric
        p.add_argument("--primary-metric", metavar="M", help="the headline's metric (default: "
                       f"report.primary_metric of the sweep, {default})")  # fmt: skip


def _launch_parsers(sub: Any) -> None:
    """`bias-sweep launch NAME` for every registered launcher (`bias_sweep.launch`)."""
    launch = sub.add_parser(
        "launch", help="run a sweep's driver on Slurm or on a Ray cluster (see launch/)"
    )
    names = ",".join(LAUNCHERS.names())
    kinds = launch.add_subparsers(dest="launch_kind", required=True, metavar=f"{{{names}}}")
    for launcher in LAUNCHERS:
        p = kinds.add_parser(launcher.name, help=launcher.help, description=launcher.description)
        _sweep_args(p)
        p.add_argument(
            "--resume-existing",
            action="store_true",
            help="continue the sweep if it already exists, grown to an edited grid (default: refuse)",
        )
        _recompute_arg(p)
        launcher.add_arguments(p)
        p.set_defaults(func=cmd_launch, launcher=launcher.name)


def quiet_libraries() -> None:
    """Keep terminals and Slurm logs readable: no per-load progress bars from HF libraries.

    Environment variables (not API calls) so that Ray workers, which inherit them, are quiet too.
    """
    for key, value in {
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        "WANDB_SILENT": "true",
        "RAY_AIR_NEW_OUTPUT": "0",
    }.items():
        os.environ.setdefault(key, value)


def main(argv: list[str] | None = None, *, hooks: AttemptHooks | None = None) -> int:
    """The `bias-sweep` command; `hooks`: called in the workers at each trial attempt of `run`
    and `resume` (tests inject faults with them)."""
    quiet_libraries()
    parser = build_parser()
    try:
        # key=value overrides may also come after options (`run x.yaml --address auto a=b`).
        args, extra = parser.parse_known_args(argv)
        stray = [w for w in extra if "=" not in w or w.startswith("-")]
        if stray:
            parser.error(f"unrecognized arguments: {' '.join(stray)}")
        if extra:
            if not hasattr(args, "overrides") and not hasattr(args, "words"):
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            if hasattr(args, "overrides"):
                args.overrides = [*args.overrides, *extra]
            else:
                args.words = [*args.words, *extra]
        args.hooks = hooks
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"bias-sweep: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("bias-sweep: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
