"""MANO's 21 joints without its mesh: forward kinematics of the 16 joints plus linear blend skinning of the
five fingertip vertices alone. The same maths as smplx's ``lbs`` restricted to the points a 2D fit needs,
so fitting a clip costs a small fraction of full MANO (21 points instead of 778 vertices)."""
from __future__ import annotations

from typing import List, Optional

import numpy as np
import torch
from torch import nn

from addon.common.hand_model import HandModel
from addon.common.joints import TIP_NAMES, TIP_VERTEX_IDS

from ..models.blocks import axis_angle_to_matrix, rotmul


def tree_levels(parents: List[int]) -> List[List[int]]:
    """Joints grouped by depth in the tree (the root alone first): each level is one batched step of FK."""
    depth = [0] * len(parents)
    for j in range(1, len(parents)):
        depth[j] = depth[parents[j]] + 1
    return [[j for j in range(len(parents)) if depth[j] == d] for d in range(max(depth) + 1)]


def forward_kinematics(rot: torch.Tensor, rest_joints: torch.Tensor, parents: List[int],
                       levels: Optional[List[List[int]]] = None):
    """(N, J, 3, 3) local rotations about (N, J, 3) rest joints -> posed joints (N, J, 3) and the world
    rotations (N, J, 3, 3); a joint's skinning transform is x -> R (x - rest) + posed. Joints of one depth
    are computed together (MANO: 4 steps, not 16)."""
    levels = levels or tree_levels(parents)
    n, j = rot.shape[:2]
    world_r = [None] * j
    posed = [None] * j
    root = levels[0][0]
    world_r[root], posed[root] = rot[:, root], rest_joints[:, root]
    for level in levels[1:]:
        par = [parents[k] for k in level]
        pr = torch.stack([world_r[p] for p in par], 1)  # (N, L, 3, 3)
        pp = torch.stack([posed[p] for p in par], 1)
        bone = rest_joints[:, level] - rest_joints[:, par]
        r = rotmul(pr, rot[:, level])
        x = pp + rotmul(pr, bone[..., None])[..., 0]
        for i, k in enumerate(level):
            world_r[k], posed[k] = r[:, i], x[:, i]
    return torch.stack(posed, 1), torch.stack(world_r, 1)


class HandKinematics(nn.Module):
    """Holds the arrays MANO-21 joints depend on; ``forward(full_pose, betas)`` -> (N, 21, 3)."""

    def __init__(self, model: HandModel, dtype: torch.dtype = torch.float32):
        super().__init__()
        t = lambda a: torch.as_tensor(a, dtype=dtype)  # noqa: E731
        tips = [TIP_VERTEX_IDS[n] for n in TIP_NAMES]
        self.parents = [int(p) for p in model.parents]
        self.levels = tree_levels(self.parents)
        self.register_buffer("joint_template", t(model.J_regressor @ model.v_template))  # (16, 3)
        self.register_buffer("joint_dirs", t(np.einsum("jv,vcl->jcl", model.J_regressor, model.shapedirs)))
        self.register_buffer("tip_template", t(model.v_template[tips]))  # (5, 3)
        self.register_buffer("tip_dirs", t(model.shapedirs[tips]))  # (5, 3, 10)
        self.register_buffer("tip_posedirs", t(model.posedirs[tips]))  # (5, 3, 135)
        self.register_buffer("tip_weights", t(model.weights[tips]))  # (5, 16)

    def rest_joints(self, betas: torch.Tensor) -> torch.Tensor:
        return self.joint_template + torch.einsum("jcl,nl->njc", self.joint_dirs, betas)

    def forward(self, full_pose: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """full_pose (N, 48) axis-angle (global first), betas (N, 10) or (1, 10) -> (N, 21, 3) MANO-21 joints
        in MANO's own frame (add the translation yourself)."""
        return self.from_rotations(axis_angle_to_matrix(full_pose.reshape(-1, 16, 3)), betas)

    def from_rotations(self, rot: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """The same from the 16 local rotation matrices (N, 16, 3, 3)."""
        n = rot.shape[0]
        betas = betas.expand(n, -1)
        rest = self.rest_joints(betas)
        posed, world = forward_kinematics(rot, rest, self.parents, self.levels)
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        features = (rot[:, 1:] - eye).reshape(n, 135)
        tips = self.tip_template + torch.einsum("vcl,nl->nvc", self.tip_dirs, betas) + \
            torch.einsum("vck,nk->nvc", self.tip_posedirs, features)
        # LBS of each tip: the sum over joints of w_j (R_j (x - rest_j) + posed_j)
        local = tips[:, :, None, :] - rest[:, None, :, :]  # (N, 5, 16, 3)
        moved = rotmul(world[:, None], local[..., None])[..., 0] + posed[:, None]  # (N, 5, 16, 3)
        tip_pos = (self.tip_weights[None, :, :, None] * moved).sum(2)
        return torch.cat([posed, tip_pos], 1)
