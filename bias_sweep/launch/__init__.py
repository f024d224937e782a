"""Run a sweep's driver on a Slurm allocation (`slurm`) or on an existing Ray cluster through its
Jobs API (`ray_jobs`). Both write `<sweep>/launch.json` (`record`), which `bias-sweep status`
reads back; `nodes` holds the helpers the batch script runs on its nodes.
"""

from bias_sweep.launch.nodes import kill_temp_dir, wait_nodes
from bias_sweep.launch.record import describe, find_launched
from bias_sweep.launch.slurm import (
    SlurmSpec,
    parse_time,
    render,
    render_slurm,
    template_text,
    validate_slurm,
)

__all__ = [
    "SlurmSpec",
    "describe",
    "find_launched",
    "kill_temp_dir",
    "parse_time",
    "render",
    "render_slurm",
    "template_text",
    "validate_slurm",
    "wait_nodes",
]
