"""The report's first figure: a forest plot of the variance shares of the rate and of the
intervention, with their 95% CIs, one row per (model, metric); the primary metric on top. Where
scrubbing (an extra downstream treatment) varies, its share is drawn between them, and its
verdict under the rate's.

Where the intervention cannot be told from model-to-model variation (one intervened model per
level), its row shows the share of the between-model variation as a hollow marker: an upper
bound of the intervention's share, not an estimate of it. `compare` draws the same figure with one
row per sweep.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from bias_sweep.report.figures.plots import FigureRecord, save_figure
from bias_sweep.report.statistics.verdict import extra_treatments, is_number
from bias_sweep.report.treatments import EXTRA_TREATMENTS

RATE_COLOUR, IV_COLOUR = "#1f77b4", "#d62728"
# Extra downstream treatments (scrubbing) drawn between the two, each in its own colour.
TREATMENT_COLOURS = ("#2ca02c", "#9467bd", "#8c564b")
MARKERS = {RATE_COLOUR: "o", IV_COLOUR: "s"}
XLABEL = "share of the variance of one run (95% CI)"


def forest_order(effects: pd.DataFrame, primary_metric: str) -> pd.DataFrame:
    """The primary metric's rows first, then the other metrics in their order; the models (or
    sweeps) of one metric next to each other."""
    if effects.empty:
        return effects
    order = {m: i for i, m in enumerate(dict.fromkeys([primary_metric, *effects["metric"]]))}
    rank = effects["metric"].map(order)
    return effects.iloc[rank.reset_index(drop=True).sort_values(kind="stable").index].reset_index(
        drop=True
    )


def _row_label(row: pd.Series, several_models: bool, several_comparisons: bool) -> str:
    if "label" in row and isinstance(row["label"], str):
        return row["label"]
    label = f"{row['model']} · {row['metric']}" if several_models else str(row["metric"])
    return f"{label} ({row['comparison']})" if several_comparisons else label


def several_comparisons(effects: pd.DataFrame) -> bool:
    """Whether some model has more than one comparison (rows then name theirs)."""
    if "comparison" not in effects.columns or effects.empty:
        return False
    return bool((effects.groupby("model")["comparison"].nunique() > 1).any())


def _point(ax, y: float, x: float, lo: float, hi: float, colour: str, hollow: bool) -> None:
    if is_number(lo) and is_number(hi):
        ax.plot([lo, hi], [y, y], color=colour, lw=1.6, solid_capstyle="butt")
    ax.plot(
        [x], [y], marker=MARKERS.get(colour, "D"), ms=6, color=colour,
        markerfacecolor="white" if hollow else colour, markeredgewidth=1.5,
    )  # fmt: skip


def forest_figure(
    effects: pd.DataFrame, primary_metric: str, path: Path, title: str | None = None
) -> FigureRecord:
    """One row per effects row (a `label` column names rows, else model · metric)."""
    rows = forest_order(effects, primary_metric)
    n = max(1, len(rows))
    fig = Figure(figsize=(8.5, 1.3 + 0.42 * n), layout="constrained")
    ax = fig.subplots()
    ax.set_xlabel(XLABEL)
    ax.set_ylabel("model · metric" if rows["model"].nunique() > 1 else "metric")
    ax.set_title(title or f"Rate vs intervention: variance shares ({primary_metric} first)")
    ax.set_xlim(-0.02, 1.18)
    ax.set_ylim(n - 0.4, -0.9)
    if rows.empty:
        ax.text(0.5, 0, "no runs to analyse", ha="center", va="center")
        ax.set_yticks([])
        return save_figure(fig, path, "forest plot of variance shares", [ax])
    several = rows["model"].nunique() > 1
    first = rows["metric"].eq(primary_metric).to_numpy()
    bound_drawn = False
    extra = [t for t in extra_treatments(rows) if rows[f"share_{t}"].notna().any()]
    for y, (_, row) in enumerate(rows.iterrows()):
        identifiable = bool(row.get("intervention_identifiable", False))
        iv = "share_intervention" if identifiable else "share_between_models"
        drawn = False
        for name, colour, dy, hollow in (
            ("share_rate", RATE_COLOUR, -0.13 - 0.07 * bool(extra), False),
            *((f"share_{t}", TREATMENT_COLOURS[i], 0.0, False) for i, t in enumerate(extra)),
            (iv, IV_COLOUR, 0.13 + 0.07 * bool(extra), not identifiable),
        ):
            x = row.get(name)
            if is_number(x):
                lo, hi = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
                _point(ax, y + dy, x, lo, hi, colour, hollow)
                drawn = True
                bound_drawn |= hollow
        word = str(row.get("verdict", "")) if drawn else "n/a"
        word += "".join(f"\n{t}: {row.get(f'verdict_{t}', '')}" for t in extra if drawn)
        ax.text(1.02, y, word, va="center", fontsize=8, fontweight="bold" if first[y] else None)
        if not drawn:
            ax.text(0.01, y, f"no estimate ({row.get('note') or 'no runs'})"[:90], va="center",
                    fontsize=7, color="grey")  # fmt: skip
    if first.any() and not first.all():
        ax.axhline(first.sum() - 0.5, color="grey", lw=0.8, ls="--")
    named = several_comparisons(rows)
    labels = [_row_label(r, several, named) for _, r in rows.iterrows()]
    ax.set_yticks(range(n), labels, fontsize=8)
    for tick, is_primary in zip(ax.get_yticklabels(), first, strict=True):
        tick.set_fontweight("bold" if is_primary else "normal")
    ax.axvline(0, color="black", lw=0.6)
    ax.grid(axis="x", alpha=0.3)
    handles = [
        ax.plot([], [], "o", color=RATE_COLOUR, label="co-occurrence rate")[0],
        *(
            ax.plot([], [], "D", color=TREATMENT_COLOURS[i], label=EXTRA_TREATMENTS[t].label)[0]
            for i, t in enumerate(extra)
        ),
        ax.plot([], [], "s", color=IV_COLOUR, label="intervention")[0],
    ]
    if bound_drawn:
        handles.append(
            ax.plot(
                [],
                [],
                "s",
                color=IV_COLOUR,
                markerfacecolor="white",
                label="intervention + model-to-model (upper bound)",
            )[0]  # fmt: skip
        )
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    ax.text(1.02, -0.75, "verdict", fontsize=7, color="grey", va="center")
    return save_figure(fig, path, "forest plot of variance shares", [ax])


def compare_rows(effects_by_sweep: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Effects of several sweeps as forest rows, grouped by (model, comparison, metric), one per
    sweep."""
    frames = [e.assign(sweep=name) for name, e in effects_by_sweep.items() if len(e)]
    if not frames:
        return pd.DataFrame(columns=["model", "metric", "sweep", "label"])
    both = pd.concat(frames, ignore_index=True)
    order = {name: i for i, name in enumerate(effects_by_sweep)}
    keys = list(zip(both["model"], both.get("comparison", ""), both["metric"], strict=True))
    pairs = list(dict.fromkeys(keys))
    both["_pair"] = [pairs.index(k) for k in keys]
    both["_sweep"] = both["sweep"].map(order)
    both = both.sort_values(["_pair", "_sweep"], kind="stable").drop(columns=["_pair", "_sweep"])
    several, named = both["model"].nunique() > 1, several_comparisons(both)
    both["label"] = [f"{r['sweep']}: {_row_label(r, several, named)}" for _, r in both.iterrows()]
    return both.reset_index(drop=True)
