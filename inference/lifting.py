"""A 2D-to-3D lifting network: from a hand's 21 keypoints to several whole-hand poses that could have cast them.

The fitting stage's energy judges a pose by its keypoints, but gradient descent only finds the pose nearest
its start, and a finger's own 2D keypoints do not tell how it curls (a finger foreshortened towards the
camera looks like one that is bent). The lifter reads all 21 keypoints at once and proposes ``hypotheses``
whole-hand poses (orientation and finger angles), trained with a winner-takes-all loss so that its
proposals spread over the readings the keypoints allow instead of averaging them; each proposal is one more
starting candidate of the fit (``fitting.choose_starts``), and the fit's energy picks among them.

Input normalisation, so one network serves every camera and every in-plane rotation: keypoints become
camera rays (``K^-1 [u, v, 1]``); a virtual camera turned to look straight at the wrist
(:func:`view_rotation`) and rolled so that the wrist-to-middle-knuckle direction points up sees them; they are
then centred on the wrist and scaled by their spread. The network predicts the orientation in that virtual
camera; :func:`lift` turns it back and solves the translation from the keypoints in closed form.

Poses are right-hand poses; a left hand's keypoints are mirrored first and its proposals mirrored back.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import torch
from torch import nn

from .models.blocks import matrix_to_axis_angle, rotation_6d_to_matrix, rotmul

MIDDLE_MCP = 4  # MANO-21
MIRROR = (1.0, -1.0, -1.0)  # axis-angle of a mirrored (left <-> right) rotation, per component


@dataclass
class LifterConfig:
    hidden: int = 512
    layers: int = 3  # residual blocks
    hypotheses: int = 6


def view_rotation(rays: torch.Tensor) -> torch.Tensor:
    """(N, 21, 3) camera rays (z = 1) -> (N, 3, 3) rotation of a virtual camera whose z axis points at the
    wrist and whose -y axis (image up) points from the wrist towards the middle knuckle: x_view = R x_cam."""
    z = rays[:, 0] / rays[:, 0].norm(dim=-1, keepdim=True)
    up = rays[:, MIDDLE_MCP] / rays[:, MIDDLE_MCP, 2:3] - rays[:, 0] / rays[:, 0, 2:3]
    y = -(up - (up * z).sum(-1, keepdim=True) * z)
    y = y / y.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    x = torch.cross(y, z, dim=-1)
    return torch.stack([x, y, z], 1)


def normalise(keypoints: torch.Tensor, camera: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(N, 21, 2) pixels, (3, 3) or (N, 3, 3) intrinsics -> network input (N, 44) and the view rotation
    (N, 3, 3): the keypoints seen by the virtual camera, centred on the wrist, scaled to unit spread, plus the
    wrist ray's angle off the optical axis (what perspective does to the hand's image)."""
    cam = camera.expand(keypoints.shape[0], 3, 3)
    homo = torch.cat([keypoints, keypoints.new_ones(keypoints.shape[:2] + (1,))], -1)
    rays = torch.linalg.solve(cam, homo.transpose(1, 2)).transpose(1, 2)  # (N, 21, 3)
    view = view_rotation(rays)
    seen = torch.einsum("nab,njb->nja", view, rays)
    xy = seen[..., :2] / seen[..., 2:].clamp_min(1e-6)
    xy = xy - xy[:, :1]
    spread = xy.norm(dim=-1).mean(1, keepdim=True).clamp_min(1e-6)
    off_axis = rays[:, 0, :2]
    return torch.cat([(xy / spread[..., None]).reshape(-1, 42), off_axis], 1), view


