"""Tasks of labelled texts with a controlled group/label co-occurrence rate.

- `task`: a data config's task for one seed (`load_task`): pool, eval set, train sample;
- `sources`: where the labelled texts come from (synthetic, file, hub: one module each);
- `lexicon`: group terms, which group a text mentions, and its counterfactual twin;
- `pool`, `eval_split`, `cooccurrence`: the labelled pool, its eval set, the train sample;
- `feasibility`: whether a grid's sizes fit its pools, before anything runs;
- `eval_sets`: external evaluation sets (`eval.sets`);
- `tables`: reading tables from files and URLs; `attribute_corpus`, `class_words`: corpora with a
  chosen association and the words of each class.
"""

from bias_sweep.data.cooccurrence import cooccurrence_sample
from bias_sweep.data.eval_split import EVAL_SEED
from bias_sweep.data.lexicon import Lexicon, get_lexicon, group_counts
from bias_sweep.data.task import TaskData, load_task, pool_group_counts

__all__ = [
    "EVAL_SEED",
    "Lexicon",
    "TaskData",
    "cooccurrence_sample",
    "get_lexicon",
    "group_counts",
    "load_task",
    "pool_group_counts",
]
