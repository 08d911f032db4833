"""SUNY's progress callback: it sees every forward pass, and raising from it stops a run at once,
leaving the model as it was."""

from __future__ import annotations

import pytest
import torch
from helpers.models import SmallCNN, toy_classifier
from torch import Tensor, nn

from suny import Cancelled, Suny
from suny.models import ImageClassifier

SIZE = 16
BATCH = 2


class CountingCNN(SmallCNN):
    """:class:`SmallCNN` that counts its forward passes."""

    def __init__(self) -> None:
        super().__init__()
        self.passes = 0

    def forward(self, x: Tensor) -> Tensor:
        self.passes += 1
        return super().forward(x)


def model_and_image() -> tuple[ImageClassifier, CountingCNN, Tensor]:
    network = CountingCNN()
    model = toy_classifier(network, SIZE, classes=[f"class {i}" for i in range(10)])
    return model, network, torch.rand(3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))


def hooks(module: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in module.modules()
    )


def test_the_callback_counts_every_intervention_and_ends_at_the_plan() -> None:
    model, network, image = model_and_image()
    seen: list[int] = []
    suny = Suny(model, "layer", batch_size=BATCH, exact=True, on_progress=seen.append)
    network.passes = 0
    explanation = suny.explain(image)
    planned = suny.planned_interventions(6)
    assert planned == 2 * 6 + 2 * 2**4
    steps = [b - a for a, b in zip([0, *seen], seen)]
    assert min(steps) > 0  # a count that only grows
    assert seen[-1] == explanation.interventions <= planned
    assert {6, 12} <= set(seen)  # the ends of the removal and keeping singletons
    # a call after every pass (of BATCH images at most), and one after each batch of interventions
    assert network.passes - 1 <= len(seen) <= 2 * (network.passes - 1)


@pytest.mark.parametrize("cause", ["feature", "filter"])
def test_cancelling_mid_run_stops_at_that_pass_and_restores_the_model(cause: str) -> None:
    model, network, image = model_and_image()
    model.train()
    network.fc.eval()  # a mix of flags, each to be kept
    modes = {name: m.training for name, m in model.named_modules()}
    seen: list[int] = []

    def stop_after_two_passes(done: int) -> None:
        seen.append(done)
        if len(seen) == 2:
            raise Cancelled("stopped by the test")

    suny = Suny(model, "layer", cause=cause, batch_size=BATCH, on_progress=stop_after_two_passes)  # type: ignore[arg-type]
    network.passes = 0
    with pytest.raises(Cancelled, match="stopped by the test"):
        suny.explain(image)
    assert len(seen) == 2  # nothing ran after the raise
    if cause == "feature":  # one pass of the image, then the two batches of interventions
        assert network.passes == 1 + 2
    assert hooks(model) == 0
    assert {name: m.training for name, m in model.named_modules()} == modes
    # the explainer is usable again: a full run afterwards gives the uncancelled result
    suny.on_progress = None
    again = suny.explain(image)
    fresh = Suny(model, "layer", cause=cause, batch_size=BATCH).explain(image)  # type: ignore[arg-type]
    assert torch.equal(again.necessity_map, fresh.necessity_map)
    assert torch.equal(again.sufficiency_map, fresh.sufficiency_map)
