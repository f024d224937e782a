"""Weights & Biases: one run per trial (and per intervention), resumable, never duplicated, and
one summary run per report.

A trial's run id is its stable key and it is opened with `resume="allow"`, so a retried or
resumed trial continues its own run. The mode is the config's `tracking.mode`, except that online
without credentials logs offline. Credentials come from the environment (WANDB_API_KEY) or
`wandb login`'s netrc entry only; nothing here writes them anywhere.
"""

from __future__ import annotations

import netrc
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from bias_sweep.errors import UserError

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


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """W&B tables want plain JSON-able cells: NaN as None."""
    return frame.astype(object).where(frame.notna(), None)


class Run:
    """A thin handle on one W&B run; every method is a no-op when tracking is disabled."""

    def __init__(
        self,
        *,
        name: str,
        project: str,
        entity: str | None,
        group: str,
        job_type: str,
        config: dict[str, Any],
        directory: Path,
        mode: str,
        run_id: str | None = None,
        tags: list[str] | None = None,
        beside_active: bool = False,
    ) -> None:
        """run_id: resume the run of that id (None: a new run each time). beside_active: open
        this run next to the process's active one (an intervention run inside a trial) instead
        of finishing that one first."""
        self._run = None
        mode = effective_mode(mode)
        self.offline = mode == "offline"
        if mode == "disabled":
            return
        import wandb  # ~1 s: only where a run is opened, never for `plan` or `status`

        self._wandb = wandb
        directory.mkdir(parents=True, exist_ok=True)
        self._run = wandb.init(
            id=run_id,
            name=name,
            resume="allow" if run_id else None,
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

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if self._run is not None:
            self._run.log(metrics, step=step)

    def summarize(self, values: dict[str, Any]) -> None:
        if self._run is not None:
            self._run.summary.update(values)

    def log_tables(self, frames: dict[str, pd.DataFrame], step: int | None = None) -> None:
        if self._run is not None:
            tables = {k: self._wandb.Table(dataframe=_plain(f)) for k, f in frames.items()}
            self._run.log(tables, step=step)

    def log_images(self, images: dict[str, tuple[Path, str]]) -> None:
        """{key: (png path, caption)}."""
        if self._run is not None:
            wandb = self._wandb
            self._run.log({k: wandb.Image(str(p), caption=c) for k, (p, c) in images.items()})

    def finish(self, exit_code: int = 0) -> None:
        if self._run is not None:
            self._run.finish(exit_code=exit_code)
            self._run = None


def offline_runs(wandb_dir: Path) -> list[Path]:
    """Every offline run folder under a wandb folder (offline-run-<time>-<id>), oldest first."""
    return sorted(Path(wandb_dir).glob("offline-run-*"))


def newest_offline_runs(wandb_dir: Path) -> list[Path]:
    """The newest folder of each offline run id: a resumed run's newest folder repeats the
    earlier epochs, so it alone is the whole run (what `bias-sweep sync` uploads)."""
    newest: dict[str, Path] = {}
    for folder in offline_runs(wandb_dir):  # time-stamped names: later ones sort later
        newest[folder.name.split("-", 3)[-1]] = folder
    return sorted(newest.values())


def sync_offline(wandb_dir: Path) -> int:
    """`bias-sweep sync`: upload the newest folder of each offline run (it holds the whole run)
    with wandb's own uploader, which resumes each run by its id: syncing twice duplicates nothing."""
    runs = newest_offline_runs(wandb_dir)
    if not runs:
        print("no offline W&B runs to sync")
        return 0
    if not has_credentials():
        raise UserError("W&B: no credentials; set WANDB_API_KEY or run `wandb login` first")
    return subprocess.call([sys.executable, "-m", "wandb", "sync", *map(str, runs)])


def log_report(
    *,
    name: str,
    tracking: Any,
    out_dir: Path,
    config: dict[str, Any],
    tables: dict[str, pd.DataFrame],
    images: dict[str, tuple[Path, str]],
    summary: dict[str, Any],
) -> None:
    """One summary run per report (tables, plots, the headline, each effect's variance shares,
    CIs and verdict); `tracking` is the sweep's `tracking` config section, or None for a table
    without a sweep (offline, project bias-sweep)."""
    run = Run(
        name=f"{name}-report",
        project=tracking.project if tracking is not None else "bias-sweep",
        entity=tracking.entity if tracking is not None else None,
        group=name,
        job_type="report",
        config=config,
        directory=Path(out_dir),
        mode=tracking.mode if tracking is not None else "offline",
    )
    try:
        run.log_tables(tables)
        run.log_images(images)
        run.summarize(summary)
    finally:
        run.finish()
