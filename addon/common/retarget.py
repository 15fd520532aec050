"""Retargeting maths: MANO finger segments -> the bones of another rig, in that rig's own rest pose.

Pure numpy, no ``bpy``: the Blender stage (``addon/blender/retarget.py``) reads rest matrices and keys, this
module turns them into each target bone's pose rotation.

Conventions. MANO rotates segment j (joint j to its child, or to the fingertip) by its global rotation
``G_j`` about the joint, in the MANO model frame; the wrist's "segment" points at the middle finger's base.
A target bone's rest matrix ``R_b`` (Blender's ``bone.matrix_local``, 3x3) holds its axes in armature space,
with +Y along the bone. For each mapped bone:

1. The hand alignment ``A`` (one rotation per hand) takes MANO's rest hand onto the target's rest hand: the
   best rotation (Kabsch) between the wrist -> finger-base vectors of both, so neither rest pose has to be
   flat and neither rig's axes have to match MANO's.
2. The swing ``S_b`` is the smallest rotation turning the target's rest bone direction onto the MANO rest
   segment, as seen through ``A``; it keeps the target's own roll (its x/z axes), so a rig rolled any way
   still twists with MANO.
3. At time t, with ``L_j = G_wrist^T G_j`` (the finger relative to the hand), a finger bone's posed rotation
   with the hand at rest is ``D_b = A L_j A^T S_b R_b``: its +Y lies along ``A L_j d_j``, where MANO's
   segment points. When the hand turns by ``H_t`` (the rig's own animation, or MANO's wrist when it is
   driven: ``D_hand = H_t R_hand`` with ``H_t = O^-1 C G_wrist A^T``, C the MANO rig's world rotation and O
   the target object's), the fingers turn with it.
4. Blender composes pose rotations down the hierarchy, ``P_b = P_parent (R_parent^T R_b) Q_b``, so the key
   is ``Q_b = R_b^T R_parent P_parent^T D_b`` with bones the map does not key held at their rest pose.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from .joints import MANO_16, MANO_PARENTS

FINGER_BASES = ("index1", "middle1", "ring1", "pinky1")  # with the wrist, they fix the hand alignment
_LAST_SEGMENT = {"thumb3": "thumb", "index3": "index", "middle3": "middle", "ring3": "ring", "pinky3": "pinky"}


class RetargetError(ValueError):
    """A retarget that cannot run: a map without a wrist, a hand without keys, too few finger bases."""


@dataclass
class HandMotion:
    """A MANO hand's motion, wherever it came from (a keyed rig or a motion-sequence file)."""

    side: str
    frames: np.ndarray  # (T,)
    global_rot: np.ndarray  # (T, 16, 3, 3) G_j in the MANO model frame, MANO_16 order
    world_from_model: np.ndarray  # (3, 3) rotation taking the model frame to Blender's world
    rest_joints: np.ndarray  # (16, 3) MANO_16 joints at rest
    rest_tips: Dict[str, np.ndarray]  # finger -> fingertip position at rest (the last segment's end)

    def rest_directions(self) -> np.ndarray:
        """(16, 3) unit rest direction of each MANO segment."""
        return rest_segment_directions(self.rest_joints, self.rest_tips)


@dataclass
class TargetBone:
    """One bone of the target armature, as the maths needs it (all in armature space)."""

    name: str
    rest: np.ndarray  # (3, 3) bone.matrix_local rotation
    head: np.ndarray  # (3,)
    parent: Optional[str]  # the parent bone's name
    parent_rest: Optional[np.ndarray]  # (3, 3) the parent's matrix_local rotation
    inherit_rotation: bool = True


@dataclass
class TargetHand:
    """The bones one hand's map names, and the chain that links them (for the parent-first composition)."""

    joints: Dict[str, TargetBone]  # MANO joint name -> target bone
    ancestors: Dict[str, List[TargetBone]] = field(default_factory=dict)  # bone -> its parents, nearest first


@dataclass
class RetargetResult:
    bones: List[str]  # keyed bones, parent first
    joints: List[str]  # the MANO joint each keyed bone follows
    basis: np.ndarray  # (T, n, 3, 3) pose-bone rotations (Blender's matrix_basis)
    alignment: np.ndarray  # (3, 3) A


def global_rotations(local_rot: np.ndarray, parents: Sequence[int] = MANO_PARENTS) -> np.ndarray:
    """(T, 16, 3, 3) local MANO rotations -> global ones, G_j = G_parent R_j."""
    out = np.empty_like(local_rot)
    for j, p in enumerate(parents):
        out[:, j] = local_rot[:, j] if p < 0 else out[:, p] @ local_rot[:, j]
    return out


