"""MANO's 21 joints without its mesh: forward kinematics of the 16 joints plus linear blend skinning of the
five fingertip vertices alone. The same maths as smplx's ``lbs`` restricted to the points a 2D fit needs,
so fitting a clip costs a small fraction of full MANO (21 points instead of 778 vertices)."""
from __future__ import annotations

from dataclasses import dataclass
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


@dataclass
class LevelPlan:
    """The joints reordered by depth, for :func:`forward_kinematics`: ``order`` (J,) the joints level by level,
    ``sizes`` each level's count, ``parent_at`` per level below the root each joint's parent as a position in
    the level above (None: the level above in order), ``back`` (J,) the inverse permutation of ``order``."""

    order: torch.Tensor
    sizes: List[int]
    parent_at: List[Optional[torch.Tensor]]
    back: torch.Tensor

    @staticmethod
    def of(parents: List[int]) -> "LevelPlan":
        levels = tree_levels(parents)
        order = [j for level in levels for j in level]
        parent_at = []
        for above, level in zip(levels, levels[1:]):
            at = [above.index(parents[k]) for k in level]
            parent_at.append(None if at == list(range(len(above))) else torch.tensor(at))
        return LevelPlan(torch.tensor(order), [len(level) for level in levels], parent_at,
                         torch.tensor(np.argsort(order)))

    def to(self, device: torch.device) -> "LevelPlan":
        moved = [None if at is None else at.to(device) for at in self.parent_at]
        return LevelPlan(self.order.to(device), self.sizes, moved, self.back.to(device))


def forward_kinematics(rot: torch.Tensor, rest_joints: torch.Tensor, parents: List[int],
                       plan: Optional[LevelPlan] = None):
    """(N, J, 3, 3) local rotations about (N, J, 3) rest joints -> posed joints (N, J, 3) and the world
    rotations (N, J, 3, 3); a joint's skinning transform is x -> R (x - rest) + posed. Joints of one depth
    are computed together (MANO: 4 steps, not 16), each level one slice of the joints reordered by depth:
    per-joint indexing cost more than the products themselves in the fitting stage's backward pass."""
    plan = plan or LevelPlan.of(parents)
    if plan.order.device != rot.device:
        plan = plan.to(rot.device)
    rot_by_level = rot.index_select(1, plan.order).split(plan.sizes, 1)
    rest_by_level = rest_joints.index_select(1, plan.order).split(plan.sizes, 1)
    world_r, posed = [rot_by_level[0]], [rest_by_level[0]]
    for d, at in enumerate(plan.parent_at, start=1):
        pr, pp, prest = world_r[-1], posed[-1], rest_by_level[d - 1]
        if at is not None:
            pr, pp, prest = pr.index_select(1, at), pp.index_select(1, at), prest.index_select(1, at)
        bone = rest_by_level[d] - prest
        world_r.append(rotmul(pr, rot_by_level[d]))
        posed.append(pp + rotmul(pr, bone[..., None])[..., 0])
    return torch.cat(posed, 1).index_select(1, plan.back), torch.cat(world_r, 1).index_select(1, plan.back)


class HandKinematics(nn.Module):
    """Holds the arrays MANO-21 joints depend on; ``forward(full_pose, betas)`` -> (N, 21, 3)."""

    def __init__(self, model: HandModel, dtype: torch.dtype = torch.float32):
        super().__init__()
        t = lambda a: torch.as_tensor(a, dtype=dtype)  # noqa: E731
        tips = [TIP_VERTEX_IDS[n] for n in TIP_NAMES]
        self.parents = [int(p) for p in model.parents]
        self.plan = LevelPlan.of(self.parents)
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
        if self.plan.order.device != rot.device:  # once per device: the module's .to() does not move it
            self.plan = self.plan.to(rot.device)
        posed, world = forward_kinematics(rot, rest, self.parents, self.plan)
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        features = (rot[:, 1:] - eye).reshape(n, 135)
        tips = self.tip_template + torch.einsum("vcl,nl->nvc", self.tip_dirs, betas) + \
            torch.einsum("vck,nk->nvc", self.tip_posedirs, features)
        # LBS of each tip: the sum over joints of w_j (R_j (x - rest_j) + posed_j), as one blended transform per
        # tip, (sum_j w_j R_j) x + sum_j w_j (posed_j - R_j rest_j): 5 products a sample, not 5 x 16
        blend_r = torch.einsum("vj,njab->nvab", self.tip_weights, world)  # (N, 5, 3, 3)
        moved_rest = posed - rotmul(world, rest[..., None])[..., 0]  # (N, 16, 3)
        blend_t = torch.einsum("vj,njc->nvc", self.tip_weights, moved_rest)
        tip_pos = rotmul(blend_r, tips[..., None])[..., 0] + blend_t
        return torch.cat([posed, tip_pos], 1)
