"""BlurHandNet's losses (paper 000, section 1.4; weights from the authors' code, spec 1.4).

L = L_U,M + L_U,E + L_R,M + L_R,E:

- Unfolder, middle: L1 between the middle heatmap-space joints and the middle ground truth.
- Unfolder, ends (temporal-order invariant): per sample, the cheaper of (E1->initial, E2->final) and
  (E1->final, E2->initial). The choice (forward or backward) is detached and reused below.
- Regressor, middle: L1 on MANO parameters, root-relative 3D joints and projected 2D joints.
- Regressor, ends (Unfolder-driven ordering): the same mesh loss under the Unfolder's pairing, not a
  pairing of its own (``unfolder_ordering=False`` gives the paper's "order-invariant only" variant).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import torch

from inference.models.output import HandPrediction


@dataclass
class LossWeights:
    joint_img: float = 0.25  # Unfolder joints, heatmap voxels
    joint_cam: float = 10.0  # root-relative 3D joints, metres
    joint_proj: float = 0.0625  # projected 2D joints, heatmap pixels
    mano_pose: float = 1.0
    mano_shape: float = 1.0


@dataclass
class LossSwitches:
    order_invariant: bool = True  # False: ends supervised in the ground-truth order (Table 6, row 1)
    unfolder_ordering: bool = True  # False: the Regressor picks its own order (Table 6, row 2)


def _l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample mean absolute difference: (B, ...) -> (B,)."""
    return (a - b).abs().reshape(a.shape[0], -1).mean(dim=1)


def mesh_terms(pred: HandPrediction, t: int, target: Dict[str, torch.Tensor], g: int, w: LossWeights,
               project) -> torch.Tensor:
    """Per-sample L_mesh of predicted time ``t`` against ground-truth time ``g``: (B,)."""
    pose = torch.cat([pred.global_orient[:, t], pred.hand_pose[:, t]], dim=-1)
    joints = pred.joints[:, t] - pred.joints[:, t, :1]
    loss = w.mano_pose * _l1(pose, target["pose"][:, g]) + w.mano_shape * _l1(pred.betas[:, t], target["betas"])
    loss = loss + w.joint_cam * _l1(joints, target["joints_cam"][:, g])
    if project is not None and "joints_img" in target:
        loss = loss + w.joint_proj * _l1(project(pred, t), target["joints_img"][:, g, :, :2])
    return loss


def blurhand_losses(pred: HandPrediction, target: Dict[str, torch.Tensor], weights: LossWeights = LossWeights(),
                    switches: LossSwitches = LossSwitches(), project=None) -> Dict[str, torch.Tensor]:
    """``target``: joints_img (B, 3, 21, 3) heatmap voxels, joints_cam (B, 3, 21, 3) root-relative metres,
    pose (B, 3, 48), betas (B, 10); ground-truth times ordered (initial, middle, final).

    Works for the single-frame baseline too (one predicted time, supervised by the middle truth).
    """
    w = weights
    unf = pred.extras["unfolder_joints"]
    times = unf.shape[1]
    mid_pred = 1 if times == 3 else 0
    out = {"unfolder_middle": w.joint_img * _l1(unf[:, mid_pred], target["joints_img"][:, 1]),
           "regressor_middle": mesh_terms(pred, mid_pred, target, 1, w, project)}
    if times == 3:
        fwd = _l1(unf[:, 0], target["joints_img"][:, 0]) + _l1(unf[:, 2], target["joints_img"][:, 2])
        bwd = _l1(unf[:, 0], target["joints_img"][:, 2]) + _l1(unf[:, 2], target["joints_img"][:, 0])
        if switches.order_invariant:
            forward = (fwd <= bwd).detach()
            out["unfolder_ends"] = w.joint_img * torch.where(forward, fwd, bwd)
        else:
            forward = torch.ones_like(fwd, dtype=torch.bool)
            out["unfolder_ends"] = w.joint_img * fwd
        r_fwd = mesh_terms(pred, 0, target, 0, w, project) + mesh_terms(pred, 2, target, 2, w, project)
        r_bwd = mesh_terms(pred, 0, target, 2, w, project) + mesh_terms(pred, 2, target, 0, w, project)
        if switches.order_invariant and not switches.unfolder_ordering:
            forward_r = (r_fwd <= r_bwd).detach()
        else:
            forward_r = forward
        out["regressor_ends"] = torch.where(forward_r, r_fwd, r_bwd)
        out["forward_share"] = forward.float()
    losses = {k: v.mean() for k, v in out.items()}
    losses["total"] = sum(v for k, v in losses.items() if k != "forward_share")
    return losses
