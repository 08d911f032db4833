"""The paper's evaluations (SPEC section 4), for maps from any method: deletion and insertion AUC,
the saliency attack, the energy-based pointing game and the cascading-randomisation sanity check."""

from suny.metrics.aggregate import mean_by_group
from suny.metrics.attack import AttackResult, attack_noise, attack_score, saliency_attack
from suny.metrics.deletion_insertion import (
    Curve,
    DeletionInsertion,
    deletion_curve,
    deletion_insertion,
    insertion_curve,
    overall_auc,
    pixel_ranking,
    plot_curves,
)
from suny.metrics.pointing import pointing_proportion
from suny.metrics.sanity import SanityResult, cascading_randomisation, randomisation_groups

__all__ = [
    "AttackResult",
    "Curve",
    "DeletionInsertion",
    "SanityResult",
    "attack_noise",
    "attack_score",
    "cascading_randomisation",
    "deletion_curve",
    "deletion_insertion",
    "insertion_curve",
    "mean_by_group",
    "overall_auc",
    "pixel_ranking",
    "plot_curves",
    "pointing_proportion",
    "randomisation_groups",
    "saliency_attack",
]
