"""Deformer (Fu et al., ICCV 2023; paper 001, spec section 2): a dynamic fusion transformer over a clip.

Per frame: backbone -> a truncated FPN (stride-16 map, or stride 8) of the hand crop -> spatial transformer
encoder -> 21 heatmaps (2D joints), concatenated back onto the tokens -> one learnable query cross-attends
to them (the decoder) -> a per-frame latent F+. Monocular head (auxiliary): F+ -> MANO. Over the clip:
temporal transformer F+ -> F++, a pose head per frame, one shape per window from a query decoder, and the
Dynamic Fusion Module: per-frame confidence and forward/backward pose motions; every frame's pose is warped
to every other frame by chaining the motions (additive in axis-angle space) and the warped poses are fused
with the softmax of the source frames' confidences.

The crop is the region of interest: the pipeline cuts it around the tracked box, which is what the paper's
ROIAlign does on the full-frame map. Ablation switches: ``fusion=False`` (the paper's "center": each frame's
own pose), ``temporal=False`` (no temporal encoder). maxMSE against MSE is a loss switch (training).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import CrossAttentionBlock, ResNet, TransformerBlock, matrix_to_axis_angle, rotation_6d_to_matrix
from .blurhandnet import KinematicRegressor
from .output import HandPrediction, register_model


@dataclass
class DeformerConfig:
    backbone_depth: int = 50
    backbone_width: int = 64
    image_size: int = 256
    feature_stride: int = 8  # 8: 32x32 tokens at 256 px (the paper's RoI size); 16 halves each side
    dim: int = 256  # C
    heads: int = 8
    ffn_dim: int = 256
    spatial_layers: int = 3
    decoder_layers: int = 3
    temporal_layers: int = 3
    shape_layers: int = 3
    joints: int = 21
    window: int = 7  # T at inference (any T runs; the temporal embedding covers up to max_frames)
    stride: int = 4  # frames between window starts at inference (overlaps are blended)
    max_frames: int = 32
    fusion: bool = True  # False: each frame keeps its own pose (the paper's "center" ablation)
    temporal: bool = True  # False: no temporal transformer


def warp_poses(theta: torch.Tensor, forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """Every frame's pose warped to every frame by chaining predicted motions: (B, T, D) x3 -> (B, T, T, D).

    out[:, i, j] = theta_i + sum_{k=i}^{j-1} forward_k (j > i), theta_i + sum_{k=j+1}^{i} backward_k (j < i),
    theta_i (j = i), with forward_k ~ theta_{k+1} - theta_k and backward_k ~ theta_{k-1} - theta_k (the
    backward index as corrected in the spec, 2.2)."""
    t = theta.shape[1]
    fw = torch.cumsum(forward, 1) - forward  # sum_{k<m} forward_k
    bw = torch.cumsum(backward, 1)  # sum_{k<=m} backward_k
    idx = torch.arange(t, device=theta.device)
    later = (idx[None, :] > idx[:, None]).to(theta.dtype)[None, :, :, None]  # [i, j]: j > i
    earlier = (idx[None, :] < idx[:, None]).to(theta.dtype)[None, :, :, None]
    delta_fw = fw[:, None, :] - fw[:, :, None]  # [i, j] = fw_j - fw_i
    delta_bw = bw[:, :, None] - bw[:, None, :]  # [i, j] = bw_i - bw_j
    return theta[:, :, None] + later * delta_fw + earlier * delta_bw


def fuse_poses(warped: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """(B, T_src, T_tgt, D) warped poses, (B, T_src) confidences -> (B, T_tgt, D): each target frame is the
    softmax(confidence)-weighted sum over source frames (the weights belong to the source)."""
    weights = F.softmax(confidence.float(), dim=1).to(warped.dtype)
    return (weights[:, :, None, None] * warped).sum(1)


class TruncatedFPN(nn.Module):
    """Stride-32 and stride-16 maps brought up to the chosen stride and added to its lateral: one C-channel map."""

    def __init__(self, channels, dim: int, stride: int):
        super().__init__()
        levels = {8: 1, 16: 2}
        if stride not in levels:
            raise ValueError(f"feature_stride must be 8 or 16, not {stride}")
        self.first = levels[stride]
        self.lateral = nn.ModuleList(nn.Conv2d(channels[i], dim, 1) for i in range(self.first, 4))
        self.smooth = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1), nn.GroupNorm(8, dim), nn.ReLU(True))

    def forward(self, feats) -> torch.Tensor:
        maps = [feats.stride8, feats.stride16, feats.stride32][self.first - 1:]
        x = self.lateral[-1](maps[-1])
        for lat, m in zip(reversed(self.lateral[:-1]), reversed(maps[:-1])):
            x = F.interpolate(x, size=m.shape[-2:], mode="nearest") + lat(m)
        return self.smooth(x)


def _zero_linear(cin: int, cout: int) -> nn.Linear:
    layer = nn.Linear(cin, cout)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


@register_model("deformer")
class Deformer(nn.Module):
    config_class = DeformerConfig
    temporal_mode = "window"  # the pipeline runs it over sliding windows of consecutive frames

    def __init__(self, config: DeformerConfig = DeformerConfig(), hand_model=None):
        super().__init__()
        from addon.common.hand_model import find_hand_model
        from inference.handmodel import ManoLayer

        self.config = cfg = config
        c = cfg.dim
        self.backbone = ResNet(cfg.backbone_depth, cfg.backbone_width)
        self.fpn = TruncatedFPN(self.backbone.channels, c, cfg.feature_stride)
        side = cfg.image_size // cfg.feature_stride
        self.spatial_pe = nn.Parameter(torch.zeros(1, side * side, c))
        self.temporal_pe = nn.Parameter(torch.zeros(1, cfg.max_frames, c))
        nn.init.trunc_normal_(self.spatial_pe, std=0.02)
        nn.init.trunc_normal_(self.temporal_pe, std=0.02)
        mlp = cfg.ffn_dim / c
        self.spatial = nn.Sequential(*[TransformerBlock(c, cfg.heads, mlp) for _ in range(cfg.spatial_layers)])
        self.heatmap = nn.Linear(c, cfg.joints)
        self.merge = nn.Linear(c + cfg.joints, c)  # the heatmap concatenated back onto the tokens
        self.query = nn.Parameter(torch.zeros(1, 1, c))
        self.shape_query = nn.Parameter(torch.zeros(1, 1, c))
        nn.init.trunc_normal_(self.query, std=0.02)
        nn.init.trunc_normal_(self.shape_query, std=0.02)
        self.decoder = nn.ModuleList(CrossAttentionBlock(c, cfg.heads, mlp) for _ in range(cfg.decoder_layers))
        self.mono_pose = KinematicRegressor(c)
        self.mono_shape = _zero_linear(c, 10)
        self.temporal = nn.Sequential(*[TransformerBlock(c, cfg.heads, mlp) for _ in range(cfg.temporal_layers)]) \
            if cfg.temporal else None
        self.pose = KinematicRegressor(c)
        self.shape_decoder = nn.ModuleList(CrossAttentionBlock(c, cfg.heads, mlp) for _ in range(cfg.shape_layers))
        self.shape = _zero_linear(c, 10)
        self.confidence = nn.Linear(c, 1)
        self.motion = _zero_linear(c, 2 * 48)
        self.mano = ManoLayer(hand_model or find_hand_model("right"))

    @staticmethod
    def _axis_angle(rot6d: torch.Tensor) -> torch.Tensor:
        return matrix_to_axis_angle(rotation_6d_to_matrix(rot6d.float())).flatten(-2)  # (..., 48)

    def frame_latents(self, images: torch.Tensor):
        """(N, 3, S, S) crops -> per-frame latents F+ (N, C), heatmap logits (N, J, h, w)."""
        cfg = self.config
        x = self.fpn(self.backbone(images))  # (N, C, h, w)
        n, c, h, w = x.shape
        tokens = self.spatial(x.flatten(2).transpose(1, 2) + self.spatial_pe)
        logits = self.heatmap(tokens)  # (N, hw, J)
        prob = F.softmax(logits.float(), dim=1).to(tokens.dtype)
        tokens = self.merge(torch.cat([tokens, prob * (h * w)], -1))  # probabilities scaled to about 1
        q = self.query.expand(n, -1, -1)
        for block in self.decoder:
            q = block(q, tokens)
        return q[:, 0], logits.transpose(1, 2).reshape(n, cfg.joints, h, w)

    def forward(self, clips: torch.Tensor) -> HandPrediction:
        """(B, T, 3, S, S) consecutive crops of one hand -> T fused hands per clip."""
        cfg = self.config
        b, t = clips.shape[:2]
        if t > cfg.max_frames:
            raise ValueError(f"a Deformer window holds at most {cfg.max_frames} frames, not {t}")
        latent, logits = self.frame_latents(clips.flatten(0, 1))
        h, w = logits.shape[-2:]
        prob = F.softmax(logits.flatten(2).float(), -1).reshape(b, t, cfg.joints, h, w)
        xs = torch.arange(w, dtype=prob.dtype, device=prob.device)
        ys = torch.arange(h, dtype=prob.dtype, device=prob.device)
        joints2d = torch.stack([(prob.sum(3) * xs).sum(-1), (prob.sum(4) * ys).sum(-1)], -1)  # feature pixels
        mono_pose = self._axis_angle(self.mono_pose(latent)).reshape(b, t, 48)
        mono_betas = self.mono_shape(latent).float().reshape(b, t, 10)
        seq = latent.reshape(b, t, -1) + self.temporal_pe[:, :t]
        if self.temporal is not None:
            seq = self.temporal(seq)
        theta = self._axis_angle(self.pose(seq.flatten(0, 1))).reshape(b, t, 48)
        q = self.shape_query.expand(b, -1, -1)
        for block in self.shape_decoder:
            q = block(q, seq)
        betas = self.shape(q[:, 0]).float()[:, None].expand(b, t, 10)
        confidence = self.confidence(seq).float()[..., 0]  # (B, T)
        forward_motion, backward_motion = self.motion(seq).float().chunk(2, -1)
        fused = fuse_poses(warp_poses(theta, forward_motion, backward_motion), confidence) if cfg.fusion else theta
        out = self.mano(fused[..., :3].reshape(-1, 3), fused[..., 3:].reshape(-1, 45), betas.reshape(-1, 10))
        mono = self.mano(mono_pose[..., :3].reshape(-1, 3), mono_pose[..., 3:].reshape(-1, 45), mono_betas.reshape(-1, 10))
        return HandPrediction(
            global_orient=fused[..., :3], hand_pose=fused[..., 3:], betas=betas, camera=None,
            vertices=out.vertices.reshape(b, t, 778, 3), joints=out.joints.reshape(b, t, 21, 3),
            extras={"joints2d": joints2d * cfg.feature_stride, "heatmap_joints": joints2d, "theta": theta,
                    "confidence": confidence, "forward_motion": forward_motion, "backward_motion": backward_motion,
                    "mono_pose": mono_pose, "mono_betas": mono_betas,
                    "mono_vertices": mono.vertices.reshape(b, t, 778, 3),
                    "mono_joints": mono.joints.reshape(b, t, 21, 3)},
        )
