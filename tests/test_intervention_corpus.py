"""`intervention.corpus`: the text interventions learn from, apart from the fine-tuning task."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import SMALL
from local_http import serve

from bias_sweep import models
from bias_sweep.cli import main
from bias_sweep.config import load_config, typed
from bias_sweep.data import load_task
from bias_sweep.data.intervention_corpus import load_corpus
from bias_sweep.errors import UserError
from bias_sweep.identity import base_key, intervention_key, to_dict, trial_key
from bias_sweep.interventions import METHODS, apply_intervention, configured_corpus
from bias_sweep.interventions.projection import TEMPLATES
from bias_sweep.probes.intrinsic import seat_effect_size
from bias_sweep.report.statistics import regressions
from bias_sweep.report.statistics.gate import MOVED, gate_table
from bias_sweep.schema import CorpusConfig
from bias_sweep.sweep.plan import make_plan

ROOT = Path(__file__).resolve().parents[1]
# Two texts mention one group, one mentions none; blanks and a missing value are dropped.
TEXTS = ["the man was rude", "he is a kind doctor", "nothing about anyone", "she laughed"]


def corpus_cfg(**values: Any) -> CorpusConfig:
    return CorpusConfig(**values)


def icfg(method: str, strength: float = 0.0, seed: int = 0, **values: Any) -> Any:
    return typed(
        {"intervention": {"method": method, "strength": strength, "seed": seed, **values}}
    ).intervention


def write_formats(folder: Path) -> dict[str, Path]:
    """TEXTS (with a blank and a missing value among them) as each supported file type."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = pd.DataFrame({"id": range(6), "body": [TEXTS[0], "  ", TEXTS[1], None, *TEXTS[2:]]})
    files = {fmt: folder / f"corpus.{fmt}" for fmt in ("csv", "jsonl", "parquet", "txt")}
    rows.to_csv(files["csv"], index=False)
    rows.to_json(files["jsonl"], orient="records", lines=True)
    rows.to_parquet(files["parquet"], index=False)
    files["txt"].write_text("\n".join([TEXTS[0], "", *TEXTS[1:], ""]) + "\n")
    return files


def hub_layout(folder: Path) -> Path:
    """A dataset folder in the hub's layout: a parquet file per split under data/."""
    (folder / "data").mkdir(parents=True)
    train = pd.DataFrame({"sentence": [f"he said {i}" for i in range(30)], "n": range(30)})
    test = pd.DataFrame({"sentence": ["", *TEXTS], "n": range(5)})
    train.to_parquet(folder / "data" / "train-00000-of-00001.parquet", index=False)
    test.to_parquet(folder / "data" / "test-00000-of-00001.parquet", index=False)
    return folder


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["intervention.corpus.hub_dataset=org/corpus"], "intervention.corpus.revision"),
        (
            ["intervention.corpus.path=a.csv", "intervention.corpus.hub_dataset=org/c"],
            "hub_dataset",
        ),
        (["intervention.corpus.path=a.csv", "intervention.corpus.revision=abc"], "revision"),
        (["intervention.corpus.hub_config=wiki"], "intervention.corpus.hub_config"),
        (["intervention.corpus.path="], "intervention.corpus.path"),
        (["intervention.corpus.max_rows=0"], "intervention.corpus.max_rows"),
        (["intervention.corpus.max_rows=many"], "intervention.corpus.max_rows"),
        (["intervention.corpus.text_column="], "intervention.corpus.text_column"),
        (["intervention.corpus.split="], "intervention.corpus.split"),
        (["intervention.corpus.colum=text"], "intervention.corpus.colum"),
        (["sweep.grid.intervention.corpus.max_rows=[10,-5]"], "intervention.corpus.max_rows"),
    ],
)
def test_bad_settings_are_one_line_naming_the_key(overrides: list[str], key: str) -> None:
    with pytest.raises(UserError) as info:
        load_config(None, overrides)
    assert key in str(info.value) and "\n" not in str(info.value)


def test_every_file_type_gives_the_same_texts(tmp_path: Path) -> None:
    for fmt, path in write_formats(tmp_path).items():
        corpus = load_corpus(corpus_cfg(path=str(path), text_column="body"), tmp_path / "cache")
        assert corpus is not None and corpus.texts == TEXTS, fmt
        capped = load_corpus(corpus_cfg(path=str(path), text_column="body", max_rows=2), tmp_path)
        assert capped is not None and capped.texts == TEXTS[:2], fmt
        assert "first 2 rows" in capped.source and str(path) in capped.source
    assert load_corpus(corpus_cfg(), tmp_path) is None  # not set: the task's own text


