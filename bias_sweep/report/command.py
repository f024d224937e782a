"""The bodies of `bias-sweep report`, `compare` and `next` (cli.py holds their parsers)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bias_sweep.config import read_saved
from bias_sweep.errors import UserError
from bias_sweep.files import unwritable
from bias_sweep.report.build import ReportSummary, build_report, build_table_report
from bias_sweep.report.compare import compare
from bias_sweep.schema import ReportConfig
from bias_sweep.sweep.layout import find_sweep


def _print(summary: ReportSummary) -> None:
    """The answer first, then one line per (model, metric), then where the files are."""
    if summary.headline:
        print(summary.headline)
    comparisons: dict[str, set[str]] = {}
    for entry in summary.effects:
        comparisons.setdefault(entry["model"], set()).add(entry.get("comparison", ""))
    for entry in summary.effects:
        named = len(comparisons[entry["model"]]) > 1
        which = f" ({entry['comparison']})" if named else ""
        extra = "".join(
            f", {k.removeprefix('verdict_')}: {v}"
            for k, v in entry.items()
            if k.startswith("verdict_")
        )  # an extra downstream treatment's verdict (scrub) beside the rate's
        print(f"  {entry['model']}, {entry['metric']}{which}: {entry['verdict']}{extra}")


def _out_folder(value: str | None) -> Path | None:
    """`--out`, checked before any work: a folder (or none yet) where files can be written."""
    if value is None:
        return None
    out = Path(value)
    problem = f"'{out}' exists and is not a folder" if out.exists() and not out.is_dir() else None
    problem = problem or unwritable(out)
    if problem is not None:
        raise UserError(f"--out: {problem}; give a folder to write the report in")
    return out


def report(args: argparse.Namespace) -> int:
    """`bias-sweep report NAME | --table FILE`: exactly one of them."""
    if (args.name is None) == (args.table is None):
        raise UserError("give a sweep NAME or --table FILE (exactly one of them)")
    options = {
        "metrics": args.metric or None,
        "out_dir": _out_folder(args.out),
        "use_wandb": args.wandb,
        "primary_metric": args.primary_metric,
        "plots": not args.no_plots,
    }
    if args.table is not None:
        summary = build_table_report(Path(args.table), **options)
        print(f"table: {summary.coverage[0]} runs")
    else:
        summary = build_report(find_sweep(args.name, args.storage).root, **options)
        print(f"coverage: {summary.coverage[0]} of {summary.coverage[1]} grid points")
    _print(summary)
    print(f"wrote {len(summary.files)} files to {summary.out_dir}")
    return 0


def compare_sweeps(args: argparse.Namespace) -> int:
    folders = [find_sweep(name, args.storage) for name in args.names]
    paths = [f.root for f in folders]
    twice = [name for name, path in zip(args.names, paths, strict=True) if paths.count(path) > 1]
    if twice:
        raise UserError(f"compare: '{twice[0]}' is given twice; compare distinct sweeps")
    summary = compare(
        paths,
        _out_folder(args.out or "bias-sweep-compare"),
        metrics=args.metric or None,
        primary_metric=args.primary_metric,
    )
    for line in summary.verdicts:
        print(line)
    if args.wandb:
        _log_comparison(summary, folders)
    print(f"wrote {len(summary.files)} files to {summary.out_dir}")
    return 0


def _log_comparison(summary: ReportSummary, folders: list) -> None:
    """`compare --wandb`: a run of its own, in the first sweep's W&B project."""
    import pandas as pd

    from bias_sweep.tracking import log_report

    names = [f.root.name for f in folders]
    log_report(
        name="compare-" + "-".join(names),
        tracking=read_saved(folders[0].sweep_file).tracking,
        directory=summary.out_dir,
        run_id=None,
        config={"sweeps": names},
        tables={"compare": pd.read_csv(summary.out_dir / "compare.csv")},
        images={f"plots/{f.path.stem}": (f.path, f.title) for f in summary.figures},
        summary={"headline": summary.headline, "verdicts": summary.verdicts},
        files=[summary.out_dir / "report.html"],
    )


def next_round(args: argparse.Namespace) -> int:
    """`bias-sweep next`: the planner on a table of runs (`planner.next_step`)."""
    from bias_sweep.report.statistics.planner import TARGET_WIDTH, next_step
    from bias_sweep.report.table import read_table

    if args.budget_trials < 1:
        raise UserError(f"--budget-trials: {args.budget_trials} is not a positive number of runs")
    width = TARGET_WIDTH if args.target_width is None else args.target_width
    if not 0 < width <= 2:
        raise UserError(f"--target-width: {width} is not in (0, 2] (a width of a share difference)")
    if not args.build_cost >= 0:
        raise UserError(f"--build-cost: {args.build_cost} is not a cost >= 0 (in runs)")
    data = read_table(Path(args.table))
    metric = args.metric or ReportConfig.primary_metric
    if metric not in data.trials.columns or data.trials[metric].isna().all():
        raise UserError(f"--metric: the table has no values of {metric!r}")
    step = next_step(data.trials, args.budget_trials, metric, width, args.build_cost)
    print(step.text())
    return 0
