"""`python tests/faulty_cli.py FAULT ARGS...`: the `bias-sweep` command with a fault injected into
every trial attempt through the driver's `AttemptHooks` (the package ships no fault switch).

FAULT is `after_epoch:N` (each trial fails once, on its first attempt, after epoch N's
checkpoint) or `always` (every attempt fails before training). The hooks are defined in this
script, so Ray ships them to its workers by value.
"""

from __future__ import annotations

import sys

from bias_sweep.cli import main
from bias_sweep.sweep.trainable import Attempt, AttemptHooks


class InjectedFault(RuntimeError):
    """What the injected fault raises."""


def fault_hooks(fault: str) -> AttemptHooks:
    kind, _, epoch = fault.partition(":")
    if kind == "always":

        def on_start(attempt: Attempt) -> None:
            raise InjectedFault(f"{fault}: failing before training, on every attempt")

        return AttemptHooks(on_start=on_start)

    def after_epoch(attempt: Attempt, done: int) -> None:
        if attempt.resumed_from is None and done == int(epoch):
            raise InjectedFault(f"{fault}: failing once after epoch {done}")

    return AttemptHooks(after_epoch=after_epoch)


if __name__ == "__main__":
    sys.exit(main(sys.argv[2:], hooks=fault_hooks(sys.argv[1])))