def test_unreadable_corpora_are_one_line_naming_the_key(tmp_path: Path) -> None:
    files = write_formats(tmp_path)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    cases = {
        "intervention.corpus.path: file '.*missing.txt' not found": {
            "path": str(tmp_path / "missing.txt")
        },
        "intervention.corpus.path: '.*corpus.docx' is not a supported file type": {
            "path": str(tmp_path / "corpus.docx")
        },
        r"intervention.corpus.text_column: column 'text' not in .*corpus.csv \(columns: id, body\)": {
            "path": str(files["csv"])
        },
        "intervention.corpus: .*empty.txt .* holds no non-empty text": {"path": str(empty)},
        "intervention.corpus.path: could not download 'http://127.0.0.1:9/c.csv'": {
            "path": "http://127.0.0.1:9/c.csv"
        },
    }
    for message, values in cases.items():
        with pytest.raises(UserError, match=message) as info:
            load_corpus(corpus_cfg(**values), tmp_path / "cache")
        assert "\n" not in str(info.value)


def test_urls_are_downloaded_once_into_the_cache(tmp_path: Path) -> None:
    files = write_formats(tmp_path / "served")
    cache = tmp_path / "cache"

    def texts(url: str) -> list[str]:
        corpus = load_corpus(corpus_cfg(path=url, text_column="body"), cache)
        assert corpus is not None
        return corpus.texts

    with serve(tmp_path / "served") as base:
        urls = [f"{base}/corpus.{fmt}" for fmt in ("csv", "parquet", "txt")]
        assert all(texts(url) == TEXTS for url in urls)
    # The server is gone: the copies in <cache>/downloads are read.
    assert all(texts(url) == TEXTS for url in urls)
    assert len(list((cache / "downloads").iterdir())) == 3
    assert texts(files["jsonl"].as_uri()) == TEXTS  # a file:// URL


def test_hub_dataset_at_a_revision_streams_its_split_once(tmp_path: Path) -> None:
    """The real `datasets.load_dataset(..., revision=...)` on a folder in the hub's layout."""
    folder = hub_layout(tmp_path / "org-corpus")
    cache = tmp_path / "cache"
    cfg = corpus_cfg(
        hub_dataset=str(folder), revision="0123abc", split="test", text_column="sentence"
    )
    corpus = load_corpus(cfg, cache)
    assert corpus is not None and corpus.texts == TEXTS
    assert corpus.source == f"hub dataset {folder}@0123abc, split test, column sentence"
    cfg.split, cfg.max_rows = "train", 7
    assert load_corpus(cfg, cache).texts == [f"he said {i}" for i in range(7)]  # type: ignore[union-attr]
    assert len(list((cache / "corpora").glob("*.parquet"))) == 2
    shutil.rmtree(folder)  # later builds (other workers, other nodes) read the kept texts
    assert load_corpus(cfg, cache).texts == [f"he said {i}" for i in range(7)]  # type: ignore[union-attr]


def test_hub_errors_are_one_line(tmp_path: Path) -> None:
    folder = hub_layout(tmp_path / "org-corpus")
    cases = {
        r"intervention.corpus.text_column: column 'text' not in .* \(columns: sentence, n\)": {
            "hub_dataset": str(folder)
        },
        r"intervention.corpus.hub_dataset: could not load .*split validation": {
            "hub_dataset": str(folder),
            "text_column": "sentence",
            "split": "validation",
        },
        # HF_HUB_OFFLINE (conftest): a hub id fails fast, and says how to work offline.
        r"intervention.corpus.hub_dataset: could not load nobody/no-such-corpus@v1.*"
        r"set intervention.corpus.path to a local copy": {"hub_dataset": "nobody/no-such-corpus"},
    }
    for message, values in cases.items():
        with pytest.raises(UserError, match=message) as info:
            load_corpus(corpus_cfg(revision="v1", **values), tmp_path / "cache")
        assert "\n" not in str(info.value)


