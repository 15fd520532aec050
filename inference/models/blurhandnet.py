"""BlurHandNet (Oh et al., CVPR 2023; paper 000, spec section 1): one blurry crop -> three sequential hands.

backbone -> Unfolder (three decoders: initial/middle/final feature maps, 3D joint heatmaps, soft-argmax,
joint features sampled at the joints) -> KTFormer (63 joint tokens, kinematic + temporal positional
embeddings, self-attention) -> Regressor (shape from pooled features; pose joint by joint down MANO's
kinematic tree, 6D per joint, one FC per joint shared by the three times) -> MANO, plus a crop camera.

Ablation switches reproduce the paper's tables: ``unfolder=False`` (one decoder, one time step),
``ktformer=False``, ``kinematic_pe`` / ``temporal_pe``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import torch
from torch import nn

from addon.common.joints import MANO_PARENTS

from .blocks import (
    ResNet,
    TransformerBlock,
    matrix_to_axis_angle,
    pointwise,
    rotation_6d_to_matrix,
    sample_features,
    soft_argmax_3d,
)
from .output import HandPrediction, register_model

TIMES = ("initial", "middle", "final")


@dataclass
class BlurHandNetConfig:
    backbone_depth: int = 50
    backbone_width: int = 64
    image_size: int = 256
    feature_dim: int = 512  # c: decoder / joint-token channels
    heatmap_depth: int = 32  # d: depth bins of the 3D heatmaps
    depth_range_m: float = 0.3  # metric span of the depth bins, around the root
    joints: int = 21
    ktformer_blocks: int = 4
    ktformer_heads: int = 4
    unfolder: bool = True  # False: single-frame baseline (one decoder, middle hand only)
    ktformer: bool = True
    kinematic_pe: bool = True
    temporal_pe: bool = True
    shape_from: str = "backbone"  # "backbone" (authors' code) or "decoder" (paper: GAP of each F_t)
    focal: float = 5000.0  # virtual crop camera (authors' code)

    @property
    def times(self) -> int:
        return 3 if self.unfolder else 1


class Decoder(nn.Module):
    """stride 32 -> stride 8 with skips from strides 16 and 8 (authors' layout), then 3D joint heatmaps."""

    def __init__(self, channels: List[int], c: int, joints: int, depth: int):
        super().__init__()
        c8, c16, c32 = channels[1], channels[2], channels[3]
        self.up1 = nn.Sequential(nn.ConvTranspose2d(c32, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True))
        self.skip1 = nn.Conv2d(c16, c, 1)
        self.fuse1 = nn.Sequential(nn.Conv2d(2 * c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True))
        self.up2 = nn.Sequential(nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2),
                                 nn.ReLU(True))
        self.skip2 = nn.Conv2d(c8, c // 2, 1)
        self.fuse2 = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True))
        self.heatmap = nn.Conv2d(c, joints * depth, 1)
        self.joints, self.depth = joints, depth

    def forward(self, feats):
        x = self.up1(feats.stride32)
        x = self.fuse1(torch.cat([x, pointwise(self.skip1, feats.stride16)], 1))
        x = self.up2(x)
        x = self.fuse2(torch.cat([x, pointwise(self.skip2, feats.stride8)], 1))
        b, _, h, w = x.shape
        hm = pointwise(self.heatmap, x).reshape(b, self.joints, self.depth, h, w)
        return x, soft_argmax_3d(hm)


def _ancestors(j: int) -> List[int]:
    out = []
    while MANO_PARENTS[j] >= 0:
        j = MANO_PARENTS[j]
        out.append(j)
    return out[::-1]


class KinematicRegressor(nn.Module):
    """Pose joint by joint down MANO's tree: joint k sees the features and its ancestors' 6D rotations."""

    def __init__(self, in_dim: int, hidden: int = 0):
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(in_dim + 6 * len(_ancestors(k)), 6) for k in range(16))
        for head in self.heads:  # start at the identity rotation
            nn.init.zeros_(head.weight)
            with torch.no_grad():
                head.bias.copy_(torch.tensor([1.0, 0, 0, 0, 1.0, 0]))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        rot6d: List[Optional[torch.Tensor]] = [None] * 16
        for k in range(16):  # MANO order: parents come before children
            parts = [f] + [rot6d[a] for a in _ancestors(k)]
            rot6d[k] = self.heads[k](torch.cat(parts, dim=-1))
        return torch.stack(rot6d, dim=1)  # (B, 16, 6)


