"""AMVUR's supervised objective (spec section 5.2), with the spec's suggested reading of the variances: sigma
is a variance, the heads give its logarithm, ``NLL = 1/2 (x - mu)^2 / s + 1/2 ln(2 pi s)`` and
``KL(Q || P) = 1/2 [ln(s_p / s_q) - 1 + (s_q + (mu_q - mu_p)^2) / s_p]`` per coordinate. Lengths are
centimetres (the prior's unit variance is 1 cm^2); 2D is in normalised crop units ([-1, 1] across the crop).

Terms: L_V3D (vertices: NLL under Q, plus KL to the prior-net's mesh), L_J3D (the same for B mu, B sigma),
L_C (the weak-perspective camera against the one that best maps the true 3D joints onto the true 2D ones),
L_J2D (NLL of the true 2D joints under the projected joint Gaussians), L_tex (the rendered texture against
the image on the visible hand), and the prior-net's own supervised loss (its mesh, joints and pose). The
variant decides which apply: ``prior`` has no Gaussian terms, ``amvur`` no prior and no KL, ``joint`` all.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict

import torch

from inference.models.amvur import CM, PRIOR_VARIANCE
from inference.models.output import HandPrediction
from inference.models.s2hand import HAND_UNITS

from .selfsup_losses import image_01

HEATMAP_STRIDE = 8  # the task's crop spec: joints_img x, y are in pixels of an image_size / 8 map


@dataclass
class AmvurWeights:
    vertices: float = 1.0  # L_V3D
    joints: float = 1.0  # L_J3D
    camera: float = 1.0  # L_C
    joints2d: float = 1.0  # L_J2D
    kl: float = 1.0  # the KL part of L_V3D and L_J3D (joint variant)
    texture: float = 1.0  # L_tex
    prior: float = 1.0  # the prior-net's supervised loss (L1, cm; pose L1, radians x 10)


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((x - mean) ** 2 / var + torch.log(2 * math.pi * var)).mean()


def gaussian_kl(mean_q: torch.Tensor, var_q: torch.Tensor, mean_p: torch.Tensor, var_p: float) -> torch.Tensor:
    return 0.5 * (math.log(var_p) - torch.log(var_q) - 1 + (var_q + (mean_q - mean_p) ** 2) / var_p).mean()


def weak_perspective_fit(joints_rel: torch.Tensor, joints2d: torch.Tensor) -> torch.Tensor:
    """(B, 21, 3) root-relative metres and (B, 21, 2) normalised 2D -> (B, 3) (scale, shift) minimising
    ``|scale * HAND_UNITS * xy + shift - 2d|^2``: the camera target of L_C."""
    xy = joints_rel[..., :2] * HAND_UNITS
    xm, ym = xy.mean(1, keepdim=True), joints2d.mean(1, keepdim=True)
    scale = ((xy - xm) * (joints2d - ym)).sum((1, 2)) / ((xy - xm) ** 2).sum((1, 2)).clamp(min=1e-9)
    return torch.cat([scale[:, None], (ym - scale[:, None, None] * xm)[:, 0]], -1)


def texture_loss(pred: HandPrediction, image: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """L_tex: mean squared difference of the vertex colours interpolated on the rasterised visible hand and the
    image (N, 3, R, R) there (the mask M is the rasteriser's coverage)."""
    face = pred.extras["raster_face"][:, 0]  # (B, R, R)
    bary = pred.extras["raster_bary"][:, 0]  # (B, R, R, 3)
    colours = pred.extras["vertex_colours"][:, 0]  # (B, 778, 3)
    b = face.shape[0]
    corner = faces[face.clamp(min=0).reshape(b, -1)]  # (B, P, 3)
    col = torch.gather(colours, 1, corner.reshape(b, -1, 1).expand(-1, -1, 3)).reshape(b, -1, 3, 3)
    rgb = (bary.reshape(b, -1, 3, 1) * col).sum(2)  # (B, P, 3)
    mask = (face >= 0).reshape(b, -1, 1).float()
    target = image.flatten(2).transpose(1, 2)
    return (mask * (rgb - target) ** 2).sum() / (3 * mask.sum()).clamp(min=1.0)


def amvur_losses(pred: HandPrediction, batch: Dict[str, torch.Tensor], model, weights: AmvurWeights) -> Dict[str, torch.Tensor]:
    cfg, w = model.config, weights
    size = cfg.image_size
    true_verts = batch["vertices_cam"] * CM  # (B, 778, 3) root-relative
    true_joints = batch["joints_cam"][:, 1] * CM  # (B, 21, 3) root-relative, the middle time
    true_2d = batch["joints_img"][:, 1, :, :2] * HEATMAP_STRIDE / (size / 2) - 1
    cam = pred.extras["camera"][:, 0]
    out = {"camera": w.camera * ((cam - weak_perspective_fit(batch["joints_cam"][:, 1], true_2d)) ** 2).sum(-1).mean()}
    prior_v, prior_j = pred.extras["prior_vertices_cm"][:, 0], pred.extras["prior_joints_cm"][:, 0]
    if cfg.variant in ("prior", "joint"):
        pose_err = (pred.hand_pose[:, 0] - batch["pose"][:, 1, 3:]).abs().mean()  # training: the prior's pose
        out["prior"] = w.prior * ((prior_v - true_verts).abs().mean() + (prior_j - true_joints).abs().mean()
                                  + 10 * pose_err)
    scale = cam[:, 0, None, None] * HAND_UNITS / CM
    if cfg.variant == "prior":
        j2d = scale * prior_j[..., :2] + cam[:, None, 1:]
        out["joints2d"] = w.joints2d * (j2d - true_2d).abs().mean()
    else:
        mean, var = pred.extras["mean_cm"][:, 0], pred.extras["logvar"][:, 0].exp()
        joints = model.regressor @ mean
        joint_var = model.regressor @ var
        out["vertices"] = w.vertices * gaussian_nll(true_verts, mean, var)
        out["joints"] = w.joints * gaussian_nll(true_joints, joints - joints[:, :1], joint_var)
        if cfg.variant == "joint":
            out["kl"] = w.kl * (gaussian_kl(mean, var, prior_v, PRIOR_VARIANCE)
                                + gaussian_kl(joints, joint_var, prior_j, PRIOR_VARIANCE))
        j2d = scale * (joints - joints[:, :1])[..., :2] + cam[:, None, 1:]
        var2d = scale ** 2 * joint_var[..., :2] + 1e-4
        out["joints2d"] = w.joints2d * gaussian_nll(true_2d, j2d, var2d)
    if w.texture:
        out["texture"] = w.texture * texture_loss(pred, image_01(batch["image"], cfg.render_size), model.faces)
    return out

