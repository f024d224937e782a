"""Reports: from runs to the answer, with effect sizes, their uncertainty, plots and words.

In layers, each importing only from the layers listed before it (tests/test_layout.py; one
exception: `table` checks a table for the columns `statistics.effects` requires):
  * the loader: `load` reads a sweep folder, `table` a table of runs (both as `SweepData`);
    `downstream` (data.skew_scale as the rate), `strata` (axes analysed per value) and
    `adaptation` (one unit per adaptation) shape the runs for the statistics;
  * `statistics/`: every number. `effects` (split-plot variance shares, with `splitplot` and
    `bootstrap`), `regressions`, `slopes`, `class_regression`, `rate_contrasts`,
    `adaptation_interaction`, `gate` (the manipulation check), `verdict` (the rule), `cells`,
    and `analysis`, which gathers them;
  * `text/`: every word. `headline`, `verdicts` (each effect's sentences), `document` (the
    report's blocks), `contrasts`, `summary` (summary.json's lists), `numbers` (how a number is
    written), `render` (Markdown and HTML), and `report_text`, which says each thing once;
  * `figures/`: `plots` over the grid and the `forest` plot (labelled as the text writes numbers);
  * `build`: one linear build, load -> analyse -> figures -> text -> write (`build_report`,
    `build_table_report`); `compare` loops over its load -> analyse; `command` is the CLI's side.
Run tables with a known truth, which prove the statistics, are test fixtures (`tests/simulate.py`,
`tests/simulate_classes.py`).
"""

from bias_sweep.report.build import ReportSummary, build_report, build_table_report
from bias_sweep.report.compare import compare

__all__ = ["ReportSummary", "build_report", "build_table_report", "compare"]
