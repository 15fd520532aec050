"""Put an imported MANO hand's motion on another armature's hand bones (Rigify, Mixamo, a custom map).

Everything is read and checked first (the target is an armature, the map's bones exist, the hand has keys),
then the rotations are computed in numpy (``addon/common/retarget.py``), and only then are keys written,
through the project's bulk key writer. A retarget that fails leaves the scene as it was.

Only orientations move: finger bones always, the hand bone when ``drive_wrist`` is set. The character's arm
keeps its own animation, so the hand's location is the character's, not the footage's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import bpy
import numpy as np
from mathutils import Matrix

from ..common.bone_maps import BoneMap, BoneMapError, resolve_bone_map
from ..common.hand_model import HandModel
from ..common.joints import MANO_16, TIP_NAMES, TIP_VERTEX_IDS
from ..common.motion_sequence import MotionSequence
from ..common.retarget import (
    HandMotion,
    RetargetError,
    RetargetResult,
    TargetBone,
    TargetHand,
    angles_deg,
    expected_directions,
    global_rotations,
    retarget_rotations,
)
from ..common.rotations import (
    axis_angle_to_matrix,
    make_quaternions_continuous,
    matrix_to_quaternion,
    quaternion_to_matrix,
)
from .keyframes import ensure_action, find_fcurve, key_channels
from .rig import CV_TO_BLENDER, bone_name

SIDE_PROPERTY = "hand_mocap_side"  # set on every imported hand's root


@dataclass
class RetargetReport:
    target: str
    side: str
    bone_map: str
    bones: List[str]
    samples: int
    note: str = ""

    def __str__(self) -> str:
        text = f"{self.side} hand -> {self.target} ({self.bone_map}): {len(self.bones)} bones, {self.samples} keys each"
        return f"{text}; {self.note}" if self.note else text


def _rot3(matrix) -> np.ndarray:
    """The rotation part of a Blender matrix, scale removed."""
    return np.array(matrix.to_3x3().normalized())


def scene_hands(scene: bpy.types.Scene) -> Dict[str, bpy.types.Object]:
    """side -> the armature of an imported MANO hand in the scene (the most recently created one per side)."""
    found: Dict[str, bpy.types.Object] = {}
    for obj in scene.objects:
        side = obj.get(SIDE_PROPERTY) if obj.type == "EMPTY" else None
        arm = next((c for c in obj.children if c.type == "ARMATURE"), None) if side else None
        if arm is not None:
            found[side] = arm  # scene.objects is in creation order: later imports win
    return found


def motion_from_rig(arm: bpy.types.Object, side: str,
                    frame_range: Optional[Tuple[float, float]] = None) -> HandMotion:
    """Read a keyed MANO rig's motion (its rotation F-curves, at its keyed frames) into a HandMotion."""
    bones = [bone_name(j, side) for j in MANO_16]
    lacking = [b for b in bones if b not in arm.data.bones]
    if lacking:
        raise RetargetError(f"{arm.name} is not a Hand Mocap {side} hand: no bone {lacking[0]}")
    curves = [[find_fcurve(arm, f'pose.bones["{b}"].rotation_quaternion', i) for i in range(4)] for b in bones]
    frames = _keyed_frames(c for row in curves for c in row if c is not None)
    if not len(frames):
        raise RetargetError(f"the {side} hand {arm.name} has no keys to retarget")
    if frame_range is not None:
        frames = frames[(frames >= frame_range[0]) & (frames <= frame_range[1])]
        if not len(frames):
            raise RetargetError(f"the {side} hand {arm.name} has no keys in frames "
                                f"{frame_range[0]:g}-{frame_range[1]:g}")
    quats = np.zeros((len(frames), 16, 4))
    quats[..., 0] = 1.0
    for j, row in enumerate(curves):
        for i, curve in enumerate(row):
            if curve is not None:
                quats[:, j, i] = [curve.evaluate(f) for f in frames]
    quats /= np.linalg.norm(quats, axis=-1, keepdims=True)
    rest = np.array([_rot3(arm.data.bones[b].matrix_local) for b in bones])
    local = np.einsum("jab,tjbc,jdc->tjad", rest, quaternion_to_matrix(quats), rest)  # R_j = B q B^T
    return HandMotion(
        side=side, frames=frames, global_rot=global_rotations(local), world_from_model=_rot3(arm.matrix_world),
        rest_joints=np.array([arm.data.bones[b].head_local for b in bones]),
        rest_tips={t[:-1]: np.array(arm.data.bones[bone_name(t, side)].head_local) for t in TIP_NAMES})


