"""Launchers: run a sweep's driver somewhere else, one module per launcher, each registering a
`Launcher` (`registry`): `slurm` (a batch job over a Slurm allocation; its script: `slurm_script`)
and `ray_jobs` (a running Ray cluster's Jobs API). Each writes `<sweep>/launch.json` (`record`),
which `bias-sweep status` reads back through the launcher that wrote it; `nodes` holds the
helpers the batch script runs on its nodes (`python -m bias_sweep.launch`). Importing the package
registers every launcher; a launcher of your own is one module: see the README's "Extending".
"""

from bias_sweep.launch.nodes import kill_temp_dir, wait_nodes
from bias_sweep.launch.record import describe, find_launched
from bias_sweep.launch.registry import LAUNCHERS, Launcher, register_launcher
from bias_sweep.launch.slurm_script import (
    SlurmSpec,
    parse_time,
    render,
    render_slurm,
    template_text,
    validate_slurm,
)
from bias_sweep.registry import discover

__all__ = [
    "LAUNCHERS",
    "Launcher",
    "SlurmSpec",
    "describe",
    "find_launched",
    "kill_temp_dir",
    "parse_time",
    "register_launcher",
    "render",
    "render_slurm",
    "template_text",
    "validate_slurm",
    "wait_nodes",
]

discover(__name__, __path__)
