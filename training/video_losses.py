"""Losses of the two video models (spec sections 2.3 and 3.4). Batches are clips: every target has a time
axis after the batch axis, and the per-frame labels are the frame's middle time (index 1 of the three).

Lengths enter the point losses in ``length_scale`` units (100: centimetres) so that squared errors of a few
units balance the other terms; the paper gives no weights for Deformer (all 1, as the spec assumes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from inference.models.output import HandPrediction

MIDDLE = 1  # the middle label time of a blurred set (sharp sets repeat their one time)


def max_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """maxMSE over the point axis: (..., N, D) -> (...). sum_i w_i d_i^2 with w_i = d_i^2 / sum_j d_j^2, where
    d_i = |P_i - P'_i|: points with larger errors weigh more (the weights are differentiated, as the closed
    form sum d^4 / sum d^2 implies)."""
    d2 = ((pred - target) ** 2).sum(-1)
    weights = d2 / d2.sum(-1, keepdim=True).clamp(min=1e-12)
    return (weights * d2).sum(-1)


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared point distance over the point axis: (..., N, D) -> (...) (the MSE ablation of maxMSE)."""
    return ((pred - target) ** 2).sum(-1).mean(-1)


def _rel(points: torch.Tensor) -> torch.Tensor:
    return points - points[..., :1, :]


@dataclass
class DeformerWeights:
    mesh: float = 1.0  # fused vertices and joints (maxMSE)
    joints2d: float = 1.0  # heatmap joints, squared feature-map pixels
    monocular: float = 1.0  # per-frame MANO: mesh, joints and parameters
    motion: float = 1.0  # predicted forward / backward pose motion against the true one
    smooth: float = 1.0  # first and second temporal differences of the fused pose
    adversarial: float = 1.0  # LSGAN generator term (with switches.adversarial)
    parameters: float = 1.0  # L1 on the fused pose and the window's shape (beyond the paper: see below)
    length_scale: float = 100.0  # metres -> centimetres


@dataclass
class DeformerSwitches:
    max_mse: bool = True  # False: plain MSE everywhere maxMSE is used (the paper's Table 5 ablation)
    adversarial: bool = False  # the motion discriminator (Table 5); off in the tiny recipe


def deformer_losses(pred: HandPrediction, target: Dict[str, torch.Tensor], w: DeformerWeights = DeformerWeights(),
                    switches: DeformerSwitches = DeformerSwitches()) -> Dict[str, torch.Tensor]:
    point = max_mse if switches.max_mse else mse
    s = w.length_scale
    verts, joints = target["vertices_cam"] * s, target["joints_cam"][:, :, MIDDLE] * s  # (B, T, ., 3)
    pose = target["pose"][:, :, MIDDLE]  # (B, T, 48)
    out = {}
    fused_v = _rel_to(pred.vertices, pred.joints) * s
    out["mesh"] = w.mesh * (point(fused_v, verts) + point(_rel(pred.joints) * s, joints)).mean()
    hm = pred.extras["heatmap_joints"]
    out["joints2d"] = w.joints2d * ((hm - target["joints_img"][:, :, MIDDLE, :, :2]) ** 2).sum(-1).mean()
    mono_v = _rel_to(pred.extras["mono_vertices"], pred.extras["mono_joints"]) * s
    mono_params = torch.cat([pred.extras["mono_pose"], pred.extras["mono_betas"]], -1)[..., None]
    params = torch.cat([pose, target["betas"]], -1)[..., None]
    out["monocular"] = w.monocular * (point(mono_v, verts) + point(_rel(pred.extras["mono_joints"]) * s, joints)
                                      + point(mono_params, params)).mean()
    # The paper supervises MANO parameters only through the monocular head. Trained that way, the tiny model's
    # window shape drifted far outside the training range on footage (|beta| up to 32, the hand's size and
    # so its depth off by a metre), so the fused pose and the shape get an L1 term as BlurHandNet's do.
    fused = torch.cat([pred.global_orient, pred.hand_pose], -1)
    out["parameters"] = w.parameters * ((fused - pose).abs().mean() + (pred.betas - target["betas"]).abs().mean())
    if pose.shape[1] > 1:
        true_fw = pose[:, 1:] - pose[:, :-1]
        fw, bw = pred.extras["forward_motion"], pred.extras["backward_motion"]
        out["motion"] = w.motion * (((fw[:, :-1] - true_fw) ** 2).sum(-1).mean() + ((bw[:, 1:] + true_fw) ** 2).sum(-1).mean())
        vel = fused[:, 1:] - fused[:, :-1]
        smooth = (vel ** 2).sum(-1).mean()
        if fused.shape[1] > 2:
            smooth = smooth + ((vel[:, 1:] - vel[:, :-1]) ** 2).sum(-1).mean()
        out["smooth"] = w.smooth * smooth
    return out


