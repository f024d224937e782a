"""Bad input is caught before Ray starts: one line naming the key or file, exit code 2, nothing
written, quickly (issue 23). Property-based: any override or YAML mapping either loads or gives
one `UserError` line."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from bias_sweep.cli import main
from bias_sweep.config import load_config, schema
from bias_sweep.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = str(ROOT / "sweeps" / "quickstart.yaml")


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, float]:
    started = time.perf_counter()
    code = main(args)
    return code, capsys.readouterr().err, time.perf_counter() - started


def _yaml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return str(path)


# (extra words after `run SWEEP`, or a YAML text for the sweep file; what the line must say)
OVERRIDES = [
    (["data.rate=${nosuch}"], "key 'data.rate': Interpolation key 'nosuch' not found"),
    (["data.rate=${oc.env:HOME}"], "key 'data.rate': While dereferencing interpolation"),
    (["data.rate=${oc.env:NO_SUCH_VARIABLE_23}"], "key 'data.rate'"),
    (["sweep.grid=[1,2]"], "key 'sweep.grid' takes a mapping"),
    (["eval.sets={name: x}"], "key 'eval.sets' takes a list"),
    (["seed=-1"], "key 'seed': -1 is not allowed; expected a whole number in [0, 4294967296)"),
    (["intervention.seed=4294967296"], "key 'intervention.seed'"),
    (["sweep.grid.seed=[0,-2]"], "sweep.grid.seed: key 'seed': -2 is not allowed"),
    (["intervention.lr=.inf"], "key 'intervention.lr': inf is not allowed; expected a positive"),
    (["train.lr=inf"], "key 'train.lr'"),
    (["train.weight_decay=.inf"], "key 'train.weight_decay'"),
    (["data.eval_size=3"], "key 'data.eval_size': 3 is not allowed; expected >= 8"),
    # A base value's error is its own, not the first grid axis' (data.rate is an axis here).
    (["data.train_size=-5"], "error: key 'data.train_size'"),
    (["data.eval_size=${model.pretrain_steps}", "model.pretrain_steps=4"],
     "error: key 'data.eval_size': 4 is not allowed"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "says"), OVERRIDES)
def test_bad_overrides_are_one_line_before_ray(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], says: str
) -> None:
    storage = tmp_path / "runs"
    code, err, took = _run(["run", QUICKSTART, f"sweep.storage={storage}", *extra], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert says in err, err
    assert not storage.exists()
    assert took < 10


YAML_FILES = [
    ("", "empty"),
    ("# nothing but a comment\n", "empty"),
    ("seed: 1\nseed: 2\n", "found duplicate key seed at line 2"),
    ("sweep:\n  grid: [1, 2]\n", "key 'sweep.grid' takes a mapping"),
    ("eval:\n  sets: {a: 1}\n", "key 'eval.sets' takes a list"),
    ("data:\n  rate: ${nosuch}\n", "key 'data.rate'"),
    ("- 1\n- 2\n", "expected a mapping at the top level"),
]


@pytest.mark.parametrize(("text", "says"), YAML_FILES)
def test_bad_sweep_files_are_one_line_before_ray(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    storage = tmp_path / "runs"
    code, err, took = _run(["run", _yaml(tmp_path, text), f"sweep.storage={storage}"], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert says in err and ("sweep.yaml" in err or "key '" in err), err
    assert not storage.exists()
    assert took < 10


@pytest.mark.parametrize("key", ["sweep.storage", "cache_dir"])
def test_unwritable_folders_are_found_by_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    """A path under a file cannot be written, whoever asks (root included): refused in one line."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    words = [f"sweep.storage={tmp_path / 'runs'}", f"{key}={blocker / 'below'}"]
    code, err, _ = _run(["run", QUICKSTART, *words], capsys)
    assert code == 2, err
    assert f"{key}: not writable: '{blocker}' is not a folder" in err
    assert not (tmp_path / "runs").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.skipif(os.geteuid() != 0, reason="a read-only bind needs root")
def test_write_probe_leaves_nothing(tmp_path: Path) -> None:
    from bias_sweep.files import unwritable

    assert unwritable(tmp_path / "new" / "deeper") is None
    assert list(tmp_path.iterdir()) == []


# Property-based: every override string and every YAML mapping loads or is one UserError line.


def _leaf_keys() -> list[str]:
    def walk(prefix: str, node: object) -> list[str]:
        if isinstance(node, dict) and node:
            return [k for key, v in node.items() for k in walk(f"{prefix}{key}.", v)]
        return [prefix[:-1]]

    return walk("", OmegaConf.to_container(OmegaConf.structured(schema())))