def motion_from_sequence(seq: MotionSequence, model: HandModel) -> HandMotion:
    """A motion-sequence file's motion, posed on ``model`` at the sequence's mean shape."""
    verts = model.rest_vertices(seq.betas.mean(axis=0))
    local = axis_angle_to_matrix(seq.full_pose.reshape(len(seq), 16, 3))
    return HandMotion(side=seq.handedness, frames=np.asarray(seq.frames, dtype=np.float64),
                      global_rot=global_rotations(local), world_from_model=_rot3(CV_TO_BLENDER),
                      rest_joints=model.J_regressor @ verts,
                      rest_tips={t[:-1]: verts[TIP_VERTEX_IDS[t]] for t in TIP_NAMES})


def _keyed_frames(curves: Iterable[bpy.types.FCurve]) -> np.ndarray:
    frames = set()
    for curve in curves:
        co = np.empty(2 * len(curve.keyframe_points), dtype=np.float32)
        curve.keyframe_points.foreach_get("co", co)
        frames.update(np.round(co[0::2].astype(np.float64), 4).tolist())
    return np.array(sorted(frames))


def target_hand(arm: bpy.types.Object, table: Dict[str, str]) -> TargetHand:
    """The mapped bones' rest data, and each one's chain of parents (nearest first)."""
    def describe(bone: bpy.types.Bone) -> TargetBone:
        parent = bone.parent
        return TargetBone(name=bone.name, rest=_rot3(bone.matrix_local), head=np.array(bone.head_local),
                          parent=parent.name if parent else None,
                          parent_rest=_rot3(parent.matrix_local) if parent else None,
                          inherit_rotation=bone.use_inherit_rotation)

    joints = {joint: describe(arm.data.bones[name]) for joint, name in table.items()}
    ancestors = {}
    for bone in joints.values():
        chain, parent = [], arm.data.bones[bone.name].parent
        while parent is not None:
            chain.append(describe(parent))
            parent = parent.parent
        ancestors[bone.name] = chain
    return TargetHand(joints=joints, ancestors=ancestors)


def check_target(obj: Optional[bpy.types.Object], spec: str, sides: Sequence[str]) -> BoneMap:
    """The map for ``obj`` (an armature with every bone the map names for ``sides``), or a clear error."""
    if obj is None:
        raise RetargetError("choose a target armature to retarget onto")
    if obj.type != "ARMATURE":
        raise RetargetError(f"{obj.name} is a {obj.type.lower()} object, not an armature")
    names = [b.name for b in obj.data.bones]
    bone_map = resolve_bone_map(spec, names)
    mapped = [s for s in sides if s in bone_map.sides()]
    if not mapped:
        raise BoneMapError(f"the bone map {bone_map.name} names no bones for the {' or '.join(sides)} hand")
    missing = bone_map.missing_bones(names, mapped)
    if missing:
        raise BoneMapError(f"{obj.name} lacks {len(missing)} bone(s) of the {bone_map.name} map: "
                           f"{', '.join(missing)}")
    return bone_map


