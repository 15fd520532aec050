"""Post-processing of a hand's samples over time: a One Euro jitter filter that is safe for rotations, and
confidence-weighted gap filling. Pure numpy; causal, so samples already sent never change.

One Euro (Casiez et al., CHI 2012): a low-pass whose cut-off rises with speed, so slow motion is smoothed
hard and fast motion keeps up. Rotations are filtered as quaternions kept on one hemisphere (q and -q are the
same rotation) and renormalised, so the filter never takes the long way round.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from addon.common.rotations import axis_angle_to_quaternion, matrix_to_axis_angle, quaternion_to_matrix


def _alpha(cutoff: np.ndarray, dt: float) -> np.ndarray:
    tau = 1.0 / (2 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


@dataclass
class OneEuro:
    """Filters a stream of arrays of one shape; ``dt`` in seconds may vary (sub-frame samples)."""

    min_cutoff: float = 1.0  # Hz: smoothing at rest (lower = smoother)
    beta: float = 0.05  # how fast the cut-off rises with speed
    d_cutoff: float = 1.0
    _x: Optional[np.ndarray] = None
    _dx: Optional[np.ndarray] = None

    def __call__(self, x: np.ndarray, dt: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or dt <= 0:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            return x.copy()
        dx = (x - self._x) / dt
        self._dx = self._dx + _alpha(np.array(self.d_cutoff), dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        self._x = self._x + _alpha(cutoff, dt) * (x - self._x)
        return self._x.copy()


def strength_to_cutoff(strength: float) -> float:
    """The add-on's 0..1 smoothing slider -> One Euro's resting cut-off (1 = 0.3 Hz, 0.5 = 3 Hz)."""
    return float(30.0 * 10 ** (-2.0 * np.clip(strength, 0.0, 1.0)))


class PoseSmoother:
    """One Euro over full poses (16 joint rotations as quaternions) and translation, sample by sample."""

    def __init__(self, strength: float):
        cutoff = strength_to_cutoff(strength)
        self.rot = OneEuro(min_cutoff=cutoff, beta=0.5)
        self.transl = OneEuro(min_cutoff=cutoff, beta=2.0)
        self._last_q: Optional[np.ndarray] = None

    def __call__(self, full_pose: np.ndarray, transl: np.ndarray, dt: float):
        q = axis_angle_to_quaternion(full_pose.reshape(16, 3))
        if self._last_q is not None:  # stay on the previous sample's hemisphere
            q = np.where((np.sum(q * self._last_q, -1) < 0)[:, None], -q, q)
        self._last_q = q
        fq = self.rot(q, dt)
        fq /= np.linalg.norm(fq, axis=-1, keepdims=True)
        pose = matrix_to_axis_angle(quaternion_to_matrix(fq)).reshape(48)
        return pose, self.transl(transl, dt)


def slerp(q0: np.ndarray, q1: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation of (..., 4) unit quaternions, shortest way."""
    dot = np.sum(q0 * q1, -1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.clip(np.abs(dot), -1.0, 1.0)
    theta = np.arccos(dot)
    small = theta < 1e-6
    s = np.sin(theta)
    w0 = np.where(small, 1 - t, np.sin((1 - t) * theta) / np.where(small, 1, s))
    w1 = np.where(small, t, np.sin(t * theta) / np.where(small, 1, s))
    out = w0 * q0 + w1 * q1
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def interpolate_pose(pose0: np.ndarray, pose1: np.ndarray, t: float) -> np.ndarray:
    """Between two (48,) axis-angle poses, joint by joint along the shortest rotation."""
    q = slerp(axis_angle_to_quaternion(pose0.reshape(16, 3)), axis_angle_to_quaternion(pose1.reshape(16, 3)), t)
    return matrix_to_axis_angle(quaternion_to_matrix(q)).reshape(48)