def test_the_corpus_is_part_of_the_intervened_models_key_not_of_the_rate(tmp_path: Path) -> None:
    files = write_formats(tmp_path)
    conf = load_config(
        None,
        [
            f"sweep.grid.intervention.corpus.path=[null,{files['csv']},{files['txt']}]",
            "sweep.grid.data.rate=[0.1,0.9]",
            "intervention.method=cda",
        ],
    )
    plan = make_plan(conf)
    by_corpus: dict[Any, set[str]] = {}
    for point, ikey in zip(plan.points, plan.point_interventions, strict=True):
        by_corpus.setdefault(point["intervention.corpus.path"], set()).add(ikey)
    assert all(len(keys) == 1 for keys in by_corpus.values())  # one model serves both rates
    assert len(set().union(*by_corpus.values())) == 3  # a model per corpus
    assert len(set(plan.keys)) == 6

    plain, other = (
        load_config(None, ["intervention.method=cda"]),
        load_config(None, ["intervention.method=cda", f"intervention.corpus.path={files['csv']}"]),
    )
    assert base_key(plain) == base_key(other)  # the pre-trained model's measure is shared
    assert intervention_key(plain) != intervention_key(other)
    # Unset, the setting leaves every key as it was before it existed (old sweeps resume).
    before = to_dict(plain)
    del before["intervention"]["corpus"]
    assert trial_key(plain) == trial_key(before)
    assert intervention_key(plain) == intervention_key(before)
    # The fine-tuning data is the data section's alone: same sample, same realised rate.
    a, b = (load_task(typed(c).data, 0, cache_dir=tmp_path / "cache") for c in (plain, other))
    assert a.train.equals(b.train) and a.realised_rate == b.realised_rate


def test_the_corpus_is_in_the_key_of_exactly_the_methods_that_learn_from_text(
    tmp_path: Path,
) -> None:
    corpus = f"intervention.corpus.path={write_formats(tmp_path)['csv']}"

    # What a method needs to be valid at all (a checkpoint names its model), apart from the corpus.
    needs = {"checkpoint": ["intervention.checkpoint=debias-org/tiny-cda",
                            "intervention.checkpoint_revision=v1"]}  # fmt: skip

    def overrides(method: str, *more: str) -> list[str]:
        return [f"intervention.method={method}", *needs.get(method, []), *more]

    def key(method: str, *more: str) -> str:
        return intervention_key(load_config(None, overrides(method, *more)))

    learn = {"cda", "skew", "projection", "dropout"}  # dropout continues pre-training, as cda
    assert set(METHODS.names()) > learn
    for method in METHODS.names():
        assert (key(method) != key(method, corpus)) == (method in learn), method
        with_corpus = load_config(None, overrides(method, corpus))
        assert (configured_corpus(typed(with_corpus).intervention) is not None) == (method in learn)


def test_cda_and_projection_learn_from_the_corpus(
    tiny_bert: Path, task: Any, tmp_path: Path
) -> None:
    files = write_formats(tmp_path)
    settings = {"steps": 2, "corpus": {"path": str(files["txt"])}}
    cda, projection = icfg("cda", 1.0, **settings), icfg("projection", 1.0, **settings)
    corpus = load_corpus(configured_corpus(cda), tmp_path / "cache")
    lexicon = task.lexicon
    swappable = sum(lexicon.swap(t) != t for t in TEXTS)
    assert swappable == 3

    info = apply_intervention(cda, tiny_bert, task, tmp_path / "cda", corpus)
    assert info["corpus_source"] == "intervention.corpus"  # not tiny-bert's own corpus
    assert info["intervention_corpus"] == corpus.source  # type: ignore[union-attr]
    assert (info["intervention_corpus"], info["corpus"]) == (f"{files['txt']} (lines)", len(TEXTS))
    assert (info["group_sentences"], info["twins"]) == (swappable, swappable)
    assert info["mlm_texts"] == len(TEXTS) + swappable

    info = apply_intervention(projection, tiny_bert, task, tmp_path / "p", corpus)
    one_group = sum(lexicon.group_of(t) is not None for t in TEXTS)
    assert info["pairs"] == len(TEMPLATES) * len(lexicon.pairs) + one_group

    with pytest.raises(ValueError, match="exactly when its method uses one"):
        apply_intervention(cda, tiny_bert, task, tmp_path / "x")
    with pytest.raises(ValueError, match="exactly when its method uses one"):  # none has no text
        apply_intervention(icfg("none", **settings), tiny_bert, task, tmp_path / "x", corpus)


