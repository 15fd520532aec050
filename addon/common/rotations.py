"""Rotation conversions in numpy (batched over leading axes). Quaternions are (w, x, y, z), as in Blender."""
from __future__ import annotations

import numpy as np


def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    """Rodrigues' formula: (..., 3) axis-angle -> (..., 3, 3) rotation matrices."""
    aa = np.asarray(aa, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.where(angle > 1e-12, angle, 1.0)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(aa.shape[:-1] + (3, 3))
    s = np.sin(angle)[..., None]
    c = np.cos(angle)[..., None]
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + s * k + (1.0 - c) * (k @ k)


def axis_angle_to_quaternion(aa: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 4) unit quaternions (w, x, y, z)."""
    aa = np.asarray(aa, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(a/2)/a -> 1/2 as a -> 0; the series keeps small angles exact.
    scale = np.where(angle > 1e-8, np.sin(half) / np.where(angle > 1e-8, angle, 1.0), 0.5 - angle**2 / 48.0)
    return np.concatenate([np.cos(half), aa * scale], axis=-1)


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (w, x, y, z) -> (..., 3, 3) rotation matrices (normalises first)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    m = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=-1)
    return m.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) quaternions (w, x, y, z), w >= 0.

    Shepperd's method, vectorised: each matrix uses the largest of (trace, m00, m11, m22) as the pivot,
    which keeps the division well away from zero.
    """
    m = np.asarray(m, dtype=np.float64)
    r = m.reshape(-1, 3, 3)
    tr = np.trace(r, axis1=1, axis2=2)
    pick = np.argmax(np.stack([tr, r[:, 0, 0], r[:, 1, 1], r[:, 2, 2]], axis=1), axis=1)
    d21, d02, d10 = r[:, 2, 1] - r[:, 1, 2], r[:, 0, 2] - r[:, 2, 0], r[:, 1, 0] - r[:, 0, 1]
    s01, s02, s12 = r[:, 0, 1] + r[:, 1, 0], r[:, 0, 2] + r[:, 2, 0], r[:, 1, 2] + r[:, 2, 1]
    s = 2.0 * np.sqrt(np.maximum(np.stack([
        1.0 + tr,
        1.0 + r[:, 0, 0] - r[:, 1, 1] - r[:, 2, 2],
        1.0 - r[:, 0, 0] + r[:, 1, 1] - r[:, 2, 2],
        1.0 - r[:, 0, 0] - r[:, 1, 1] + r[:, 2, 2],
    ], axis=1), 1e-300))[np.arange(len(r)), pick]
    candidates = np.stack([
        np.stack([0.25 * s, d21 / s, d02 / s, d10 / s], axis=1),
        np.stack([d21 / s, 0.25 * s, s01 / s, s02 / s], axis=1),
        np.stack([d02 / s, s01 / s, 0.25 * s, s12 / s], axis=1),
        np.stack([d10 / s, s02 / s, s12 / s, 0.25 * s], axis=1),
    ], axis=1)
    out = candidates[np.arange(len(r)), pick]
    out *= np.where(out[:, :1] < 0, -1.0, 1.0)
    return out.reshape(m.shape[:-2] + (4,))


def matrix_to_axis_angle(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle with angle in [0, pi]."""
    q = matrix_to_quaternion(m)
    w = np.clip(q[..., :1], -1.0, 1.0)
    v = q[..., 1:]
    sin_half = np.linalg.norm(v, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin_half, w)
    scale = np.where(sin_half > 1e-8, angle / np.where(sin_half > 1e-8, sin_half, 1.0), 2.0)
    return v * scale


def make_quaternions_continuous(q: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip signs along ``axis`` (time) so consecutive quaternions have a non-negative dot product.

    q and -q are the same rotation, but keys interpolated between q and -q swing the long way round.
    """
    q = np.moveaxis(np.array(q, dtype=np.float64), axis, 0)
    for t in range(1, q.shape[0]):
        flip = np.sum(q[t] * q[t - 1], axis=-1, keepdims=True) < 0
        q[t] = np.where(flip, -q[t], q[t])
    return np.moveaxis(q, 0, axis)


def mirror_axis_angle(aa: np.ndarray) -> np.ndarray:
    """Mirror rotations across the MANO x = 0 plane (right hand <-> left hand): (a, b, c) -> (a, -b, -c)."""
    out = np.array(aa, dtype=np.float64, copy=True)
    shaped = out.reshape(out.shape[:-1] + (-1, 3))
    shaped[..., 1:] *= -1.0
    return shaped.reshape(out.shape)
