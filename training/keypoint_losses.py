"""The keypoint network's losses (``inference/models/keypoints.py``).

- ``coords``: L1 between the soft-argmax keypoints and the true middle-time joints projected into the crop, in
  units of the crop's side (integral regression: the loss is on the coordinates, not on target heatmaps);
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
    depth: float = 4.0
    scale: float = 0.01


def keypoint_targets(batch: Dict[str, torch.Tensor], stride: int) -> torch.Tensor:
    """(B, 21, 2) the middle time's true joints in crop pixels (the samples give them in heatmap pixels)."""
    return batch["joints_img"][:, 1, :, :2] * stride


def depth_targets(batch: Dict[str, torch.Tensor]) -> torch.Tensor:
    """(B, 21) the middle time's true depths relative to the wrist, metres (from the root-relative joints)."""
    return batch["joints_cam"][:, 1, :, 2]


def keypoint_losses(pred: KeypointPrediction, batch: Dict[str, torch.Tensor], weights: KeypointWeights,
                    image_size: int, stride: int) -> Dict[str, torch.Tensor]:
    error = pred.keypoints.float() - keypoint_targets(batch, stride)  # (B, J, 2) crop pixels
    depth_error = pred.depth.float() - depth_targets(batch)  # (B, J) metres
    nll = error.detach().abs().mean(-1) / pred.scale + torch.log(pred.scale)
    nll_depth = depth_error.detach().abs() / pred.depth_scale + torch.log(pred.depth_scale / 0.01)
    return {"coords": weights.coords * error.abs().mean() / image_size,
            "depth": weights.depth * depth_error.abs()[:, 1:].mean(),
            "scale": weights.scale * (nll.mean() + nll_depth[:, 1:].mean())}
