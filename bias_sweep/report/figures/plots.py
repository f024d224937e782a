"""The report's figures over the grid: heat maps and lines, intrinsic vs extrinsic, utility.

Each figure is a matplotlib `Figure` (no pyplot state) saved as PNG, with a `FigureRecord` of what
its panels say (for tests and for W&B captions). Heat maps and lines show `cells.level_cells`:
per intervention level and rate, the mean over intervened models, with a 95% CI over them. Plots
pool over grid axes other than the usual ones (cells.csv keeps them apart). An axis of intrinsic
bias is labelled by its kind, and two kinds never share one (see `analysis`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bias_sweep.metrics import (
    INTRINSIC_AFTER,
    intrinsic_columns,
    metric_labels,
    signed_differences,
    utility_metrics,
)
from bias_sweep.report.load import SweepData, intervention_levels, models_of
from bias_sweep.report.statistics.analysis import KIND_UNKNOWN, intrinsic_kinds
from bias_sweep.report.text.numbers import num

RATE_LABEL = "co-occurrence rate P(group A | y=1)"
TINY = 1e-12
MAX_SCATTER = 2000  # points drawn per scatter panel (a fixed random sample); fits use all trials


@dataclass
class FigureRecord:
    """A written PNG and what each of its panels says (for tests and for W&B captions)."""

    path: Path
    title: str
    panels: list[dict[str, Any]] = field(default_factory=list)  # title, xlabel, ylabel, texts


def model_kind(trials: pd.DataFrame, model: str) -> str | None:
    """The one intrinsic kind of a model's measured runs (None: not measured, or several)."""
    d = trials[trials["model"] == model]
    if INTRINSIC_AFTER in d.columns:
        d = d[d[INTRINSIC_AFTER].notna()]
    kinds = intrinsic_kinds(d).unique()
    return str(kinds[0]) if len(kinds) == 1 else None


def _label(metric: str, kind: str | None = None) -> str:
    label = metric_labels().get(metric, metric)
    if metric.startswith("intrinsic_") and kind and kind != KIND_UNKNOWN:
        label += f" ({kind})"
    return label


