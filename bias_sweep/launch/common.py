"""What both launchers share: the sweep to launch, its driver's command line, and the refusal of
an existing sweep."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from bias_sweep.errors import UserError
from bias_sweep.sweep.layout import SweepFolder

REPO_ROOT = Path(__file__).resolve().parents[2]  # a checkout's root (pyproject.toml there)


def shared_storage(conf: DictConfig) -> SweepFolder:
    """The sweep folder of a launched sweep, which must be on a filesystem the nodes share."""
    if "://" in conf.sweep.storage:
        raise UserError(
            f"sweep.storage: '{conf.sweep.storage}' is a URI; a launched sweep needs a folder on"
            " storage shared by the submitting machine and the cluster's nodes (NFS, EFS, Lustre)"
        )
    return SweepFolder.of(conf)


def driver_args(sweep_file: Path, overrides: list[str], storage: Path) -> list[str]:
    """`bias-sweep run` arguments with the storage made absolute (drivers run in other folders)."""
    from bias_sweep.config import override_key  # the registries: only when launching

    kept = [o for o in overrides if override_key(o) != "sweep.storage"]
    return [str(sweep_file), *kept, f"sweep.storage={storage}"]


def refuse_existing(
    folder: SweepFolder,
    name: str,
    resume_existing: bool,
    conf: DictConfig | None = None,
    recompute: bool = False,
) -> None:
    """An existing sweep is launched only with --resume-existing; and its edited grid (`conf`)
    only if its driver would run it (`sweep.grow`): refused here, not after a wait in a queue."""
    if folder.exists and not resume_existing:
        raise UserError(
            f"sweep '{name}' already exists at {folder.root}; pass --resume-existing to continue it"
            " there, or choose another sweep.name"
        )
    if folder.exists and conf is not None:
        from bias_sweep.config import read_saved  # the registries: only when launching
        from bias_sweep.sweep.grow import compare_grids

        try:
            saved = read_saved(folder.sweep_file)
        except UserError:
            return  # a sweep.yaml that cannot be read: the driver says so where it runs
        problem = compare_grids(saved, conf, folder).check(name, recompute)
        if problem is not None:
            raise UserError(problem)
