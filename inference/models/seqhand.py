"""SeqHAND-Net (Yang et al., ECCV 2020; paper 002, spec section 3): a ResNet encoder with one ConvLSTM right
before the last layer, run causally over a stream of hand crops.

Per frame: backbone -> stride-32 feature map -> ConvLSTM (state carried from the previous frame) -> global
average pool -> one linear layer -> 26 numbers: MANO pose as PCA coefficients (10), shape (10), weak-
perspective scale (1) and 2D translation (2), global rotation (3, axis-angle). The 2D joints are the weak-
perspective projection ``s * Pi(R J) + t`` in normalised crop coordinates ([-1, 1] across the crop).

The PCA basis is the training hand's (``hands_components``), stored in the checkpoint as a buffer: a
different hand model dropped in at inference still reads the coefficients the network learnt.
Ablation switch: ``convlstm=False`` puts a plain convolution of the same size where the ConvLSTM was (the
per-frame encoder: same capacity, no state).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import nn

from .blocks import ConvLSTMCell, ResNet
from .output import HandPrediction, register_model

State = Optional[Tuple[torch.Tensor, torch.Tensor]]


@dataclass
class SeqHandConfig:
    backbone_depth: int = 50
    backbone_width: int = 64
    image_size: int = 224
    hidden: int = 185  # ConvLSTM channels (about the paper's +14.4M parameters with a 3x3 kernel on ResNet-50)
    kernel: int = 3
    pose_components: int = 10  # PCA coefficients of the hand pose (45: the full space)
    convlstm: bool = True  # False: the per-frame ablation (a convolution, no state)


def weak_perspective(joints: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """(..., N, 3) camera-oriented, root-relative points -> (..., N, 2): s * (x, y) + t."""
    return scale[..., None, None] * joints[..., :2] + shift[..., None, :]


@register_model("seqhand")
class SeqHand(nn.Module):
    config_class = SeqHandConfig
    temporal_mode = "causal"  # the pipeline carries the state frame to frame

    def __init__(self, config: SeqHandConfig = SeqHandConfig(), hand_model=None):
        super().__init__()
        from addon.common.hand_model import find_hand_model
        from inference.handmodel import ManoLayer

        self.config = cfg = config
        training_hand = find_hand_model("right")  # the basis is replaced by the checkpoint's own when loaded
        comps = torch.as_tensor(training_hand.hands_components[: cfg.pose_components], dtype=torch.float32)
        self.register_buffer("pose_basis", comps)  # (K, 45)
        self.register_buffer("pose_mean", torch.as_tensor(training_hand.hands_mean, dtype=torch.float32))
        self.backbone = ResNet(cfg.backbone_depth, cfg.backbone_width)
        c = self.backbone.channels[3]
        if cfg.convlstm:
            self.recurrent = ConvLSTMCell(c, cfg.hidden, cfg.kernel)
        else:
            self.recurrent = nn.Sequential(nn.Conv2d(c, cfg.hidden, cfg.kernel, 1, cfg.kernel // 2), nn.Tanh())
        self.out = nn.Linear(cfg.hidden, cfg.pose_components + 10 + 1 + 2 + 3)
        nn.init.zeros_(self.out.weight)
        with torch.no_grad():
            self.out.bias.zero_()
            self.out.bias[cfg.pose_components + 10] = 1.0  # scale starts at about the crop's hand size
        self.mano = ManoLayer(hand_model or training_hand)

    def pose_from_coefficients(self, coeffs: torch.Tensor) -> torch.Tensor:
        return self.pose_mean + coeffs @ self.pose_basis

    def coefficients_from_pose(self, hand_pose: torch.Tensor) -> torch.Tensor:
        """The least-squares PCA coefficients of (..., 45) poses (the parameter-regression target)."""
        return (hand_pose - self.pose_mean) @ torch.linalg.pinv(self.pose_basis)

    def forward(self, clips: torch.Tensor, state: State = None) -> HandPrediction:
        """(B, T, 3, S, S) consecutive crops, state from the previous call (None: a new track) -> T hands;
        ``extras["state_h"]``, ``extras["state_c"]`` hold the state after the last frame."""
        cfg = self.config
        b, t = clips.shape[:2]
        feats = self.backbone(clips.flatten(0, 1)).stride32
        feats = feats.reshape(b, t, *feats.shape[1:])
        hidden = []
        for k in range(t):
            if cfg.convlstm:
                h, state = self.recurrent(feats[:, k], state)
            else:
                h = self.recurrent(feats[:, k])
            hidden.append(h.mean(dim=(2, 3)))
        params = self.out(torch.stack(hidden, 1)).float()  # (B, T, 26)
        k = cfg.pose_components
        coeffs, betas = params[..., :k], params[..., k:k + 10]
        scale, shift, orient = params[..., k + 10], params[..., k + 11:k + 13], params[..., k + 13:]
        hand_pose = self.pose_from_coefficients(coeffs)
        out = self.mano(orient.reshape(-1, 3), hand_pose.reshape(-1, 45), betas.reshape(-1, 10))
        joints = out.joints.reshape(b, t, 21, 3)
        rel = joints - joints[:, :, :1]
        # ~ normalised crop coordinates: a hand (~0.2 m) spans about the crop's middle half at scale 1 x 5
        joints2d = weak_perspective(rel * 5.0, scale, shift)
        extras = {"joints2d": (joints2d + 1) * (cfg.image_size / 2), "joints2d_norm": joints2d,
                  "pose_coefficients": coeffs, "scale": scale, "shift": shift}
        if cfg.convlstm and state is not None:
            extras["state_h"], extras["state_c"] = state
        return HandPrediction(
            global_orient=orient, hand_pose=hand_pose, betas=betas, camera=None,
            vertices=out.vertices.reshape(b, t, 778, 3), joints=joints, extras=extras)
