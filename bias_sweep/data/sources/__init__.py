"""Data sources: where a task's labelled texts come from, one module per source (`synthetic`,
`file`, `hub`), each registering a `Source` (`registry`); the hub's datasets register a
`HubDataset` each (`civil_comments`, `bias_in_bios`). Importing the package registers them all.
A source of your own is one module: see the README's "Extending".
"""

from bias_sweep.data.sources.registry import SOURCES, Source, SourceRows, register_source
from bias_sweep.registry import discover

__all__ = ["SOURCES", "Source", "SourceRows", "register_source"]

discover(__name__, __path__)
