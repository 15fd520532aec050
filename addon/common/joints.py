"""Hand joint orders: one definition of every 16/21-joint layout the project reads or writes.

Every order is a list of canonical joint names. Remapping between two orders is an index gather, so
arrays of any trailing shape (T, 21, 3), (21, 2), (N, 21) can be converted with :func:`remap`.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

FINGERS = ("thumb", "index", "middle", "ring", "pinky")

# MANO's own kinematic order: wrist; index, middle, pinky, ring, thumb (3 joints each, base to tip).
MANO_16: List[str] = [
    "wrist",
    "index1", "index2", "index3",
    "middle1", "middle2", "middle3",
    "pinky1", "pinky2", "pinky3",
    "ring1", "ring2", "ring3",
    "thumb1", "thumb2", "thumb3",
]
# Parent of each MANO joint (the kintree_table's first row; -1 for the root).
MANO_PARENTS: List[int] = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]

# Fingertips are vertices, not regressed joints. smplx appends them in this order and with these ids.
TIP_NAMES: List[str] = ["thumb4", "index4", "middle4", "ring4", "pinky4"]
TIP_VERTEX_IDS: Dict[str, int] = {"thumb4": 744, "index4": 320, "middle4": 443, "ring4": 554, "pinky4": 671}

# MANO-16 followed by the five tips, as smplx's MANO layer returns it (also the HO3D evaluation order).
MANO_21: List[str] = MANO_16 + TIP_NAMES

# OpenPose / FreiHAND: wrist, then each finger base to tip, thumb first.
OPENPOSE_21: List[str] = ["wrist"] + [f"{f}{k}" for f in FINGERS for k in (1, 2, 3, 4)]

# MediaPipe's hand landmarker uses the OpenPose layout (WRIST, THUMB_CMC .. PINKY_TIP).
MEDIAPIPE_21: List[str] = list(OPENPOSE_21)

# InterHand2.6M (one hand): each finger tip to base, thumb first, wrist last.
INTERHAND_21: List[str] = [f"{f}{k}" for f in FINGERS for k in (4, 3, 2, 1)] + ["wrist"]

ORDERS: Dict[str, List[str]] = {
    "mano16": MANO_16,
    "mano21": MANO_21,
    "openpose21": OPENPOSE_21,
    "freihand21": OPENPOSE_21,
    "mediapipe21": MEDIAPIPE_21,
    "interhand21": INTERHAND_21,
}

# Bones drawn between joints, in OpenPose-21 names (for previews and bone-length terms).
SKELETON_EDGES: List[tuple] = [("wrist", f"{f}1") for f in FINGERS] + [
    (f"{f}{k}", f"{f}{k + 1}") for f in FINGERS for k in (1, 2, 3)
]


class JointOrderError(ValueError):
    """An unknown joint order, or a remap that would need joints the source does not have."""


def order(name: str) -> List[str]:
    """The joint names of a named order (``mano16``, ``mano21``, ``openpose21``, ``freihand21``,
    ``mediapipe21``, ``interhand21``)."""
    try:
        return ORDERS[name.lower()]
    except KeyError:
        raise JointOrderError(f"unknown joint order {name!r}; known: {', '.join(sorted(ORDERS))}") from None


def remap_indices(src: str | Sequence[str], dst: str | Sequence[str]) -> np.ndarray:
    """Indices ``idx`` such that ``x_dst = x_src[..., idx, :]``."""
    src_names = order(src) if isinstance(src, str) else list(src)
    dst_names = order(dst) if isinstance(dst, str) else list(dst)
    position = {n: i for i, n in enumerate(src_names)}
    missing = [n for n in dst_names if n not in position]
    if missing:
        raise JointOrderError(f"cannot remap: the source order lacks {', '.join(missing)}")
    return np.array([position[n] for n in dst_names], dtype=np.int64)


def remap(x: np.ndarray, src: str | Sequence[str], dst: str | Sequence[str], axis: int = -2) -> np.ndarray:
    """Reorder the joint axis of ``x`` (default: the second to last, as in ``(..., J, 3)``)."""
    x = np.asarray(x)
    idx = remap_indices(src, dst)
    n_src = len(order(src) if isinstance(src, str) else src)
    if x.shape[axis] != n_src:
        raise JointOrderError(f"expected {n_src} joints on axis {axis}, got shape {x.shape}")
    return np.take(x, idx, axis=axis)


def parents(names: Sequence[str]) -> List[int]:
    """Parent index of each joint in an order (tree: wrist -> finger1 -> finger2 -> ...)."""
    position = {n: i for i, n in enumerate(names)}
    out = []
    for n in names:
        if n == "wrist":
            out.append(-1)
            continue
        finger, k = n[:-1], int(n[-1])
        out.append(position["wrist"] if k == 1 else position[f"{finger}{k - 1}"])
    return out


def _bone_end(joint: str) -> str:
    """The MANO-21 joint at the far end of a MANO-16 joint's bone: the wrist's reaches to the middle finger's
    base, a finger joint's to the next joint (the last one's to the tip)."""
    if joint == "wrist":
        return "middle1"
    return f"{joint[:-1]}{int(joint[-1]) + 1}"


# MANO-21 indices of each MANO-16 bone's two ends (head: its own joint; end: what its rotation moves first).
BONE_ENDS_21: np.ndarray = np.array([[MANO_21.index(j), MANO_21.index(_bone_end(j))] for j in MANO_16])


def bone_confidence(joint_confidence: np.ndarray) -> np.ndarray:
    """Per-joint confidence (..., 21) in MANO-21 order -> per-bone (..., 16) in MANO-16 order: the mean of the
    bone's two ends (a bone is as sure as the points it places)."""
    c = np.asarray(joint_confidence)
    return c[..., BONE_ENDS_21].mean(-1)
