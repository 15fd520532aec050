"""Where the detector puts a hand's keypoints, given MANO's joints.

MediaPipe's landmarks and MANO's joints are not the same points: each landmark lies short of the MANO joint,
back along the joint's bone towards the wrist. Measured on the project's renders of both built-in hands
(``tools/keypoint_offsets.py``), a knuckle (MCP) landmark lies about 0.14 of the wrist-knuckle bone back, a
finger's middle joints 0.4-0.65 of their bone back, a fingertip 0.7-0.95 of the last bone back: along the
fingers, the landmarks sit about 1.5 cm nearer the wrist than the joints.

The fitting stage therefore compares the detector's keypoints with where the detector would put them on the
fitted hand (:func:`detector_points`), not with the joints themselves. Working on the model's joints, in 3D,
keeps the detector's noise out of the correction and handles a finger pointing at the camera exactly.

``keypoint_offsets.json`` holds the fractions, per MANO-21 joint (the wrist's is 0), with where they were
measured; ``tools/keypoint_offsets.py`` regenerates it.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from addon.common.joints import MANO_21, parents

OFFSETS_FILE = Path(__file__).with_name("keypoint_offsets.json")
PARENTS_21 = np.array([max(p, 0) for p in parents(MANO_21)])  # the wrist is its own parent (a zero bone)
_PARENTS = PARENTS_21.tolist()  # indexes numpy arrays and torch tensors alike
ON_JOINTS = (0.0,) * 21  # offsets of keypoints that are the joints themselves (true labels, a MANO-trained net)


def detector_points(joints, along):
    """Joints (..., 21, D) in MANO-21 order (or the first 16, MANO-16), numpy or torch -> each moved
    ``along[j]`` (21,) times its bone (parent -> joint) along that bone (negative: back towards the wrist)."""
    n = joints.shape[-2]  # MANO-16 is MANO-21 without the tips, a prefix
    return joints + along[:n, None] * (joints - joints[..., _PARENTS[:n], :])


@lru_cache(maxsize=None)
def _load(path: str) -> tuple:
    data = json.loads(Path(path).read_text())
    along = data.get("along")
    if data.get("joint_order") != "mano21" or not isinstance(along, list) or len(along) != 21:
        raise ValueError(f"{path}: expected 21 'along' fractions in MANO-21 order")
    return tuple(float(a) for a in along)


def detector_offsets(path: str | Path = OFFSETS_FILE) -> tuple:
    """The shipped fractions (21 floats), read once."""
    return _load(str(path))
