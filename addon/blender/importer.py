"""Import a motion-sequence file as an animated hand (and a camera matching the footage)."""
from __future__ import annotations

import os
from typing import Optional

import bpy
import numpy as np
from mathutils import Matrix

from ..common.hand_model import HandModel, find_hand_model
from ..common.motion_sequence import MotionSequence, load_motion_sequence
from .animate import animate_from_sequence, fit_scene_to
from .confidence import add_confidence_overlay, key_confidence
from .rig import HandRig, build_hand_rig, undo_on_error

# A camera at the OpenCV origin: Blender cameras look down their -Z with +Y up; OpenCV's look down +Z
# with +Y down, so the camera sits in its parent's (OpenCV) space rotated 180 degrees about X.
CAMERA_IN_CV = Matrix(((1, 0, 0, 0), (0, -1, 0, 0), (0, 0, -1, 0), (0, 0, 0, 1)))
DEFAULT_SIZE = (1280, 720)
DEFAULT_HFOV_DEG = 60.0


def default_camera_matrix(width: int, height: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> np.ndarray:
    f = 0.5 * width / np.tan(np.radians(hfov_deg) / 2)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])


def add_footage_camera(rig: HandRig, camera_matrix: Optional[np.ndarray], image_size: Optional[np.ndarray],
                       collection: bpy.types.Collection, set_active: bool = True) -> bpy.types.Object:
    """A camera with the footage's intrinsics, parented under the rig's OpenCV-axes root."""
    width, height = (int(v) for v in (image_size if image_size is not None else DEFAULT_SIZE))
    k = camera_matrix if camera_matrix is not None else default_camera_matrix(width, height)
    cam = bpy.data.cameras.new(f"{rig.root.name}_camera")
    cam.sensor_fit = "HORIZONTAL"
    cam.sensor_width = 36.0
    cam.lens = float(k[0, 0]) * cam.sensor_width / width
    # Blender's shift is in units of the larger image side; OpenCV's principal point is in pixels.
    cam.shift_x = float(width / 2 - k[0, 2]) / max(width, height)
    cam.shift_y = float(k[1, 2] - height / 2) / max(width, height)
    cam.clip_start = 0.01
    obj = bpy.data.objects.new(f"{rig.root.name}_camera", cam)
    collection.objects.link(obj)
    obj.parent = rig.root
    obj.matrix_parent_inverse = Matrix.Identity(4)
    obj.matrix_basis = CAMERA_IN_CV
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
    if set_active:
        scene.camera = obj
    rig.extra.append(obj)
    return obj


def import_sequence(seq: MotionSequence, model: Optional[HandModel] = None, mano_dir: Optional[str] = None,
                    name: Optional[str] = None, with_camera: bool = True,
                    interpolation: str = "LINEAR", hand: str = "open", show_confidence: bool = False) -> HandRig:
    """Build a rig for the sequence's hand (``model``, else the official files in ``mano_dir``, else the
    built-in ``hand``) and key it; a sequence with per-joint confidences also keys them on the bones and gets
    the confidence overlay (shown when ``show_confidence``). All or nothing: on error nothing new remains."""
    model = model or find_hand_model(seq.handedness, mano_dir, hand)
    if model.side != seq.handedness:
        raise ValueError(f"the sequence is a {seq.handedness} hand but the model is a {model.side} hand")
    scene = bpy.context.scene
    name = name or ("Hand.R" if seq.handedness == "right" else "Hand.L")
    with undo_on_error():
        rig = build_hand_rig(model, seq.betas.mean(axis=0), name=name, vertex_colors=seq.vertex_colors)
        rig.root["hand_mocap_model"] = seq.model
        rig.root["hand_mocap_source"] = seq.source
        animate_from_sequence(rig, seq, interpolation)
        if seq.joint_confidence is not None:
            key_confidence(rig, seq.frames, seq.joint_confidence, interpolation)
            add_confidence_overlay(rig, show_confidence)
        fit_scene_to(scene, seq.frames, seq.fps)
        if with_camera:
            add_footage_camera(rig, seq.camera_matrix, seq.image_size, scene.collection)
    return rig


def import_sequence_file(path: str | os.PathLike, mano_dir: Optional[str] = None, **kwargs) -> HandRig:
    return import_sequence(load_motion_sequence(path), mano_dir=mano_dir, **kwargs)
