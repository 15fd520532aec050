"""S2HAND (Chen et al., CVPR 2021) and its video training S2HAND(V) (TPAMI; paper 003, spec section 4):
one crop -> MANO pose and shape, a camera, a per-vertex texture and an 11-D lighting, trained without 3D
labels from detected 2D keypoints and the image itself through the differentiable renderer
(``inference.mesh_render``). The video variant only changes training (``training.selfsup_losses``);
inference is always one frame.

Per crop: backbone -> global average pool -> a geometry code and a texture code (two MLPs):

- geometry: 30 PCA pose coefficients (the training hand's basis, a buffer), 10 betas, global rotation (3,
  axis-angle), a scale (1) and a 2D shift (2);
- texture: per-vertex RGB (778 x 3, sigmoid) and the lighting (ambient and directional intensity and colour,
  a light direction).

Camera: the crop has no known intrinsics in a user's footage, so, as S2HAND does on YT3D, the projection is
orthographic (weak perspective): ``p = scale * 5 * (R J)_xy + shift`` in normalised crop units ([-1, 1] across
the crop). For the renderer the same camera is a perspective one at a distance of ``ORTHO_DEPTH`` crop units,
whose perspective error over a hand's depth is under half a percent, so the rendered mesh and the projected
joints agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ResNet
from .output import HandPrediction, register_model

ORTHO_DEPTH = 100.0  # crop units: the renderer's camera distance standing in for an orthographic camera
HAND_UNITS = 5.0  # a root-relative hand (~0.2 m) x 5 spans about the crop's middle at scale 1


@dataclass
class S2HandConfig:
    backbone_depth: int = 18  # the paper's EfficientNet-b0 is not in plain torch here: a ResNet of similar cost
    backbone_width: int = 64
    image_size: int = 224
    hidden: int = 512
    pose_components: int = 30
    render_size: int = 64  # the photometric loss's resolution, pixels
    keypoint_branch: bool = False  # the optional 2D keypoint branch (training only: integral regression)


def crop_camera(size: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(3, 3) intrinsics of the near-orthographic crop camera for a ``size`` x ``size`` render."""
    f = ORTHO_DEPTH * size / 2
    return torch.tensor([[f, 0.0, size / 2], [0.0, f, size / 2], [0.0, 0.0, 1.0]], device=device, dtype=dtype)


