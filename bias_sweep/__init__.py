"""bias-sweep: grids of bias interventions x co-occurrence rates x seeds on Ray Tune."""

__version__ = "0.1.0"
