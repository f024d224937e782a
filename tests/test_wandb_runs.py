"""W&B runs of a sweep, read back from their offline logs: ids unique to a sweep instance, the
intervened model's lineage, names and keys for W&B's UI, and a W&B that refuses every run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from conftest import QUICKSTART, SMALL, cli
from wandb_records import run_log

from bias_sweep import tracking
from bias_sweep.config import load_config
from bias_sweep.errors import UserError
from bias_sweep.identity import intervention_key, to_dict
from bias_sweep.metrics.table import group_rates
from bias_sweep.sweep.grid import point_config
from bias_sweep.sweep.plan import make_plan
from bias_sweep.sweep.wandb_runs import run_name, trial_run, wandb_config
from bias_sweep.tracking import Run, folder_artifact, newest_offline_runs, resolved_mode

TWO_TRIALS = [
    *SMALL,
    "train.epochs=1",
    "intervention.method=cda",
    "sweep.grid={data.rate:[0.1,0.9],seed:[0],intervention.strength:[0.5],intervention.seed:[1]}",
    "tracking.mode=offline",
]
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused


def _logs(sweep: Path) -> dict[str, dict]:
    """run id -> what its newest offline folder's log holds (the whole run)."""
    return {log["id"]: log for log in map(run_log, newest_offline_runs(sweep / "wandb"))}


def _overrides(storage: Path, name: str, *extra: str) -> list[str]:
    return [f"sweep.storage={storage}", f"sweep.name={name}", *TWO_TRIALS, *extra]