def to_crop_space(points: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Root-relative camera-oriented points (..., N, 3) -> crop space (..., N, 3): x, y in normalised crop
    units, z pushed back to ``ORTHO_DEPTH`` (what the renderer and the projection read)."""
    s = (scale * HAND_UNITS)[..., None, None]
    xy = s * points[..., :2] + shift[..., None, :]
    z = ORTHO_DEPTH + s * points[..., 2:]
    return torch.cat([xy, z], -1)


def project_crop(points_crop: torch.Tensor, size: int) -> torch.Tensor:
    """Crop-space points (..., N, 3) -> (..., N, 2) pixels of a ``size`` crop (the renderer's projection)."""
    return (points_crop[..., :2] / points_crop[..., 2:] * ORTHO_DEPTH + 1) * (size / 2)


def lighting_from(raw: torch.Tensor) -> torch.Tensor:
    """(B, 11) unconstrained -> S2HAND's lighting: intensities >= 0, colours in [0, 1], a unit direction."""
    la, ca, ld, cd, direction = raw.split([1, 3, 1, 3, 3], -1)
    direction = F.normalize(direction + torch.tensor([0.0, 0.0, -1.0], device=raw.device), dim=-1)
    return torch.cat([F.softplus(la + 0.5), torch.sigmoid(ca + 2), F.softplus(ld - 1), torch.sigmoid(cd + 2),
                      direction], -1)


@register_model("s2hand")
class S2Hand(nn.Module):
    config_class = S2HandConfig
    temporal_mode = "frame"

    def __init__(self, config: S2HandConfig = S2HandConfig(), hand_model=None):
        super().__init__()
        from addon.common.hand_model import find_hand_model
        from inference.handmodel import ManoLayer

        self.config = cfg = config
        training_hand = find_hand_model("right")  # the checkpoint's own basis replaces it when loaded
        k = cfg.pose_components
        self.register_buffer("pose_basis", torch.as_tensor(training_hand.hands_components[:k], dtype=torch.float32))
        self.register_buffer("pose_mean", torch.as_tensor(training_hand.hands_mean, dtype=torch.float32))
        self.backbone = ResNet(cfg.backbone_depth, cfg.backbone_width)
        c = self.backbone.channels[3]
        self.geometry = nn.Sequential(nn.Linear(c, cfg.hidden), nn.ReLU(inplace=True), nn.Linear(cfg.hidden, k + 19))
        self.texture = nn.Sequential(nn.Linear(c, cfg.hidden), nn.ReLU(inplace=True),
                                     nn.Linear(cfg.hidden, 778 * 3 + 11))
        for head in (self.geometry[-1], self.texture[-1]):
            nn.init.normal_(head.weight, std=1e-3)
            nn.init.zeros_(head.bias)
        with torch.no_grad():
            self.geometry[-1].bias[k + 13] = 1.0  # scale starts at about the crop's hand size
        if cfg.keypoint_branch:
            self.keypoints = nn.Conv2d(self.backbone.channels[1], 21, 1)  # stride-8 heatmaps
        self.mano = ManoLayer(hand_model or training_hand)
        self.register_buffer("faces", torch.as_tensor(training_hand.f.astype("int64")), persistent=False)

    def pose_from_coefficients(self, coeffs: torch.Tensor) -> torch.Tensor:
        return self.pose_mean + coeffs @ self.pose_basis

    def forward(self, images: torch.Tensor) -> HandPrediction:
        """(B, 3, S, S) crops -> one hand each (T = 1). Extras: ``joints2d`` (crop pixels),
        ``vertex_colours`` (B, 1, 778, 3), ``lighting`` (B, 1, 11), ``vertices_crop`` / ``joints_crop``
        (B, 1, N, 3, crop space), ``scale``, ``shift``; with the keypoint branch ``keypoints2d`` (B, 1, 21, 2)."""
        cfg = self.config
        feats = self.backbone(images)
        code = feats.stride32.mean(dim=(2, 3))
        geo = self.geometry(code).float()
        k = cfg.pose_components
        coeffs, betas, orient = geo[:, :k], geo[:, k:k + 10], geo[:, k + 10:k + 13]
        scale, shift = geo[:, k + 13], geo[:, k + 14:k + 16]
        tex = self.texture(code).float()
        colours = torch.sigmoid(tex[:, :778 * 3].reshape(-1, 778, 3) + 0.5)
        lighting = lighting_from(tex[:, 778 * 3:])
        hand_pose = self.pose_from_coefficients(coeffs)
        out = self.mano(orient, hand_pose, betas)
        root = out.joints[:, :1]
        verts_crop = to_crop_space(out.vertices - root, scale, shift)
        joints_crop = to_crop_space(out.joints - root, scale, shift)
        joints2d = project_crop(joints_crop, cfg.image_size)
        extras = {"joints2d": joints2d[:, None], "vertex_colours": colours[:, None], "lighting": lighting[:, None],
                  "vertices_crop": verts_crop[:, None], "joints_crop": joints_crop[:, None],
                  "scale": scale[:, None], "shift": shift[:, None], "pose_coefficients": coeffs[:, None]}
        if cfg.keypoint_branch:
            extras["keypoints2d"] = self._keypoints(feats.stride8)[:, None]
        return HandPrediction(global_orient=orient[:, None], hand_pose=hand_pose[:, None], betas=betas[:, None],
                              camera=None, vertices=out.vertices[:, None], joints=out.joints[:, None], extras=extras)

    def _keypoints(self, stride8: torch.Tensor) -> torch.Tensor:
        """Integral regression of the 2D branch: expected (x, y) of each joint's heatmap, in crop pixels."""
        logits = self.keypoints(stride8).float()
        b, j, h, w = logits.shape
        prob = F.softmax(logits.reshape(b, j, -1), -1).reshape(b, j, h, w)
        xs = (torch.arange(w, device=logits.device, dtype=prob.dtype) + 0.5) * (self.config.image_size / w)
        ys = (torch.arange(h, device=logits.device, dtype=prob.dtype) + 0.5) * (self.config.image_size / h)
        return torch.stack([(prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)], -1)

    def render(self, pred: HandPrediction) -> Tuple[torch.Tensor, torch.Tensor]:
        """The predicted hands, textured and lit, at ``render_size``: (rgb (N, R, R, 3), alpha (N, R, R)) for
        the N = B x T hands of ``pred``."""
        from inference.mesh_render import render

        size = self.config.render_size
        verts = pred.extras["vertices_crop"].flatten(0, 1)
        colours = pred.extras["vertex_colours"].flatten(0, 1)
        lighting = pred.extras["lighting"].flatten(0, 1)
        rgb, alpha, _ = render(verts, self.faces, colours, crop_camera(size, verts.device), (size, size), lighting)
        return rgb, alpha
