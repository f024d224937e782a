"""The report's numbers from a run table: the split plot and its bootstrap (`effects`), the
regressions (dose-response, manipulation check, Steed's, the rate's slopes, class level, rate
contrasts), the manipulation gate, the verdict rule, and `analysis`, which gathers them. No
files, no figures, no words."""
