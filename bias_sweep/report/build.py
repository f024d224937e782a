"""Report a sweep folder or a table of runs in one linear build:

    load -> analyse -> figures -> text -> write

load: the runs (a sweep folder's finished trials, `load.load_sweep`; a table, `table.read_table`;
a multi-class sweep's per-class rows) and the question asked of them (`ask`: the metrics checked,
the primary first; one unit per adaptation); analyse: the numbers (`statistics.analysis`, the
cells; the rate contrasts and the class-level regression are still computed beside their
sentences, `text.contrasts`); figures: the plots, into the report folder; text: every sentence,
each said once (`text.report_text`); write: the tables and documents, and W&B. `compare` runs
load -> analyse -> the headline for each sweep.

The question a report answers (Steed et al. 2022): does the bias intervention on the pre-trained
model matter less than the co-occurrence rate of group terms and labels in the fine-tuning data?
A sweep's report and a table's report are the same build and write the same files.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bias_sweep.errors import UserError
from bias_sweep.metrics import intrinsic_columns, utility_metrics
from bias_sweep.report.adaptation import by_adaptation
from bias_sweep.report.downstream import read_per_class
from bias_sweep.report.figures.forest import forest_figure
from bias_sweep.report.figures.plots import (
    FigureRecord,
    heatmap_figure,
    lines_figure,
    scatter_figure,
    slopes_figure,
    utility_figure,
)
from bias_sweep.report.load import (
    SweepData,
    checked_metrics,
    default_metrics,
    ensure_columns,
    load_sweep,
)
from bias_sweep.report.statistics.analysis import Analysis, Question, analyse
from bias_sweep.report.statistics.cells import cell_table, level_cells
from bias_sweep.report.statistics.effects import N_BOOT
from bias_sweep.report.table import read_table
from bias_sweep.report.text.render import to_html, to_markdown
from bias_sweep.report.text.report_text import ReportText, report_text
from bias_sweep.schema import ReportConfig
from bias_sweep.sweep.layout import SweepFolder
from bias_sweep.sweep.wandb_runs import report_run_id
from bias_sweep.tracking import log_report

DEFAULT_PRIMARY = ReportConfig.primary_metric
FIGURE_GLOBS = ("heatmap_*.png", "lines_*.png", "forest.png", "slopes.png")


@dataclass
class ReportSummary:
    out_dir: Path
    coverage: tuple[int, int]  # (finished grid points, grid points); a table: (runs, runs)
    verdicts: list[str]  # one sentence per (model, metric)
    files: list[Path]
    failed: int = 0
    figures: list[FigureRecord] = field(default_factory=list)
    headline: str = ""
    effects: list[dict] = field(default_factory=list)  # summary.json's `effects`


def _primary(data: SweepData, primary_metric: str | None) -> str | None:
    """The explicit primary metric, else the sweep's `report.primary_metric` (None: default)."""
    if primary_metric:
        return primary_metric
    return data.conf.report.primary_metric if data.conf is not None else None


def choose_metrics(
    data: SweepData, metrics: list[str] | None, primary_metric: str | None
) -> tuple[list[str], str, list[str]]:
    """(metrics with the primary first, the primary metric, notes), all checked."""
    trials, notes = data.trials, []
    table = data.source == "table"
    chosen = checked_metrics(metrics, trials) if metrics else None
    if chosen is None:
        chosen = default_metrics(trials, data.source)
    if table:
        absent = [m for m in chosen if m not in trials.columns]
        if absent:
            raise UserError(f"--metric: {', '.join(absent)} not a column of '{data.path}'")
        if not chosen:
            raise UserError(f"--table '{data.path}': no metric column found; name it with --metric")
    primary = _primary(data, primary_metric)
    if primary is not None:
        checked_metrics([primary], trials, flag="--primary-metric / report.primary_metric")
        if table and primary not in trials.columns:
            raise UserError(f"--primary-metric: {primary} is not a column of '{data.path}'")
    elif not table or DEFAULT_PRIMARY in trials.columns:
        primary = DEFAULT_PRIMARY
    else:
        primary = chosen[0]
        notes.append(f"the table has no {DEFAULT_PRIMARY} column: the headline uses {primary}")
    return [primary, *[m for m in chosen if m != primary]], primary, notes


