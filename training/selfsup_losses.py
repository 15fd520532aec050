"""S2HAND(V)'s losses (spec section 4.3): geometric alignment to detected 2D keypoints, photometric consistency
through the differentiable renderer, statistical regularisation, the optional 2D branch with its 2D-3D
consistency, and the video terms (quaternion motion, texture and shape consistency).

No term reads a 3D label. Units: keypoints in normalised crop units ([-1, 1] across the crop), images in
[0, 1]. The paper's weights absorb its own units (pixels of a 224 crop, a 0-255 image); ours are given in
``SelfSupWeights`` for these units, with the paper's ratios kept where the units agree (w_ori, w_SSIM, the
video terms relative to one another). ``joints3d`` (default 0) is the one supervised term: it exists only for
the comparison run "the same network trained with 3D labels".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import torch
import torch.nn.functional as F

from addon.common.joints import MANO_21, parents
from inference.models.blocks import axis_angle_to_matrix, matrix_to_quaternion
from inference.models.output import HandPrediction

BONE_PARENTS = parents(MANO_21)
BONES = [(p, c) for c, p in enumerate(BONE_PARENTS) if p >= 0]  # 20 (parent, child) pairs
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class SelfSupWeights:
    keypoints: float = 1.0  # E_loc
    bone_direction: float = 0.1  # E_ori (the paper: w_ori = 100 x its pixel-unit E_loc's weight per unit)
    pixel: float = 1.0  # E_pixel
    ssim: float = 0.2  # E_SSIM (w_SSIM)
    betas: float = 0.01  # E_beta
    colour: float = 0.1  # E_C
    scale: float = 1.0  # E_s
    joint_limits: float = 1.0  # E_J
    keypoints2d: float = 1.0  # E_2d (2D branch)
    consistency: float = 0.2  # E_cons (2D-3D)
    quaternion: float = 0.05  # E_quat (video)
    texture_shape: float = 0.01  # E_T&S (video)
    joints3d: float = 0.0  # supervised comparison only: L1 on root-relative 3D joints, metres x 10


@dataclass
class SelfSupSwitches:
    photometric: bool = True
    video: bool = True  # S2HAND(V)'s terms (the sample must be a clip of n frames)


def smooth_l1(a: torch.Tensor, b: torch.Tensor, beta: float = 0.05) -> torch.Tensor:
    return F.smooth_l1_loss(a, b, reduction="none", beta=beta).sum(-1)


def keypoint_loss(pred: torch.Tensor, detected: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """E_loc: (N, 21, 2) against detections with (N, 21) confidences, averaged over the keypoints."""
    return (confidence * smooth_l1(pred, detected)).mean()


def bone_direction_loss(pred: torch.Tensor, detected: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """E_ori: unit 2D bone vectors, each weighted by the product of its two endpoints' confidences."""
    p, c = torch.tensor([b[0] for b in BONES]), torch.tensor([b[1] for b in BONES])
    unit = lambda j: F.normalize(j[:, c] - j[:, p], dim=-1, eps=1e-6)  # noqa: E731
    weight = confidence[:, p] * confidence[:, c]
    return (weight * ((unit(pred) - unit(detected)) ** 2).sum(-1)).mean()


def gaussian_window(size: int = 7, sigma: float = 1.5, device=None) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None]).expand(3, 1, size, size)


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Mean structural similarity of (N, 3, H, W) images in [0, 1] (Gaussian window, the usual constants)."""
    w = gaussian_window(window, device=a.device)
    conv = lambda x: F.conv2d(x, w, padding=window // 2, groups=3)  # noqa: E731
    mu_a, mu_b = conv(a), conv(b)
    var_a, var_b = conv(a * a) - mu_a ** 2, conv(b * b) - mu_b ** 2
    cov = conv(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.mean()


def image_01(normalised: torch.Tensor, size: int) -> torch.Tensor:
    """The network's ImageNet-normalised input (N, 3, S, S) -> the [0, 1] image at ``size`` (area average)."""
    mean = torch.tensor(IMAGENET_MEAN, device=normalised.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, device=normalised.device)[:, None, None]
    return F.interpolate(normalised * std + mean, size=(size, size), mode="area").clamp(0, 1)


