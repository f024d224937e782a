"""The sweep folder: every path and file name in it, and the exit codes of the driver.

The only module that knows them. A sweep folder (`<sweep.storage>/<sweep.name>/`) holds:

    sweep.yaml               the resolved sweep config (grid included); its presence: the sweep exists
    trials/<key>/            one folder per grid point (key: `identity.trial_key`):
        result.json              written last and atomically: the trial is done when it holds a
                                 valid result (`results.read_result` checks it on every read)
        result.json.damaged-<ns> a result.json that failed that check, kept aside; the trial reruns
        predictions.parquet      the evaluation rows and scores (text, cf_text, label, group,
                                 score, pred, cf_score)
        predictions@<set>.parquet   the same for each external eval set (`eval.sets`)
        train.parquet            the rows fine-tuned on (row_id, text as trained on, label,
                                 group, swapped): an audit of the realised rates and scrubbing
        state.json               attempts, status, where it runs
        error.txt                the last failed attempt's error (first line) and traceback
        rerun.json               `bias-sweep rerun` asked for a fresh run (number n): the trial
                                 counts as not done until a result with `rerun` = n is written
        superseded/<n>/          the result files a rerun replaced (n: their own rerun number,
                                 0 for the first run), moved there when the new ones are written
    results.parquet          one row per finished trial, derived: rebuilt from trials/ when loaded
    per_class.parquet        multi-class sweeps: one row per finished trial and class, beside it
    artifacts/interventions/ the shared intervened models (`store.ArtifactStore`)
    tune/run-NNN/            one Ray Tune experiment per `run`/`resume`/`rerun`: epoch checkpoints
    wandb/                   offline W&B runs (wandb's own folder under the sweep folder)
    wandb_instance           this instance's W&B id, renewed by `run --overwrite`
    launch.json, launch/, logs/   how and where it was launched (Slurm, Ray Jobs)
    report/                  the default output folder of `bias-sweep report`
    .driver.lock, driver.json     the running driver's lock and who holds it
    ray.json                 the mark of the last embedded Ray, to find what a killed driver left
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from bias_sweep.errors import UserError
from bias_sweep.schema import SweepSection

SWEEP_FILE = "sweep.yaml"
RESULT_FILE = "result.json"
DAMAGED_RESULT = RESULT_FILE + ".damaged-"  # + a time stamp: a damaged result.json, kept aside
PREDICTIONS_FILE = "predictions.parquet"
TRAIN_FILE = "train.parquet"
STATE_FILE = "state.json"
ERROR_FILE = "error.txt"
RERUN_FILE = "rerun.json"
SUPERSEDED_DIR = "superseded"
CHECKPOINT_FILE = "state.pt"  # the training state inside each Tune checkpoint folder
TABLE_FILE = "results.parquet"
PER_CLASS_FILE = "per_class.parquet"
LAUNCH_FILE = "launch.json"
DEFAULT_STORAGE = SweepSection.storage  # relative: under the current folder

EXIT_OK = 0
EXIT_FAILED_TRIALS = 1
EXIT_USAGE = 2  # bad input: config, arguments, data
EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: stopped by a signal with its state saved; resume it


def eval_set_predictions_file(name: str) -> str:
    """The predictions file of an external eval set in a trial folder."""
    return f"predictions@{name}.parquet"


class SweepFolder:
    """Paths of one sweep folder (nothing here touches the disk)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.sweep_file = self.root / SWEEP_FILE
        self.trials = self.root / "trials"
        self.table = self.root / TABLE_FILE
        self.per_class_table = self.root / PER_CLASS_FILE
        self.interventions = self.root / "artifacts" / "interventions"
        self.tune = self.root / "tune"
        self.wandb = self.root / "wandb"  # wandb's own folder: `wandb.init(dir=root)` writes here
        self.wandb_instance = self.root / "wandb_instance"  # the id W&B run ids start with
        self.launch_file = self.root / LAUNCH_FILE
        self.launch_dir = self.root / "launch"
        self.logs = self.root / "logs"
        self.report = self.root / "report"
        self.rounds = self.root / "rounds.json"  # `run --until-decided`: one entry per round
        self.driver_lock = self.root / ".driver.lock"
        self.driver_file = self.root / "driver.json"
        self.ray_file = self.root / "ray.json"  # the mark of its embedded Ray (`stale_ray`)
        # What a run writes, and `run --overwrite` removes first.
        self.outputs = (self.tune, self.trials, self.wandb, self.root / "artifacts")

    @classmethod
    def of(cls, conf: DictConfig) -> SweepFolder:
        """`<storage>/<name>` of a sweep config, absolute (trials run in worker temp dirs)."""
        return cls(Path(conf.sweep.storage).expanduser().resolve() / conf.sweep.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SweepFolder) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __repr__(self) -> str:
        return f"SweepFolder({str(self.root)!r})"

    @property
    def exists(self) -> bool:
        return self.sweep_file.exists()

    def trial(self, key: str) -> Path:
        return self.trials / key

    def tune_run(self, number: int) -> str:
        return f"run-{number:03d}"

    def tune_runs(self) -> list[int]:
        """Numbers of the Tune experiments earlier driver runs left (run-001, run-002, ...)."""
        names = (p.name[4:] for p in self.tune.glob("run-[0-9]*"))
        return sorted(int(n) for n in names if n.isdigit())

    def trial_checkpoints(self, key: str, after_run: int = 0) -> list[Path]:
        """Every checkpoint folder that any driver run of the sweep (numbered above `after_run`)
        left for one trial."""
        found = self.tune.glob(f"*/{key}-*/checkpoint_*")
        return sorted(p for p in found if _run_number(p.parent.parent.name) > after_run)


def _run_number(name: str) -> int:
    """The number of a Tune experiment's folder (run-007: 7; anything else: 0)."""
    return int(name[4:]) if name.startswith("run-") and name[4:].isdigit() else 0


def find_sweep(name_or_dir: str, storage: str | None = None) -> SweepFolder:
    """A sweep's folder from its name (under storage, default ./bias-sweep-runs) or its path."""
    candidate = SweepFolder(Path(name_or_dir).expanduser())
    if candidate.exists:
        return SweepFolder(candidate.root.resolve())
    root = Path(storage or DEFAULT_STORAGE).expanduser().resolve()
    folder = SweepFolder(root / name_or_dir)
    if not folder.exists:
        raise UserError(f"no sweep named '{name_or_dir}' under {root} (give --storage or a path)")
    return folder