def ask(
    data: SweepData, metrics: list[str] | None, primary_metric: str | None, n_boot: int = N_BOOT
) -> Question:
    """The question of a report of these runs, and the runs made ready for it (load's last step):
    the chosen metrics as columns, and in a sweep over adaptations each (model, adaptation) a
    unit of its own; the choice's notes join the data's."""
    chosen, primary, notes = choose_metrics(data, metrics, primary_metric)
    data.notes = [*data.notes, *notes]
    data.trials = by_adaptation(ensure_columns(data.trials, chosen))
    return Question(chosen, primary, n_boot)


def build_report(
    sweep_path: Path,
    metrics: list[str] | None = None,
    out_dir: Path | None = None,
    use_wandb: bool = False,
    primary_metric: str | None = None,
    n_boot: int = N_BOOT,
    plots: bool = True,
) -> ReportSummary:
    """Write the report of one sweep folder (default: <sweep>/report) and summarise it."""
    data = load_sweep(Path(sweep_path))
    out = Path(out_dir) if out_dir is not None else SweepFolder(data.path).report
    options = {"metrics": metrics, "primary_metric": primary_metric, "n_boot": n_boot}
    return build(data, out, use_wandb=use_wandb, plots=plots, **options)


def build_table_report(table: Path, out_dir: Path | None = None, **options: Any) -> ReportSummary:
    """The same report of any table of runs (default out: <table-stem>-report next to it);
    the options are `build_report`'s."""
    data = read_table(Path(table))
    out = Path(out_dir) if out_dir is not None else data.path.with_name(f"{data.path.stem}-report")
    return build(data, out, **options)


def build(
    data: SweepData,
    out_dir: Path,
    metrics: list[str] | None = None,
    primary_metric: str | None = None,
    use_wandb: bool = False,
    n_boot: int = N_BOOT,
    plots: bool = True,
) -> ReportSummary:
    """Every file of a report of these runs, into out_dir: load -> analyse -> figures -> text ->
    write (the question is checked before anything is written)."""
    question = ask(data, metrics, primary_metric, n_boot)
    per_class = read_per_class(data)
    analysis = analyse(data.trials, question)
    cells = cell_table(data.trials, data.cell_keys, question.metrics)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = draw(data, analysis, out_dir, plots)
    text = report_text(data, analysis, cells, [f.path for f in figures], per_class)
    tables, documents = write(data, analysis, cells, text, out_dir)
    if use_wandb:
        _log_wandb(data, analysis, figures, out_dir, text)
    files = [*tables, *[f.path for f in figures], *documents]
    done = (data.done, data.total)
    return ReportSummary(
        out_dir, done, text.verdicts, files, data.failed, figures, text.headline, text.effects
    )


def draw(data: SweepData, analysis: Analysis, out_dir: Path, plots: bool) -> list[FigureRecord]:
    """The forest plot, then the plots over the grid (intrinsic columns of mixed-kind models
    blanked); none without `plots`. Figures an earlier report left are removed either way."""
    # Figures of metrics an earlier report asked for would otherwise linger next to this one's.
    for pattern in FIGURE_GLOBS:
        for old in out_dir.glob(pattern):
            old.unlink()
    if not plots:
        return []
    metrics = analysis.metrics
    forest = forest_figure(analysis.effects, analysis.primary_metric, out_dir / "forest.png")
    # Utility is always shown next to bias, even when accuracy/F1 were not asked for.
    plot_metrics = list(dict.fromkeys([*metrics, *utility_metrics()]))
    shown = ensure_columns(analysis.comparable, plot_metrics)
    data = dataclasses.replace(data, trials=shown)
    cells = level_cells(shown, plot_metrics)
    figures = [forest]
    for metric in metrics:
        figures.append(heatmap_figure(data, cells, metric, out_dir / f"heatmap_{metric}.png"))
        figures.append(lines_figure(data, cells, metric, out_dir / f"lines_{metric}.png"))
    extrinsic = [m for m in metrics if m not in intrinsic_columns()]
    path = out_dir / "intrinsic_vs_extrinsic.png"
    figures.append(scatter_figure(data, analysis.steed, extrinsic, path))
    bias = next((m for m in extrinsic if m not in utility_metrics()), None)
    figures.append(utility_figure(data, cells, bias, out_dir / "utility_vs_bias.png"))
    figures.append(slopes_figure(analysis.slopes, out_dir / "slopes.png"))
    return figures


