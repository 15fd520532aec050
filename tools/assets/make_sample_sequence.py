"""Regenerate ``samples/open_hand_motion.npz``: 4 s of a right hand waving, making a fist and counting.

    python -m tools.assets.make_sample_sequence [--out FILE]

Deterministic (no randomness): the shipped file is reproduced bit for bit.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from addon.common.hand_model import find_hand_model
from addon.common.motion_sequence import MotionSequence
from addon.common.pose_prior import LIMITS, PosePrior, joint_kind
from addon.common.rotations import axis_angle_to_matrix, matrix_to_axis_angle

ROOT = Path(__file__).resolve().parents[2]

FPS = 30.0
SECONDS = 4.0
WIDTH, HEIGHT, FOCAL = 1280, 720, 900.0
# Closure of each digit (MANO digit order: index, middle, pinky, ring, thumb) at key times (seconds).
KEYS = [
    (0.0, [0, 0, 0, 0, 0]),
    (0.9, [0, 0, 0, 0, 0]),
    (1.5, [1, 1, 1, 1, 0.8]),  # fist
    (1.9, [1, 1, 1, 1, 0.8]),
    (2.2, [0, 1, 1, 1, 0.8]),  # one
    (2.5, [0, 0, 1, 1, 0.8]),  # two
    (2.8, [0, 0, 1, 0, 0.8]),  # three
    (3.4, [0, 0, 0, 0, 0]),
    (4.0, [0, 0, 0, 0, 0]),
]
# Palm toward the camera, fingers up in the image: model -x -> camera -y, model -y (palm) -> camera -z.
BASE_ORIENT = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def closure_at(t: np.ndarray, keys=KEYS) -> np.ndarray:
    """Each digit's closure at times t, eased between the key times."""
    times = np.array([k[0] for k in keys])
    values = np.array([k[1] for k in keys], dtype=float)
    i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(keys) - 2)
    f = np.clip((t - times[i]) / (times[i + 1] - times[i]), 0.0, 1.0)
    f = 0.5 - 0.5 * np.cos(np.pi * f)  # ease in and out
    return values[i] * (1 - f[:, None]) + values[i + 1] * f[:, None]


def build(wave_deg: float = 18.0, wave_hz: float = 1.2, sway_m: float = 0.03, sway_hz: float = 0.5,
          size: tuple = (WIDTH, HEIGHT), focal: float = FOCAL, keys=KEYS, base_orient: np.ndarray = BASE_ORIENT,
          betas: np.ndarray | None = None, fps: float = FPS, seconds: float = SECONDS,
          centre: tuple = (0.0, 0.07, 0.40), spread: float = 0.25, hand: str = "open") -> MotionSequence:
    """The sample motion; the sample clip uses a faster wave and sway so that it blurs. The other arguments
    make other gestures (``keys``: digit closures over time), views (``base_orient``), hands (``betas``),
    cameras (``focal``, ``size``) and places (``centre``, metres in camera axes) for evaluation clips."""
    model = find_hand_model("right", hand=hand)
    prior = PosePrior(model.rest_joints())
    n = int(round(fps * seconds))
    t = np.arange(n) / fps
    closure = closure_at(t, keys)
    angles = np.zeros((n, 15, 3))
    for k in range(15):
        kind = joint_kind(k + 1)
        c = closure[:, k // 3]
        angles[:, k, 0] = LIMITS[kind][0][1] * 0.85 * c
        if kind == "mcp":
            side = {0: 1.0, 1: 0.3, 2: -1.0, 3: -0.6}[k // 3]
            angles[:, k, 1] = side * spread * (1 - c)  # fingers fan out when open
    hand_pose = prior.compose(angles)
    wave = np.radians(wave_deg) * np.sin(2 * np.pi * wave_hz * t) * (1 - closure[:, :4].mean(axis=1))
    tilt = np.radians(10.0) * np.sin(2 * np.pi * 0.25 * t)
    orient = np.einsum("tab,bc->tac", axis_angle_to_matrix(np.stack([tilt, np.zeros(n), wave], axis=1)),
                       base_orient)
    betas = np.zeros(10) if betas is None else np.asarray(betas, dtype=np.float64)
    wrist = model.rest_joints(betas)[0]
    cx, cy, cz = centre
    target = np.stack([cx + sway_m * np.sin(2 * np.pi * sway_hz * t), cy + 0.01 * np.cos(2 * np.pi * 0.5 * t),
                       cz - 0.04 * np.sin(2 * np.pi * 0.25 * t)], axis=1)
    return MotionSequence(
        frames=np.arange(n) + 1.0,
        global_orient=matrix_to_axis_angle(orient),
        hand_pose=hand_pose,
        betas=np.tile(betas, (n, 1)),
        transl=target - wrist,  # the wrist (rotation centre) goes to the target point
        handedness="right",
        fps=fps,
        model="procedural sample",
        camera_matrix=np.array([[focal, 0, size[0] / 2], [0, focal, size[1] / 2], [0, 0, 1.0]]),
        image_size=np.array(size),
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "samples" / "open_hand_motion.npz"))
    args = ap.parse_args(argv)
    print(build().save(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
