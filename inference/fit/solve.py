"""One window of one track fitted: the unknowns, the weighted energy of ``terms.py``, and Adam over them.

Unknowns, per footage frame: the global orientation (a turn applied to the start's), the 15 finger joints as
anatomical angles, projected back inside the joint limits after every step, and the translation; optionally
the shape (betas). Angles move by radians, not through a squashing function, so a finger can travel its whole
range within the iterations a window gets. A frame may hold several samples (BlurHandNet's three hands): its
middle one (the *anchor*) is fitted, and the others keep the network's motion relative to it (per-joint
rotations and the translation offset), so the sub-frame keys move with the fit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np
import torch

from ..handmodel.kinematics import HandKinematics
from ..models.blocks import axis_angle_to_matrix, matrix_to_axis_angle, rotmul
from .anatomy import FLIPPED_LABELS, AnatomicalFrame, limit_arrays, side_mirror
from .settings import FitSettings
from .terms import (
    acceleration_term,
    coupling_term,
    keypoint_term,
    orient_prior_term,
    pose_prior_term,
    shape_term,
    straight_term,
)


@dataclass
class Window:
    """One window of one track, as tensors. F frames, S samples (S = F or 3F), 21 keypoints per frame.

    Poses are in the track's own hand convention (a left hand's are left-hand MANO parameters). The
    network's samples are the prior; ``start_pose`` / ``start_transl`` (one per frame) are where the
    optimisation begins (default: the network's anchor samples)."""

    times: torch.Tensor  # (S,) sample times in frames, increasing
    frame_of: torch.Tensor  # (S,) long: the frame each sample belongs to
    anchor: torch.Tensor  # (F,) long: the sample of each frame that the keypoints pin down
    net_pose: torch.Tensor  # (S, 48)
    net_transl: torch.Tensor  # (S, 3)
    keypoints: torch.Tensor  # (F, 21, 2) pixels
    kp_weight: torch.Tensor  # (F, 21) >= 0 (0: no keypoint)
    hand_size: torch.Tensor  # (F,) pixels
    camera: torch.Tensor  # (3, 3) intrinsics
    fixed: torch.Tensor  # (F,) bool: context frames held at their start pose (already published)
    warm: torch.Tensor  # (F,) bool: the start pose is an earlier window's fit (no new candidates)
    start_pose: Optional[torch.Tensor] = None  # (F, 48)
    start_transl: Optional[torch.Tensor] = None  # (F, 3)
    prior_weight: Optional[torch.Tensor] = None  # (F, 15) per finger joint, mean 1 per frame (None: all 1)
    mirrored: Optional[torch.Tensor] = None  # (F,) bool: the keypoints may be read mirror-labelled (None: never)

    @property
    def frames(self) -> int:
        return self.keypoints.shape[0]


@dataclass
class FitResult:
    pose: np.ndarray  # (S, 48) in the track's own convention
    transl: np.ndarray  # (S, 3)
    betas: np.ndarray  # (10,)
    energy: Dict[str, float]  # each term's value at the end (weighted)
    frame_energy: np.ndarray  # (F,) the per-frame terms at the end
    keypoint_error_px: np.ndarray  # (F, 21) reprojection error of the fitted joints (as labelled)


class Adam:
    """Adam (Kingma and Ba) over (tensor, learning rate) pairs. torch.optim's first optimiser costs 0.9 s of
    imports (TorchDynamo, SymPy) in a fresh worker; this is the same update in a few tensor operations."""

    def __init__(self, params: List[tuple], betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, (self.b1, self.b2), self.eps, self.t = params, betas, eps, 0
        self.scale = 1.0  # multiplies every learning rate (a schedule sets it)
        self.m = [torch.zeros_like(p) for p, _ in params]
        self.v = [torch.zeros_like(p) for p, _ in params]

    def zero_grad(self) -> None:
        for p, _ in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for (p, lr), m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            m.mul_(self.b1).add_(p.grad, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(p.grad, p.grad, value=1 - self.b2)
            p.sub_(self.scale * lr * (m / c1) / ((v / c2).sqrt() + self.eps))


def to_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy().astype(np.float64)


def fit_window(win: Window, kin: HandKinematics, frame: AnatomicalFrame, side: str, settings: FitSettings,
               betas: torch.Tensor, fit_shape: bool = True) -> FitResult:
    """Fit one window; ``betas`` (10,) is the starting shape (held fixed unless ``fit_shape``)."""
    w = settings.weights
    ref = win.net_pose
    mirror = side_mirror(side, ref)
    n_samples = win.times.shape[0]
    lo, hi = limit_arrays(ref.dtype, ref.device)
    net_anchor = win.net_pose[win.anchor]  # (F, 48)
    start_pose = win.start_pose if win.start_pose is not None else net_anchor
    start_transl = win.start_transl if win.start_transl is not None else win.net_transl[win.anchor]

    def right_angles(pose48: torch.Tensor) -> torch.Tensor:
        return frame.to_angles((pose48[:, 3:].reshape(-1, 15, 3) * mirror).reshape(-1, 45))

    prior_angles, first_angles = right_angles(net_anchor), right_angles(start_pose)
    first_angles = torch.maximum(torch.minimum(first_angles, hi), lo)
    angles = first_angles.clone().requires_grad_(True)
    turn = ref.new_zeros(win.frames, 3).requires_grad_(True)
    transl = start_transl.clone().requires_grad_(True)
    shape = betas.clone().reshape(1, 10).requires_grad_(fit_shape)
    free = (~win.fixed).to(ref.dtype)
    any_fixed = bool(win.fixed.any())  # else the masks below are skipped: each op costs its backward too

    # Every sample's rotations relative to its frame's anchor, from the network (kept through the fit).
    rot_net = axis_angle_to_matrix(win.net_pose.reshape(n_samples, 16, 3))
    offset = rotmul(rot_net[win.anchor][win.frame_of].transpose(-1, -2), rot_net)  # (S, 16, 3, 3)
    transl_offset = win.net_transl - win.net_transl[win.anchor][win.frame_of]
    root_start = axis_angle_to_matrix(start_pose[:, :3])  # (F, 3, 3)
    root_net = rot_net[win.anchor, 0]
    frame_times = win.times[win.anchor]
    gaps = frame_times[1:] - frame_times[:-1]
    smooth = (w.acceleration or w.steadiness) and bool(((gaps <= w.max_gap) & (gaps > 0)).any())  # never across starting candidates
    flips = w.flip_cost >= 0 and win.mirrored is not None and bool(win.mirrored.any())
    readings = [win.keypoints, win.keypoints[:, FLIPPED_LABELS]] if flips else [win.keypoints]
    opt = Adam([(angles, settings.lr), (turn, settings.lr), (transl, settings.lr * 0.1)] +
               ([(shape, settings.lr * 2)] if fit_shape else []))

    def held(per_frame_cost: torch.Tensor) -> torch.Tensor:  # nothing for frames held fixed
        return per_frame_cost * free if any_fixed else per_frame_cost

    def evaluate(sigma: float):
        a = angles
        if any_fixed:
            a = torch.where(win.fixed[:, None, None], first_angles, a)
        root = rotmul(axis_angle_to_matrix(turn * free[:, None] if any_fixed else turn), root_start)
        t = torch.where(win.fixed[:, None], start_transl, transl) if any_fixed else transl
        fingers = frame.to_pose(a).reshape(-1, 15, 3)
        if side == "left":
            fingers = fingers * mirror
        anchor_rot = torch.cat([root[:, None], axis_angle_to_matrix(fingers)], 1)  # (F, 16, 3, 3)
        anchor_joints = kin.from_rotations(anchor_rot, shape) + t[:, None]  # (F, 21, 3)
        uvw = anchor_joints @ win.camera.T
        uv = uvw[..., :2] / uvw[..., 2:].clamp_min(1e-3)
        # the keypoints as labelled, or (at a price per keypoint) as a mirror-image detector labels them
        costs = [keypoint_term(uv, labels, win.kp_weight, win.hand_size, sigma, w.sigma) for labels in readings]
        if flips:  # where the detector took the hand for its mirror image, the cheaper reading
            costs[0] = torch.where(win.mirrored, torch.minimum(costs[0], costs[1] + w.flip_cost * 21), costs[0])
        per_frame = {"keypoints": w.keypoints * costs[0],
                     "pose_prior": held(w.pose_prior * pose_prior_term(a, prior_angles, win.prior_weight)),
                     "orient_prior": held(w.orient_prior * orient_prior_term(root, root_net)),
                     "coupling": w.coupling * coupling_term(a)}
        if w.straight:
            per_frame["straight"] = held(w.straight * straight_term(a, w.straight_scale))
        terms = {k: v.sum() for k, v in per_frame.items()}
        if smooth:
            terms["acceleration"] = w.acceleration * acceleration_term(anchor_joints, frame_times, w.max_gap,
                                                                       w.accel_scale_m)
            if w.steadiness:
                terms["steadiness"] = w.steadiness * acceleration_term(anchor_joints - anchor_joints[:, :1], frame_times,
                                                                       w.max_gap, w.accel_scale_m)
        terms["shape"] = w.shape * shape_term(shape)
        return terms, sum(per_frame.values()), anchor_rot, t, uv

    for it in range(settings.iterations):
        opt.zero_grad()
        opt.scale = settings.lr_end / settings.lr + (1 - settings.lr_end / settings.lr) * \
            0.5 * (1 + math.cos(math.pi * it / settings.iterations))  # cosine decay to lr_end
        progress = min(1.0, it / max(1, 0.7 * settings.iterations))
        terms, *_ = evaluate(w.sigma_start * (w.sigma / w.sigma_start) ** progress)
        sum(terms.values()).backward()
        opt.step()
        with torch.no_grad():  # the joint limits
            torch.maximum(torch.minimum(angles, hi, out=angles), lo, out=angles)
    with torch.no_grad():
        terms, frame_energy, anchor_rot, t, uv = evaluate(w.sigma)
        # every sample: its frame's fitted anchor carrying the network's offsets
        pose = matrix_to_axis_angle(rotmul(anchor_rot[win.frame_of], offset)).reshape(n_samples, 48)
        trans = t[win.frame_of] + transl_offset
    err = torch.linalg.norm(uv - win.keypoints, dim=-1)
    return FitResult(to_numpy(pose), to_numpy(trans), to_numpy(shape).reshape(10),
                     {k: float(v) for k, v in terms.items()}, to_numpy(frame_energy), to_numpy(err))