KEYS = st.one_of(
    st.sampled_from(_leaf_keys()),
    st.sampled_from(["sweep.grid.data.rate", "sweep.grid.seed", "sweep.grid", "eval.sets",
                     "data.groups", "sweep.grid.sweep.name", "sweep.grid.nope.x", "data"]),
    st.text(min_size=1, max_size=12),
)  # fmt: skip
TRICKY = ["${nosuch}", "${oc.env:HOME}", "${oc.env:NOPE_23}", "${", "[", "{", "{a:", "???",
          "null", "[1,[2", "!!python/object:os.system", "[0,-1]", "[.inf]", "{a: 1}", "1e999",
          "-0.0", "[]", "{}", "${data.rate}", "${oc.decode:'[1'}", "0x10", "[[1,2],[3]]"]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(TRICKY),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=20),
)


def _loads_or_one_line(call: object) -> None:
    try:
        call()  # type: ignore[operator]
    except UserError as exc:
        text = str(exc)
        assert text and "\n" not in text, text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.builds("{}={}".format, KEYS, VALUES), max_size=3))
def test_any_overrides_load_or_give_one_line(overrides: list[str]) -> None:
    _loads_or_one_line(lambda: load_config(None, overrides))


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10),
    st.sampled_from(TRICKY),
)  # fmt: skip
SECTION_KEYS = st.sampled_from(
    ["seed", "data", "model", "intervention", "train", "sweep", "grid", "rate", "eval", "sets",
     "name", "storage", "lr", "seed", "groups", "pairs", "nope", "report", "cache_dir"]
)  # fmt: skip
MAPPINGS = st.dictionaries(
    SECTION_KEYS,
    st.recursive(
        SCALARS,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(SECTION_KEYS, inner, max_size=3)
        ),
        max_leaves=8,
    ),
    max_size=4,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MAPPINGS)
def test_any_yaml_mapping_loads_or_gives_one_line(mapping: dict) -> None:
    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / "fuzz.yaml"
        path.write_text(yaml.safe_dump(mapping))
        _loads_or_one_line(lambda: load_config(path))


# report --table, report --out and compare check their input the same way.


@pytest.fixture
def finished(tmp_path: Path) -> Path:
    from test_report import GRID, write_sweep

    return write_sweep(tmp_path / "runs", GRID)


def _table(finished: Path, tmp_path: Path, change: object) -> str:
    from bias_sweep.sweep.layout import SweepFolder
    from bias_sweep.sweep.results import load_trials

    runs = load_trials(SweepFolder(finished))
    runs = change(runs)  # type: ignore[operator]
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    return str(path)


def _assign(col: str, value: object, row: int = 0):  # noqa: ANN202 - a table edit
    def edit(runs):  # noqa: ANN001, ANN202
        runs[col] = runs[col].astype(object)
        runs.loc[row, col] = value
        return runs

    return edit


BAD_TABLES = [
    (lambda runs: runs.head(0), "no rows"),
    (_assign("tpr_gap", "high"), "column 'tpr_gap' must hold finite numbers (1 do not, e.g. 'high')"),
    (_assign("tpr_gap", float("inf")), "column 'tpr_gap' must hold finite numbers"),
    (_assign("accuracy", -float("inf")), "column 'accuracy'"),
    (_assign("rate", 1.5), "column 'rate' must hold numbers in [0, 1]"),
    (_assign("realised_rate", -0.1), "column 'realised_rate' must hold numbers in [0, 1]"),
    (_assign("strength", "strong"), "column 'strength'"),
    (_assign("seed", "first"), "column 'seed' must hold finite numbers"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "says"), BAD_TABLES)
