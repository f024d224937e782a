"""A plan that knows what the data can hold: sizes checked against the pools before anything runs,
and an eval set decided once and recorded (bias_sweep.data.feasibility, data.eval_split)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bias_sweep.cli import main
from bias_sweep.config import load_config
from bias_sweep.data import get_lexicon, load_task
from bias_sweep.data.cooccurrence import Cells, cooccurrence_sample, first_shortfall, largest_size
from bias_sweep.data.feasibility import check_data
from bias_sweep.errors import UserError
from bias_sweep.schema import DataConfig, GroupsConfig
from bias_sweep.sweep.plan import prepare_new

ROOT = Path(__file__).resolve().parents[1]
GENDER = get_lexicon(GroupsConfig())
NAMES = (GENDER.name_a, GENDER.name_b)


def cell_pool(cells: Cells) -> pd.DataFrame:
    """A pool with exactly these (group, label) cell sizes."""
    rows = []
    for group, label, count in (
        ("male", 1, cells.a1), ("female", 1, cells.b1), ("male", 0, cells.a0), ("female", 0, cells.b0)
    ):  # fmt: skip
        pronoun = "he" if group == "male" else "she"
        rows += [(f"{pronoun} wrote note {label}-{i}", label, group) for i in range(count)]
    return pd.DataFrame(rows, columns=["text", "label", "group"])


def draws(pool: pd.DataFrame, rate: float, n: int, method: str) -> bool:
    try:
        cooccurrence_sample(pool, rate, n, method, GENDER, np.random.default_rng(0))
    except UserError:
        return False
    return True


CELLS = [Cells(7, 60, 55, 9), Cells(30, 30, 30, 30), Cells(3, 41, 0, 17), Cells(19, 2, 44, 23)]
RATES = [0.0, 0.1, 0.37, 0.5, 0.9, 1.0]


@pytest.mark.parametrize("method", ["resample", "counterfactual"])
@pytest.mark.parametrize("cells", CELLS, ids=str)
def test_largest_size_is_the_samplers_own_boundary(cells: Cells, method: str) -> None:
    """The largest size draws and one more does not, by cooccurrence_sample itself; and the sizes
    that fit are exactly 0..largest (every size tried with the sampler's rule, and with the sampler
    where it is cheap: resampling swaps no text)."""
    pool = cell_pool(cells)
    total = len(pool)
    for rate in RATES:
        largest = largest_size(cells, rate, method, NAMES)
        assert draws(pool, rate, largest, method), (rate, largest)
        assert not draws(pool, rate, largest + 1, method), (rate, largest)
        by_rule = [
            n for n in range(total + 2) if first_shortfall(cells, rate, n, method, NAMES) is None
        ]
        assert by_rule == list(range(largest + 1)), rate
        if method == "resample":
            fits = [n for n in range(total + 2) if draws(pool, rate, n, method)]
            assert fits == by_rule, rate


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5, 0.8, 0.9, 0.95])
def test_largest_size_on_large_cells(rate: float) -> None:
    """At the boundary of a pool the size of a real one: n works, n + 1 does not."""
    cells = Cells(1100, 11000, 60000, 52000)  # bias_in_bios-like: few male nurses
    pool = cell_pool(cells)
    n = largest_size(cells, rate, "resample", NAMES)
    assert draws(pool, rate, n, "resample")
    assert not draws(pool, rate, n + 1, "resample")


# --- the acceptance case: `plan` on a local file in the LabHC/bias_in_bios schema --------------

CITIES = ("Ohio", "Leeds", "Pune", "Lyon", "Perth", "Quebec", "Austin", "Turin")
HOBBIES = ("running", "chess", "cooking", "painting", "music", "hiking")


def bios(nurses: dict[str, int], professors: dict[str, int]) -> pd.DataFrame:
    """Synthetic bios: hard_text, profession (13 nurse, 21 professor), gender (0 male, 1 female)."""
    rows = []
    for job, job_id, counts in (("nurse", 13, nurses), ("professor", 21, professors)):
        for gender, count in counts.items():
            subject, possessive = ("He", "his") if gender == "male" else ("She", "her")
            for i in range(count):
                city, hobby = CITIES[i % len(CITIES)], HOBBIES[i % len(HOBBIES)]
                text = (
                    f"{subject} has worked as a {job} in {city} for {i % 30 + 1} years, and "
                    f"{possessive} free time goes to {hobby} (bio {job_id}{len(gender)}{i:04d})."
                )
                rows.append((text, job_id, 0 if gender == "male" else 1))
    return pd.DataFrame(rows, columns=["hard_text", "profession", "gender"])


@pytest.fixture(scope="module")
def bios_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bios") / "bios.csv"
    bios({"male": 30, "female": 300}, {"male": 300, "female": 250}).to_csv(path, index=False)
    return path


def plan_args(bios_file: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [
        str(ROOT / "sweeps" / "bias_in_bios.yaml"),
        "data.source=hub",
        "data.hub_dataset=LabHC/bias_in_bios",
        "data.task=binary",  # the file is multi-class; these checks are of the binary rate
        "report.primary_metric=tpr_gap",
        f"data.path={bios_file}",
        "data.eval_size=40",
        f"sweep.storage={tmp_path / 'runs'}",
        f"cache_dir={tmp_path / 'cache'}",
        # The file's grid, less its models and interventions (plan time, not what is checked).
        "sweep.grid={data.rate: [0.1, 0.3, 0.5, 0.7, 0.9], seed: [0, 1]}",
        *extra,
    ]


def test_infeasible_train_size_is_one_line_with_the_largest_size(
    bios_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", *plan_args(bios_file, tmp_path, "data.train_size=400")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("bias-sweep: error: data.train_size: 400 rows do not fit"), line
    assert "data.rate=0.9" in line and "cell (male, label 1) needs 180 rows" in line, line
    assert "data.rate_method=counterfactual" in line
    found = re.search(r"the largest feasible data.train_size at rate 0.9 is (\d+)", line)
    assert found, line
    largest = int(found.group(1))
    # The number is the sampler's own: the train pool (pool minus eval and twins) draws it, and
    # not one row more.
    cfg = DataConfig()
    cfg.source, cfg.hub_dataset, cfg.path = "hub", "LabHC/bias_in_bios", str(bios_file)
    cfg.eval_size, cfg.rate = 40, 0.9
    cfg.train_size = largest
    task = load_task(cfg, 0, cache_dir=tmp_path / "cache")
    assert len(task.train) == largest and abs(task.realised_rate - 0.9) <= 0.01
    cfg.train_size = largest + 1
    with pytest.raises(UserError, match="pool too small"):
        load_task(cfg, 0, cache_dir=tmp_path / "cache")

    assert main(["plan", *plan_args(bios_file, tmp_path, f"data.train_size={largest}")]) == 0
    out, _ = capsys.readouterr()
    assert f"train_size {largest} by resample fits every rate" in out
    assert "rows by group: from the column gender: male 330, female 550" in out
    assert "eval set: 40 rows by resample (male: 10 y=1, 10 y=0; female: 10 y=1, 10 y=0)" in out
    assert not (tmp_path / "runs").exists()  # plan writes nothing

    # `run` (through prepare_new, before Ray starts) fails the same way and creates nothing.
    sweep, *overrides = plan_args(bios_file, tmp_path, "data.train_size=400")
    with pytest.raises(UserError, match=r"the largest feasible data.train_size at rate 0.9"):
        prepare_new(load_config(sweep, overrides))
    assert not (tmp_path / "runs").exists()


def test_counterfactual_rate_method_fits_and_its_own_limit(
    bios_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = plan_args(bios_file, tmp_path, "data.train_size=400", "data.rate_method=counterfactual")
    assert main(["plan", *args]) == 0
    assert "train_size 400 by counterfactual fits every rate" in capsys.readouterr().out
    args[-2] = "data.train_size=2000"
    assert main(["plan", *args]) == 2
    err = capsys.readouterr().err
    assert "label 1 needs 1000 group-mentioning rows, the train pool has" in err
    assert "the largest feasible data.train_size is" in err and len(err.strip().splitlines()) == 1


def test_infeasible_eval_set_suggests_its_method(
    bios_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = plan_args(bios_file, tmp_path, "data.train_size=10", "data.eval_size=400")
    assert main(["plan", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "data.eval_size: 400 balanced eval rows (resample) do not fit" in err
    assert "cell (male, label 1) needs 100 rows, the pool has 30" in err
    # 61 nurses with 30 male ones (30/61 is within 0.01 of 0.5) and 62 professors.
    assert "the largest feasible data.eval_size is 123" in err
    assert "data.eval_method=counterfactual" in err
    assert main(["plan", *args, "data.eval_method=counterfactual"]) == 0
    out = capsys.readouterr().out
    assert "eval set: 400 rows by counterfactual" in out
    assert not (tmp_path / "runs").exists()


def test_each_data_config_of_the_grid_is_checked(
    bios_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = plan_args(bios_file, tmp_path, "sweep.grid.data.train_size=[40,400]")
    assert main(["plan", *args]) == 2
    err = capsys.readouterr().err
    assert "data.train_size: 400 rows do not fit" in err and "[data.train_size=400]" in err
    args[-1] = "sweep.grid.data.train_size=[20,40]"
    assert main(["plan", *args]) == 0
    out = capsys.readouterr().out
    assert "[data.train_size=20]" in out and "[data.train_size=40]" in out


def test_the_eval_set_is_recorded_and_never_switches(bios_file: Path, tmp_path: Path) -> None:
    cfg = DataConfig()
    cfg.source, cfg.hub_dataset, cfg.path = "hub", "LabHC/bias_in_bios", str(bios_file)
    cfg.train_size, cfg.eval_size = 40, 200
    with pytest.raises(UserError, match=r"^data.eval_size: 200 balanced eval rows \(resample\)"):
        load_task(cfg, 0, cache_dir=tmp_path / "cache")
    cfg.eval_method = "counterfactual"
    task = load_task(cfg, 0, cache_dir=tmp_path / "cache")
    makeup = task.eval_makeup
    assert makeup["method"] == "counterfactual" and makeup["rows"] == 200
    cells = makeup["cells"]
    assert cells == {"male": {"1": 50, "0": 50}, "female": {"1": 50, "0": 50}}
    assert makeup["real"] + makeup["swapped"] == 200 and makeup["swapped"] > 0
    # A swapped row's twin is the real text it came from; a real row's text is in the source.
    source = set(pd.read_csv(bios_file)["hard_text"])
    real = task.eval["text"].isin(source)
    assert int(real.sum()) == makeup["real"]
    assert task.eval.loc[~real, "cf_text"].isin(source).all()
    assert (task.eval["cf_text"] != task.eval["text"]).all()
    # And a check of the same config reports the same make-up.
    check = check_data(cfg, [0.5], cache_dir=tmp_path / "cache")
    assert check.eval_makeup == makeup


def test_quickstart_plan_prints_counts_and_fits(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(ROOT / "sweeps" / "quickstart.yaml")]) == 0
    out = capsys.readouterr().out
    assert "data: the synthetic pool (6000 rows)" in out
    assert "rows by group: from the lexicon: male " in out and "kept 6000 of 6000" in out
    assert "eval set: 400 rows by resample" in out and "400 real, 0 swapped" in out
    assert (
        "train_size 800 by resample fits every rate; largest feasible train_size per rate:" in out
    )