def _rel_to(vertices: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
    """Vertices relative to the wrist joint."""
    return vertices - joints[..., :1, :]


class MotionDiscriminator(nn.Module):
    """Real or generated pose sequence (LSGAN, following VIBE): a 2-layer GRU over (B, T, 48) poses, the last
    state -> one score."""

    def __init__(self, hidden: int = 256, layers: int = 2):
        super().__init__()
        self.gru = nn.GRU(48, hidden, layers, batch_first=True)
        self.score = nn.Linear(hidden, 1)

    def forward(self, poses: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(poses.float())
        return self.score(out[:, -1])[:, 0]


def lsgan_generator(d_fake: torch.Tensor) -> torch.Tensor:
    return ((d_fake - 1) ** 2).mean()


def lsgan_discriminator(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    return (d_fake ** 2).mean() + ((d_real - 1) ** 2).mean()


# ------------------------------------------------------------------------------------------------ SeqHAND


@dataclass
class SeqHandWeights:
    """The paper's weights (spec 3.4): lambda_2D 5, lambda_3D 100, lambda_temp 100, lambda_temp^theta 2e-4,
    lambda_cam 1, lambda_mask 10. Norms as written (sums over points); the vertex term is scaled by 21/778 so
    that it weighs as the joint term (the paper does not say how the two are balanced)."""

    joints2d: float = 5.0  # L1, normalised crop coordinates
    joints3d: float = 100.0  # squared metres, root-relative, joints and (scaled) vertices
    temporal: float = 100.0
    temporal_pose: float = 2e-4
    parameters: float = 1.0
    mask: float = 10.0


def weak_perspective_fit(points: torch.Tensor, pixels: torch.Tensor):
    """Least-squares (s, t) with s * points + t ~ pixels: (..., N, 2) x2 -> scale (...), shift (..., 2)."""
    pc, xc = points - points.mean(-2, keepdim=True), pixels - pixels.mean(-2, keepdim=True)
    scale = (pc * xc).sum((-1, -2)) / (pc ** 2).sum((-1, -2)).clamp(min=1e-9)
    return scale, pixels.mean(-2) - scale[..., None] * points.mean(-2)


def seqhand_losses(pred: HandPrediction, target: Dict[str, torch.Tensor], model,
                   w: SeqHandWeights = SeqHandWeights()) -> Dict[str, torch.Tensor]:
    from inference.models.seqhand import weak_perspective

    size = target["image"].shape[-1]
    hm = target["joints_img"][:, :, MIDDLE, :, :2]  # heatmap pixels of an image_size / 8 map
    true2d = hm / (size / 16) - 1.0  # -> [-1, 1] across the crop
    rel_true = target["joints_cam"][:, :, MIDDLE]
    out = {"joints2d": w.joints2d * (pred.extras["joints2d_norm"] - true2d).abs().sum((-1, -2)).mean()}
    rel = _rel(pred.joints)
    verts = _rel_to(pred.vertices, pred.joints)
    out["joints3d"] = w.joints3d * (((rel - rel_true) ** 2).sum((-1, -2)).mean()
                                    + ((verts - target["vertices_cam"]) ** 2).sum((-1, -2)).mean() * 21 / 778)
    scale, shift = pred.extras["scale"], pred.extras["shift"]
    projected = weak_perspective(verts * 5.0, scale, shift)  # wrist-relative, like the 2D joints
    mask = target["mask"].flatten(0, 1)[:, None]  # (B*T, 1, h, w)
    inside = F.grid_sample(mask, projected.flatten(0, 1)[:, :, None].float(), align_corners=False)
    out["mask"] = w.mask * (1 - inside.mean())
    coeffs = pred.extras["pose_coefficients"]
    if coeffs.shape[1] > 1:
        out["temporal"] = w.temporal * (((pred.betas[:, 1:] - pred.betas[:, :-1]) ** 2).sum(-1).mean()
                                        + w.temporal_pose * ((coeffs[:, 1:] - coeffs[:, :-1]) ** 2).sum(-1).mean())
    true_scale, true_shift = weak_perspective_fit(rel_true[..., :2] * 5.0, true2d)
    pose = target["pose"][:, :, MIDDLE]
    true_coeffs = model.coefficients_from_pose(pose[..., 3:])
    out["parameters"] = w.parameters * (
        ((coeffs - true_coeffs) ** 2).sum(-1) + ((pred.betas - target["betas"]) ** 2).sum(-1)
        + ((pred.global_orient - pose[..., :3]) ** 2).sum(-1) + ((shift - true_shift) ** 2).sum(-1)
        + (scale - true_scale) ** 2).mean()
    return out
