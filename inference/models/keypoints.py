"""A hand keypoint network for the fitting stage: a crop (the pipeline's, right-hand view) -> the 21 MANO-21
joints in crop pixels and their depths relative to the wrist, each with its expected error.

Why the project has one: the fitting stage is as good as the keypoints it fits (with true keypoints it
recovers the sample clip's motion; with MediaPipe's, whose landmarks on rendered hands are 27 px off on the
sample clip, it cannot). This network is trained on the project's own renders, with MANO's joints as labels,
so its keypoints are in MANO's joint convention, not MediaPipe's.

Layout (SimpleBaseline / integral regression, Xiao et al. 2018, Sun et al. 2018): a ResNet backbone, a
decoder from stride 32 up to stride 4 with skips from strides 16, 8 and 4, one heatmap per joint and its
soft-argmax; per joint a depth map read under the heatmap's probability (2.5D, as in Iqbal et al. 2018: the
depth a 2D keypoint cannot tell, so the fit can tell a finger curled towards the camera from one curled away);
per joint the scales ``b`` of Laplace distributions (the expected absolute error of the point per axis, crop
pixels, and of the depth, metres) from the decoder's features at the joint, trained by the Laplace
likelihood of the detached errors so that they say how far off a point is likely to be without pulling it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ResNet, sample_features
from .output import register_model

STRIDE = 4  # crop pixels per heatmap pixel
DEPTH_UNIT_M = 0.1  # the depth maps' unit: a hand's joints lie within about +-1 of it from the wrist


@dataclass
class KeypointNetConfig:
    backbone_depth: int = 18
    backbone_width: int = 32
    image_size: int = 128
    decoder_channels: int = 64
    joints: int = 21


@dataclass
class KeypointPrediction:
    keypoints: torch.Tensor  # (B, J, 2) crop pixels, MANO-21 order
    scale: torch.Tensor  # (B, J) Laplace scale: the expected absolute error per axis, crop pixels
    depth: torch.Tensor  # (B, J) metres, camera z of each joint minus the wrist's (the wrist's is 0)
    depth_scale: torch.Tensor  # (B, J) Laplace scale of the depth, metres
    heatmaps: torch.Tensor  # (B, J, H, W) logits at stride 4


def _up_block(cin: int, cskip: int, cout: int) -> nn.ModuleDict:
    return nn.ModuleDict({
        "skip": nn.Conv2d(cskip, cout, 1),
        "fuse": nn.Sequential(nn.Conv2d(cin + cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
                              nn.ReLU(inplace=True)),
    })


def heatmap_probability(heatmaps: torch.Tensor) -> torch.Tensor:
    """(B, J, H, W) logits -> the same shape, each joint's map a probability over its pixels."""
    b, j, h, w = heatmaps.shape
    return F.softmax(heatmaps.reshape(b, j, -1).float(), dim=-1).reshape(b, j, h, w)


def soft_argmax_2d(heatmaps: torch.Tensor) -> torch.Tensor:
    """(B, J, H, W) logits -> (B, J, 2) expected (x, y) in heatmap pixels (integral regression)."""
    prob = heatmap_probability(heatmaps)
    h, w = prob.shape[-2:]
    x = (prob.sum(2) * torch.arange(w, dtype=prob.dtype, device=prob.device)).sum(-1)
    y = (prob.sum(3) * torch.arange(h, dtype=prob.dtype, device=prob.device)).sum(-1)
    return torch.stack([x, y], dim=-1)


def heatmap_to_crop(points: torch.Tensor, stride: int = STRIDE) -> torch.Tensor:
    """Heatmap pixels -> crop pixels (a heatmap pixel's centre is the centre of the crop pixels it covers)."""
    return (points + 0.5) * stride - 0.5


@register_model("keypoints")
class KeypointNet(nn.Module):
    config_class = KeypointNetConfig
    temporal_mode = "frame"

    def __init__(self, config: KeypointNetConfig = KeypointNetConfig(), hand_model=None):
        super().__init__()  # hand_model: unused (load_model passes one to every network)
        self.config = cfg = config
        self.backbone = ResNet(cfg.backbone_depth, cfg.backbone_width)
        c4, c8, c16, c32 = self.backbone.channels
        c = cfg.decoder_channels
        self.reduce = nn.Sequential(nn.Conv2d(c32, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.up = nn.ModuleList([_up_block(c, c16, c), _up_block(c, c8, c), _up_block(c, c4, c)])
        self.heatmap = nn.Conv2d(c, cfg.joints, 1)
        self.depth = nn.Conv2d(c, cfg.joints, 1)
        self.scale_head = nn.Sequential(nn.Linear(c, c), nn.ReLU(inplace=True), nn.Linear(c, 2))

    def forward(self, images: torch.Tensor) -> KeypointPrediction:
        feats = self.backbone(images)
        x = self.reduce(feats.stride32)
        for block, skip in zip(self.up, (feats.stride16, feats.stride8, feats.stride4)):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block["fuse"](torch.cat([x, block["skip"](skip)], 1))
        heatmaps = self.heatmap(x)
        points = soft_argmax_2d(heatmaps)  # (B, J, 2) heatmap pixels
        depth = (heatmap_probability(heatmaps) * self.depth(x).float()).sum((2, 3)) * DEPTH_UNIT_M
        local = sample_features(x, points.detach().to(x.dtype))  # (B, J, c)
        scales = F.softplus(self.scale_head(local).float())
        return KeypointPrediction(heatmap_to_crop(points), scales[..., 0] + 0.05, depth - depth[:, :1],
                                  scales[..., 1] * DEPTH_UNIT_M + 1e-3, heatmaps)