def test_report_table_checks_its_rows(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: object, says: str
) -> None:
    table = _table(finished, tmp_path, change)
    out = tmp_path / "out"
    code, err, took = _run(["report", "--table", table, "--out", str(out), "--no-plots"], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert says in err, err
    assert not out.exists() and took < 10


def test_report_out_and_compare_are_checked_first(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    code, err, _ = _run(["report", str(finished), "--out", str(a_file), "--no-plots"], capsys)
    assert code == 2 and f"--out: '{a_file}' exists and is not a folder" in err, err
    assert a_file.read_text() == "mine"
    out = tmp_path / "cmp"
    code, err, _ = _run(["compare", str(finished), str(finished), "--out", str(out)], capsys)
    assert code == 2 and "is given twice; compare distinct sweeps" in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def _rows_file(tmp_path: Path, words: tuple[str, str]) -> Path:
    """400 labelled rows that mention one group each (label 1 with words[1], label 0 with
    words[0]), and 10 without a text or a label."""
    rows = [{"text": f"{'he' if i % 2 else 'she'} wrote a {words[i % 3 == 0]} note {i}",
             "label": i % 3 == 0} for i in range(400)]  # fmt: skip
    rows += [{"text": "", "label": 1}] * 3 + [{"text": " ", "label": 0}] * 2
    rows += [{"text": "she said", "label": None}] * 4 + [{"text": None, "label": 0}]
    path = tmp_path / "rows.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _file_words(path: Path) -> list[str]:
    return ["data.source=file", f"data.path={path}", "data.train_size=40", "data.eval_size=40",
            "sweep.grid.data.rate=[0.5]"]  # fmt: skip


def test_plan_counts_the_rows_it_leaves_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = _rows_file(tmp_path, ("dull", "great"))
    assert main(["plan", QUICKSTART, *_file_words(path)]) == 0
    out = capsys.readouterr().out
    assert "kept 400 of 400 distinct texts" in out
    assert "; 10 rows without a text or a label left out first" in out


def test_plan_refuses_data_that_every_trial_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tiny BERT's pre-training corpus needs attribute words of both classes: without
    them every trial failed, after `plan` said yes and `run` wrote its folder."""
    path = _rows_file(tmp_path, ("plain", "plain"))
    storage = tmp_path / "runs"
    code, err, took = _run(["run", QUICKSTART, *_file_words(path), f"sweep.storage={storage}"],
                           capsys)  # fmt: skip
    assert (
        code == 2
        and "model.name=tiny-bert: the corpus (intervention.corpus, or the task's text) has no sentence"
        in err
    ), err
    assert len(err.strip().splitlines()) == 1 and not storage.exists() and took < 10


@pytest.mark.parametrize("command", ["plan", "report"])
def test_a_table_with_a_huge_first_line_is_refused_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A 4 MB single-line CSV kept pandas (and so `plan`) busy for minutes."""
    path = tmp_path / "one-line.csv"
    path.write_text(",".join(f"w{i}" for i in range(500_000)) + "\n")
    words = (
        ["plan", QUICKSTART, "data.source=file", f"data.path={path}"]
        if command == "plan"
        else ["report", "--table", str(path)]
    )
    code, err, took = _run(words, capsys)
    assert code == 2 and "is longer than 64 KiB" in err, err
    assert len(err.strip().splitlines()) == 1 and took < 10


def _slurm_bin(folder: Path, nodes: str) -> Path:
    """Stand-ins for sinfo (partitions, or with -N the nodes) and sbatch, alone on PATH."""
    folder.mkdir()
    (folder / "sinfo").write_text(
        "#!/bin/sh\ncase \"$*\" in *-N*) /bin/cat <<'EOF'\n" + nodes + "\nEOF\n;;\n"
        "*) echo 'debug*'; echo gpu;;\nesac\n"
    )
    (folder / "sbatch").write_text(f"#!/bin/sh\n/bin/cat >{folder}/submitted\necho 4242\n")
    for name in ("sinfo", "sbatch"):
        (folder / name).chmod(0o755)
    return folder


NODES = "n1|2|7000|(null)\nn2|2|7000|(null)\ng1|32|256000|gpu:a100:4(S:0-1)"


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--cpus-per-node", "64"], "--cpus-per-node: partition 'debug' has 0 node(s) with 64 CPUs"),
        (["--cpus-per-node", "2", "--gpus-per-node", "8", "--partition", "gpu"],
         "--gpus-per-node: partition 'gpu' has 0 node(s)"),
        (["--cpus-per-node", "2", "--mem", "300G"], "--mem: partition 'debug' has 0 node(s)"),
        (["--cpus-per-node", "4", "--nodes", "2"], "--nodes: partition 'debug' has 1 node(s)"),
    ],
)  # fmt: skip
def test_launch_slurm_refuses_a_job_no_node_can_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    options: list[str], says: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("PATH", str(_slurm_bin(tmp_path / "bin", NODES)))
    storage = tmp_path / "runs"
    words = ["launch", "slurm", QUICKSTART, f"sweep.storage={storage}", "--time", "1:00:00"]
    code, err, took = _run([*words, *options], capsys)
    assert code == 2 and says in err and "it would pend forever" in err, err
    assert len(err.strip().splitlines()) == 1 and took < 10
    assert not storage.exists() and not (tmp_path / "bin" / "submitted").exists()
    fits = ["--cpus-per-node", "2", "--nodes", "3", "--mem", "6G"]
    assert _run([*words, *fits], capsys)[0] == 0
    assert (tmp_path / "bin" / "submitted").exists()


def test_trial_out_is_checked_before_torch_is_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    code, err, took = _run(["trial", "--out", str(a_file)], capsys)
    assert code == 2 and f"--out: '{a_file}' exists and is not a folder" in err, err
    assert took < 5
