"""Shapley estimators on games whose values are known in closed form."""

from __future__ import annotations

import itertools

import pytest
import torch

from suny.method.shapley import CachedGame, exact_shapley, sampled_shapley


def additive(weights: list[float]):
    w = torch.tensor(weights, dtype=torch.float64)
    return lambda coalitions: coalitions.double() @ w


def unanimity(members: list[int]):
    """v(S) = 1 when S contains every player of ``members``: each member gets 1/|members|."""
    return lambda coalitions: coalitions[:, members].all(dim=1).double()


def random_game(n: int, seed: int):
    """An arbitrary game: a random value per coalition (a lookup table)."""
    table = torch.rand(2**n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    powers = 2 ** torch.arange(n)
    return lambda coalitions: table[(coalitions.long() * powers).sum(dim=1)]


def brute_force(game, n: int) -> torch.Tensor:
    """The definition: average over all n! orders of each player's marginal contribution."""
    phi = torch.zeros(n, dtype=torch.float64)
    orders = list(itertools.permutations(range(n)))
    for order in orders:
        coalition = torch.zeros(1, n, dtype=torch.bool)
        before = float(game(coalition))
        for player in order:
            coalition = coalition.clone()
            coalition[0, player] = True
            after = float(game(coalition))
            phi[player] += after - before
            before = after
    return phi / len(orders)


def test_exact_additive_game_gives_each_player_its_weight():
    estimate = exact_shapley(additive([0.5, -1.0, 2.0]), 3)
    assert torch.allclose(estimate.values, torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64))
    assert estimate.evaluations == 8


def test_exact_unanimity_game_symmetry_and_dummy():
    estimate = exact_shapley(unanimity([0, 2]), 4)
    assert estimate.values.tolist() == pytest.approx([0.5, 0.0, 0.5, 0.0], abs=1e-12)


def test_exact_matches_the_permutation_definition():
    game = random_game(4, seed=3)
    assert torch.allclose(exact_shapley(game, 4).values, brute_force(game, 4), atol=1e-12)


def test_two_player_game_by_hand():
    # v(empty)=0, v({0})=0.2, v({1})=0.5, v({0,1})=1.0
    table = {(): 0.0, (0,): 0.2, (1,): 0.5, (0, 1): 1.0}

    def game(coalitions):
        keys = [tuple(torch.nonzero(row).flatten().tolist()) for row in coalitions]
        return torch.tensor([table[key] for key in keys], dtype=torch.float64)

    estimate = exact_shapley(game, 2)
    # phi_0 = (0.2 - 0 + 1.0 - 0.5) / 2 = 0.35, phi_1 = (0.5 - 0 + 1.0 - 0.2) / 2 = 0.65
    assert estimate.values.tolist() == pytest.approx([0.35, 0.65], abs=1e-12)


@pytest.mark.parametrize("permutations", [1, 2, 7])
def test_sampling_is_efficient_per_permutation(permutations):
    game = random_game(6, seed=1)
    estimate = sampled_shapley(game, 6, permutations, torch.Generator().manual_seed(0))
    full, empty = estimate.full_value, estimate.empty_value
    assert full == pytest.approx(float(game(torch.ones(1, 6, dtype=torch.bool))), abs=0)
    assert empty == pytest.approx(float(game(torch.zeros(1, 6, dtype=torch.bool))), abs=0)
    assert float(estimate.values.sum()) == pytest.approx(full - empty, abs=1e-12)


def test_sampling_gives_dummies_zero_and_symmetric_players_equal_expectation():
    estimate = sampled_shapley(unanimity([1, 3]), 5, 400, torch.Generator().manual_seed(0))
    assert estimate.values[[0, 2, 4]].abs().max() == 0  # a dummy never changes any coalition's value
    assert estimate.values[1] + estimate.values[3] == pytest.approx(1.0, abs=1e-12)
    assert float(estimate.values[1]) == pytest.approx(0.5, abs=4 * float(estimate.stderr[1]))


def test_sampling_converges_to_exact_within_its_standard_errors():
    game = random_game(5, seed=7)
    exact = exact_shapley(game, 5).values
    estimate = sampled_shapley(game, 5, 3000, torch.Generator().manual_seed(1))
    assert (estimate.stderr > 0).all()
    z = (estimate.values - exact).abs() / estimate.stderr
    assert float(z.max()) < 4.5
    assert float((estimate.values - exact).abs().max()) < 0.03
    # the error shrinks like 1 / sqrt(P)
    small = sampled_shapley(game, 5, 30, torch.Generator().manual_seed(1))
    assert float(small.stderr.mean()) > 5 * float(estimate.stderr.mean())


def test_sampling_is_reproducible_with_a_seed():
    game = random_game(6, seed=2)
    a = sampled_shapley(game, 6, 10, torch.Generator().manual_seed(5))
    b = sampled_shapley(game, 6, 10, torch.Generator().manual_seed(5))
    c = sampled_shapley(game, 6, 10, torch.Generator().manual_seed(6))
    assert torch.equal(a.values, b.values) and torch.equal(a.stderr, b.stderr)
    assert not torch.equal(a.values, c.values)


def test_cached_game_evaluates_each_distinct_coalition_once_in_one_call():
    calls: list[int] = []

    def game(coalitions):
        calls.append(len(coalitions))
        return coalitions.double().sum(dim=1)

    cached = CachedGame(game, 3)
    cached.seed(torch.eye(3, dtype=torch.bool), torch.tensor([1.0, 1.0, 1.0]))
    estimate = sampled_shapley(cached, 3, 50, torch.Generator().manual_seed(0))
    assert calls == [5]  # empty, full and the 3 pairs, in one call; singletons were seeded
    assert estimate.values.tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert cached.evaluations == sum(calls)


def test_exact_refuses_huge_games():
    with pytest.raises(ValueError, match="sample instead"):
        exact_shapley(additive([1.0] * 21), 21)
