"""Ray Tune orchestration: the grid, shared interventions, checkpoints, retries, resume.

The science lives in `bias_sweep.trial`; this package only decides where and when it runs:

- `grid`: the axes of a sweep, its points and their configs;
- `plan`: the trials and intervened models of a grid, and what is already done;
- `trainable`: one grid point as a Tune function trainable (checkpoints, attempts, retries);
  `wandb_runs`: the W&B runs of trials and intervened models;
- `driver`: Ray, the Tuner, signals, resume; `progress`: the live line and the results table;
- `status`, `results`: reading a sweep folder back (and writing a trial's files);
  `layout`: every path in it.

Kept free of imports so that `bias_sweep.sweep.layout` and `grid` stay cheap to import.
"""
