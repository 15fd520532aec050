"""The fit's energy, one pure function per term. Each returns its unweighted cost, per frame (F,) or for the
whole window (a scalar); :func:`~inference.fit.solve.fit_window` weighs and sums them (``FitWeights``).

Angles are the right-hand anatomical angles (F, 15, 3): flexion, abduction, twist of MANO's finger joints
in the order index, middle, pinky, ring, thumb (three joints each).
"""
from __future__ import annotations

from typing import Optional

import torch

DIP_PIP_RATIO = 0.67  # tendon coupling: a finger's DIP flexes about two thirds of its PIP


def keypoint_term(uv: torch.Tensor, keypoints: torch.Tensor, weight: torch.Tensor, hand_size: torch.Tensor,
                  sigma: float, sigma_final: float) -> torch.Tensor:
    """Geman-McClure reprojection error of the projected joints ``uv`` (F, 21, 2) against ``keypoints``, in units
    of the hand's size in the image (F,), weighted per keypoint (F, 21). Scaled so that a small residual costs
    r^2 / sigma_final^2 at every ``sigma``: annealing the scale from wide to narrow lets far keypoints pull
    first, and a wrong keypoint cannot drag the hand."""
    r2 = ((uv - keypoints) ** 2).sum(-1) / hand_size[:, None] ** 2
    rho = (sigma / sigma_final) ** 2 * r2 / (r2 + sigma ** 2)
    return (weight * rho).sum(-1)


def pose_prior_term(angles: torch.Tensor, prior_angles: torch.Tensor,
                    prior_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Squared distance of the finger angles from the network's, per finger joint weighted (F, 15) where the
    network gives a confidence (the prior holds where it is sure)."""
    gap = ((angles - prior_angles) ** 2).sum(2)
    if prior_weight is not None:
        gap = gap * prior_weight
    return gap.sum(1)


def orient_prior_term(root: torch.Tensor, root_net: torch.Tensor) -> torch.Tensor:
    """3 - trace(R_net^T R) = 2 (1 - cos angle): about the squared angle between the global orientations
    (F, 3, 3) for small angles, and cheap."""
    return 3 - (root_net * root).sum((-1, -2))


def _flexions(angles: torch.Tensor) -> torch.Tensor:
    """(F, 4, 3): (MCP, PIP, DIP) flexion of the index, middle, pinky and ring fingers."""
    return angles[:, :12, 0].reshape(-1, 4, 3)


def coupling_term(angles: torch.Tensor) -> torch.Tensor:
    """A finger's DIP flexes about two thirds of its PIP (the tendons couple them)."""
    flex = _flexions(angles)
    return ((flex[:, :, 2] - DIP_PIP_RATIO * flex[:, :, 1]) ** 2).sum(-1)


def straight_term(angles: torch.Tensor, scale: float) -> torch.Tensor:
    """Each PIP flexion a costs a^2 / (a^2 + scale^2): nothing for a straight finger, at most 1 however far
    bent. A bend towards the camera shortens a finger's image only to second order, so keypoint noise that
    lands short of the tip would otherwise be read as a bend."""
    pip = _flexions(angles)[:, :, 1] ** 2
    return (pip / (pip + scale ** 2)).sum(-1)


def acceleration_term(joints: torch.Tensor, times: torch.Tensor, max_gap: float, scale_m: float) -> torch.Tensor:
    """Squared second differences of the camera-space joints (F, 21, 3) over the frames' ``times`` (F,),
    in units of ``scale_m`` per frame^2, skipped where consecutive frames are more than ``max_gap`` apart."""
    if joints.shape[0] < 3:
        return joints.new_zeros(())
    dt = times[1:] - times[:-1]
    linked = (dt <= max_gap) & (dt > 0)
    vel = (joints[1:] - joints[:-1]) / dt.clamp_min(1e-3)[:, None, None]
    span = ((times[2:] - times[:-2]) / 2).clamp_min(1e-3)[:, None, None]
    acc = (vel[1:] - vel[:-1]) / span
    both = (linked[1:] & linked[:-1]).to(joints.dtype)
    return ((acc ** 2).sum((-1, -2)) * both).sum() / scale_m ** 2


def shape_term(betas: torch.Tensor) -> torch.Tensor:
    """Squared betas: a standard-normal prior on the shape."""
    return (betas ** 2).sum()
