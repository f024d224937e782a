"""The `bias-sweep` command.

Bad input (config, arguments, data) ends with one line `bias-sweep: error: ...` and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bias_sweep.errors import UserError

EXIT_USAGE = 2


def _split(args: list[str]) -> tuple[str | None, list[str]]:
    """Positional words: an optional config file first, then key=value overrides."""
    if args and "=" not in args[0]:
        return args[0], args[1:]
    return None, args


def _overrides(words: list[str]) -> list[str]:
    for word in words:
        if "=" not in word:
            raise UserError(f"'{word}': expected key=value (only one config file may be given)")
    return words


def _load_sweep(args: argparse.Namespace):  # -> DictConfig
    from bias_sweep.config import load_config

    if args.sweep is None:
        raise UserError("SWEEP: give a sweep file, e.g. sweeps/quickstart.yaml")
    if "=" in args.sweep:
        raise UserError(f"SWEEP: '{args.sweep}' looks like an override; give the sweep file first")
    return load_config(args.sweep, _overrides(args.overrides))


def cmd_trial(args: argparse.Namespace) -> int:
    from bias_sweep.config import first_point, load_config, trial_config, trial_key
    from bias_sweep.trial import run_trial

    path, words = _split(args.words)
    overrides = _overrides(words)
    conf = load_config(path, overrides)
    overridden = {w.split("=", 1)[0].strip() for w in overrides}
    point = {k: v for k, v in first_point(conf).items() if k not in overridden}
    cfg = trial_config(conf, point)
    out = Path(args.out or Path("bias-sweep-runs") / "trials" / trial_key(cfg)).resolve()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out: '{out}' exists and is not a folder")
    result = run_trial(cfg, out, point=point)
    m = result["metrics"]
    ib = result["intrinsic_bias"]
    print(
        f"trial {result['trial_key']}: realised rate {result['realised_rate']:.3f}; intrinsic"
        f" {ib['after']['kind']} {ib['before']['value']:+.4f} -> {ib['after']['value']:+.4f};"
        f" accuracy {m['accuracy']:.3f}, TPR gap {m['tpr_gap']:+.3f}, FPR gap {m['fpr_gap']:+.3f},"
        f" flip rate {m['flip_rate']:.3f}; {result['timings']['total_s']:.1f} s"
    )
    print(f"wrote {out / 'result.json'} and {out / 'predictions.parquet'}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from bias_sweep.sweep import describe_plan, make_plan

    plan = make_plan(_load_sweep(args))
    for line in describe_plan(plan):
        print(line)
    print("  state: " + ("exists (use resume)" if plan.exists else "new"))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from bias_sweep.sweep import run_sweep

    conf = _load_sweep(args)
    return run_sweep(
        conf,
        address=args.address,
        overwrite=args.overwrite,
        resume_existing=args.resume_existing,
    )


def cmd_resume(args: argparse.Namespace) -> int:
    from bias_sweep.sweep import find_sweep, resume_sweep

    return resume_sweep(find_sweep(args.name, args.storage), address=args.address)


def cmd_status(args: argparse.Namespace) -> int:
    from bias_sweep.status import status_lines
    from bias_sweep.sweep import find_sweep

    try:
        path = find_sweep(args.name, args.storage)
    except UserError:
        from bias_sweep.launch import describe, find_launched

        path = find_launched(args.name, args.storage)
        if path is None:
            raise
        print(f"sweep {path.name}: launched, its driver has not started yet ({path})")
        for line in describe(path):
            print(line)
        return 0
    for line in status_lines(path):
        print(line)
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    import subprocess

    from bias_sweep.sweep import find_sweep
    from bias_sweep.tracking import has_credentials, newest_offline_runs

    runs = newest_offline_runs(find_sweep(args.name, args.storage))
    if not runs:
        print("no offline W&B runs to sync")
        return 0
    if not has_credentials():
        raise UserError("W&B: no credentials; set WANDB_API_KEY or run `wandb login` first")
    # wandb's own uploader, one folder per run id (the newest holds the whole run): it resumes
    # each run by its id, so syncing twice duplicates nothing.
    command = [sys.executable, "-m", "wandb", "sync", *map(str, runs)]
    return subprocess.call(command)


def cmd_report(args: argparse.Namespace) -> int:
    from bias_sweep.report import build_report
    from bias_sweep.sweep import find_sweep

    summary = build_report(
        find_sweep(args.name, args.storage),
        metrics=args.metric or None,
        out_dir=Path(args.out) if args.out else None,
        use_wandb=args.wandb,
    )
    for line in summary.verdicts:
        print(line)
    print(f"coverage: {summary.coverage[0]} of {summary.coverage[1]} grid points")
    print(f"wrote {len(summary.files)} files to {summary.out_dir}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from bias_sweep.report import compare
    from bias_sweep.sweep import find_sweep

    paths = [find_sweep(name, args.storage) for name in args.names]
    out = Path(args.out or "bias-sweep-compare")
    summary = compare(paths, out, metrics=args.metric or None)
    for line in summary.verdicts:
        print(line)
    print(f"wrote {len(summary.files)} files to {summary.out_dir}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2) like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bias-sweep",
        description="Bias experiments on language models: intervention x co-occurrence grids.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("trial", help="run one grid point, without Ray")
    p.add_argument("words", nargs="*", metavar="[CONFIG] [key=value ...]")
    p.add_argument("--out", help="output folder (default: bias-sweep-runs/trials/<key>)")
    p.set_defaults(func=cmd_trial)

    def sweep_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("sweep", nargs="?", metavar="SWEEP", help="sweep YAML, e.g. sweeps/x.yaml")
        p.add_argument("overrides", nargs="*", metavar="key=value")

    p = sub.add_parser("plan", help="validate a sweep and show its grid, stages and resources")
    sweep_args(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("run", help="run a sweep on Ray Tune")
    sweep_args(p)
    p.add_argument("--address", help="Ray cluster address ('auto', host:port); default: local")
    p.add_argument("--overwrite", action="store_true", help="delete an existing sweep first")
    p.add_argument(
        "--resume-existing", action="store_true", help="resume the sweep if it already exists"
    )
    p.set_defaults(func=cmd_run)

    def name_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("name", metavar="NAME", help="sweep name or folder")
        p.add_argument("--storage", help="storage folder (default: ./bias-sweep-runs)")

    p = sub.add_parser("resume", help="continue a stopped, killed or partly failed sweep")
    name_args(p)
    p.add_argument("--address", help="Ray cluster address ('auto', host:port); default: local")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("status", help="grid completeness: done/running/failed/pending per cell")
    name_args(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("sync", help="upload a sweep's offline W&B runs (wandb sync)")
    name_args(p)
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("report", help="tables, effect sizes and plots from a sweep")
    name_args(p)
    p.add_argument("--metric", action="append", help="metric to report (repeatable)")
    p.add_argument("--out", help="output folder (default: <sweep>/report)")
    p.add_argument("--wandb", action="store_true", help="also log a summary run to W&B")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="effect tables of several sweeps side by side")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--storage", help="storage folder (default: ./bias-sweep-runs)")
    p.add_argument("--metric", action="append", help="metric to compare (repeatable)")
    p.add_argument("--out", help="output folder (default: ./bias-sweep-compare)")
    p.set_defaults(func=cmd_compare)

    try:
        from bias_sweep import launch
    except ImportError:
        launch = None
    if launch is not None:
        launch.register(sub)
    return parser


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


def main(argv: list[str] | None = None) -> int:
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
