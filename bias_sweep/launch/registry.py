"""The launcher registry: every way to run a sweep's driver somewhere else declares, where it is
defined, its `bias-sweep launch NAME` arguments, how it submits, and how `status` describes the
record it leaves (`<sweep>/launch.json`, whose `kind` is the launcher's name).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bias_sweep.registry import Registry

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from bias_sweep.sweep.layout import SweepFolder

# Loads the sweep file and overrides of the command line: (config, the sweep file's path).
SweepLoader = Callable[[], "tuple[DictConfig, Path]"]


@dataclass(frozen=True)
class Launcher:
    name: str  # `bias-sweep launch NAME`; the `kind` of its launch.json records
    help: str  # one line in `bias-sweep launch --help`
    description: str  # the top of `bias-sweep launch NAME --help`
    # Its own options; the sweep file, its overrides and --resume-existing are every launcher's.
    add_arguments: Callable[[argparse.ArgumentParser], None]
    # submit(parsed arguments, load the sweep) -> exit code: refuse, or submit and say where.
    submit: Callable[[argparse.Namespace, SweepLoader], int]
    # status lines of one of its launch.json records (the sweep folder for its own files).
    describe: Callable[[dict[str, Any], SweepFolder], list[str]]


LAUNCHERS: Registry[Launcher] = Registry("launch")


def register_launcher(spec: Launcher) -> Launcher:
    return LAUNCHERS.register(spec)