def test_plan_reads_the_corpus_and_the_trial_records_it(
    tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write_formats(tmp_path)
    sweep = [
        str(ROOT / "sweeps" / "quickstart.yaml"),
        f"sweep.storage={tmp_path / 'runs'}",
        f"cache_dir={cache_dir}",
        "intervention.corpus.text_column=body",
    ]
    assert main(["plan", *sweep, f"intervention.corpus.path={files['parquet']}"]) == 0
    out = capsys.readouterr().out
    assert (
        f"intervention corpus: {files['parquet']} (column body): 4 texts, of which 2 mention"
        " male only and 1 female only" in out
    )
    bad = {
        "intervention.corpus.path: file": f"intervention.corpus.path={tmp_path / 'gone.csv'}",
        "intervention.corpus.revision'": "intervention.corpus.hub_dataset=org/corpus",
        "intervention.corpus.max_rows'": "intervention.corpus.max_rows=0",
    }
    for key, override in bad.items():
        assert main(["plan", *sweep, override]) == 2, override
        err = capsys.readouterr().err.strip()
        assert err.startswith("bias-sweep: error: ") and key in err and "\n" not in err, err
    # `run` reads the corpus before Ray starts or anything is written.
    assert main(["run", *sweep, f"intervention.corpus.path={tmp_path / 'gone.csv'}"]) == 2
    assert "intervention.corpus.path: file" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()

    trial = [*SMALL, f"cache_dir={cache_dir}", "intervention.method=cda", "intervention.strength=1"]
    corpus = [f"intervention.corpus.path={files['csv']}", "intervention.corpus.text_column=body"]
    assert main(["trial", *trial, *corpus, "--out", str(tmp_path / "t")]) == 0
    result = json.loads((tmp_path / "t" / "result.json").read_text())
    meta = json.loads(
        (cache_dir / "interventions" / result["intervention_key"] / "meta.json").read_text()
    )
    assert meta["info"]["intervention_corpus"] == f"{files['csv']} (column body)"
    assert meta["settings"]["intervention"]["corpus"]["path"] == str(files["csv"])
    task = load_task(typed(load_config(None, SMALL)).data, 0, cache_dir=cache_dir)
    assert result["realised_rate"] == task.realised_rate


@pytest.mark.slow
def test_projection_moves_seat_on_minilm_across_independent_models(
    conversationai_dir: Path, tmp_path: Path
) -> None:
    """The real-model manipulation of sweeps/minilm_real.yaml: MiniLM's SEAT on the Wikipedia
    comments' attribute words, the projection's direction drawn per seed from the identity-term
    templates, five seeds as in the sweep. The report's manipulation check (its slope through the
    pre-trained model, strength 0) passes the gate's 99.9% level. Measured (README): SEAT -0.038
    before; -0.100, -0.130, -0.108, -0.146, -0.144 after, seeds 0-4."""
    cache = tmp_path / "cache"
    data = {
        "source": "file",
        "path": str(conversationai_dir / "toxicity_nonfuzzed_testset.csv"),
        **{"text_column": "comment", "label_column": "toxic", "train_size": 96},
        **{"eval_size": 64, "rate_method": "counterfactual"},
    }
    task = load_task(typed({"data": data}).data, 0, cache_dir=cache)
    madlibs = {"path": str(conversationai_dir / "bias_madlibs_77k.csv"), "text_column": "Text"}
    corpus = load_corpus(configured_corpus(icfg("projection", corpus=madlibs)), cache)
    base = models.minilm_dir()

    def seat(folder: Path) -> float:
        encoder, tokenizer = models.load_encoder(folder), models.load_tokenizer(folder)
        return seat_effect_size(encoder, tokenizer, task)["effect_size"]

    before = seat(base)
    after = []
    for seed in range(5):
        out = tmp_path / f"projection-{seed}"
        info = apply_intervention(
            icfg("projection", 1.0, seed, corpus=madlibs), base, task, out, corpus
        )
        assert info["pairs"] > 512  # more pairs than it samples: each seed its own direction
        after.append(seat(out))
    print(f"SEAT before {before:.3f}, after projection (s = 1) {[round(a, 3) for a in after]}")
    assert len(set(after)) == 5
    assert all(a < before - 0.03 for a in after)  # measured drops: 0.062 to 0.092
    runs = pd.DataFrame(
        {
            "model": "minilm",
            "method": "projection",
            "strength": [0.0] * 5 + [1.0] * 5,
            "intervention_seed": [*range(5)] * 2,
            "rate": 0.5,
            "intrinsic_after": [before] * 5 + after,
        }
    )
    check, _ = regressions.manipulation_check(runs)
    assert check["n_models"].iloc[0] == 6 and check["df"].iloc[0] == 4  # one model at s = 0
    assert gate_table(check, runs)["status"].iloc[0] == MOVED, check
