"""Report and compare sweeps: load -> cells -> effects -> verdicts -> plots -> documents -> W&B.

The question a report answers (Steed et al. 2022): does the bias intervention on the pre-trained
model (its strength) matter less than the co-occurrence rate of group terms and labels in the
fine-tuning data?
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from bias_sweep.metrics.names import INTRINSIC, UTILITY
from bias_sweep.report.load import (
    CELL_KEYS,
    SweepData,
    checked_metrics,
    coverage_text,
    ensure_columns,
    load_sweep,
    models_of,
)
from bias_sweep.report.plots import (
    FigureRecord,
    compare_figure,
    heatmap_figure,
    lines_figure,
    scatter_figure,
    utility_figure,
)
from bias_sweep.report.render import (
    EFFECT_COLUMNS,
    MAX_TABLE_ROWS,
    cells_summary,
    to_html,
    to_markdown,
)
from bias_sweep.report.stats import cell_table, effects_table
from bias_sweep.report.verdict import METHOD_TEXT, manipulation_verdict, verdict
from bias_sweep.sweep.layout import SweepFolder
from bias_sweep.tracking import log_report


@dataclass
class ReportSummary:
    out_dir: Path
    coverage: tuple[int, int]  # (finished grid points, grid points)
    verdicts: list[str]
    files: list[Path]
    failed: int = 0
    figures: list[FigureRecord] = field(default_factory=list)


def build_report(
    sweep_path: Path,
    metrics: list[str] | None = None,
    out_dir: Path | None = None,
    use_wandb: bool = False,
) -> ReportSummary:
    """Write the report of one sweep folder (tables, plots, report.md/html) and summarise it."""
    data = load_sweep(Path(sweep_path))
    metrics = checked_metrics(metrics)
    data.trials = ensure_columns(data.trials, metrics)
    out_dir = Path(out_dir) if out_dir is not None else SweepFolder(data.path).report
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []

    trials = data.trials
    trials.to_csv(out_dir / "trials.csv", index=False)
    trials.to_parquet(out_dir / "trials.parquet", index=False)
    cells = cell_table(trials, data.cell_keys, metrics)
    cells.to_csv(out_dir / "cells.csv", index=False)
    # Plots pool over extra grid axes (their cells are the four usual keys only) and always show
    # utility next to bias, even when accuracy/F1 were not among the requested metrics.
    plot_metrics = list(dict.fromkeys([*metrics, *UTILITY]))
    trials = data.trials = ensure_columns(trials, plot_metrics)
    plot_cells = cell_table(trials, list(CELL_KEYS), plot_metrics)
    models = models_of(data)
    # Many small least-squares problems: multi-threaded BLAS only adds overhead (2-3x slower on
    # a shared 2-core machine), so the statistics run single-threaded.
    with threadpool_limits(1):
        effects = effects_table(trials, metrics, models)
    effects.to_csv(out_dir / "effects.csv", index=False)
    files += [out_dir / n for n in ("trials.csv", "trials.parquet", "cells.csv", "effects.csv")]

    # Plots of metrics an earlier report asked for would otherwise linger next to this one's.
    for old in [*out_dir.glob("heatmap_*.png"), *out_dir.glob("lines_*.png")]:
        old.unlink()
    figures = []
    for metric in metrics:
        figures.append(heatmap_figure(data, plot_cells, metric, out_dir / f"heatmap_{metric}.png"))
        figures.append(lines_figure(data, plot_cells, metric, out_dir / f"lines_{metric}.png"))
    extrinsic = [m for m in metrics if m not in INTRINSIC]
    figures.append(scatter_figure(data, effects, extrinsic, out_dir / "intrinsic_vs_extrinsic.png"))
    bias = next((m for m in extrinsic if m not in UTILITY), None)
    figures.append(utility_figure(data, plot_cells, bias, out_dir / "utility_vs_bias.png"))
    files += [f.path for f in figures]

    verdicts = [verdict(r) for _, r in effects.iterrows()]
    kinds = trials.get("intrinsic_kind", pd.Series(dtype=object)).dropna()
    kind = str(kinds.iloc[0]) if len(kinds) else None
    checks = [manipulation_verdict(m, effects, kind) for m in models if len(effects)]
    coverage = coverage_text(data)
    blocks: list[tuple[str, Any]] = [
        ("h1", f"Bias sweep report: {data.name}"),
        ("h2", "Verdict"),
        ("ul", verdicts or ["no finished trials: nothing to conclude yet"]),
        ("ul", checks) if checks else ("p", ""),
        ("h2", "Coverage"),
        ("p", coverage),
        ("h2", "Effects (per model and metric)"),
        ("table", effects[EFFECT_COLUMNS]),
        ("p", "All columns, with 95% CIs and the manipulation check: effects.csv."),
        ("h2", "Plots"),
        *[("img", f.path) for f in figures],
        ("h2", "Cells (mean [95% CI] over seeds)"),
        ("table", cells_summary(cells.head(MAX_TABLE_ROWS), data.cell_keys, metrics)),
        ("p", f"{len(cells)} cells; all statistics in cells.csv, all trials in trials.csv."),
        ("h2", "Method"),
        ("p", METHOD_TEXT),
    ]
    (out_dir / "report.md").write_text(to_markdown(blocks))
    (out_dir / "report.html").write_text(to_html(blocks, f"Bias sweep report: {data.name}"))
    files += [out_dir / "report.md", out_dir / "report.html"]
    summary = {"sweep": data.name, "coverage": coverage, "verdicts": verdicts, "checks": checks}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    files.append(out_dir / "summary.json")

    if use_wandb:
        _log_wandb(data, effects, figures, out_dir)
    return ReportSummary(out_dir, (data.done, data.total), verdicts, files, data.failed, figures)


def compare(
    sweep_paths: list[Path], out_dir: Path, metrics: list[str] | None = None
) -> ReportSummary:
    """Effect tables of several sweeps side by side: one column per sweep."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    long, names, coverages, verdicts = [], [], [], []
    done = total = failed = 0
    for path in sweep_paths:
        data = load_sweep(Path(path))
        ms = checked_metrics(metrics)
        data.trials = ensure_columns(data.trials, ms)
        name = data.name
        while name in names:  # two sweeps of one name (different storage): keep both columns
            name += "'"
        names.append(name)
        with threadpool_limits(1):
            effects = effects_table(data.trials, ms, models_of(data))
        verdicts += [f"{name}: {verdict(r)}" for _, r in effects.iterrows()]
        coverages.append(f"{name}: {coverage_text(data)}")
        done, total, failed = done + data.done, total + data.total, failed + data.failed
        numeric = [
            c for c in effects.columns if c not in ("model", "metric", "strength_factor", "note")
        ]
        melted = effects.melt(id_vars=["model", "metric"], value_vars=numeric, var_name="quantity")
        long.append(melted.assign(sweep=name))
    if long:
        table = (
            pd.concat(long)
            .pivot_table(
                index=["model", "metric", "quantity"],
                columns="sweep",
                values="value",
                aggfunc="first",
                dropna=False,
                sort=False,
            )  # fmt: skip
            .reindex(columns=names)
            .reset_index()
        )
        table.columns.name = None
    else:
        table = pd.DataFrame(columns=["model", "metric", "quantity"])
    table.to_csv(out_dir / "compare.csv", index=False)
    fig = compare_figure(table, names, out_dir / "compare_eta2.png")
    key_q = ("eta2_rate", "eta2_strength", "eta2_interaction", "slope_rate", "slope_strength")
    blocks: list[tuple[str, Any]] = [
        ("h1", f"Bias sweep comparison: {', '.join(names)}"),
        ("h2", "Verdict"),
        ("ul", verdicts or ["no finished trials in any sweep"]),
        ("h2", "Coverage"),
        ("ul", coverages),
        ("h2", "Effects side by side (column per sweep)"),
        ("table", table[table["quantity"].isin(key_q)] if len(table) else table),
        ("p", "All quantities, CIs included: compare.csv."),
        ("img", fig.path),
        ("h2", "Method"),
        ("p", METHOD_TEXT),
    ]
    (out_dir / "report.md").write_text(to_markdown(blocks))
    (out_dir / "report.html").write_text(to_html(blocks, "Bias sweep comparison"))
    files = [out_dir / "compare.csv", fig.path, out_dir / "report.md", out_dir / "report.html"]
    return ReportSummary(out_dir, (done, total), verdicts, files, failed, [fig])


def _log_wandb(
    data: SweepData, effects: pd.DataFrame, figures: list[FigureRecord], out_dir: Path
) -> None:
    """One summary run per report: tidy table, effects table, plots and the headline numbers."""
    summary = {
        f"{r['model']}/{r['metric']}/{q}": float(r[q])
        for _, r in effects.iterrows()
        for q in ("eta2_rate", "eta2_strength", "slope_rate", "slope_strength")
        if np.isfinite(r[q])
    }
    log_report(
        name=data.name,
        tracking=data.conf.tracking if data.conf is not None else None,
        out_dir=out_dir,
        config={"sweep": data.name, "done": data.done, "total": data.total},
        tables={"trials": data.trials, "effects": effects},
        images={f"plots/{f.path.stem}": (f.path, f.title) for f in figures},
        summary=summary,
    )
