"""Several sweeps side by side: per (model, comparison, metric), each sweep's variance shares with
their CIs and its verdict (gated by its manipulation check), one forest plot of them all, and
compare.csv (one column per sweep). Each sweep goes through the report's own build, load ->
analyse, and is summed up by its report's headline; the comparison then has its own figure, text
and files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from bias_sweep.report.build import DEFAULT_PRIMARY, ReportSummary, ask
from bias_sweep.report.figures.forest import compare_rows, forest_figure
from bias_sweep.report.load import coverage_text, load_sweep
from bias_sweep.report.statistics.analysis import analyse
from bias_sweep.report.statistics.effects import N_BOOT
from bias_sweep.report.text.document import effects_display, method_text
from bias_sweep.report.text.headline import lead_text
from bias_sweep.report.text.render import to_html, to_markdown

# What compare.csv holds per (model, metric, sweep), and what its Markdown table shows.
QUANTITIES = (
    "verdict", "share_rate", "share_rate_ci_low", "share_rate_ci_high",
    "share_intervention", "share_intervention_ci_low", "share_intervention_ci_high",
    "share_between_models", "share_between_models_ci_low", "share_between_models_ci_high",
    "share_difference", "share_difference_ci_low", "share_difference_ci_high",
    "share_interaction", "p_rate_holm", "p_intervention_holm", "p_between_models",
    "intervention_identifiable", "n_intervened_models", "n_runs", "manipulation",
)  # fmt: skip
KEYS = ["model", "comparison", "metric"]
SHOWN = ("verdict", "rate share", "intervention share", "difference (points)")


def _side_by_side(effects_by_sweep: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(compare.csv: numbers, one column per sweep; the same as formatted text)."""
    long, shown = [], []
    for name, effects in effects_by_sweep.items():
        if effects.empty:
            continue
        cols = [q for q in QUANTITIES if q in effects.columns]
        long.append(
            effects[[*KEYS, *cols]]
            .astype({c: object for c in cols})
            .melt(id_vars=KEYS, var_name="quantity")
            .assign(sweep=name)
        )
        text = effects_display(effects)[[*KEYS, *SHOWN]]
        shown.append(text.melt(id_vars=KEYS, var_name="quantity").assign(sweep=name))
    names = list(effects_by_sweep)
    out = []
    for frames in (long, shown):
        if not frames:
            out.append(pd.DataFrame(columns=[*KEYS, "quantity", *names]))
            continue
        wide = (
            pd.concat(frames)
            .pivot_table(
                index=[*KEYS, "quantity"],
                columns="sweep",
                values="value",
                aggfunc="first",
                dropna=False,
                sort=False,
            )  # fmt: skip
            .reindex(columns=names)
            .reset_index()
        )
        wide.columns.name = None
        out.append(wide)
    return out[0], out[1]


def compare(
    sweep_paths: list[Path],
    out_dir: Path,
    metrics: list[str] | None = None,
    primary_metric: str | None = None,
    n_boot: int = N_BOOT,
) -> ReportSummary:
    """The variance shares and verdicts of several sweeps side by side (one primary metric,
    so that every sweep has the same Holm families)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    effects_by_sweep: dict[str, pd.DataFrame] = {}
    heads, coverages, verdicts = [], [], []
    done = total = failed = 0
    primary = primary_metric
    for path in sweep_paths:
        data = load_sweep(Path(path))
        question = ask(data, metrics, primary or None, n_boot)
        primary = question.primary_metric  # the first sweep's, then every sweep's
        name = data.name
        while name in effects_by_sweep:  # two sweeps of one name (different storage)
            name += "'"
        analysis = analyse(data.trials, question)
        effects = effects_by_sweep[name] = analysis.effects
        if len(effects):
            heads.append(f"{name}: {lead_text(analysis)}")
        verdicts += [f"{name}: {r['model']}, {r['metric']}: {r['verdict']}"
                     for _, r in effects.iterrows()]  # fmt: skip
        coverages.append(f"{name}: {coverage_text(data)}")
        done, total, failed = done + data.done, total + data.total, failed + data.failed
    primary = primary or DEFAULT_PRIMARY
    numbers, shown = _side_by_side(effects_by_sweep)
    numbers.to_csv(out_dir / "compare.csv", index=False)
    fig = forest_figure(
        compare_rows(effects_by_sweep), primary, out_dir / "compare_forest.png",
        title=f"Variance shares per sweep ({primary} first)",
    )  # fmt: skip
    names = list(effects_by_sweep)
    blocks: list[tuple[str, Any]] = [
        ("h1", f"Bias sweep comparison: {', '.join(names)}"),
        ("ul", heads or ["no finished trials in any sweep"]),
        ("img", fig.path),
        ("h2", "Variance shares side by side (column per sweep)"),
        ("table", shown),
        ("p", "All quantities (CIs, Holm-corrected p-values, intervened models) in compare.csv."),
        ("h2", "Coverage"),
        ("ul", coverages),
        ("h2", "Method"),
        ("p", method_text(n_boot, primary)),
    ]
    (out_dir / "report.md").write_text(to_markdown(blocks))
    (out_dir / "report.html").write_text(to_html(blocks, "Bias sweep comparison"))
    files = [out_dir / "compare.csv", fig.path, out_dir / "report.md", out_dir / "report.html"]
    return ReportSummary(out_dir, (done, total), verdicts, files, failed, [fig], " ".join(heads))
