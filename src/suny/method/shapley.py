"""Shapley values of a cooperative game whose value function is evaluated in batches.

A game over n players is a callable ``value(coalitions)`` taking a (B, n) boolean matrix (row b is
a coalition) and returning the (B,) values. Two estimators:

- :func:`exact_shapley`: enumeration of all 2^n coalitions,
  ``phi_i = sum_{S not containing i} |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S))``.
- :func:`sampled_shapley` (Strumbelj & Kononenko 2010): random permutations, each walked prefix by
  prefix; ``phi_i`` is the mean over permutations of ``v(prefix + i) - v(prefix)``. Every distinct
  coalition is evaluated once (all of a round in one batched call), so within each permutation the
  contributions telescope to ``v(players) - v(empty)`` exactly, and so does their mean. The
  standard error of each ``phi_i`` is the sample standard deviation over permutations / sqrt(P).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

Game = Callable[[Tensor], Tensor]


@dataclass
class ShapleyEstimate:
    """Shapley values (n,), their standard errors (zero when exact), v(all), v(empty) and the
    number of distinct coalitions evaluated."""

    values: Tensor
    stderr: Tensor
    full_value: float
    empty_value: float
    evaluations: int


class CachedGame:
    """Wraps a game so that every distinct coalition is evaluated once; values can be pre-seeded
    (e.g. singletons already known)."""

    def __init__(self, game: Game, num_players: int) -> None:
        self.game = game
        self.num_players = num_players
        self._cache: dict[bytes, float] = {}
        self.evaluations = 0

    def seed(self, coalitions: Tensor, values: Tensor) -> None:
        for row, value in zip(coalitions.cpu(), values.cpu().tolist()):
            self._cache[row.numpy().tobytes()] = float(value)

    def __call__(self, coalitions: Tensor) -> Tensor:
        coalitions = coalitions.cpu().bool()
        keys = [row.numpy().tobytes() for row in coalitions]
        new: dict[bytes, Tensor] = {}
        for key, row in zip(keys, coalitions):
            if key not in self._cache and key not in new:
                new[key] = row
        if new:
            values = self.game(torch.stack(list(new.values()))).double().cpu().tolist()
            self.evaluations += len(new)
            self._cache.update(zip(new, values))
        return torch.tensor([self._cache[key] for key in keys], dtype=torch.float64)


def exact_shapley(game: Game, num_players: int) -> ShapleyEstimate:
    """Exact Shapley values by enumerating all ``2**num_players`` coalitions (one batched call)."""
    n = num_players
    if n > 20:
        raise ValueError(f"exact enumeration of {n} players needs 2**{n} coalitions; sample instead")
    cached = game if isinstance(game, CachedGame) else CachedGame(game, n)
    codes = torch.arange(2**n)
    coalitions = (codes[:, None] >> torch.arange(n)[None, :]) & 1 == 1  # bit i = player i
    values = cached(coalitions)
    sizes = coalitions.sum(dim=1)
    weights = torch.tensor(
        [math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)],
        dtype=torch.float64,
    )
    phi = torch.zeros(n, dtype=torch.float64)
    for i in range(n):
        without = ~coalitions[:, i]
        with_i = codes[without] | (1 << i)
        phi[i] = (weights[sizes[without]] * (values[with_i] - values[without])).sum()
    full, empty = float(values[-1]), float(values[0])
    return ShapleyEstimate(phi, torch.zeros(n, dtype=torch.float64), full, empty, cached.evaluations)


def sampled_shapley(
    game: Game, num_players: int, permutations: int, generator: torch.Generator
) -> ShapleyEstimate:
    """Permutation-sampling estimate from ``permutations`` random orders (CPU ``generator``)."""
    n = num_players
    if permutations < 1:
        raise ValueError("at least one permutation is needed")
    cached = game if isinstance(game, CachedGame) else CachedGame(game, n)
    orders = torch.stack([torch.randperm(n, generator=generator) for _ in range(permutations)])
    ranks = torch.argsort(orders, dim=1)  # ranks[p, i] = position of player i in permutation p
    prefixes = ranks[:, None, :] < torch.arange(n + 1)[None, :, None]  # (P, n+1, n)
    values = cached(prefixes.reshape(-1, n)).view(permutations, n + 1)
    steps = values[:, 1:] - values[:, :-1]  # (P, n): contribution of the player at each position
    contributions = torch.zeros(permutations, n, dtype=torch.float64)
    contributions.scatter_(1, orders, steps)
    phi = contributions.mean(dim=0)
    if permutations > 1:
        stderr = contributions.std(dim=0, unbiased=True) / math.sqrt(permutations)
    else:
        stderr = torch.full((n,), float("nan"), dtype=torch.float64)
    full, empty = float(values[0, -1]), float(values[0, 0])
    return ShapleyEstimate(phi, stderr, full, empty, cached.evaluations)
