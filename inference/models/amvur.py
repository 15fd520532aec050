"""AMVUR (Jiang et al., CVPR 2023; paper 004, spec section 5): a MANO prior-net and a probabilistic attention
model that predicts every vertex as a Gaussian (a mean and a variance), tied to the prior by a KL term, with
an occlusion-aware per-vertex texture read from the image where the mesh is visible.

Per crop:

- backbone -> the global feature F (pooled stride-32 map) and the shallow map F_map (the stem's output);
- prior-net: F -> MANO pose (30 PCA coefficients), shape, global rotation and a weak-perspective camera;
  MANO gives the prior's mesh mu_v (its variance is 1: ``PRIOR_VARIANCE``);
- tokens: F concatenated with each joint's and each sub-sampled vertex's rest (template) position, the 3D
  positional encoding; vertex tokens cross-attend to joint tokens, then self-attend; two heads give the mean
  and log-variance of each sub-sampled vertex, a learned linear map (initialised to the nearest sub-sampled
  vertex) lifts both to 778 vertices; joints are B mu and B sigma (B: the MANO-21 joint regressor);
- camera head: F -> (scale, shift) of the weak-perspective crop camera (S2HAND's near-orthographic camera);
- texture: the mean mesh is rasterised with that camera; every vertex samples F_map at its projection and
  carries F and its position; one self-attention layer and a head give its RGB. ``visible`` says which
  vertices the rasteriser saw (the losses and the footage colours use only those).

Coordinates are centimetres inside the model (so the prior's unit variance is 1 cm^2); outputs are metres.
Variants (``variant``): ``joint`` (the paper's final model), ``prior`` (the prior-net alone) and ``amvur``
(the attention model alone, no prior and no KL term).

The rig needs MANO parameters, and AMVUR's mesh is model-free: at inference its mean mesh is turned into
MANO pose and shape by a short fit (``fit_steps`` Adam steps on vertex distance) that starts from the
prior-net's parameters.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .blocks import CrossAttentionBlock, ResNet, TransformerBlock
from .output import HandPrediction, register_model
from .s2hand import ORTHO_DEPTH, crop_camera, project_crop, to_crop_space

PRIOR_VARIANCE = 1.0  # cm^2: the prior-net's vertex variance (the paper's sigma_v = 1)
CM = 100.0  # metres -> the model's centimetres
SUBSAMPLE = 4  # every 4th vertex is a token: 195 of 778, as in the paper's METRO-style design


@dataclass
class AmvurConfig:
    backbone_depth: int = 50
    backbone_width: int = 64
    image_size: int = 224
    hidden: int = 512  # prior-net MLP
    dim: int = 128  # token width
    heads: int = 4
    layers: int = 2  # self-attention layers over vertex tokens
    pose_components: int = 30
    render_size: int = 64  # rasterisation for visibility and the texture loss
    variant: str = "joint"  # joint | prior | amvur
    fit_steps: int = 30  # inference: Adam steps from the prior-net's MANO parameters to the mean mesh


def joint_regressor(hand) -> np.ndarray:
    """(21, 778) MANO-21 joints as vertex weights: MANO's 16 regressed joints, then the five tip vertices."""
    from addon.common.joints import TIP_NAMES, TIP_VERTEX_IDS

    reg = np.asarray(hand.J_regressor, dtype=np.float64)
    tips = np.zeros((5, reg.shape[1]))
    for row, name in enumerate(TIP_NAMES):
        tips[row, TIP_VERTEX_IDS[name]] = 1.0
    return np.concatenate([reg, tips], 0)


def nearest_upsampling(template: np.ndarray, step: int = SUBSAMPLE) -> np.ndarray:
    """(778, 778 / step) one-hot map: each vertex takes its nearest sub-sampled vertex's value."""
    sub = template[::step]
    nearest = np.linalg.norm(template[:, None] - sub[None], axis=-1).argmin(1)
    up = np.zeros((len(template), len(sub)), np.float32)
    up[np.arange(len(template)), nearest] = 1.0
    return up


