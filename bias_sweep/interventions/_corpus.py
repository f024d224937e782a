"""The config section of the methods that learn from text (`cda`, `skew`, `projection`):
`intervention.corpus` (`schema.CorpusConfig`), the text they learn from, apart from the
fine-tuning task. Part of the intervened model's key of these methods only."""

from __future__ import annotations

from dataclasses import dataclass, field

from bias_sweep.checks import check
from bias_sweep.schema import CORPUS_KEY as KEY
from bias_sweep.schema import CorpusConfig


@dataclass
class WithCorpus:
    corpus: CorpusConfig = field(default_factory=CorpusConfig)

    def check(self) -> None:
        """A file or URL, a hub dataset at a pinned revision, or neither (the task's own text).
        Whether its file can be read: `plan` and `run` read it before anything runs."""
        c = self.corpus
        if c.path is not None:
            check(bool(c.path.strip()), f"{KEY}.path", "a file path or URL, or null", c.path)
            check(
                c.hub_dataset is None, f"{KEY}.hub_dataset", "null when path is set", c.hub_dataset
            )
        hub = c.hub_dataset is not None
        if hub:
            check(bool(c.hub_dataset.strip()), f"{KEY}.hub_dataset", "a dataset id", c.hub_dataset)
            pin = "a commit sha (or tag) that pins the hub dataset"
            check(bool(c.revision and c.revision.strip()), f"{KEY}.revision", pin, c.revision)
        for name in ("revision", "hub_config"):
            value = getattr(c, name)
            check(hub or value is None, f"{KEY}.{name}", "null unless hub_dataset is set", value)
        for name in ("split", "text_column"):
            check(bool(getattr(c, name)), f"{KEY}.{name}", "a name", getattr(c, name))
        cap = c.max_rows
        check(cap is None or cap > 0, f"{KEY}.max_rows", "a positive number of rows, or null", cap)
