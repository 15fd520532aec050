"""Training samples for BlurHandNet from the synthetic dataset format (``scenes.dataset``).

Each frame becomes a square crop around the hand over the whole exposure (all three ground-truth times),
resized to the model's input size, with targets in the forms the losses use: heatmap-space joints (x, y in
heatmap pixels, z in depth bins around the middle root), root-relative 3D joints, MANO pose and shape.
Sets rendered without blur give one time; it stands in for all three.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import cv2
import numpy as np
import torch

from scenes.dataset import SyntheticDataset

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass
class CropSpec:
    image_size: int = 256
    heatmap_size: int = 32  # image_size / 8
    depth_bins: int = 32
    depth_range_m: float = 0.3
    scale: float = 1.3  # crop side / hand extent


def crop_box(points2d: np.ndarray, scale: float) -> np.ndarray:
    """Square (x0, y0, side) around all points, ``scale`` times their larger extent."""
    lo, hi = points2d.reshape(-1, 2).min(0), points2d.reshape(-1, 2).max(0)
    centre = (lo + hi) / 2
    side = max(float((hi - lo).max()) * scale, 8.0)
    return np.array([centre[0] - side / 2, centre[1] - side / 2, side])


def crop_image(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    x0, y0, side = box
    s = size / side
    affine = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]], dtype=np.float32)
    return cv2.warpAffine(image, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


class BlurHandSamples(torch.utils.data.Dataset):
    def __init__(self, root: str, spec: CropSpec = CropSpec()):
        self.data = SyntheticDataset(root)
        self.spec = spec

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> Dict[str, torch.Tensor]:
        frame = self.data[i]
        spec = self.spec
        j2d, j3d = frame["joints2d"], frame["joints3d"]  # (L, 21, 2), (L, 21, 3)
        if len(j2d) == 1:  # sharp set: the one time stands for all three
            j2d, j3d = np.repeat(j2d, 3, 0), np.repeat(j3d, 3, 0)
            pose = np.repeat(np.concatenate([frame["global_orient"], frame["hand_pose"]], -1), 3, 0)
        else:
            pose = np.concatenate([frame["global_orient"], frame["hand_pose"]], -1)
        box = crop_box(j2d, spec.scale)
        img = crop_image(frame["image"], box, spec.image_size).astype(np.float32) / 255.0
        img = (img - IMAGENET_MEAN) / IMAGENET_STD
        hm_xy = (j2d - box[:2]) / box[2] * spec.heatmap_size
        root_z = j3d[1, 0, 2]
        hm_z = ((j3d[..., 2] - root_z) / spec.depth_range_m + 0.5) * spec.depth_bins
        return {
            "image": torch.from_numpy(img.transpose(2, 0, 1).copy()),
            "joints_img": torch.from_numpy(np.concatenate([hm_xy, hm_z[..., None]], -1).astype(np.float32)),
            "joints_cam": torch.from_numpy((j3d - j3d[:, :1]).astype(np.float32)),
            "pose": torch.from_numpy(pose.astype(np.float32)),
            "betas": torch.from_numpy(frame["betas"].astype(np.float32)),
            "box": torch.from_numpy(box.astype(np.float32)),
        }