@register_model("blurhandnet")
class BlurHandNet(nn.Module):
    config_class = BlurHandNetConfig
    temporal_mode = "frame"  # one crop at a time (its three hands are sub-frame times of that frame)

    def __init__(self, config: BlurHandNetConfig = BlurHandNetConfig(), hand_model=None):
        super().__init__()
        from addon.common.hand_model import find_hand_model
        from inference.handmodel import ManoLayer

        self.config = cfg = config
        self.backbone = ResNet(cfg.backbone_depth, cfg.backbone_width)
        ch = self.backbone.channels
        self.decoders = nn.ModuleList(Decoder(ch, cfg.feature_dim, cfg.joints, cfg.heatmap_depth)
                                      for _ in range(cfg.times))
        c, t = cfg.feature_dim, cfg.times
        self.kinematic_pe = nn.Parameter(torch.zeros(1, 1, cfg.joints, c)) if cfg.kinematic_pe else None
        self.temporal_pe = nn.Parameter(torch.zeros(1, t, 1, c)) if cfg.temporal_pe else None
        for pe in (self.kinematic_pe, self.temporal_pe):
            if pe is not None:
                nn.init.trunc_normal_(pe, std=0.02)
        self.ktformer = nn.Sequential(*[TransformerBlock(c, cfg.ktformer_heads) for _ in range(cfg.ktformer_blocks)]) \
            if cfg.ktformer else None
        self.pose = KinematicRegressor(cfg.joints * (c + 3))
        shape_in = ch[3] if cfg.shape_from == "backbone" else c
        self.shape = nn.Linear(shape_in, 10 * (t if cfg.shape_from == "backbone" else 1))
        self.camera = nn.Linear(ch[3], 3 * t)
        nn.init.zeros_(self.shape.weight)
        nn.init.zeros_(self.shape.bias)
        self.mano = ManoLayer(hand_model or find_hand_model("right"))

    def forward(self, images: torch.Tensor) -> HandPrediction:
        cfg = self.config
        b, t = images.shape[0], cfg.times
        feats = self.backbone(images)
        maps, joints_hm = zip(*[dec(feats) for dec in self.decoders])  # t x (B, c, h, w), t x (B, J, 3)
        joints_hm = torch.stack(joints_hm, dim=1)  # (B, T, J, 3) in heatmap voxels
        tokens = torch.stack([sample_features(m, j[..., :2]) for m, j in zip(maps, joints_hm.unbind(1))], 1)
        if self.kinematic_pe is not None:
            tokens = tokens + self.kinematic_pe
        if self.temporal_pe is not None:
            tokens = tokens + self.temporal_pe
        if self.ktformer is not None:
            tokens = self.ktformer(tokens.reshape(b, t * cfg.joints, -1)).reshape(b, t, cfg.joints, -1)
        h, w = maps[0].shape[-2:]
        norm = torch.tensor([w, h, cfg.heatmap_depth], dtype=tokens.dtype, device=tokens.device)
        f = torch.cat([tokens, joints_hm.detach() / norm - 0.5], dim=-1).reshape(b * t, -1)
        rot6d = self.pose(f)  # (B*T, 16, 6)
        aa = matrix_to_axis_angle(rotation_6d_to_matrix(rot6d)).reshape(b, t, 48)
        pooled = feats.stride32.mean(dim=(2, 3))
        if cfg.shape_from == "backbone":
            betas = self.shape(pooled).reshape(b, t, 10)
        else:
            betas = torch.stack([self.shape(m.mean(dim=(2, 3))) for m in maps], 1)
        cam = self.camera(pooled).reshape(b, t, 3)
        tz = cfg.focal * 0.4 / cfg.image_size * torch.sigmoid(cam[..., 2:])  # authors' depth from gamma
        camera = torch.cat([cam[..., :2], tz], dim=-1)
        out = self.mano(aa[..., :3].reshape(-1, 3), aa[..., 3:].reshape(-1, 45), betas.reshape(-1, 10))
        return HandPrediction(
            global_orient=aa[..., :3], hand_pose=aa[..., 3:], betas=betas, camera=camera,
            vertices=out.vertices.reshape(b, t, 778, 3), joints=out.joints.reshape(b, t, 21, 3),
            extras={"unfolder_joints": joints_hm, "joints2d": joints_hm[..., :2] * (cfg.image_size / h)},
        )
