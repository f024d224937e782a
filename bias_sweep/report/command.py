"""The bodies of `bias-sweep report` and `bias-sweep compare` (cli.py holds their parsers)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bias_sweep.errors import UserError
from bias_sweep.files import unwritable
from bias_sweep.report.build import ReportSummary, build_report, build_table_report
from bias_sweep.report.compare import compare
from bias_sweep.sweep.layout import find_sweep


def _print(summary: ReportSummary) -> None:
    """The answer first, then one line per (model, metric), then where the files are."""
    if summary.headline:
        print(summary.headline)
    for entry in summary.effects:
        print(f"  {entry['model']}, {entry['metric']}: {entry['verdict']}")


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
    paths = [find_sweep(name, args.storage).root for name in args.names]
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
    print(f"wrote {len(summary.files)} files to {summary.out_dir}")
    return 0
