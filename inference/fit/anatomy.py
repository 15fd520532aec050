"""The hand's anatomy as the fit sees it: finger joints as anatomical angles inside their limits, the mirror
between the hands, and how a mirror-image detector labels the keypoints."""
from __future__ import annotations

import numpy as np
import torch

from addon.common.hand_model import HandModel
from addon.common.pose_prior import LIMITS, anatomical_axes, joint_kind

MIRROR = (1.0, -1.0, -1.0)  # axis-angle of a mirrored (left <-> right) rotation, per component
# A detector that takes a hand for its mirror image labels its keypoints mirrored across the middle finger:
# its "thumb" lies on the true pinky, its "index" on the true ring, and back. MANO-21 indices: the keypoint
# of true joint j, read mirror-labelled, is keypoints[FLIPPED_LABELS[j]].
_SWAPS = {(7, 8, 9, 20): (13, 14, 15, 16), (1, 2, 3, 17): (10, 11, 12, 19)}
FLIPPED_LABELS = list(range(21))
for _a, _b in _SWAPS.items():
    for _i, _j in zip(_a, _b):
        FLIPPED_LABELS[_i], FLIPPED_LABELS[_j] = _j, _i
PALM = [0, 1, 4, 7, 10]  # wrist and the four finger MCPs (MANO-21): nearly rigid, nearly planar


def limit_arrays(dtype=torch.float32, device=None):
    """(15, 3) lower and upper anatomical limits (flex, abduct, twist) of MANO's finger joints."""
    lo = np.array([[LIMITS[joint_kind(j)][a][0] for a in range(3)] for j in range(1, 16)])
    hi = np.array([[LIMITS[joint_kind(j)][a][1] for a in range(3)] for j in range(1, 16)])
    return torch.as_tensor(lo, dtype=dtype, device=device), torch.as_tensor(hi, dtype=dtype, device=device)


def side_mirror(side: str, like: torch.Tensor) -> torch.Tensor:
    """Per axis-angle component: what turns a right hand's finger rotation into ``side``'s."""
    return like.new_tensor(MIRROR) if side == "left" else like.new_ones(3)


class AnatomicalFrame:
    """Right-hand finger axis-angle (N, 45) <-> anatomical angles (N, 15, 3); an orthonormal change of basis
    per joint (flexion, abduction, twist axes of the rest hand)."""

    def __init__(self, right_model: HandModel, dtype=torch.float32, device=None):
        axes = anatomical_axes(right_model.rest_joints())
        self.basis = torch.as_tensor(np.stack([axes.flex, axes.abduct, axes.twist], 1), dtype=dtype,
                                     device=device)  # (15, 3, 3)

    def to_angles(self, hand_pose: torch.Tensor) -> torch.Tensor:
        return torch.einsum("jab,njb->nja", self.basis, hand_pose.reshape(-1, 15, 3))

    def to_pose(self, angles: torch.Tensor) -> torch.Tensor:
        return torch.einsum("jab,nja->njb", self.basis, angles).reshape(-1, 45)
