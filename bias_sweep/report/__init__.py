"""Reports: from runs to the answer, with effect sizes, their uncertainty, plots and words.

`load` reads a sweep folder and `table` a table of runs; the statistics engine is `stats`
(split-plot variance shares, `splitplot`, `bootstrap`), `verdict` (words) and `regressions`
(dose-response, manipulation check, Steed's regression), gathered by `analysis`; `cells` and
`plots`/`forest` draw, `document` and `render` write Markdown and HTML, and `build` runs them in
that order (`build_report`, `build_table_report`); `compare` puts sweeps side by side, `command`
is the CLI's side. Run tables with a known truth, which prove the statistics, are test fixtures
(`tests/simulate.py`, `tests/simulate_classes.py`).
"""

from bias_sweep.report.build import ReportSummary, build_report, build_table_report
from bias_sweep.report.compare import compare

__all__ = ["ReportSummary", "build_report", "build_table_report", "compare"]
