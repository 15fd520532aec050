"""From crop to footage: intrinsics estimated from a field of view, and the translation that puts a
root-relative hand where its 2D joints are in the full image (linear least squares on the projection)."""
from __future__ import annotations

from typing import Optional

import numpy as np


def intrinsics_from_fov(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """Pinhole K with square pixels and the principal point at the image centre."""
    if not 1.0 <= hfov_deg <= 179.0:
        raise ValueError(f"horizontal field of view must be between 1 and 179 degrees, not {hfov_deg}")
    f = 0.5 * width / np.tan(np.radians(hfov_deg) / 2)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])


def solve_translation(points: np.ndarray, pixels: np.ndarray, k: np.ndarray,
                      weights: Optional[np.ndarray] = None, depth_range=(0.1, 20.0)) -> np.ndarray:
    """t minimising the projection error of ``points + t`` against ``pixels``.

    u = fx (X + tx) / (Z + tz) + cx  is linear in t once multiplied out:
    fx tx - (u - cx) tz = (u - cx) Z - fx X   (and the same in y).
    points (N, 3) metres (camera axes), pixels (N, 2) -> t (3,). When the 3D and 2D shapes disagree so
    much that the root would land outside ``depth_range`` metres (or behind the camera), the depth comes
    from the ratio of their sizes instead, and x, y are solved at that depth.
    """
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    du, dv = pixels[:, 0] - cx, pixels[:, 1] - cy
    n = len(points)
    a = np.zeros((2 * n, 3))
    b = np.zeros(2 * n)
    a[0::2, 0], a[0::2, 2], b[0::2] = fx, -du, du * points[:, 2] - fx * points[:, 0]
    a[1::2, 1], a[1::2, 2], b[1::2] = fy, -dv, dv * points[:, 2] - fy * points[:, 1]
    if weights is not None:
        w = np.repeat(np.sqrt(np.asarray(weights, dtype=np.float64)), 2)
        a, b = a * w[:, None], b * w
    t, *_ = np.linalg.lstsq(a, b, rcond=None)
    if not depth_range[0] <= t[2] + points[0, 2] <= depth_range[1]:
        extent3d = np.ptp(points[:, :2], axis=0).max()
        extent2d = np.ptp(pixels, axis=0).max() / max(fx, fy)
        depth = float(np.clip(extent3d / max(extent2d, 1e-6), *depth_range))
        tz = depth - points[0, 2]
        txy, *_ = np.linalg.lstsq(a[:, :2], b - a[:, 2] * tz, rcond=None)
        t = np.array([txy[0], txy[1], tz])
    return t
