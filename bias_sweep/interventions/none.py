"""`none`: the base model unchanged (the reference every other method is compared with).

It has no strength and no seed: one intervened model, whatever the grid. Files are hard-linked
where possible (they are never modified in place).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from bias_sweep.interventions.registry import InterventionJob, Method, register_method


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(src, dst)


def copy_model(base_dir: Path, out_dir: Path) -> None:
    shutil.copytree(base_dir, out_dir, copy_function=_link_or_copy, dirs_exist_ok=True)


def apply(job: InterventionJob) -> dict[str, Any]:
    copy_model(job.base_dir, job.out_dir)
    return {}


register_method(Method("none", apply, strength=False, seeded=False, pretrained=True))
