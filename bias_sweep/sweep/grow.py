"""Growing a sweep: the edited sweep file's grid against the one its sweep folder holds.

A trial's key hashes what it computes (`identity.trial_key`), never its place in the grid, so an
edit that adds axis values (a seed, a rate) leaves the keys of the finished trials as they were:
the new points run, the finished ones are kept (their result.json and W&B runs untouched), and
points the edit drops stay on disk, outside the current grid (status and the report count them
as set aside). An edit of a setting that is not an axis (train.epochs, ...) changes the keys of
the trials it touches: their results would be recomputed under new keys, which `run` refuses
unless asked to (RECOMPUTE_FLAG), since it can cost the whole sweep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from bias_sweep.config import grid_axes, read_saved
from bias_sweep.errors import UserError
from bias_sweep.identity import NON_IDENTITY_SECTIONS, to_dict, trial_key
from bias_sweep.sweep.grid import PointConfigs
from bias_sweep.sweep.layout import RESULT_FILE, SweepFolder

if TYPE_CHECKING:
    from bias_sweep.sweep.plan import Plan

RECOMPUTE_FLAG = "--recompute"
# Settings whose change is not an edit of the experiment: where the sweep folder is found now
# (a moved sweep keeps its old sweep.storage in sweep.yaml).
IGNORED = ("sweep.storage",)


@dataclass(frozen=True)
class GridChange:
    """What running the edited config would do to an existing sweep (counts of trials)."""

    added: int  # points of the new grid that the old grid lacks: they run
    kept: int  # points in both grids
    kept_done: int  # of them, finished: kept as they are
    set_aside: int  # points of the old grid no longer in it: kept on disk, out of the analysis
    recomputed: int  # finished trials that the edit re-keys into the new grid (run again)
    settings: list[str] = field(default_factory=list)  # changed non-axis settings, "k: a -> b"
    unchanged: bool = False  # the same config (its storage aside)

    def lines(self) -> list[str]:
        """The diff in words, as `plan` and `run` show it."""
        lines = [
            f"  grid change: {self.added} added (to run), {self.kept} kept"
            f" ({self.kept_done} done, left as they are), {self.set_aside} set aside (no longer"
            " in the grid: kept on disk, left out of status and the report)"
        ]
        if self.settings:
            lines.append(f"  changed settings (not axes): {'; '.join(self.settings)}")
        if self.recomputed:
            lines.append(f"  {self.refusal_text()}")
        return lines

    def refusal_text(self) -> str:
        changed = f" ({'; '.join(self.settings)})" if self.settings else ""
        return (
            f"its settings changed{changed}, which changes the identity of its trials: {self.recomputed} finished"
            f" trials would be recomputed under new keys (the old results set aside); pass"
            f" {RECOMPUTE_FLAG} to accept that, or give the edited sweep a new sweep.name"
        )

    def check(self, name: str, recompute: bool) -> str | None:
        """The one-line refusal of `run` (None: it may run)."""
        if self.recomputed and not recompute:
            return f"sweep '{name}': {self.refusal_text()}"
        return None


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: d}


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def changed_settings(old: DictConfig, new: DictConfig) -> list[str]:
    """The settings that identify trials, are not axes of either grid, and differ: `key: a -> b`."""
    axes = set(grid_axes(old)) | set(grid_axes(new))
    a, b = _flat(to_dict(old)), _flat(to_dict(new))
    out = []
    for key in sorted(set(a) | set(b)):
        if key.split(".")[0] in NON_IDENTITY_SECTIONS or key in axes:
            continue
        if a.get(key, "(unset)") != b.get(key, "(unset)"):
            out.append(f"{key}: {_short(a.get(key, '(unset)'))} -> {_short(b.get(key, '(unset)'))}")
    return out


def compare_grids(old: DictConfig, new: DictConfig, folder: SweepFolder) -> GridChange:
    """The edited config `new` against the saved `old` of the sweep in `folder`."""
    from bias_sweep.sweep.plan import make_plan  # plan imports this module

    before, after = make_plan(old, folder), make_plan(new, folder)
    old_keys, new_keys = set(before.keys), set(after.keys)
    # An old point under the new config: a different key means the edit changed what that
    # trial computes (an axis value never does: the point carries its own).
    resolve = PointConfigs(new)
    recomputed = 0
    for point, key in zip(before.points, before.keys, strict=True):
        if key in before.done:
            moved = trial_key(resolve(point))
            recomputed += moved != key and moved in new_keys and moved not in after.done
    a, b = _flat(to_dict(old)), _flat(to_dict(new))
    unchanged = all(a.get(k) == b.get(k) for k in set(a) | set(b) if k not in IGNORED)
    return GridChange(
        added=len(new_keys - old_keys),
        kept=len(new_keys & old_keys),
        kept_done=len(after.done & old_keys),
        set_aside=len(old_keys - new_keys),
        recomputed=recomputed,
        settings=changed_settings(old, new),
        unchanged=unchanged,
    )


def grown_plan(
    conf: DictConfig, folder: SweepFolder, resume_existing: bool, recompute: bool
) -> Plan | None:
    """`run` on the existing sweep in `folder`: the plan of its edited grid, checked, nothing
    written; None for the same config with `resume_existing` (a plain resume). UserError (one
    line) for the same config without it, and for an identity change without `recompute`."""
    from bias_sweep.sweep.plan import prepare  # plan imports this module

    change = compare_grids(read_saved(folder.sweep_file), conf, folder)
    if change.unchanged:
        if resume_existing:
            return None
        raise UserError(
            f"sweep '{conf.sweep.name}' already exists at {folder.root} with this same config;"
            f" continue it with `bias-sweep resume {conf.sweep.name}`, grow it by editing its"
            " grid, or start over with --overwrite"
        )
    problem = change.check(conf.sweep.name, recompute)
    if problem is not None:
        raise UserError(problem)
    return prepare(conf, change)


def outside_grid(folder: SweepFolder, keys: list[str]) -> int:
    """Finished trials on disk whose key is not in the grid `keys` (set aside by an edit)."""
    if not folder.trials.is_dir():
        return 0
    grid = set(keys)
    return sum(
        1 for p in folder.trials.iterdir() if p.name not in grid and (p / RESULT_FILE).exists()
    )