def retarget_hands(target: Optional[bpy.types.Object], spec: str = "auto",
                   sources: Optional[Dict[str, HandMotion]] = None, sides: Sequence[str] = ("right", "left"),
                   drive_wrist: bool = False, frame_range: Optional[Tuple[float, float]] = None,
                   scene: Optional[bpy.types.Scene] = None) -> List[RetargetReport]:
    """Key ``target``'s hand bones from the scene's imported hands (or from ``sources``), all sides at once.

    ``sides`` lists the hands wanted; with both, whichever the scene has are used. All checks run before any
    key is written, so an error leaves the scene unchanged.
    """
    scene = scene or bpy.context.scene
    bone_map = check_target(target, spec, sides)
    bpy.context.view_layer.update()  # world matrices of objects moved since the last evaluation
    if sources is None:
        rigs = scene_hands(scene)
        wanted = [s for s in sides if s in rigs and s in bone_map.sides()]
        if not wanted:
            raise RetargetError(f"no imported {' or '.join(sides)} hand in the scene to retarget")
        sources = {s: motion_from_rig(rigs[s], s, frame_range) for s in wanted}
    plans = []
    for side, motion in sources.items():
        if side not in bone_map.sides():
            raise BoneMapError(f"the bone map {bone_map.name} names no bones for the {side} hand")
        if not len(motion.frames):
            raise RetargetError(f"the {side} hand has no samples to retarget")
        hand = target_hand(target, bone_map.hands[side])
        result = retarget_rotations(motion, hand, drive_wrist, _rot3(target.matrix_world))
        plans.append((side, motion, result))
    had_animation = target.animation_data is not None and target.animation_data.action is not None
    actions_before = set(bpy.data.actions)
    try:
        reports = [_key(target, side, motion.frames, result, bone_map.name) for side, motion, result in plans]
        if drive_wrist and bone_map.name == "rigify":
            for report in reports:
                report.note = _rigify_arm_to_fk(target, report.side)
    except BaseException:
        if not had_animation:  # nothing of a failed retarget stays
            for action in set(bpy.data.actions) - actions_before:
                bpy.data.actions.remove(action)
            target.animation_data_clear()
        raise
    return reports


def _key(target: bpy.types.Object, side: str, frames: np.ndarray, result: RetargetResult,
         map_name: str) -> RetargetReport:
    ensure_action(target, f"{target.name}_hands")
    quats = make_quaternions_continuous(matrix_to_quaternion(result.basis), axis=0)  # (T, n, 4)
    for k, name in enumerate(result.bones):
        pose_bone = target.pose.bones[name]
        path = f'pose.bones["{name}"]'
        mode = pose_bone.rotation_mode
        if mode == "QUATERNION":
            key_channels(target, f"{path}.rotation_quaternion", frames, quats[:, k], group=name)
        elif mode == "AXIS_ANGLE":
            key_channels(target, f"{path}.rotation_axis_angle", frames, _axis_angle(quats[:, k]), group=name)
        else:
            key_channels(target, f"{path}.rotation_euler", frames, _eulers(result.basis[:, k], mode), group=name)
    return RetargetReport(target.name, side, map_name, list(result.bones), len(frames))


def _rigify_arm_to_fk(rig: bpy.types.Object, side: str) -> str:
    """Rigify's hand follows ``hand_fk`` only with the arm in FK: set its IK/FK switch (on the arm's properties
    bone) to FK, and say so."""
    holder = rig.pose.bones.get(f"upper_arm_parent{'.R' if side == 'right' else '.L'}")
    if holder is None or "IK_FK" not in holder:
        return "the arm's IK/FK switch was not found: the hand follows hand_fk only with the arm in FK"
    holder["IK_FK"] = 1.0
    return f"arm switched to FK ({holder.name} IK_FK = 1) so the hand follows"


def _axis_angle(q: np.ndarray) -> np.ndarray:
    """(T, 4) quaternions -> Blender's (angle, x, y, z)."""
    q = q * np.where(q[:, :1] < 0, -1.0, 1.0)
    s = np.linalg.norm(q[:, 1:], axis=1)
    axis = np.where(s[:, None] > 1e-12, q[:, 1:] / np.maximum(s, 1e-12)[:, None], [0.0, 1.0, 0.0])
    return np.concatenate([2 * np.arctan2(s, q[:, 0])[:, None], axis], axis=1)


def _eulers(rot: np.ndarray, mode: str) -> np.ndarray:
    """(T, 3, 3) -> Euler angles in the bone's order, each compatible with the previous (no 360 jumps)."""
    out, previous = [], None
    for m in rot:
        e = Matrix(m.tolist()).to_euler(mode, previous) if previous is not None else Matrix(m.tolist()).to_euler(mode)
        out.append(tuple(e))
        previous = e
    return np.array(out)