def _iv_text(iv: tuple[str, float], several: bool) -> str:
    return f"{iv[0]}: {iv[1]:g}" if several else f"{iv[1]:g}"


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _panels(n: int, ncols: int, w: float, h: float) -> tuple[Figure, list[Any]]:
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(w * ncols, h * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def save_figure(fig: Figure, path: Path, title: str, axes: list[Any]) -> FigureRecord:
    fig.savefig(path, dpi=90, format="png")
    panels = [
        {
            "title": ax.get_title(),
            "xlabel": ax.get_xlabel(),
            "ylabel": ax.get_ylabel(),
            "texts": [t.get_text() for t in ax.texts],
        }
        for ax in axes
    ]
    return FigureRecord(path=path, title=title, panels=panels)


def _cell_lookup(plot_cells: pd.DataFrame, model: str, metric: str) -> dict[tuple, tuple]:
    c = plot_cells[plot_cells["model"] == model]
    return {
        (str(m), float(s), float(r)): (mean, lo, hi)
        for m, s, r, mean, lo, hi in zip(
            c["method"],
            c["strength"],
            c["rate"],
            c[f"{metric}_mean"],
            c[f"{metric}_ci_low"],
            c[f"{metric}_ci_high"],
            strict=True,
        )
        if np.isfinite(mean)
    }


def heatmap_figure(data: SweepData, cells: pd.DataFrame, metric: str, path: Path) -> FigureRecord:
    """Mean of a metric over seeds on the strength x rate grid, one panel per model."""
    models = models_of(data) or ["(no model)"]
    fig, axes = _panels(len(models), 3, 5.2, 4.2)
    for ax, model in zip(axes, models, strict=True):
        ivs, rates = intervention_levels(data, model)
        several = len({m for m, _ in ivs}) > 1
        ax.set_title(f"{model}: mean {metric} over seeds")
        ax.set_xlabel(RATE_LABEL)
        ax.set_ylabel("intervention (method: strength)" if several else "intervention strength")
        look = _cell_lookup(cells, model, metric)
        if not look:
            _empty(ax, f"no finished trials for {model}, {metric}")
            continue
        grid = np.full((len(ivs), len(rates)), np.nan)
        for i, (m, s) in enumerate(ivs):
            for j, r in enumerate(rates):
                grid[i, j] = look.get((m, s, r), (np.nan,))[0]
        finite = grid[np.isfinite(grid)]
        signed = metric in signed_differences()
        if signed:
            lim = max(float(np.abs(finite).max()), TINY)
            kw = {"cmap": "RdBu_r", "vmin": -lim, "vmax": lim}
        else:
            kw = {"cmap": "viridis", "vmin": float(finite.min()), "vmax": float(finite.max())}
        img = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", origin="lower", **kw)
        cbar = fig.colorbar(img, ax=ax)
        cbar.set_label(_label(metric, model_kind(data.trials, model)))
        ax.set_xticks(range(len(rates)), [f"{r:g}" for r in rates])
        ax.set_yticks(range(len(ivs)), [_iv_text(iv, several) for iv in ivs])
        size = 8 if grid.size <= 60 else 6
        mid = (kw["vmin"] + kw["vmax"]) / 2
        for (i, j), v in np.ndenumerate(grid):
            # Dark text on light cells, light text on dark ones, so every value stays readable.
            light = signed and abs(v) < 0.5 * kw["vmax"] or (not signed and v > mid)
            text = "–" if not np.isfinite(v) else f"{v:.2f}"
            color = "black" if (not np.isfinite(v) or light) else "white"
            ax.text(j, i, text, ha="center", va="center", fontsize=size, color=color)
    fig.suptitle(f"{metric}: mean per cell ('–': no trials)", fontsize=10)
    return save_figure(fig, path, f"heatmap of {metric}", axes)


def _lines(ax: Any, data: SweepData, cells: pd.DataFrame, model: str, metric: str) -> None:
    """Metric vs rate, one line per intervention level with its 95% CI band, labelled at its end."""
    ivs, _ = intervention_levels(data, model)
    several = len({m for m, _ in ivs}) > 1
    ax.set_title(f"{model}: {metric} vs rate (mean, 95% CI)", fontsize=10)
    ax.set_xlabel(RATE_LABEL)
    ax.set_ylabel(_label(metric, model_kind(data.trials, model)), fontsize=8)
    look = _cell_lookup(cells, model, metric)
    if not look:
        _empty(ax, f"no finished trials for {model}, {metric}")
        return
    cmap = matplotlib.colormaps["viridis"]
    ends = []  # (y, x, text, colour) of each line's last point, labelled once all are drawn
    for k, iv in enumerate(ivs):
        pts = sorted((r, v) for (m, s, r), v in look.items() if (m, s) == iv)
        if not pts:
            continue
        x = np.array([p[0] for p in pts])
        mean, lo, hi = (np.array([p[1][i] for p in pts]) for i in range(3))
        color = cmap(k / max(1, len(ivs) - 1) * 0.9)
        ax.plot(x, mean, marker="o", ms=3, color=color)
        band = np.isfinite(lo) & np.isfinite(hi)
        if band.any():
            ax.fill_between(x[band], lo[band], hi[band], color=color, alpha=0.15, linewidth=0)
        ends.append((mean[-1], x[-1], ("" if several else "s=") + _iv_text(iv, several), color))
    ax.margins(x=0.2)
    # Push labels apart vertically so that lines ending close together stay readable.
    lo_y, hi_y = ax.get_ylim()
    lo_x, hi_x = ax.get_xlim()
    ends.sort(key=lambda e: e[0])
    gap, placed = 0.045 * (hi_y - lo_y), []
    for y, *_ in ends:
        placed.append(max(y, placed[-1] + gap) if placed else y)
    # Re-centre the stack on the line ends so the labels do not all drift upwards.
    shift = np.mean([e[0] for e in ends]) - np.mean(placed) if ends else 0.0
    for (y, x_end, text, color), y_text in zip(ends, placed, strict=True):
        ax.annotate(
            text,
            xy=(x_end, y),
            xytext=(x_end + 0.03 * (hi_x - lo_x), y_text + shift),
            va="center",
            fontsize=7,
            color=color,
        )


def lines_figure(data: SweepData, cells: pd.DataFrame, metric: str, path: Path) -> FigureRecord:
    models = models_of(data) or ["(no model)"]
    fig, axes = _panels(len(models), 3, 5.2, 4.0)
    for ax, model in zip(axes, models, strict=True):
        _lines(ax, data, cells, model, metric)
    fig.suptitle("one line per intervention level; CI over its intervened models", fontsize=9)
    return save_figure(fig, path, f"{metric} vs rate", axes)


def utility_figure(
    data: SweepData, cells: pd.DataFrame, bias: str | None, path: Path
) -> FigureRecord:
    """Utility (accuracy, F1) next to a bias metric, per model, on the same rate axis."""
    models = models_of(data) or ["(no model)"]
    cols = [m for m in (bias, *utility_metrics()) if m]
    fig, axes = _panels(len(models) * len(cols), len(cols), 4.6, 3.8)
    for i, model in enumerate(models):
        for j, metric in enumerate(cols):
            _lines(axes[i * len(cols) + j], data, cells, model, metric)
    fig.suptitle(f"Utility next to bias: {', '.join(cols)} vs rate", fontsize=10)
    return save_figure(fig, path, "utility next to bias", axes)


def scatter_figure(
    data: SweepData, steed: pd.DataFrame, metrics: list[str], path: Path
) -> FigureRecord:
    """Extrinsic metric vs measured intrinsic bias after the intervention: one row of panels per
    (model, intrinsic kind), one column per metric; each panel states Steed's standardized
    coefficient of intrinsic bias (with the rate in the model) and its partial R^2."""
    trials = data.trials
    measured = trials[trials[INTRINSIC_AFTER].notna()] if len(trials) else trials
    kinds = intrinsic_kinds(measured)
    rows = list(dict.fromkeys(zip(measured["model"], kinds, strict=True))) or [
        (m, KIND_UNKNOWN) for m in models_of(data) or ["(no model)"]
    ]
    metrics = [m for m in metrics if m not in intrinsic_columns()] or ["(no extrinsic metric)"]
    fig, axes = _panels(len(rows) * len(metrics), min(4, len(metrics)), 3.6, 3.2)
    rng = np.random.default_rng(0)
    rates = trials["rate"].dropna()
    vmin, vmax = (float(rates.min()), float(rates.max())) if len(rates) else (0.0, 1.0)
    mappable = None
    for i, (model, kind) in enumerate(rows):
        for j, metric in enumerate(metrics):
            ax = axes[i * len(metrics) + j]
            ax.set_title(f"{model}: {metric}", fontsize=9)
            ax.set_xlabel(_label(INTRINSIC_AFTER, kind), fontsize=8)
            ax.set_ylabel(_label(metric), fontsize=8)
            d = measured[(measured["model"] == model) & (kinds == kind)]
            cols = [INTRINSIC_AFTER, metric, "rate"]
            d = d[cols].dropna() if metric in d.columns else d.iloc[:0]
            if d.empty:
                _empty(ax, f"no finished trials with intrinsic bias for {model}, {metric}")
                continue
            if len(d) > MAX_SCATTER:
                d = d.iloc[rng.choice(len(d), MAX_SCATTER, replace=False)]
            mappable = ax.scatter(
                d[INTRINSIC_AFTER], d[metric], c=d["rate"], s=6, alpha=0.6,
                cmap="viridis", vmin=vmin, vmax=vmax, rasterized=True,
            )  # fmt: skip
            fit = steed[
                (steed["model"] == model) & (steed["metric"] == metric)
                & (steed["intrinsic_kind"] == kind) & (steed["term"] == INTRINSIC_AFTER)
            ] if len(steed) else steed  # fmt: skip
            if len(fit) and np.isfinite(fit["std_coef"].iloc[0]):
                r = fit.iloc[0]
                ax.text(
                    0.02, 0.97,
                    f"Steed: std. coef. {num(r['std_coef'])} [{num(r['ci_low'])}, "
                    f"{num(r['ci_high'])}], partial R² {num(r['partial_r2'])}",
                    transform=ax.transAxes, va="top", fontsize=6,
                )  # fmt: skip
    if mappable is not None:
        fig.colorbar(mappable, ax=axes, label=RATE_LABEL, shrink=0.8)
    fig.suptitle("Extrinsic vs intrinsic bias after the intervention (colour: rate)", fontsize=10)
    return save_figure(fig, path, "intrinsic vs extrinsic", axes)


def slopes_figure(slopes: pd.DataFrame, path: Path) -> FigureRecord:
    """The rate's slope against the intervention strength: one panel per (model, metric), one
    line per method (its levels' mean slopes with 95% CIs over intervened models); strengthless
    methods (none, random-init) are points at strength 0. Each panel's title states each
    method's relative change at its largest strength."""
    levels = slopes[slopes["quantity"] == "slope at level"] if len(slopes) else slopes
    panels = list(dict.fromkeys(zip(levels["model"], levels["metric"], strict=True))) if len(
        levels
    ) else [("(no model)", "(no metric)")]  # fmt: skip
    fig, axes = _panels(len(panels), 3, 4.4, 3.4)
    cmap = matplotlib.colormaps["tab10"]
    for ax, (model, metric) in zip(axes, panels, strict=True):
        ax.set_title(f"{model}: {metric}", fontsize=9)
        ax.set_xlabel("intervention strength", fontsize=8)
        d = (
            levels[(levels["model"] == model) & (levels["metric"] == metric)]
            if len(levels)
            else levels
        )
        form = d["rate_form"].iloc[0] if len(d) else "r"
        ax.set_ylabel(f"rate's slope (per unit of {form})", fontsize=8)
        if d.empty:
            _empty(ax, "no slopes (no finished trials, or no rate form)")
            continue
        notes = []
        for k, (method, m) in enumerate(d.groupby("method", sort=True)):
            m = m.sort_values("strength")
            colour = cmap(k % 10)
            lo, hi = m["ci_low"].to_numpy(float), m["ci_high"].to_numpy(float)
            err = np.abs(np.vstack([m["estimate"] - lo, hi - m["estimate"]]))
            ax.errorbar(m["strength"], m["estimate"], yerr=np.nan_to_num(err), marker="o", ms=4,
                        capsize=3, color=colour, label=method)  # fmt: skip
            change = slopes[(slopes["model"] == model) & (slopes["metric"] == metric)
                            & (slopes["method"] == method) & slopes["relative"].notna()
                            & (slopes["quantity"] != "slope at level")]  # fmt: skip
            if len(change):
                c = change.iloc[0]
                interval = (
                    f" [{100 * c['relative_ci_low']:+.0f}%, {100 * c['relative_ci_high']:+.0f}%]"
                    if np.isfinite(c["relative_ci_low"]) else " [unbounded]"
                )  # fmt: skip
                notes.append(f"{method}: {100 * c['relative']:+.0f}%{interval}")
        ax.axhline(0, color="black", lw=0.6)
        ax.legend(fontsize=7, loc="best")
        if notes:  # each method's relative change, under the panel's title
            ax.set_title(f"{model}: {metric}\n{'; '.join(notes)}", fontsize=9)
    fig.suptitle("The rate's slope per intervention level (95% CIs over intervened models)",
                 fontsize=10)  # fmt: skip
    return save_figure(fig, path, "the rate's slope against strength", axes)