class KeypointLifter(nn.Module):
    """An MLP with residual blocks: normalised keypoints (N, 44) -> per hypothesis the orientation in the
    virtual camera (6D) and 45 finger-angle logits (squashed into the anatomical limits by the caller's
    ``AnatomicalFrame``, as the fit does), plus each hypothesis's score (logits over hypotheses)."""

    def __init__(self, config: LifterConfig = LifterConfig()):
        super().__init__()
        self.config = config
        h = config.hidden
        self.inp = nn.Linear(45, h)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(h), nn.Linear(h, h), nn.GELU(), nn.Linear(h, h))
                                    for _ in range(config.layers))
        self.out = nn.Sequential(nn.LayerNorm(h), nn.Linear(h, config.hypotheses * 52))

    def forward(self, features: torch.Tensor, habit: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """features (N, 44), habit (N,): how far along MediaPipe's offsets the keypoints lie (1: a detector with
        MediaPipe's habit, 0: keypoints on the joints) -> orientation (N, K, 3, 3), finger-angle logits
        (N, K, 15, 3), hypothesis scores (N, K)."""
        x = self.inp(torch.cat([features, habit[:, None]], 1))
        for block in self.blocks:
            x = x + block(x)
        out = self.out(x).reshape(features.shape[0], self.config.hypotheses, 52)
        orient = rotation_6d_to_matrix(out[..., :6] + out.new_tensor([1, 0, 0, 0, 1, 0]))
        return orient, out[..., 6:51].reshape(*out.shape[:2], 15, 3), out[..., 51]


def angles_from_logits(logits: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Finger-angle logits (..., 15, 3) -> anatomical angles inside the limits (the rest pose at logit 0
    for joints whose range holds 0)."""
    mid = (-lo / (hi - lo)).clamp(0.02, 0.98)
    return lo + (hi - lo) * torch.sigmoid(logits + torch.log(mid / (1 - mid)))


def solve_translation(joints: torch.Tensor, keypoints: torch.Tensor, camera: torch.Tensor,
                      weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Least-squares translation t (N, 3) so that joints (N, J, 3) + t project onto keypoints (N, J, 2):
    perspective projection is linear in t once multiplied out (fx (X + tx) + (cx - u)(Z + tz) = 0, and so
    for y)."""
    fx, fy, cx, cy = camera[0, 0], camera[1, 1], camera[0, 2], camera[1, 2]
    u, v = keypoints[..., 0], keypoints[..., 1]
    zeros = torch.zeros_like(u)
    rows_x = torch.stack([fx.expand_as(u), zeros, cx - u], -1)
    rows_y = torch.stack([zeros, fy.expand_as(v), cy - v], -1)
    a = torch.cat([rows_x, rows_y], 1)  # (N, 2J, 3)
    b = -torch.cat([fx * joints[..., 0] + (cx - u) * joints[..., 2],
                    fy * joints[..., 1] + (cy - v) * joints[..., 2]], 1)
    if weight is not None:
        w = torch.cat([weight, weight], 1)[..., None].sqrt()
        a, b = a * w, b * w[..., 0]
    ata = a.transpose(1, 2) @ a + 1e-9 * torch.eye(3, dtype=a.dtype, device=a.device)
    return torch.linalg.solve(ata, (a.transpose(1, 2) @ b[..., None]))[..., 0]


@torch.no_grad()
def lift(lifter: KeypointLifter, keypoints: torch.Tensor, kp_weight: torch.Tensor, camera: torch.Tensor,
         side: str, kin, frame, lo: torch.Tensor, hi: torch.Tensor, betas: torch.Tensor, habit: float = 1.0):
    """Proposals for F frames of one track: keypoints (F, 21, 2) pixels -> poses (F, K, 48) in the track's own
    convention and translations (F, K, 3). ``kin`` is the track's ``HandKinematics``, ``frame`` the right
    hand's ``AnatomicalFrame``; ``habit`` 1 for MediaPipe's keypoints, 0 for keypoints on MANO's joints."""
    n = keypoints.shape[0]
    mirror = keypoints.new_tensor(MIRROR) if side == "left" else keypoints.new_ones(3)
    seen = keypoints.clone()
    flip = torch.diag(keypoints.new_tensor([-1.0, 1.0, 1.0]))
    if side == "left":  # the mirror image of a left hand is a right hand (x -> -x about the principal point)
        seen[..., 0] = 2 * camera[0, 2] - seen[..., 0]
    features, view = normalise(seen, camera)
    orient, logits, _ = lifter(features, features.new_full((n,), habit))
    k = orient.shape[1]
    root = rotmul(view.transpose(1, 2)[:, None], orient)  # camera frame, right hand
    if side == "left":
        root = flip @ root @ flip
    fingers = frame.to_pose(angles_from_logits(logits, lo, hi).reshape(-1, 15, 3)).reshape(n, k, 15, 3) * mirror
    pose = torch.cat([matrix_to_axis_angle(root).reshape(n, k, 1, 3), fingers], 2).reshape(n, k, 48)
    joints = kin(pose.reshape(-1, 48), betas.reshape(1, 10)).reshape(n, k, 21, 3)
    transl = solve_translation(joints.reshape(n * k, 21, 3), keypoints.repeat_interleave(k, 0), camera,
                               kp_weight.repeat_interleave(k, 0)).reshape(n, k, 3)
    return pose, transl


def save_lifter(lifter: KeypointLifter, path: str | Path, meta: dict) -> None:
    """The weights with their config (and how they were trained) in one file."""
    torch.save({"config": dataclasses.asdict(lifter.config), "state": lifter.state_dict(), "meta": meta}, path)


def load_lifter(path: str | Path, device: str | torch.device = "cpu") -> KeypointLifter:
    blob = torch.load(path, map_location=device, weights_only=True)
    lifter = KeypointLifter(LifterConfig(**blob["config"]))
    lifter.load_state_dict(blob["state"])
    return lifter.eval().to(device)
