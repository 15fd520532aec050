"""Keyframe a hand rig from a motion sequence: bone rotations, root translation, pose-corrective values.

MANO rotates joint j by R_j about its rest position, in model axes. A Blender pose bone rotates in its own
rest frame B_j, so its quaternion is that of B_j^T R_j B_j; the root bone's location is B_0^T transl. The
shape-key values are the entries of R_j - I, exactly what MANO multiplies ``posedirs`` by.
"""
from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from ..common.motion_sequence import MotionSequence
from ..common.rotations import axis_angle_to_matrix, make_quaternions_continuous, matrix_to_quaternion
from .keyframes import ensure_action, key_channels
from .rig import HandRig


@dataclass
class RigChannels:
    """Everything keyed for T samples, computed in numpy before Blender is touched."""

    frames: np.ndarray  # (T,)
    quaternions: np.ndarray  # (T, 16, 4) pose-bone rotations (w, x, y, z)
    root_location: np.ndarray  # (T, 3) root pose-bone location (bone-local)
    correctives: np.ndarray  # (T, 135) shape-key values


def rig_channels(rig: HandRig, frames: np.ndarray, full_pose: np.ndarray, transl: np.ndarray) -> RigChannels:
    """full_pose (T, 48) axis-angle and transl (T, 3) in the rig's model frame -> keyable channels."""
    rot = axis_angle_to_matrix(np.asarray(full_pose).reshape(len(frames), 16, 3))  # (T, 16, 3, 3)
    rest = rig.bone_rest  # (16, 3, 3)
    local = np.einsum("jba,tjbc,jcd->tjad", rest, rot, rest)  # B^T R B
    quats = make_quaternions_continuous(matrix_to_quaternion(local), axis=0)
    root_loc = np.einsum("ba,tb->ta", rest[0], np.asarray(transl))
    correctives = (rot[:, 1:] - np.eye(3)).reshape(len(frames), -1)
    return RigChannels(np.asarray(frames, dtype=np.float64), quats, root_loc, correctives)


def key_rig(rig: HandRig, channels: RigChannels, interpolation: str = "LINEAR") -> None:
    """Write all keys in bulk (one foreach_set per curve)."""
    arm = rig.armature
    ensure_action(arm, f"{arm.name}_motion")
    for j, bone in enumerate(rig.bones):
        path = f'pose.bones["{bone}"]'
        key_channels(arm, f"{path}.rotation_quaternion", channels.frames, channels.quaternions[:, j],
                     group=bone, interpolation=interpolation)
    root = rig.bones[0]
    key_channels(arm, f'pose.bones["{root}"].location', channels.frames, channels.root_location,
                 group=root, interpolation=interpolation)
    key = rig.mesh.data.shape_keys
    ensure_action(key, f"{rig.mesh.name}_correctives")
    for k, name in enumerate(rig.shape_keys):
        key_channels(key, f'key_blocks["{name}"].value', channels.frames, channels.correctives[:, k],
                     group="Pose correctives", interpolation=interpolation)


def animate_from_sequence(rig: HandRig, seq: MotionSequence, interpolation: str = "LINEAR") -> RigChannels:
    channels = rig_channels(rig, seq.frames, seq.full_pose, seq.transl)
    key_rig(rig, channels, interpolation)
    return channels


def fit_scene_to(scene: bpy.types.Scene, frames: np.ndarray, fps: float) -> None:
    """Frame range covering the samples, and the footage's frame rate (fractional rates via fps_base)."""
    scene.frame_start = int(np.floor(frames.min()))
    scene.frame_end = int(np.ceil(frames.max()))
    rate = max(int(round(fps)), 1)
    scene.render.fps = rate
    scene.render.fps_base = rate / fps
