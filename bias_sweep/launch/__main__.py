"""`python -m bias_sweep.launch wait-nodes|kill-temp-dir ...`, for launch/slurm/sweep.sbatch."""

import sys

from bias_sweep.cli import node_helpers

sys.exit(node_helpers())
