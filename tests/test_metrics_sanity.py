"""Cascading randomisation: Grad-CAM on the real Lite0 loses its similarity, a model-independent
map keeps it, and the model comes back bit for bit, errors included."""

from __future__ import annotations

from itertools import chain

import pytest
import torch
from helpers.methods import centre_bump, gradcam
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity

from suny.data import sample_image
from suny.metrics.sanity import (
    cascading_randomisation,
    merge_groups,
    randomisation_groups,
    spearman,
    ssim,
)
from suny.models import load_model
from suny.registry import method_names
from suny.saliency import SaliencyResult

LITE0_GROUPS = [
    "_fc",
    "_bn1",
    "_conv_head",
    *[f"_blocks.{i}" for i in range(15, -1, -1)],
    "_bn0",
    "_conv_stem",
]


@pytest.fixture(scope="module")
def lite0():
    return load_model("efficientnet-lite0")


@pytest.fixture(scope="module")
def cat(lite0):
    image = lite0.preprocess(sample_image()).unsqueeze(0)
    return image, lite0.probabilities(image).argmax(dim=1)


def snapshot(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_identical(model, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert torch.equal(after[key], value), key
        assert after[key].stride() == value.stride(), key  # channels_last kept


def centre(model):
    """A map that ignores the model: a centred bump."""

    def explain(images, targets) -> SaliencyResult:
        return SaliencyResult(centre_bump(images))

    return explain


def test_default_groups_go_from_the_logits_down(lite0):
    assert randomisation_groups(lite0) == LITE0_GROUPS
    resnet = randomisation_groups(load_model("resnet18", "none"))
    assert resnet == [
        "fc",
        "layer4.1",
        "layer4.0",
        "layer3.1",
        "layer3.0",
        "layer2.1",
        "layer2.0",
        "layer1.1",
        "layer1.0",
        "bn1",
        "conv1",
    ]


def test_merge_groups():
    assert merge_groups(["a", "b"], None) == [["a"], ["b"]]
    assert merge_groups(["a", ["b", "c"]], 5) == [["a"], ["b", "c"]]
    merged = merge_groups(LITE0_GROUPS, 5)
    assert len(merged) == 5 and list(chain.from_iterable(merged)) == LITE0_GROUPS
    assert max(map(len, merged)) - min(map(len, merged)) <= 1


def test_gradcam_similarity_falls_and_the_weights_come_back(lite0, cat):
    images, targets = cat
    before = snapshot(lite0)
    rng_state = torch.random.get_rng_state()
    modes = [m.training for m in lite0.modules()]
    result = cascading_randomisation(lite0, gradcam, images, targets, steps=5)
    assert_identical(lite0, before)
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    assert [m.training for m in lite0.modules()] == modes
    assert list(chain.from_iterable(result.layers)) == LITE0_GROUPS
    assert result.maps.shape == (5, 1, 224, 224) and result.spearman.shape == result.ssim.shape == (5, 1)
    assert float(result.original.std()) > 0.1  # a real map, not a degenerate one
    assert bool((result.spearman < 0.6).all()), result.spearman
    assert float(result.spearman[-1, 0]) < 0.4 and float(result.ssim[-1, 0]) < 0.4
    # The same call on the restored model gives the same original map.
    torch.testing.assert_close(gradcam(lite0)(images, targets).maps, result.original)


def test_a_model_independent_map_keeps_its_similarity(lite0, cat, tmp_path):
    images, targets = cat
    result = cascading_randomisation(lite0, centre, images, targets, layers=["_fc", "_blocks.15"])
    assert result.labels == ["_fc", "_blocks.15"]
    torch.testing.assert_close(result.spearman, torch.ones(2, 1))
    torch.testing.assert_close(result.ssim, torch.ones(2, 1))
    result.save_figure(tmp_path / "sanity.png", image=images[0])
    assert (tmp_path / "sanity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_weights_come_back_after_an_error(lite0, cat):
    images, targets = cat
    before = snapshot(lite0)
    calls = []

    def failing(model):
        def explain(images, targets):
            calls.append(1)
            if len(calls) == 3:
                raise RuntimeError("method failed")
            return centre(model)(images, targets)

        return explain

    with pytest.raises(RuntimeError, match="method failed"):
        cascading_randomisation(lite0, failing, images, targets, steps=4)
    assert len(calls) == 3
    assert_identical(lite0, before)


@pytest.mark.skipif("gradcam" not in method_names(), reason="the gradcam baseline is not registered yet")
def test_registered_gradcam_by_name(lite0, cat):
    images, targets = cat
    before = snapshot(lite0)
    result = cascading_randomisation(lite0, "gradcam", images, targets, steps=3)
    assert_identical(lite0, before)
    assert float(result.spearman[-1, 0]) < 0.4


def test_spearman_and_ssim_match_scipy_and_skimage():
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(3, 12, 12, generator=generator)
    b = (a + 0.5 * torch.rand(3, 12, 12, generator=generator)).clamp(max=1)
    a[1, :6] = 0.0  # ties, as in a ReLU'd CAM
    b[2] = (b[2] * 4).round() / 4  # ties in b only
    expected = [spearmanr(x.flatten(), y.flatten()).statistic for x, y in zip(a, b)]
    torch.testing.assert_close(spearman(a, b), torch.tensor(expected, dtype=torch.float32))
    expected = [
        structural_similarity(x.numpy(), y.numpy(), data_range=1.0) for x, y in zip(a.double(), b.double())
    ]
    torch.testing.assert_close(ssim(a, b), torch.tensor(expected, dtype=torch.float32))


def test_a_constant_map_shares_no_order_with_a_ranked_one_and_all_of_it_with_another_constant():
    ranked = torch.arange(16.0).reshape(1, 4, 4)
    zeros, ones = torch.zeros(1, 4, 4), torch.ones(1, 4, 4)
    assert spearman(zeros, ranked).tolist() == [0.0] and spearman(ranked, zeros).tolist() == [0.0]
    assert spearman(zeros, ones).tolist() == [1.0]
    # one constant pair in a batch leaves the others as they are
    torch.testing.assert_close(
        spearman(torch.cat([ranked, zeros]), torch.cat([ranked, ranked])), torch.tensor([1.0, 0.0])
    )