@register_model("amvur")
class Amvur(nn.Module):
    config_class = AmvurConfig
    temporal_mode = "frame"

    def __init__(self, config: AmvurConfig = AmvurConfig(), hand_model=None):
        super().__init__()
        from addon.common.hand_model import find_hand_model
        from inference.handmodel import ManoLayer

        if config.variant not in ("joint", "prior", "amvur"):
            raise ValueError(f"AMVUR variant must be joint, prior or amvur, not {config.variant!r}")
        self.config = cfg = config
        hand = find_hand_model("right")
        k = cfg.pose_components
        self.register_buffer("pose_basis", torch.as_tensor(hand.hands_components[:k], dtype=torch.float32))
        self.register_buffer("pose_mean", torch.as_tensor(hand.hands_mean, dtype=torch.float32))
        template = np.asarray(hand.v_template, dtype=np.float64)
        regressor = joint_regressor(hand)
        template = template - (regressor @ template)[:1]  # root-relative rest hand
        self.register_buffer("regressor", torch.as_tensor(regressor, dtype=torch.float32))
        self.register_buffer("template_cm", torch.as_tensor(template * CM, dtype=torch.float32))
        self.register_buffer("faces", torch.as_tensor(hand.f.astype("int64")), persistent=False)
        self.backbone = ResNet(cfg.backbone_depth, cfg.backbone_width)
        c, shallow = self.backbone.channels[3], cfg.backbone_width
        mlp = lambda out: nn.Sequential(nn.Linear(c, cfg.hidden), nn.ReLU(inplace=True), nn.Linear(cfg.hidden, out))  # noqa: E731
        self.prior = mlp(k + 10 + 3)  # pose coefficients, betas, global rotation
        self.camera = mlp(3)  # scale, shift
        for head in (self.prior[-1], self.camera[-1]):
            nn.init.normal_(head.weight, std=1e-3)
            nn.init.zeros_(head.bias)
        with torch.no_grad():
            self.camera[-1].bias[0] = 1.0
        d = cfg.dim
        self.joint_tokens = nn.Linear(c + 3, d)
        self.vertex_tokens = nn.Linear(c + 3, d)
        self.cross = CrossAttentionBlock(d, cfg.heads, 2.0)
        self.self_attn = nn.ModuleList(TransformerBlock(d, cfg.heads, 2.0) for _ in range(cfg.layers))
        self.mean_head = nn.Linear(d, 3)
        self.logvar_head = nn.Linear(d, 3)
        for head in (self.mean_head, self.logvar_head):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        self.upsample = nn.Parameter(torch.as_tensor(nearest_upsampling(template)))  # (778, 195)
        self.texture_in = nn.Linear(shallow + c + 3, d)
        self.texture_attn = TransformerBlock(d, cfg.heads, 2.0)
        self.texture_out = nn.Linear(d, 3)
        self.mano = ManoLayer(hand_model or hand)

    # ------------------------------------------------------------------------------------------ parts
    def pose_from_coefficients(self, coeffs: torch.Tensor) -> torch.Tensor:
        return self.pose_mean + coeffs @ self.pose_basis

    def _backbone(self, images: torch.Tensor):
        stem = self.backbone.stem(images)  # F_map: the shallow feature map (stride 4)
        x = self.backbone.layer4(self.backbone.layer3(self.backbone.layer2(self.backbone.layer1(stem))))
        return stem, x.mean(dim=(2, 3))

    def _prior(self, feat: torch.Tensor):
        k = self.config.pose_components
        raw = self.prior(feat).float()
        coeffs, betas, orient = raw[:, :k], raw[:, k:k + 10], raw[:, k + 10:]
        hand_pose = self.pose_from_coefficients(coeffs)
        out = self.mano(orient, hand_pose, betas)
        root = out.joints[:, :1]
        return orient, hand_pose, betas, (out.vertices - root) * CM, (out.joints - root) * CM

    def _attention(self, feat: torch.Tensor):
        b = feat.shape[0]
        rest_joints = self.regressor @ self.template_cm
        sub = self.template_cm[::SUBSAMPLE]
        expand = lambda pts: torch.cat([feat[:, None].expand(-1, len(pts), -1), pts[None].expand(b, -1, -1) / 10], -1)  # noqa: E731
        joints = self.joint_tokens(expand(rest_joints))
        verts = self.vertex_tokens(expand(sub))
        verts = self.cross(verts, joints)
        for block in self.self_attn:
            verts = block(verts)
        mean_sub = sub[None] + self.mean_head(verts).float() * 10  # cm, around the rest hand
        logvar_sub = self.logvar_head(verts).float()
        return self.upsample @ mean_sub, (self.upsample @ logvar_sub).clamp(-12, 8)

    def _texture(self, stem: torch.Tensor, feat: torch.Tensor, verts_crop: torch.Tensor):
        """Per-vertex RGB (B, 778, 3) and visibility (B, 778) from the mesh in crop space."""
        from inference.mesh_render import rasterize

        size = self.config.render_size
        with torch.no_grad():
            raster = rasterize(verts_crop.detach(), self.faces, crop_camera(size, verts_crop.device), (size, size))
            visible = torch.zeros(verts_crop.shape[:2], dtype=torch.bool, device=verts_crop.device)
            for i in range(len(visible)):
                hit = raster.face[i][raster.face[i] >= 0].unique()
                visible[i, self.faces[hit].reshape(-1)] = True
        uv = verts_crop[..., :2] / verts_crop[..., 2:] * 100.0  # normalised crop units ([-1, 1])
        sampled = F.grid_sample(stem, uv.detach()[:, :, None], align_corners=False)[..., 0].transpose(1, 2)
        tokens = self.texture_in(torch.cat([sampled, feat[:, None].expand(-1, uv.shape[1], -1),
                                            self._position(verts_crop.detach())], -1))
        colours = torch.sigmoid(self.texture_out(self.texture_attn(tokens)).float())
        return colours, visible, raster

    @staticmethod
    def _position(verts_crop: torch.Tensor) -> torch.Tensor:
        """A vertex's 3D position in crop space, depth taken back from the far camera (about unit scale)."""
        return torch.cat([verts_crop[..., :2], verts_crop[..., 2:] - ORTHO_DEPTH], -1)

    # ------------------------------------------------------------------------------------------ forward
    def forward(self, images: torch.Tensor) -> HandPrediction:
        """(B, 3, S, S) crops -> one hand each (T = 1). Extras (each (B, 1, ...)): ``joints2d`` (crop pixels),
        ``mean_cm``, ``logvar`` (778, 3), the prior's ``prior_vertices_cm`` / ``prior_joints_cm``, ``camera``
        (scale, shift), ``vertex_colours`` and ``visible`` (778,), ``joint_variance`` (21,) in cm^2."""
        stem, feat = self._backbone(images)
        # the heads in float32: variances, MANO and the rasteriser do not belong in bf16
        with torch.autocast(images.device.type, enabled=False):
            return self._heads(stem.float(), feat.float())

    def _heads(self, stem: torch.Tensor, feat: torch.Tensor) -> HandPrediction:
        cfg = self.config
        orient, hand_pose, betas, prior_verts, prior_joints = self._prior(feat)
        cam = self.camera(feat).float()
        scale, shift = cam[:, 0], cam[:, 1:]
        if cfg.variant == "prior":
            mean, logvar = prior_verts, torch.zeros_like(prior_verts)
        else:
            mean, logvar = self._attention(feat)
        joints_cm = self.regressor @ mean
        joint_var = self.regressor @ logvar.exp()  # the spec's B sigma (sigma read as a variance)
        verts_crop = to_crop_space(mean / CM, scale, shift)
        colours, visible, raster = self._texture(stem, feat, verts_crop)
        joints2d = project_crop(to_crop_space(joints_cm / CM, scale, shift), cfg.image_size)
        if not self.training and cfg.variant != "prior" and cfg.fit_steps:
            orient, hand_pose, betas = self.fit_mano(mean / CM, orient, hand_pose, betas)
        out = self.mano(orient, hand_pose, betas)
        one = lambda t: t[:, None]  # noqa: E731
        extras = {"joints2d": one(joints2d), "mean_cm": one(mean), "logvar": one(logvar),
                  "prior_vertices_cm": one(prior_verts), "prior_joints_cm": one(prior_joints),
                  "camera": one(cam), "vertex_colours": one(colours), "visible": one(visible),
                  "joint_variance": one(joint_var.sum(-1)), "vertices_crop": one(verts_crop),
                  "raster_face": one(raster.face), "raster_bary": one(raster.bary)}
        root = (self.regressor @ mean)[:, :1] / CM
        vertices = mean / CM - root if cfg.variant != "prior" else out.vertices - out.joints[:, :1]
        return HandPrediction(global_orient=one(orient), hand_pose=one(hand_pose), betas=one(betas), camera=None,
                              vertices=one(vertices), joints=one(joints_cm / CM - root), extras=extras)

    @torch.enable_grad()
    def fit_mano(self, target: torch.Tensor, orient: torch.Tensor, hand_pose: torch.Tensor, betas: torch.Tensor):
        """MANO parameters whose root-relative mesh is closest to ``target`` (B, 778, 3) metres, from a start."""
        coeffs = ((hand_pose - self.pose_mean) @ torch.linalg.pinv(self.pose_basis)).detach().requires_grad_(True)
        orient = orient.detach().clone().requires_grad_(True)
        betas = betas.detach().clone().requires_grad_(True)
        target = target.detach()
        optim = torch.optim.Adam([coeffs, orient, betas], lr=0.05)
        for _ in range(self.config.fit_steps):
            out = self.mano(orient, self.pose_from_coefficients(coeffs), betas)
            verts = out.vertices - out.joints[:, :1]
            loss = ((verts - target) * CM).pow(2).sum(-1).mean() + 1e-3 * betas.pow(2).sum(-1).mean()
            optim.zero_grad()
            loss.backward()
            optim.step()
        return orient.detach(), self.pose_from_coefficients(coeffs.detach()), betas.detach()
