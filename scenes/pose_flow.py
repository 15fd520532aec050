"""SeqHAND pose flows (paper 002, section 3.2), in numpy.

A flow starts at a bank pose and walks toward another: each step moves ``alpha / n`` of the remaining
difference toward the final pose (in joint space), adds a little noise, and snaps to the nearest pose in the
bank, so every intermediate pose is a real one. The camera (hand orientation, distance, image position)
moves the same way between independently drawn start and end values, without snapping. Shape (betas in
[-2, 2]^10) and skin are fixed per flow.

Defaults (the paper gives no value for alpha): ``alpha = 3`` (a flow covers ~97% of the way in 10 steps),
noise 2 mm per joint, distance 0.3-0.6 m, hand centre anywhere in the middle 60% of the image.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from addon.common.hand_model import HandModel
from addon.common.rotations import axis_angle_to_matrix, matrix_to_axis_angle

from .pose_bank import PoseBank


@dataclass
class FlowParams:
    frames: int = 10  # n: samples per sequence
    alpha: float = 3.0  # update size: fraction alpha / n of the remaining difference per step
    noise_mm: float = 2.0  # joint-space noise before snapping (the paper's "stochastic" update)
    beta_range: float = 2.0  # betas ~ U[-r, r]^10
    distance_m: tuple = (0.3, 0.6)  # wrist distance from the camera
    image_margin: float = 0.2  # keep the wrist inside the central (1 - 2 * margin) of the image
    egocentric_share: float = 0.3  # share of flows seen from the owner's eyes (back of the hand up)
    skins: int = 8  # number of skin templates to pick from
    extra: int = 0  # frames added before and after (sub-frame blur needs neighbours)


@dataclass
class PoseFlow:
    hand_pose: np.ndarray  # (n, 45)
    global_orient: np.ndarray  # (n, 3) axis-angle in OpenCV camera axes
    transl: np.ndarray  # (n, 3) metres, camera axes: wrist position minus the rest wrist
    wrist: np.ndarray  # (n, 3) wrist position in camera coordinates
    betas: np.ndarray  # (10,)
    skin: int
    bank_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # (n,) snapped poses


def _random_rotation(rng: np.random.Generator, egocentric: bool) -> np.ndarray:
    """A hand orientation: palm toward the camera (third person) or away from it (egocentric), +-60 deg."""
    # Fingers up in the image, palm to the camera (see tools/assets/make_sample_sequence.py for the axes).
    base = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    if egocentric:
        base = axis_angle_to_matrix(np.array([0.0, np.pi, 0.0])) @ base
    jitter = axis_angle_to_matrix(rng.normal(0.0, 0.55, 3))
    spin = axis_angle_to_matrix(np.array([0.0, 0.0, rng.uniform(-np.pi, np.pi)]))  # any in-plane angle
    return spin @ jitter @ base


def _step_rotation(current: np.ndarray, target: np.ndarray, fraction: float) -> np.ndarray:
    """Rotate ``fraction`` of the way from current to target (geodesic)."""
    delta = matrix_to_axis_angle(target @ current.T)
    return axis_angle_to_matrix(delta * fraction) @ current


def sample_flow(bank: PoseBank, model: HandModel, intrinsics: np.ndarray, image_size: tuple,
                params: FlowParams, rng: np.random.Generator) -> PoseFlow:
    """One pose flow of ``params.frames + 2 * params.extra`` samples."""
    n = params.frames + 2 * params.extra
    step = params.alpha / params.frames
    start, end = rng.integers(len(bank), size=2)
    joints = bank.joints[start].copy()
    target = bank.joints[end]
    index = [int(start)]
    for _ in range(n - 1):
        proposal = joints - step * (joints - target) + rng.normal(0.0, params.noise_mm / 1000.0, joints.shape)
        k = bank.nearest(proposal)
        index.append(k)
        joints = bank.joints[k] if k != index[-2] else proposal  # stuck on one pose: keep walking
    index = np.array(index)

    ego = rng.random() < params.egocentric_share
    r0, r1 = _random_rotation(rng, ego), _random_rotation(rng, ego)
    w, h = image_size
    fx, fy, cx, cy = intrinsics[0, 0], intrinsics[1, 1], intrinsics[0, 2], intrinsics[1, 2]

    def wrist_position() -> np.ndarray:
        z = rng.uniform(*params.distance_m)
        u = rng.uniform(params.image_margin, 1.0 - params.image_margin) * w
        v = rng.uniform(params.image_margin, 1.0 - params.image_margin) * h
        return np.array([(u - cx) * z / fx, (v - cy) * z / fy, z])

    p0, p1 = wrist_position(), wrist_position()
    rots, wrists = [r0], [p0]
    for _ in range(n - 1):
        rots.append(_step_rotation(rots[-1], r1, step))
        wrists.append(wrists[-1] - step * (wrists[-1] - p1))
    rots, wrists = np.array(rots), np.array(wrists)
    betas = rng.uniform(-params.beta_range, params.beta_range, 10)
    rest_wrist = model.rest_joints(betas)[0]  # MANO rotates about the wrist, then adds transl
    return PoseFlow(
        hand_pose=bank.poses[index], global_orient=matrix_to_axis_angle(rots),
        transl=wrists - rest_wrist, wrist=wrists, betas=betas, skin=int(rng.integers(params.skins)),
        bank_index=index,
    )
