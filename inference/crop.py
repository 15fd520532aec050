"""Square crops around a hand, shared by training and the worker (one definition of the model's input)."""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def crop_box(points2d: np.ndarray, scale: float) -> np.ndarray:
    """Square (x0, y0, side) around all points, ``scale`` times their larger extent."""
    lo, hi = points2d.reshape(-1, 2).min(0), points2d.reshape(-1, 2).max(0)
    centre = (lo + hi) / 2
    side = max(float((hi - lo).max()) * scale, 8.0)
    return np.array([centre[0] - side / 2, centre[1] - side / 2, side])


def scale_box(box: np.ndarray, factor: float) -> np.ndarray:
    """The square (x0, y0, side) ``factor`` times as large about the same centre."""
    x0, y0, side = box
    return np.array([x0 + side * (1 - factor) / 2, y0 + side * (1 - factor) / 2, side * factor])


def crop_affine(box: np.ndarray, size: int, angle: float = 0.0, mirror: bool = False) -> np.ndarray:
    """2x3 map from image pixels to crop pixels: the box to ``size``, then a rotation by ``angle`` radians
    about the crop centre (the same matrix as a rotation about the camera's z axis, so 2D and 3D labels
    agree), then optionally a left-right mirror (left hands are fed to the right-hand model mirrored)."""
    x0, y0, side = box
    s = size / side
    scale = np.array([[s, 0, -x0 * s], [0, s, -y0 * s], [0, 0, 1]])
    c, n, h = np.cos(angle), np.sin(angle), size / 2
    rot = np.array([[c, -n, h - c * h + n * h], [n, c, h - n * h - c * h], [0, 0, 1]])
    flip = np.array([[-1.0, 0, size], [0, 1, 0], [0, 0, 1]]) if mirror else np.eye(3)
    return (flip @ rot @ scale)[:2]


def crop_image(image: np.ndarray, box: np.ndarray, size: int, angle: float = 0.0, mirror: bool = False) -> np.ndarray:
    affine = crop_affine(box, size, angle, mirror).astype(np.float32)
    return cv2.warpAffine(image, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def normalise(crop_rgb_uint8: np.ndarray, gains: Optional[np.ndarray] = None) -> np.ndarray:
    """uint8 (S, S, 3) RGB -> float32 (3, S, S), ImageNet-normalised: the network's input. ``gains``: per-channel
    colour gains (training augmentation), applied before normalising."""
    img = crop_rgb_uint8.astype(np.float32) / 255.0
    if gains is not None:
        img = np.clip(img * gains, 0.0, 1.0)
    return ((img - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)


def crop_to_image(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Crop pixels (..., J, 2) back to image pixels through the inverse of ``affine`` (2, 3), or of one affine
    per leading index (B, 2, 3) for points (B, J, 2). The 2x2 inverse is closed-form: ``np.linalg``'s was many
    times slower right after torch's convolutions, whose idle threads still spin."""
    affine = np.asarray(affine, dtype=np.float64)
    (m00, m01), (m10, m11) = np.moveaxis(affine[..., :2], (-2, -1), (0, 1))
    det = m00 * m11 - m01 * m10
    inv = np.stack([np.stack([m11, -m01], -1), np.stack([-m10, m00], -1)], -2) / det[..., None, None]
    shifted = points - affine[..., None, :, 2]
    return np.einsum("...jc,...kc->...jk", shifted, inv)
