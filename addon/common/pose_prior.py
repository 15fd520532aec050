"""An anatomically limited hand pose prior: joint limits plus finger synergies, in MANO's 45-value layout.

Each finger joint moves about three anatomical axes derived from the rest joints (flexion toward the
palm, abduction in the palm plane, twist about the bone), so the prior works for the open hand and for
an official MANO model alike. Poses are right-hand axis-angle with ``flat_hand_mean=True``; mirror them
with :func:`rotations.mirror_axis_angle` for a left hand.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np

from .joints import MANO_16, MANO_PARENTS

# (flexion, abduction, twist) limits in radians, per joint kind.
LIMITS: Dict[str, Tuple[Tuple[float, float], Tuple[float, float], Tuple[float, float]]] = {
    "mcp": ((-0.35, 1.57), (-0.35, 0.35), (-0.10, 0.10)),
    "pip": ((0.0, 1.90), (-0.05, 0.05), (-0.05, 0.05)),
    "dip": ((-0.10, 1.40), (-0.03, 0.03), (-0.03, 0.03)),
    "thumb_cmc": ((-0.40, 0.90), (-0.50, 0.60), (-0.40, 0.30)),
    "thumb_mcp": ((-0.10, 1.00), (-0.15, 0.15), (-0.10, 0.10)),
    "thumb_ip": ((-0.30, 1.40), (-0.05, 0.05), (-0.05, 0.05)),
}
_KIND = {1: "mcp", 2: "pip", 3: "dip"}


def joint_kind(j: int) -> str:
    name = MANO_16[j]
    if name.startswith("thumb"):
        return ("thumb_cmc", "thumb_mcp", "thumb_ip")[int(name[-1]) - 1]
    return _KIND[int(name[-1])]


@dataclass
class JointAxes:
    flex: np.ndarray  # (15, 3) unit axes, one per finger joint (MANO order, wrist excluded)
    abduct: np.ndarray
    twist: np.ndarray


def anatomical_axes(rest_joints: np.ndarray) -> JointAxes:
    """Flexion / abduction / twist axes of the 15 finger joints of a right hand at rest."""
    j = np.asarray(rest_joints, dtype=np.float64)
    idx = {n: i for i, n in enumerate(MANO_16)}
    dorsal = np.cross(j[idx["pinky1"]] - j[0], j[idx["index1"]] - j[0])
    dorsal /= np.linalg.norm(dorsal)
    radial = j[idx["index1"]] - j[idx["pinky1"]]
    radial /= np.linalg.norm(radial)
    children = {p: c for c, p in enumerate(MANO_PARENTS) if p > 0}
    flex, abd, tw = [], [], []
    for k in range(1, 16):
        bone = j[children[k]] - j[k] if k in children else j[k] - j[MANO_PARENTS[k]]
        twist = bone / np.linalg.norm(bone)
        # The thumb nail faces between the back of the hand and the radial side.
        up = (0.45 * dorsal + 0.9 * radial) if MANO_16[k].startswith("thumb") else dorsal
        f = np.cross(up, twist)
        f /= np.linalg.norm(f)
        a = np.cross(twist, f)
        flex.append(f)
        abd.append(a)
        tw.append(twist)
    return JointAxes(np.array(flex), np.array(abd), np.array(tw))


class PosePrior:
    """Samples plausible right-hand poses (N, 45) from joint limits and grasp synergies."""

    def __init__(self, rest_joints: np.ndarray):
        self.axes = anatomical_axes(rest_joints)
        self.kinds = [joint_kind(j) for j in range(1, 16)]

    def compose(self, angles: np.ndarray) -> np.ndarray:
        """(N, 15, 3) (flex, abduct, twist) angles -> (N, 45) axis-angle."""
        a = self.axes
        rot = angles[..., 0:1] * a.flex + angles[..., 1:2] * a.abduct + angles[..., 2:3] * a.twist
        return rot.reshape(angles.shape[0], 45)

    def angles_from_closure(self, closure: np.ndarray, spread: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """closure (N, 5) in [0, 1] per digit (MANO digit order: index, middle, pinky, ring, thumb);
        spread (N,) in [-1, 1] -> (N, 15, 3) angles inside the limits."""
        n = closure.shape[0]
        out = np.zeros((n, 15, 3))
        for k, kind in enumerate(self.kinds):
            digit = k // 3
            c = closure[:, digit]
            (f0, f1), (a0, a1), (t0, t1) = LIMITS[kind]
            # flexion follows the digit's closure, with per-joint play; DIP follows PIP (tendon coupling)
            jitter = rng.normal(0.0, 0.08, n)
            flex = f0 + (f1 - f0) * np.clip(c + jitter, 0.0, 1.0)
            if kind == "dip":
                flex = np.clip(0.67 * out[:, k - 1, 0] + rng.normal(0.0, 0.08, n), f0, f1)
            if kind == "mcp":
                # fingers fan out when open; index/middle spread to radial, ring/pinky to ulnar
                side = {0: 1.0, 1: 0.3, 2: -1.0, 3: -0.6}[digit]
                ab = side * spread * a1 * (1.0 - c) + rng.normal(0.0, 0.04, n)
            else:
                ab = rng.normal(0.0, 0.3 * a1, n)
            out[:, k, 0] = flex
            out[:, k, 1] = np.clip(ab, a0, a1)
            out[:, k, 2] = np.clip(rng.normal(0.0, 0.3 * t1 if t1 > 0 else 0.01, n), t0, t1)
        return out

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n poses: a shared grasp level per hand plus per-digit deviations (the synergy)."""
        grasp = rng.beta(0.7, 0.9, n)
        closure = np.clip(grasp[:, None] + rng.normal(0.0, 0.22, (n, 5)), 0.0, 1.0)
        spread = rng.uniform(-0.3, 1.0, n)
        return self.compose(self.angles_from_closure(closure, spread, rng))

    def fist(self) -> np.ndarray:
        """A closed fist, thumb over the fingers: (45,)."""
        angles = np.zeros((1, 15, 3))
        for k, kind in enumerate(self.kinds):
            flex = {"mcp": 1.45, "pip": 1.75, "dip": 1.05, "thumb_cmc": 0.55, "thumb_mcp": 0.75, "thumb_ip": 0.9}
            angles[0, k, 0] = flex[kind]
        angles[0, 12, 1] = 0.35  # thumb CMC adducts across the fingers
        return self.compose(angles)[0]
