"""The keypoint network's losses (``inference/models/keypoints.py``).

- ``coords``: L1 between the soft-argmax keypoints and the true middle-time joints projected into the crop, in
  units of the crop's side (integral regression: the loss is on the coordinates, not on target heatmaps);
- ``heatmap``: the cross-entropy of each joint's heatmap (its softmax) against a Gaussian of one heatmap pixel
  around the truth (as in DSNT's regulariser): a shape for the map, which the coordinates alone leave free;
- ``depth``: L1 between the predicted and the true depths relative to the wrist, metres, weighted so that a
  centimetre costs about what 5 crop pixels do (a hand's centimetre in a 128 px crop);
- ``scale``: the Laplace negative log-likelihoods of the *detached* per-axis and depth errors under the
  predicted scales, so they learn how far off each point is likely to be without pulling the point.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import torch

from inference.models.keypoints import KeypointPrediction


@dataclass
class KeypointWeights:
    coords: float = 1.0
    heatmap: float = 0.05
    heatmap_sigma: float = 1.0  # heatmap pixels
    depth: float = 4.0
    scale: float = 0.01


def gaussian_targets(points: torch.Tensor, height: int, width: int, sigma: float) -> torch.Tensor:
    """(B, J, 2) heatmap-pixel points -> (B, J, H, W) normalised Gaussians around them."""
    ys = torch.arange(height, dtype=points.dtype, device=points.device)[:, None]
    xs = torch.arange(width, dtype=points.dtype, device=points.device)[None, :]
    d2 = (xs - points[..., 0, None, None]) ** 2 + (ys - points[..., 1, None, None]) ** 2
    g = torch.exp(-d2 / (2 * sigma ** 2))
    return g / g.sum((-1, -2), keepdim=True).clamp_min(1e-12)


def keypoint_targets(batch: Dict[str, torch.Tensor], stride: int) -> torch.Tensor:
    """(B, 21, 2) the middle time's true joints in crop pixels (the samples give them in heatmap pixels)."""
    return batch["joints_img"][:, 1, :, :2] * stride


def depth_targets(batch: Dict[str, torch.Tensor]) -> torch.Tensor:
    """(B, 21) the middle time's true depths relative to the wrist, metres (from the root-relative joints)."""
    return batch["joints_cam"][:, 1, :, 2]


def keypoint_losses(pred: KeypointPrediction, batch: Dict[str, torch.Tensor], weights: KeypointWeights,
                    image_size: int, stride: int) -> Dict[str, torch.Tensor]:
    return keypoint_losses_from_targets(pred, keypoint_targets(batch, stride), depth_targets(batch), weights,
                                        image_size, stride)


def keypoint_losses_from_targets(pred: KeypointPrediction, points: torch.Tensor, depths: torch.Tensor,
                                 weights: KeypointWeights, image_size: int, stride: int) -> Dict[str, torch.Tensor]:
    """The losses against true joints ``points`` (B, 21, 2), crop pixels, and ``depths`` (B, 21), metres
    relative to the wrist."""
    error = pred.keypoints.float() - points  # (B, J, 2) crop pixels
    depth_error = pred.depth.float() - depths  # (B, J) metres
    nll = error.detach().abs().mean(-1) / pred.scale + torch.log(pred.scale)
    nll_depth = depth_error.detach().abs() / pred.depth_scale + torch.log(pred.depth_scale / 0.01)
    h, w = pred.heatmaps.shape[-2:]
    cell = (points + 0.5) / stride - 0.5  # the inverse of models.keypoints.heatmap_to_crop
    target = gaussian_targets(cell, h, w, weights.heatmap_sigma)
    log_prob = torch.log_softmax(pred.heatmaps.float().flatten(2), -1).reshape(target.shape)
    return {"coords": weights.coords * error.abs().mean() / image_size,
            "heatmap": weights.heatmap * -(target * log_prob).sum((-1, -2)).mean(),
            "depth": weights.depth * depth_error.abs()[:, 1:].mean(),
            "scale": weights.scale * (nll.mean() + nll_depth[:, 1:].mean())}
