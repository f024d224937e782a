"""Weights & Biases: one run per trial (and per intervention), resumable, never duplicated.

A run's id is the trial's stable key and it is opened with `resume="allow"`, so a retried or
resumed trial continues its own run. Credentials come from the environment (WANDB_API_KEY) or
`wandb login`'s netrc entry only; nothing here writes them anywhere.
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

OFFLINE_NOTICE = (
    "W&B: no credentials (WANDB_API_KEY or `wandb login`), logging offline; "
    "upload later with `bias-sweep sync {name}`"
)


def has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc().authenticators(host or "api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def effective_mode(mode: str) -> str:
    """online | offline | disabled, falling back to offline when online has no credentials."""
    if mode == "online" and not has_credentials():
        return "offline"
    return mode


class Run:
    """A thin handle on one W&B run; every method is a no-op when tracking is disabled."""

    def __init__(
        self,
        *,
        run_id: str,
        name: str,
        project: str,
        entity: str | None,
        group: str,
        job_type: str,
        tags: list[str],
        config: dict[str, Any],
        directory: Path,
        mode: str,
        beside_active: bool = False,
    ) -> None:
        """beside_active: open this run next to the process's active one (an intervention run
        inside a trial) instead of finishing that one first."""
        self._run = None
        mode = effective_mode(mode)
        self.offline = mode == "offline"
        if mode == "disabled":
            return
        import wandb

        directory.mkdir(parents=True, exist_ok=True)
        self._run = wandb.init(
            id=run_id,
            name=name,
            resume="allow",
            project=project,
            entity=entity,
            group=group,
            job_type=job_type,
            tags=tags,
            config=config,
            dir=str(directory),
            mode=mode,
            reinit="create_new" if beside_active else "finish_previous",
            settings=wandb.Settings(silent=True, console="off", disable_git=True),
        )

    @property
    def active(self) -> bool:
        return self._run is not None

    def log(self, metrics: dict[str, Any], step: int) -> None:
        if self._run is not None:
            self._run.log(metrics, step=step)

    def summarize(self, values: dict[str, Any]) -> None:
        if self._run is not None:
            self._run.summary.update(values)

    def log_table(self, key: str, frame: pd.DataFrame, step: int | None = None) -> None:
        if self._run is not None:
            import wandb

            self._run.log({key: wandb.Table(dataframe=frame)}, step=step)

    def finish(self, exit_code: int = 0) -> None:
        if self._run is not None:
            self._run.finish(exit_code=exit_code)
            self._run = None


def offline_runs(sweep_path: Path) -> list[Path]:
    """Every offline run folder of a sweep (offline-run-<time>-<id>), oldest first per id."""
    return sorted((Path(sweep_path) / "wandb").glob("offline-run-*"))


def newest_offline_runs(sweep_path: Path) -> list[Path]:
    """The newest folder of each offline run id: a resumed run's newest folder repeats the
    earlier epochs, so it alone is the whole run (what `bias-sweep sync` uploads)."""
    newest: dict[str, Path] = {}
    for folder in offline_runs(sweep_path):  # time-stamped names: later ones sort later
        newest[folder.name.split("-", 3)[-1]] = folder
    return sorted(newest.values())
