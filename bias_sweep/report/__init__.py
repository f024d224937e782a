"""Reports: from a grid of runs to the answer, with effect sizes, uncertainty, plots and words.

`load` reads a sweep folder, `stats` computes, `verdict` words it, `plots` draws it, `render`
writes Markdown and HTML, and `build` runs them in that order (`build_report`, `compare`).
"""

from bias_sweep.report.build import ReportSummary, build_report, compare

__all__ = ["ReportSummary", "build_report", "compare"]