def test_plan_refuses_what_wandb_would(tmp_path: Path) -> None:
    proc = cli(["plan", str(QUICKSTART), "sweep.name=" + "n" * 70], dict(os.environ), tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "sweep.name" in line and "64 characters" in line
    for key, value in (("tracking.project", "a/b"), ("tracking.entity", "my team")):
        with pytest.raises(UserError, match=key):
            load_config(None, [f"{key}={value}"])


def test_wandb_environment_wins_over_the_sweep_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert resolved_mode("online") == "offline"
    monkeypatch.setenv("WANDB_MODE", "dryrun")
    assert resolved_mode("online") == "offline"
    monkeypatch.delenv("WANDB_MODE")
    assert resolved_mode("online") == "online"
    monkeypatch.setenv("WANDB_DISABLED", "true")
    assert resolved_mode("offline") == "disabled"


def test_names_and_keys_for_wandb_ui() -> None:
    conf = load_config(QUICKSTART, [*TWO_TRIALS, "sweep.grid.train.lr=[0.001]"])
    plan = make_plan(conf)
    point = plan.points[0]
    cfg = to_dict(point_config(conf, point))
    assert run_name(cfg, point) == "cda-s0.5-iv1-r0.1-seed0-train_lr0.001"
    assert run_name(cfg, point, intervention_only=True) == "cda-s0.5-iv1"
    config = wandb_config(point_config(conf, point), point, "abcd1234")
    assert not [k for k in config if "." in k]
    assert config["train_lr"] == 0.001 and config["intervention_seed"] == 1
    assert config["intervention_key"] == intervention_key(cfg)


def test_model_artifact_is_one_version_for_its_maker_and_users(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"w" * 1000)
    before = folder_artifact("m", "model", model, upload=False, metadata={}).digest
    for upload in (False, True):
        made, used = (
            folder_artifact("m", "model", model, upload=upload, metadata={}) for _ in "ab"
        )
        assert made.digest == used.digest
        (entry,) = made.manifest.entries.values()
        assert bool(entry.ref) is not upload  # a reference to the file, or the file itself
    (model / "weights.bin").write_bytes(b"v" * 1000)  # other weights, another version
    assert folder_artifact("m", "model", model, upload=False, metadata={}).digest != before


def test_group_rates_by_group() -> None:
    preds = pd.DataFrame(
        {
            "label": [1, 1, 0, 0, 1, 0, 0],
            "pred": [1, 0, 1, 0, 1, 1, 1],
            "group": ["a", "a", "a", "a", "b", "b", "b"],
        }
    )
    rates = group_rates(preds).set_index("group")
    assert rates.loc["a", ["tpr", "fpr"]].tolist() == [0.5, 0.5]
    assert rates.loc["b", ["tpr", "fpr"]].tolist() == [1.0, 1.0]
    assert rates["support"].tolist() == [4, 3] and rates["positives"].tolist() == [2, 1]


@pytest.fixture
def refusing_wandb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Online, with a key, at a W&B server that refuses every connection."""
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_BASE_URL", UNREACHABLE)
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    monkeypatch.setenv("WANDB_INIT_TIMEOUT", "3")
    monkeypatch.setattr(tracking, "_refused", None)


def test_refused_run_goes_offline_and_says_why(tmp_path: Path, refusing_wandb: None) -> None:
    common = {"project": "p", "entity": None, "group": "g", "job_type": "finetune"}
    common.update(config={}, directory=tmp_path, mode="online", run_id="r1")
    with pytest.raises(Exception, match="127.0.0.1:9|deadline|timed out"):
        Run(name="strict", on_error="fail", **{**common, "run_id": "r0"})
    # Another id: under load W&B's service may still hold the refused one ("run ID r1 is in use").
    run = Run(name="lenient", **common)
    assert run.offline and run.fallback
    run.finish()
    (folder,) = newest_offline_runs(tmp_path / "wandb")
    assert run_log(folder)["summary"]["wandb_fallback"] == run.fallback


def test_refused_run_that_must_not_fall_back_fails_the_attempt_with_its_reason(
    tmp_path: Path, refusing_wandb: None
) -> None:
    from bias_sweep.sweep.trainable import attempt_record  # torch, Ray

    conf = load_config(QUICKSTART, [*TWO_TRIALS, "tracking.mode=online", "tracking.on_error=fail"])
    point = make_plan(conf).points[0]
    sweep = {"path": str(tmp_path), "wandb_instance": "abcd1234"}
    out = tmp_path / "trials" / "k"
    with (
        pytest.raises(Exception, match="127.0.0.1:9|deadline|timed out"),
        attempt_record(out, "k", None),
        trial_run(point_config(conf, point), "k", point, sweep, []),
    ):
        pass
    first = (out / "error.txt").read_text().splitlines()[0]
    assert first.startswith("attempt 1: ") and ("127.0.0.1:9" in first or "deadline" in first)


def test_overwrite_renews_wandb_ids_resume_keeps_them_and_runs_show_lineage(
    tmp_path: Path, ray_env: dict[str, str]
) -> None:
    args = _overrides(tmp_path, "ids")
    sweep = tmp_path / "ids"
    proc = cli(["run", str(QUICKSTART), *args], ray_env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first = _logs(sweep)
    plan = make_plan(load_config(sweep / "sweep.yaml"))
    instance = (sweep / "wandb_instance").read_text().strip()
    (iv_key,) = plan.intervention_keys
    assert set(first) == {f"{instance}-{k}" for k in plan.keys} | {f"{instance}-iv-{iv_key}"}
    made = first[f"{instance}-iv-{iv_key}"]
    assert made["name"] == "cda-s0.5-iv1" and made["job_type"] == "intervention"
    assert made["config"]["intervention_key"] == iv_key and made["config"]["intervention_seed"] == 1
    (model,) = made["artifacts"]
    assert model["name"] == f"intervened-model-{iv_key}" and not model["used"]
    assert model["refs"] and all(r.startswith("file://") for r in model["refs"])  # no upload
    for key in plan.keys:
        log = first[f"{instance}-{key}"]
        rate = json.loads((sweep / "trials" / key / "result.json").read_text())["point"]
        assert log["name"] == f"cda-s0.5-iv1-r{rate['data.rate']:g}-seed0"
        assert log["job_type"] == "finetune" and log["group"] == f"ids-{instance}"
        assert log["config"]["intervention_key"] == iv_key
        assert not [k for k in log["config"] if "." in k]
        # It uses the very artifact version the intervention run made (same digest).
        models = [a for a in log["artifacts"] if a["type"] == "model"]
        assert [(a["name"], a["digest"], a["used"]) for a in models] == [
            (model["name"], model["digest"], True)
        ]
        assert "tpr_gap" in log["summary"] and "wandb_fallback" not in log["summary"]

    # Started over, and failing: every id is new, and a failed run says why in its summary.
    proc = cli(
        ["run", str(QUICKSTART), *args, "sweep.max_failures=0", "--overwrite"],
        ray_env,
        tmp_path,
        fault="always",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failed = _logs(sweep)
    assert not set(failed) & set(first) and len(failed) == len(plan.keys)
    assert all(log["summary"]["error"].startswith("InjectedFault") for log in failed.values())

    # Resumed: the same ids, each run continued (offline: a newer folder of the same id).
    proc = cli(["resume", "ids", "--storage", str(tmp_path)], ray_env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    resumed = _logs(sweep)
    trial_ids = {i for i in resumed if "-iv-" not in i}
    assert trial_ids == set(failed)
    assert all("tpr_gap" in resumed[i]["summary"] for i in trial_ids)


def test_sweep_survives_a_wandb_that_refuses_every_run(
    tmp_path: Path, ray_env: dict[str, str]
) -> None:
    ray_env.pop("WANDB_MODE")
    ray_env.update(WANDB_BASE_URL=UNREACHABLE, WANDB_API_KEY="k" * 40, WANDB_INIT_TIMEOUT="3")
    args = _overrides(tmp_path, "refused", "tracking.mode=online")
    proc = cli(["run", str(QUICKSTART), *args], ray_env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sweep = tmp_path / "refused"
    results = [json.loads(p.read_text()) for p in sweep.glob("trials/*/result.json")]
    assert len(results) == 2
    for result in results:
        assert result["wandb"]["mode"] == "offline" and result["wandb"]["fallback"]
    logs = _logs(sweep)
    assert len(logs) == 3  # two trials and their intervention, all offline
    for log in logs.values():
        assert log["summary"]["wandb_fallback"]