def photometric_loss(image: torch.Tensor, rgb: torch.Tensor, alpha: torch.Tensor, conf_sum: torch.Tensor,
                     ssim_weight: float):
    """(E_pixel, E_SSIM): image (N, 3, R, R) in [0, 1], render rgb (N, R, R, 3), alpha (N, R, R); E_pixel is the
    mean absolute difference over the rendered hand, weighted by each sample's summed keypoint confidence
    (occluded or undetected samples count less)."""
    render = rgb.permute(0, 3, 1, 2)
    a = alpha[:, None]
    per_sample = (a * (image - render).abs()).sum(dim=(1, 2, 3)) / (3 * a.sum(dim=(1, 2, 3)).clamp(min=1.0))
    pixel = (conf_sum / 21.0 * per_sample).mean()
    return pixel, ssim_weight * (1 - ssim(image * a, render))


def colour_regulariser(colours: torch.Tensor) -> torch.Tensor:
    """E_C: vertex colours far from the hand's mean colour (skin varies little over a hand): a hinge at 0.15."""
    mean = colours.mean(1, keepdim=True)
    return F.relu((colours - mean).abs() - 0.15).pow(2).mean()


def scale_regulariser(joints2d: torch.Tensor) -> torch.Tensor:
    """E_s: the projected hand's extent in normalised crop units stays where the crop puts it (the crop box is
    1.3 x the keypoints' extent: about 1.5 units), within [1.0, 2.0]; this fixes the size, hence the depth."""
    extent = (joints2d.max(1).values - joints2d.min(1).values).max(-1).values
    return (F.relu(1.0 - extent) + F.relu(extent - 2.0)).pow(2).mean()


