"""The seven baselines of the paper (SPEC section 3), by registry name: ``gradcam``,
``gradcam++``, ``smoothgradcam++`` (the paper's "SmoothGrad" row), ``scorecam`` (:mod:`.cam`),
``groupcam``, ``rise`` and ``cexcnn``; and pixel ``smoothgrad``, an extra row."""

from suny.baselines.cam import CAM, GradCAM, GradCAMPlusPlus, ScoreCAM, SmoothGradCAMPlusPlus
from suny.baselines.cexcnn import CexCNN, CexCNNRecord
from suny.baselines.common import Baseline
from suny.baselines.groupcam import GroupCAM
from suny.baselines.rise import RISE, RiseMasks
from suny.baselines.smoothgrad import SmoothGrad

__all__ = [
    "CAM",
    "RISE",
    "Baseline",
    "CexCNN",
    "CexCNNRecord",
    "GradCAM",
    "GradCAMPlusPlus",
    "GroupCAM",
    "RiseMasks",
    "ScoreCAM",
    "SmoothGrad",
    "SmoothGradCAMPlusPlus",
]
