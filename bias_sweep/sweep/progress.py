"""What the driver shows and keeps current while a sweep runs: the progress line, the results
table, and finished trials' checkpoints (deleted unless `sweep.keep_checkpoints`)."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.experiment import Trial

from bias_sweep.sweep.layout import RESULT_FILE
from bias_sweep.sweep.plan import Plan
from bias_sweep.sweep.results import append_rows, error_line, read_result, tidy_row

TABLE_EVERY_S = 5  # results.parquet is rewritten at most this often (rebuilt in full at the end)
QUIET_PRINT_S = 30  # off a TTY, an unchanged line is repeated this often (a heartbeat in logs)


def hms(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class Progress:
    """A live line per sweep: done/total, running, failed, elapsed, ETA; plain text off a TTY."""

    def __init__(self, plan: Plan, stream: Any = sys.stdout) -> None:
        self.plan = plan
        self.stream = stream
        self.tty = stream.isatty()
        self.done = set(plan.done)
        self.started = time.time()
        self.done_at_start = len(self.done)
        self.rows: dict[str, dict[str, Any]] = {}
        self.last_counts: tuple[int, int] | None = None
        self.last_width = 0
        self.last_print = 0.0
        self.last_table = 0.0

    def complete(self, key: str) -> None:
        self.done.add(key)
        result = read_result(self.plan.folder.trial(key))
        if result is not None:
            self.rows[key] = tidy_row(result)

    def line(self, running: int, failed: int) -> str:
        total = len(self.plan.keys)
        elapsed = time.time() - self.started
        new = len(self.done) - self.done_at_start
        left = total - len(self.done) - failed
        eta = hms(elapsed / new * left) if new and left > 0 else "-"
        return (
            f"[{self.plan.conf.sweep.name}] {len(self.done)}/{total} done, {running} running,"
            f" {failed} failed, elapsed {hms(elapsed)}, ETA {eta}"
        )

    def show(self, running: int, failed: int, force: bool = False) -> None:
        now = time.time()
        # Only a change in done/failed is news; the running count flickers between trials.
        counts = (len(self.done), failed)
        if not (force or counts != self.last_counts or now - self.last_print > QUIET_PRINT_S):
            return
        text = self.line(running, failed)
        if self.tty:
            self.stream.write("\r" + text.ljust(self.last_width))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.last_counts, self.last_width, self.last_print = counts, len(text), now

    def note(self, text: str) -> None:
        """A line of its own (a failed attempt): the live line is cleared first, then redrawn."""
        if self.tty and self.last_width:
            self.stream.write("\r" + " " * self.last_width + "\r")
        self.stream.write(text + "\n")
        self.stream.flush()
        self.last_counts = None  # the live line comes back at the next show()

    def failed_attempt(self, key: str, final: bool) -> None:
        """One line per failed attempt: trial key, attempt, the error's last line."""
        first = error_line(self.plan.folder.trial(key))
        if first is None:  # died before it could write one (e.g. the worker crashed)
            first = "no error.txt (the worker process died?)"
        what = "failed, no retries left" if final else "failed, retrying from its checkpoint"
        self.note(f"[{self.plan.conf.sweep.name}] trial {key} {what}: {first}")

    def write_table(self) -> None:
        """Keep results.parquet current as trials finish (throttled)."""
        if not self.rows or time.time() - self.last_table < TABLE_EVERY_S:
            return
        self.last_table = time.time()
        append_rows(self.plan.folder, list(self.rows.values()))
        self.rows.clear()


def drop_checkpoints(plan: Plan, key: str, trial_dir: str, this_run_only: bool) -> None:
    """A finished trial's checkpoints: its result is final, so they are only disk now."""
    if not (plan.folder.trial(key) / RESULT_FILE).exists():
        return
    # An earlier driver run may have left some too (a resumed trial); looking for those scans
    # every run's folder, so only on a resume.
    found = (
        Path(trial_dir).glob("checkpoint_*")
        if this_run_only
        else plan.folder.trial_checkpoints(key)
    )
    for folder in list(found):
        shutil.rmtree(folder, ignore_errors=True)


class ProgressCallback(tune.Callback):
    """Counts kept from Tune's events: a step costs nothing, whatever the grid's size."""

    def __init__(self, progress: Progress, first_run: bool) -> None:
        self.progress = progress
        self.first_run = first_run
        self.running: set[str] = set()
        self.failed: set[str] = set()

    def show(self, force: bool = False) -> None:
        self.progress.show(len(self.running), len(self.failed), force=force)

    def on_trial_start(self, iteration: int, trials: list, trial: Trial, **info: Any) -> None:
        self.running.add(trial.trial_id)

    def on_trial_recover(self, iteration: int, trials: list, trial: Trial, **info: Any) -> None:
        self.running.discard(trial.trial_id)  # pending again, for its retry
        self.progress.failed_attempt(trial.config["trial"], final=False)

    def on_checkpoint(
        self, iteration: int, trials: list, trial: Trial, checkpoint: Any, **info: Any
    ) -> None:
        """A retry restores the newest checkpoint only: the older ones are disk (Tune keeps them
        all, see the driver's CheckpointConfig)."""
        newest = Path(checkpoint.path).name
        for older in Path(trial.path).glob("checkpoint_*"):
            if older.name != newest:
                shutil.rmtree(older, ignore_errors=True)

    def on_trial_complete(self, iteration: int, trials: list, trial: Trial, **info: Any) -> None:
        self.running.discard(trial.trial_id)
        key = trial.config["trial"]
        self.progress.complete(key)
        plan = self.progress.plan
        if not plan.conf.sweep.keep_checkpoints:
            drop_checkpoints(plan, key, trial.path, this_run_only=self.first_run)
        self.progress.write_table()
        self.show()

    def on_trial_error(self, iteration: int, trials: list, trial: Trial, **info: Any) -> None:
        self.running.discard(trial.trial_id)
        self.failed.add(trial.trial_id)
        self.progress.failed_attempt(trial.config["trial"], final=True)
        self.show(force=True)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self.show()
