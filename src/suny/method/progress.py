"""What a caller sees of a SUNY run while it goes, and how it stops one.

:class:`~suny.method.Suny`'s ``on_progress`` is called with the interventions made so far in the
run (answers known or cached included) after every forward pass and at the end of every batch of
interventions; :meth:`~suny.method.Suny.planned_interventions` is their total. Raising from it
(:class:`~suny.errors.Cancelled`, say, when a user asked) stops the run: the exception reaches the
caller before another forward pass, and the model keeps its train/eval flags and has no hook of the
run left::

    def check(done: int) -> None:
        if stop.is_set():
            raise Cancelled("stopped by the user")

    Suny(model, on_progress=check).explain(image)

The baselines (:func:`suny.registry.create_method`) have no such callback: a caller running
several methods stops between them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tqdm.auto import tqdm

#: Told the interventions made so far in a run.
ProgressCallback = Callable[[int], object]


class RunProgress:
    """One run's count of interventions, passed on to a progress bar and to a caller's callback."""

    def __init__(self, bar: tqdm[Any] | None, callback: ProgressCallback | None) -> None:
        self.bar = bar
        self.callback = callback
        self.done = 0

    def update(self, count: int) -> None:
        """``count`` more interventions made."""
        self.done += count
        if self.bar is not None:
            self.bar.update(count)
        if self.callback is not None:
            self.callback(self.done)