def measure_segment_errors(target: bpy.types.Object, motion: HandMotion, table: Dict[str, str],
                           alignment: np.ndarray, drive_wrist: bool = False,
                           scene: Optional[bpy.types.Scene] = None) -> Dict[str, np.ndarray]:
    """Angle (degrees) between each MANO finger segment and the target bone that follows it, per sample.

    Evaluated by Blender (drivers, constraints and all) at each sample's frame. The MANO segment is carried
    into the target's space by the hand alignment and turned with the target's evaluated hand; ``table``
    names the bones measured (a rig's deform bones, or the keyed ones) and must include the hand
    (``wrist``). With ``drive_wrist`` the result also has ``wrist``: the angle of the rotation between the
    target hand's world orientation and MANO's (after the alignment). Angles are the same in world and
    armature space (the object's rotation turns both).
    """
    scene = scene or bpy.context.scene
    joints = [j for j in table if j != "wrist"]
    hand_bone = target.pose.bones[table["wrist"]]
    hand_rest = _rot3(hand_bone.bone.matrix_local)
    got = np.empty((len(motion.frames), len(joints), 3))
    hand = np.empty((len(motion.frames), 3, 3))
    depsgraph = bpy.context.evaluated_depsgraph_get()
    for t, frame in enumerate(motion.frames):
        scene.frame_set(int(np.floor(frame)), subframe=float(frame - np.floor(frame)))
        evaluated = target.evaluated_get(depsgraph)
        for k, joint in enumerate(joints):
            got[t, k] = np.array(evaluated.pose.bones[table[joint]].matrix.to_3x3().col[1])
        hand[t] = _rot3(evaluated.pose.bones[hand_bone.name].matrix) @ hand_rest.T
    want = expected_directions(motion, alignment, hand, joints)
    errors = angles_deg(got, want)
    out = {joint: errors[:, k] for k, joint in enumerate(joints)}
    if drive_wrist:
        world = _rot3(target.matrix_world).T @ motion.world_from_model
        expected = np.einsum("ab,tbc,dc->tad", world, motion.global_rot[:, 0], alignment)
        cos = (np.einsum("tab,tab->t", hand, expected) - 1) / 2  # trace(H^T E) = 1 + 2 cos(angle)
        out["wrist"] = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return out


def parse_target_spec(text: str) -> Tuple[str, str]:
    """``FILE.blend:ARMATURE`` -> (file, armature name); the last ``:`` splits (Windows drives keep theirs)."""
    path, sep, name = text.rpartition(":")
    if not sep or not path.endswith(".blend") or not name:
        raise RetargetError(f"--retarget-to must be FILE.blend:ARMATURE, not {text!r}")
    return path, name


def append_character(path: str, name: str, scene: Optional[bpy.types.Scene] = None) -> bpy.types.Object:
    """Append armature ``name`` and every object parented under it (its meshes) from ``path`` into a new
    collection of the scene. Nothing stays appended when the object is missing or is not an armature."""
    scene = scene or bpy.context.scene
    before = set(bpy.data.objects)
    with bpy.data.libraries.load(path, link=False) as (src, dst):
        if name not in src.objects:
            raise RetargetError(f"{path} has no object {name!r} (objects: {', '.join(sorted(src.objects)[:12])})")
        dst.objects = list(src.objects)  # children are found only after loading
    loaded = [o for o in bpy.data.objects if o not in before]
    target = next(o for o in loaded if o.name == name or o.name.startswith(f"{name}.")) if loaded else None
    keep = {target, *target.children_recursive} if target is not None and target.type == "ARMATURE" else set()
    shapes = {pb.custom_shape for pb in target.pose.bones if pb.custom_shape} if keep else set()
    for obj in loaded:
        if obj not in keep and obj not in shapes:  # bone widgets stay, unlinked, as the rig uses them
            bpy.data.objects.remove(obj)
    if not keep:
        raise RetargetError(f"{name} in {path} is not an armature")
    collection = bpy.data.collections.new(f"{target.name} (retarget)")
    scene.collection.children.link(collection)
    for obj in keep:
        collection.objects.link(obj)
    return target