def joint_limit_loss(hand_pose: torch.Tensor, frame, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """E_J: each finger joint's (flexion, abduction, twist) beyond the anatomical limits, abduction and twist
    counted twice (the spec's tsa hinge)."""
    angles = frame.to_angles(hand_pose)
    over = F.relu(angles - hi) + F.relu(lo - angles)
    return (over.pow(2) * torch.tensor([1.0, 2.0, 2.0], device=angles.device)).sum(-1).mean()


def quaternions(global_orient: torch.Tensor, hand_pose: torch.Tensor) -> torch.Tensor:
    """(..., 3), (..., 45) -> (..., 16, 4) unit quaternions of all joint rotations (w first)."""
    aa = torch.cat([global_orient, hand_pose], -1).reshape(*global_orient.shape[:-1], 16, 3)
    return matrix_to_quaternion(axis_angle_to_matrix(aa))


def rotation_angle(q0: torch.Tensor, q1: torch.Tensor) -> torch.Tensor:
    """The angle of the rotation between unit quaternions (sign-blind: q and -q are one rotation), as
    ``2 atan2(|v|, |w|)`` of the relative rotation ``conj(q0) q1``: exact near zero, where the spec's
    ``2 arccos(q0 . q1)`` has no usable gradient."""
    w0, v0 = q0[..., :1], -q0[..., 1:]
    w1, v1 = q1[..., :1], q1[..., 1:]
    w = w0 * w1 - (v0 * v1).sum(-1, keepdim=True)
    v = w0 * v1 + w1 * v0 + torch.cross(v0, v1, dim=-1)
    return 2 * torch.atan2(torch.sqrt((v * v).sum(-1) + 1e-12), w[..., 0].abs())


def quaternion_motion_loss(quats: torch.Tensor) -> torch.Tensor:
    """E_quat over (B, n, 16, 4): the summed angles between consecutive frames minus the end-to-end angle,
    per joint (zero for motion about a fixed axis at any speed), then the L2 norm over joints."""
    steps = rotation_angle(quats[:, :-1], quats[:, 1:]).sum(1)
    slack = steps - rotation_angle(quats[:, 0], quats[:, -1])
    return slack.norm(dim=-1).mean()


def lighted_texture(colours: torch.Tensor, lighting: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
    """C^L = (la * ca + (n . d) * ld * cd) * C with the rest-pose vertex normals (V, 3)."""
    la, ca, ld, cd, direction = lighting.split([1, 3, 1, 3, 3], -1)
    lambert = (normals * direction[..., None, :]).sum(-1, keepdim=True)
    return (la[..., None, :] * ca[..., None, :] + lambert * ld[..., None, :] * cd[..., None, :]) * colours


def texture_shape_loss(lit: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """E_T&S over a clip: lit textures (B, n, V, 3) and betas (B, n, 10) away from their clip means."""
    tex = (lit - lit.mean(1, keepdim=True)).norm(dim=-1).mean(-1).sum(1)
    shape = (betas - betas.mean(1, keepdim=True)).norm(dim=-1).sum(1)
    return (tex + shape).mean()


def selfsup_losses(pred: HandPrediction, batch: Dict[str, torch.Tensor], model, weights: SelfSupWeights,
                   switches: SelfSupSwitches, frame, limits, rest_normals: torch.Tensor) -> Dict[str, torch.Tensor]:
    """All S2HAND(V) terms for a batch of clips (B, n, ...) flattened to N = B x n hands."""
    size = model.config.image_size
    b, n = batch["image"].shape[:2]
    norm = lambda px: px / (size / 2) - 1  # noqa: E731
    j2d = norm(pred.extras["joints2d"].reshape(b * n, 21, 2))
    det = norm(batch["keypoints"].reshape(b * n, 21, 2))
    conf = batch["confidence"].reshape(b * n, 21)
    w = weights
    out = {"keypoints": w.keypoints * keypoint_loss(j2d, det, conf),
           "bone_direction": w.bone_direction * bone_direction_loss(j2d, det, conf)}
    hand_pose = pred.hand_pose.reshape(b * n, 45)
    colours = pred.extras["vertex_colours"].reshape(b * n, 778, 3)
    out["betas"] = w.betas * pred.betas.pow(2).sum(-1).mean()
    out["colour"] = w.colour * colour_regulariser(colours)
    out["scale"] = w.scale * scale_regulariser(j2d)
    out["joint_limits"] = w.joint_limits * joint_limit_loss(hand_pose, frame, *limits)
    if switches.photometric:
        rgb, alpha = model.render(pred)
        image = image_01(batch["image"].flatten(0, 1), model.config.render_size)
        out["pixel"], out["ssim"] = photometric_loss(image, rgb, alpha, conf.sum(-1), w.ssim)
        out["pixel"] = w.pixel * out["pixel"]
    if "keypoints2d" in pred.extras:
        k2d = norm(pred.extras["keypoints2d"].reshape(b * n, 21, 2))
        out["keypoints2d"] = w.keypoints2d * keypoint_loss(k2d, det, conf)
        out["consistency"] = w.consistency * smooth_l1(j2d, k2d).mean()
    if switches.video and n > 1:
        quats = quaternions(pred.global_orient.reshape(b, n, 3), pred.hand_pose.reshape(b, n, 45))
        out["quaternion"] = w.quaternion * quaternion_motion_loss(quats)
        lit = lighted_texture(colours.reshape(b, n, 778, 3), pred.extras["lighting"].reshape(b, n, 11), rest_normals)
        out["texture_shape"] = w.texture_shape * texture_shape_loss(lit, pred.betas.reshape(b, n, 10))
    if w.joints3d:
        rel = pred.joints.reshape(b * n, 21, 3) - pred.joints.reshape(b * n, 21, 3)[:, :1]
        out["joints3d"] = w.joints3d * 10 * (rel - batch["joints_cam"].reshape(b * n, 21, 3)).abs().mean()
    return out
