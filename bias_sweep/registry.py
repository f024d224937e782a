"""Registries of self-describing specs: intervention methods, metrics, data sources, launchers.

A spec (a frozen dataclass with a `name`) is registered by the module that defines it, and every
list of names the rest of the project needs (schema choices, grid rules, report labels, CLI
sub-commands) is a view of its registry. A registry's package imports all of its public modules
when it is first imported (`discover`), so adding a method, metric, source or launcher is one new
module; a spec registered from elsewhere (a test, a researcher's own module) joins after them.

Plugin modules must stay cheap to import: what needs torch, Ray or scikit-learn is imported
inside the functions that use it, so that reading the names costs nothing.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Iterator
from typing import Generic, Protocol, TypeVar

from bias_sweep.checks import one_of


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    """Specs of one kind by name, in registration order; `key` is the config key or argument that
    chooses one (what an unknown name's error names)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._specs: dict[str, T] = {}
        self.version = 0  # bumped by every registration: derived tables know when to refresh

    def register(self, spec: T) -> T:
        """Add a spec; a second spec under a name already taken is refused."""
        old = self._specs.get(spec.name)
        if old is not None and old is not spec:
            raise ValueError(f"{self.key}: {spec.name!r} is registered twice")
        self._specs[spec.name] = spec
        self.version += 1
        return spec

    def unregister(self, name: str) -> None:
        """Remove a spec (for specs registered by tests and scripts, to leave no trace)."""
        if self._specs.pop(name, None) is not None:
            self.version += 1

    def get(self, name: object) -> T:
        """The spec of `name`, or a one-line UserError naming the key and what is allowed."""
        one_of(name, self.key, self.names())
        return self._specs[name]  # type: ignore[index]

    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._specs.values()))

    def __len__(self) -> int:
        return len(self._specs)


def discover(package: str, path: Iterable[str]) -> None:
    """Import every public module of a package (sorted by name), so each registers its specs.

    Called at the end of the package's `__init__`: any import of one of its modules runs it
    first, so the registration order does not depend on which module was imported first.
    """
    for module in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package}.{module.name}")