def rest_segment_directions(joints: np.ndarray, tips: Dict[str, np.ndarray]) -> np.ndarray:
    """(16, 3) unit vectors: joint -> child joint, the last joint of a finger -> its tip, wrist -> middle1."""
    children = {p: j for j, p in enumerate(MANO_PARENTS) if p > 0}
    d = np.empty((16, 3))
    for j, name in enumerate(MANO_16):
        if j == 0:
            end = joints[MANO_16.index("middle1")]
        elif j in children:
            end = joints[children[j]]
        else:
            end = np.asarray(tips[_LAST_SEGMENT[name]])
        d[j] = end - joints[j]
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def kabsch_rotation(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The rotation R minimising sum |R src_i - dst_i|^2 over unit-normalised vectors (N, 3)."""
    src = src / np.linalg.norm(src, axis=1, keepdims=True)
    dst = dst / np.linalg.norm(dst, axis=1, keepdims=True)
    u, _, vt = np.linalg.svd(dst.T @ src)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def swing_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking direction a to direction b (Rodrigues; a half turn about a normal of a)."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(a @ b)
    if c < -1 + 1e-9:
        n = np.cross(a, [1.0, 0, 0]) if abs(a[0]) < 0.9 else np.cross(a, [0, 1.0, 0])
        n /= np.linalg.norm(n)
        return 2 * np.outer(n, n) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def hand_alignment(motion: HandMotion, target: TargetHand) -> np.ndarray:
    """A: MANO's rest hand (model frame) onto the target's rest hand (armature space), from the finger bases."""
    if "wrist" not in target.joints:
        raise RetargetError("the bone map names no wrist (hand) bone; it is needed to align the hands")
    bases = [j for j in FINGER_BASES if j in target.joints]
    if len(bases) < 2:
        raise RetargetError("the bone map needs the base bones of at least two of index, middle, ring, pinky")
    wrist = target.joints["wrist"].head
    src = np.array([motion.rest_joints[MANO_16.index(j)] - motion.rest_joints[0] for j in bases])
    dst = np.array([target.joints[j].head - wrist for j in bases])
    return kabsch_rotation(src, dst)


def retarget_rotations(motion: HandMotion, target: TargetHand, drive_wrist: bool = False,
                       object_rot: Optional[np.ndarray] = None) -> RetargetResult:
    """Every mapped bone's pose rotation for every sample (see the module docstring for the maths).

    ``object_rot`` is the target armature object's world rotation; it matters only when the wrist is driven
    (the hand then turns in the world as MANO's hand does in Blender's world).
    """
    a = hand_alignment(motion, target)
    g = motion.global_rot
    t = len(g)
    d_rest = motion.rest_directions()
    relative = np.einsum("tba,tjbc->tjac", g[:, 0], g)  # L_j = G_wrist^T G_j
    desired: Dict[str, np.ndarray] = {}
    joints_of: Dict[str, str] = {}
    for joint, bone in target.joints.items():
        if joint == "wrist":
            continue
        j = MANO_16.index(joint)
        swing = swing_rotation(bone.rest[:, 1], a @ d_rest[j])
        fixed = a.T @ swing @ bone.rest  # A^T S_b R_b
        desired[bone.name] = np.einsum("ab,tbc,cd->tad", a, relative[:, j], fixed)  # H_t = I
        joints_of[bone.name] = joint
    # Fingers are keyed relative to the hand at rest: their keys are then right however the hand turns,
    # whether they hang below the hand bone (Mixamo) or follow it through constraints (Rigify's FK controls).
    order = _parent_first(target, list(desired))
    posed: Dict[str, np.ndarray] = {}
    basis = {}
    for name in order:
        bone = _bone(target, name)
        basis[name] = _basis(bone, _posed_parent(target, bone, posed, t), desired[name])
        posed[name] = desired[name]
    if drive_wrist:
        bone = target.joints["wrist"]
        world = motion.world_from_model if object_rot is None else object_rot.T @ motion.world_from_model
        hand = np.einsum("ab,tbc,dc->tad", world, g[:, 0], a)  # H_t = O^-1 C G_wrist A^T
        desired[bone.name] = hand @ bone.rest
        joints_of[bone.name] = "wrist"
        basis[bone.name] = _basis(bone, _posed_parent(target, bone, {}, t), desired[bone.name])
        order = [bone.name] + order
    return RetargetResult(bones=order, joints=[joints_of[n] for n in order],
                          basis=np.stack([basis[n] for n in order], axis=1), alignment=a)


def _basis(bone: TargetBone, parent_posed: np.ndarray, desired: np.ndarray) -> np.ndarray:
    """The pose-bone rotation Q that gives ``bone`` the posed rotation ``desired`` under ``parent_posed``."""
    if bone.inherit_rotation and bone.parent_rest is not None:
        rest_rel = bone.parent_rest.T @ bone.rest  # the bone's rest in its parent's frame
        return np.einsum("ba,tcb,tcd->tad", rest_rel, parent_posed, desired)
    return np.einsum("ba,tbc->tac", bone.rest, desired)


def expected_directions(motion: HandMotion, alignment: np.ndarray, hand: np.ndarray,
                        joints: Sequence[str]) -> np.ndarray:
    """(T, n, 3): where each named MANO segment points in the target's armature space, given the target hand's
    rotation relative to its rest ``hand`` (T, 3, 3): ``H_t A L_j d_j``."""
    g = motion.global_rot
    d_rest = motion.rest_directions()
    idx = [MANO_16.index(j) for j in joints]
    relative = np.einsum("tba,tjbc->tjac", g[:, 0], g[:, idx])
    return np.einsum("tab,bc,tjcd,jd->tja", hand, alignment, relative, d_rest[idx])


def angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees between the vectors of a and b along the last axis."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


def _bone(target: TargetHand, name: str) -> TargetBone:
    return next(b for b in target.joints.values() if b.name == name)


def _parent_first(target: TargetHand, names: List[str]) -> List[str]:
    """Order keyed bones so each comes after every keyed ancestor."""
    depth = {n: len(target.ancestors.get(n, [])) for n in names}
    return sorted(names, key=lambda n: depth[n])


def _posed_parent(target: TargetHand, bone: TargetBone, posed: Dict[str, np.ndarray], t: int) -> np.ndarray:
    """(T, 3, 3) the parent's posed rotation: the nearest keyed ancestor's pose carried down the rest chain
    (bones between them stay at rest), or the parent's rest when no ancestor is keyed."""
    if bone.parent_rest is None:
        return np.broadcast_to(np.eye(3), (t, 3, 3))
    for ancestor in target.ancestors.get(bone.name, []):
        if ancestor.name in posed:
            return np.einsum("tab,cb,cd->tad", posed[ancestor.name], ancestor.rest, bone.parent_rest)
    return np.broadcast_to(bone.parent_rest, (t, 3, 3))