def write(
    data: SweepData, analysis: Analysis, cells: pd.DataFrame, text: ReportText, out_dir: Path
) -> tuple[list[Path], list[Path]]:
    """The run and cell tables and every table of the analysis; report.md, report.html and
    summary.json: into out_dir, and their paths (the tables', the documents')."""
    data.trials.to_csv(out_dir / "trials.csv", index=False)
    data.trials.to_parquet(out_dir / "trials.parquet", index=False)
    cells.to_csv(out_dir / "cells.csv", index=False)
    tables = {"effects": analysis.effects, "dose_response": analysis.dose}
    tables.update(slopes=analysis.slopes, manipulation_check=analysis.check)
    tables.update(survival=analysis.survival, steed=analysis.steed)
    if len(analysis.adaptation):
        tables["adaptation_interaction"] = analysis.adaptation
    files = [out_dir / n for n in ("trials.csv", "trials.parquet", "cells.csv")]
    for name, table in tables.items():
        table.to_csv(out_dir / f"{name}.csv", index=False)
        files.append(out_dir / f"{name}.csv")
    (out_dir / "report.md").write_text(to_markdown(text.blocks))
    (out_dir / "report.html").write_text(to_html(text.blocks, text.title))
    summary = json.dumps(text.summary, indent=2, ensure_ascii=False)
    (out_dir / "summary.json").write_text(summary)
    return files, [out_dir / n for n in ("report.md", "report.html", "summary.json")]


def _log_wandb(
    data: SweepData,
    analysis: Analysis,
    figures: list[FigureRecord],
    out_dir: Path,
    text: ReportText,
) -> None:
    """One summary run per report: tables, plots, the headline and each effect's shares, CIs
    and verdict."""
    summary: dict[str, Any] = {"headline": text.headline, "primary_metric": analysis.primary_metric}
    for entry in text.effects:
        prefix = f"{entry['model']}/{entry['metric']}"
        if analysis.effects.groupby("model")["comparison"].nunique().get(entry["model"], 1) > 1:
            prefix = f"{entry['model']}/{entry['comparison']}/{entry['metric']}"
        for key in (k for k in entry if k.startswith("verdict")):  # verdict_scrub too
            summary[f"{prefix}/{key}"] = entry[key]
        summary[f"{prefix}/manipulation"] = entry["manipulation"]
        for key, value in entry.items():
            if key.startswith("share_") or key.startswith("p_"):
                if isinstance(value, list):
                    for end, v in zip(("low", "high"), value, strict=True):
                        if v is not None:
                            summary[f"{prefix}/{key}_{end}"] = v
                elif value is not None:
                    summary[f"{prefix}/{key}"] = value
    sweep = SweepFolder(data.path) if data.source == "sweep" else None
    log_report(
        name=data.name,
        tracking=data.conf.tracking if data.conf is not None else None,
        # A sweep's report run lives with its other runs (`bias-sweep sync` uploads it), one
        # per sweep instance, updated by each report.
        directory=sweep.root if sweep else out_dir,
        run_id=report_run_id(sweep) if sweep else None,
        files=[out_dir / "report.html"],
        config={"sweep": data.name, "source": data.source, "done": data.done, "total": data.total},
        tables={
            "trials": data.trials,
            "effects": analysis.effects,
            "dose_response": analysis.dose,
            "slopes": analysis.slopes,
            "manipulation_check": analysis.check,
            "survival": analysis.survival,
            "steed": analysis.steed,
        },  # fmt: skip
        images={f"plots/{f.path.stem}": (f.path, f.title) for f in figures},
        summary=summary,
    )
