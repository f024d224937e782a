"""Weights & Biases: opening runs (falling back to offline when W&B refuses one), their
artifacts, the offline runs of a folder and their upload.

Credentials, host and mode are W&B's own: `wandb.init` resolves the key (WANDB_API_KEY,
`wandb login`'s netrc for the host of WANDB_BASE_URL or `wandb login --host`, identity-token
files) and W&B's environment variables win over the sweep file. Nothing here reads or writes a
key.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from bias_sweep.errors import first_line

# WANDB_MODE's values and their aliases (wandb accepts `dryrun` and `run` too).
_ENV_MODES = {"online": "online", "run": "online", "offline": "offline", "dryrun": "offline"}
_ENV_MODES["disabled"] = "disabled"
# Why W&B refused a run of this process, if it did: later runs go offline at once rather than
# each waiting for the same refusal (up to W&B's init_timeout, 90 s by default).
_refused: str | None = None


def resolved_mode(mode: str) -> str:
    """The mode a run opens in: W&B's own environment (WANDB_MODE, WANDB_DISABLED) wins over the
    sweep file's `tracking.mode`."""
    if os.environ.get("WANDB_DISABLED", "").lower() in ("true", "1"):
        return "disabled"
    return _ENV_MODES.get(os.environ.get("WANDB_MODE", "").lower(), mode)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """W&B tables want plain JSON-able cells: NaN as None."""
    return frame.astype(object).where(frame.notna(), None)


class Run:
    """A thin handle on one W&B run; every method is a no-op when tracking is disabled.

    When W&B refuses to open the run online (no credentials, an unreachable server, an id it
    will not take) and `on_error` is "offline", the run opens offline instead and `fallback`
    says why (also in the run's summary, `wandb_fallback`); with "fail" the error is raised.
    """

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
        on_error: str = "offline",
    ) -> None:
        """run_id: resume the run of that id (None: a new run each time). beside_active: open
        this run next to the process's active one (an intervention run inside a trial) instead
        of finishing that one first."""
        self._run = None
        self.fallback: str | None = None
        self.mode = resolved_mode(mode)
        if self.mode == "disabled":
            return
        import wandb  # ~1 s: only where a run is opened, never for `plan` or `status`

        self._wandb = wandb
        directory.mkdir(parents=True, exist_ok=True)
        init = {
            "id": run_id,
            "name": name,
            "resume": "allow" if run_id else None,
            "project": project,
            "entity": entity,
            "group": group,
            "job_type": job_type,
            "tags": tags,
            "config": config,
            "dir": str(directory),
            "reinit": "create_new" if beside_active else "finish_previous",
            "settings": wandb.Settings(silent=True, console="off", disable_git=True),
        }
        global _refused
        if self.mode == "online" and _refused is not None and on_error == "offline":
            self._open_offline(init, f"{_refused} (an earlier run in this process)")
            return
        try:
            self._run = wandb.init(mode=self.mode, **init)
        except Exception as exc:  # noqa: BLE001 - W&B's errors have no common base class
            if on_error == "fail" or self.mode != "online":
                raise
            _refused = first_line(exc)
            if not beside_active:  # W&B's service keeps the refused id: a fresh one frees it
                wandb.teardown()
            self._open_offline(init, _refused)

    def _open_offline(self, init: dict[str, Any], reason: str) -> None:
        print(f"W&B refused run {init['name']} ({reason}): logging it offline", file=sys.stderr)
        self.mode, self.fallback = "offline", reason
        self._run = self._wandb.init(mode="offline", **init)
        self._run.summary["wandb_fallback"] = reason

    @property
    def offline(self) -> bool:
        return self.mode == "offline"

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

    def step_metric(self, step: str, pattern: str) -> None:
        """Plot the keys matching `pattern` over `step` (e.g. train/* over the epoch)."""
        if self._run is not None:
            self._run.define_metric(step)
            self._run.define_metric(pattern, step_metric=step)

    def log_artifact(self, artifact: Any) -> None:
        """This run made `artifact` (`folder_artifact`)."""
        if self._run is not None:
            self._run.log_artifact(artifact)

    def use_artifact(self, artifact: Any) -> None:
        """This run used `artifact` (`folder_artifact`, built as its maker built it: equal
        contents make the same artifact version, which W&B's lineage then joins)."""
        if self._run is None:
            return
        if not self.offline:
            self._run.use_artifact(artifact)
            return
        # Offline, `use_artifact` refuses up front; what it does online with an unlogged
        # artifact is this call, which offline writes the use into the run's log and
        # `wandb sync` replays (the record's use_after_commit).
        self._run._log_artifact(artifact, is_user_created=True, use_after_commit=True)

    def save_file(self, path: Path) -> None:
        """Upload a file with the run (offline: at `wandb sync`)."""
        if self._run is not None:
            self._run.save(str(path), base_path=str(Path(path).parent), policy="now")

    def finish(self, exit_code: int = 0) -> None:
        if self._run is not None:
            self._run.finish(exit_code=exit_code)
            self._run = None


def folder_artifact(
    name: str, kind: str, folder: Path, *, upload: bool, metadata: dict[str, Any]
) -> Any:
    """An artifact of a folder: its files uploaded, or (upload=False) a reference to its path
    with each file's checksum, so that the same contents make the same version."""
    import wandb

    artifact = wandb.Artifact(name, type=kind, metadata=metadata)
    if upload:  # immutable: never changed after it was built, so no staged copy per run
        artifact.add_dir(str(folder), policy="immutable")
    else:
        artifact.add_reference(Path(folder).resolve().as_uri(), checksum=True)
    return artifact


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


def sync_offline(runs: list[Path]) -> int:
    """Upload offline runs, in this order, with wandb's own uploader (it resumes each run by its
    id, so syncing twice duplicates nothing, and finds the credentials itself)."""
    if not runs:
        print("no offline W&B runs to sync")
        return 0
    return subprocess.call([sys.executable, "-m", "wandb", "sync", *map(str, runs)])


def log_report(
    *,
    name: str,
    tracking: Any,
    directory: Path,
    run_id: str | None,
    config: dict[str, Any],
    tables: dict[str, pd.DataFrame],
    images: dict[str, tuple[Path, str]],
    summary: dict[str, Any],
    files: list[Path],
) -> None:
    """A report's W&B run (tables, plots, the headline, each effect's variance shares, CIs and
    verdict, and `files`); run_id: the sweep's one report run, updated by each report (None: a
    new run, for a table without a sweep). `tracking` is the sweep's `tracking` config section,
    or None for a table without a sweep (offline, project bias-sweep)."""
    run = Run(
        run_id=run_id,
        name=f"{name}-report",
        project=tracking.project if tracking is not None else "bias-sweep",
        entity=tracking.entity if tracking is not None else None,
        group=name,
        job_type="report",
        config=config,
        directory=Path(directory),
        mode=tracking.mode if tracking is not None else "offline",
        on_error=tracking.on_error if tracking is not None else "offline",
    )
    try:
        run.log_tables(tables)
        run.log_images(images)
        run.summarize(summary)
        for path in files:
            run.save_file(path)
    finally:
        run.finish()
