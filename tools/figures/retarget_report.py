"""The retarget numbers and picture of docs/retarget.md.

    .venv/bin/python -m tools.figures.retarget_report [--clip-sequence seq.npz] [--figure docs/retarget_frames.jpg]

Numbers: for each source (the sample motion, its mirror on a left hand, and the sample clip's result with
default options) and each preset (a rig Rigify generates from Blender's human meta-rig, measured on its
deform bones; MakeHuman's CC0 body with its Mixamo skeleton), fingers only and with the wrist driven: the
angle between each MANO finger segment and the target bone that follows it, evaluated by Blender at every
sample, mean and max over 15 segments x all samples.

Picture: frames 45 (fist), 71 (V sign) and 101 (open) of the sample clip: the footage around the hand, the
imported MANO hand and the MakeHuman character's hand (wrist driven), each seen from the footage camera's
direction.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import bpy
import cv2
import numpy as np
from mathutils import Vector

from addon.blender.importer import import_sequence
from addon.blender.render import setup_overlay_render
from addon.blender.retarget import (
    check_target,
    measure_segment_errors,
    motion_from_rig,
    retarget_hands,
    scene_hands,
    target_hand,
)
from addon.common.job_options import JobOptions
from addon.common.motion_sequence import MotionSequence, load_motion_sequence
from addon.common.retarget import retarget_rotations
from addon.common.rotations import mirror_axis_angle
from scenes.characters import makehuman_character, rigify_human

ROOT = Path(__file__).resolve().parents[2]

SAMPLE = ROOT / "samples" / "open_hand_motion.npz"
CLIP = ROOT / "samples" / "sample_clip.mp4"
FIGURE_FRAMES = ((45, "fist"), (71, "V sign"), (101, "open"))
BASES = ("wrist", "index1", "middle1", "ring1", "pinky1")


def mirrored(seq: MotionSequence) -> MotionSequence:
    return dataclasses.replace(seq, handedness="left", global_orient=mirror_axis_angle(seq.global_orient),
                               hand_pose=mirror_axis_angle(seq.hand_pose), transl=seq.transl * [-1.0, 1.0, 1.0])


def character(kind: str) -> bpy.types.Object:
    if kind == "mixamo":
        return makehuman_character()
    import addon_utils

    rig = rigify_human()[1]
    addon_utils.disable("rigify", default_set=True)  # its load handlers are not wanted afterwards
    return rig


def errors_for(seq: MotionSequence, kind: str, drive_wrist: bool) -> np.ndarray:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    import_sequence(seq, with_camera=False)
    target = character(kind)
    retarget_hands(target, kind, drive_wrist=drive_wrist)
    side = seq.handedness
    bone_map = check_target(target, kind, [side])
    motion = motion_from_rig(scene_hands(bpy.context.scene)[side], side)
    result = retarget_rotations(motion, target_hand(target, bone_map.hands[side]), drive_wrist)
    table = bone_map.measure.get(side) or bone_map.hands[side]
    errors = measure_segment_errors(target, motion, table, result.alignment, drive_wrist)
    return np.concatenate([v for k, v in errors.items() if k != "wrist"])


def clip_sequence(work: Path) -> Path:
    from inference.pipeline import run_job

    result = run_job(str(CLIP), JobOptions(), work / "clip")
    return Path(result.paths["right"])


def world_points(arm: bpy.types.Object, names) -> np.ndarray:
    return np.array([arm.matrix_world @ arm.pose.bones[n].head for n in names])


def view_from(scene, camera, direction_from: bpy.types.Object, points: np.ndarray, distance: float) -> None:
    """Point ``camera`` as the footage camera points, at the centre of ``points``, from ``distance``."""
    rot = direction_from.matrix_world.to_quaternion()
    forward = rot @ Vector((0.0, 0.0, -1.0))
    centre = Vector(points.mean(axis=0).tolist())
    camera.matrix_world = rot.to_matrix().to_4x4()
    camera.location = centre - forward * distance
    camera.data.clip_start = distance * 0.6  # nothing between the camera and the hand (the body stays out)
    scene.camera = camera


def render(scene, path: Path) -> np.ndarray:
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    alpha = image[..., 3:4].astype(np.float32) / 255.0
    return (image[..., :3] * alpha + 40 * (1 - alpha)).astype(np.uint8)  # over a dark grey


def figure(seq_path: Path, out: Path, work: Path, tile: int = 240) -> None:
    from inference.video import Footage

    seq = load_motion_sequence(seq_path)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    rig = import_sequence(seq)
    footage_cam = rig.extra[0]
    target = character("mixamo")
    retarget_hands(target, "mixamo", drive_wrist=True)
    scene = bpy.context.scene
    setup_overlay_render(scene)
    scene.render.resolution_x = scene.render.resolution_y = tile
    camera = bpy.data.objects.new("figure camera", bpy.data.cameras.new("figure camera"))
    scene.collection.objects.link(camera)
    camera.data.lens = 50.0
    mano_bones = [rig.bones[0]] + [b for b in rig.bones if b.split("_")[-1].startswith("mcp") and
                                   not b.startswith("thumb")]
    char_bones = [f"mixamorig:RightHand{f}" for f in ("", "Index1", "Middle1", "Ring1", "Pinky1")]
    frames = {f: rgb for f, rgb in Footage(str(CLIP)).frames() if f in dict(FIGURE_FRAMES)}
    k = seq.camera_matrix
    rows = []
    for f, label in FIGURE_FRAMES:
        scene.frame_set(f + 1)  # Blender frame f + 1 shows footage frame f
        mano_pts, char_pts = world_points(rig.armature, mano_bones), world_points(target, char_bones)
        size = np.linalg.norm(mano_pts[2] - mano_pts[0])
        scale = np.linalg.norm(char_pts[2] - char_pts[0]) / size
        tiles = []
        # The footage around the hand: the MANO palm's centre projected by the footage intrinsics.
        cv_point = np.array(rig.root.matrix_world.inverted() @ Vector(mano_pts.mean(axis=0).tolist()))
        u, v = (k @ cv_point)[:2] / cv_point[2]
        half = int(2.2 * k[0, 0] * size / cv_point[2])
        frame = np.ascontiguousarray(frames[f][..., ::-1])
        padded = cv2.copyMakeBorder(frame, half, half, half, half, cv2.BORDER_CONSTANT)
        crop = padded[int(v):int(v) + 2 * half, int(u):int(u) + 2 * half]
        tiles.append(cv2.resize(crop, (tile, tile), interpolation=cv2.INTER_AREA))
        for name, arm, pts, dist in (("MANO", rig.armature, mano_pts, 5.0 * size),
                                     ("MakeHuman (Mixamo)", target, char_pts, 5.0 * size * scale)):
            for obj in scene.objects:
                obj.hide_render = obj.type == "MESH" and obj.parent is not arm
            view_from(scene, camera, footage_cam, pts, dist)
            tiles.append(render(scene, work / f"{name[:4]}_{f}.png"))
        for t, text in zip(tiles, (f"footage, frame {f} ({label})", "MANO hand", "MakeHuman character")):
            cv2.putText(t, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
        rows.append(np.concatenate(tiles, axis=1))
    cv2.imwrite(str(out), np.concatenate(rows, axis=0), [cv2.IMWRITE_JPEG_QUALITY, 88])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip-sequence", default="", help="the sample clip's result (default: run the job now)")
    ap.add_argument("--figure", default=str(ROOT / "docs" / "retarget_frames.jpg"))
    ap.add_argument("--no-figure", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = Path(args.clip_sequence) if args.clip_sequence else clip_sequence(work)
        sample = load_motion_sequence(SAMPLE)
        sources = {"sample motion (right)": sample, "sample motion (left, mirrored)": mirrored(sample),
                   "sample clip result (right)": load_motion_sequence(clip)}
        print(f"{'source':32s} {'preset':8s} {'wrist':8s} {'mean deg':>9s} {'max deg':>9s} {'segments':>9s}")
        for name, seq in sources.items():
            for kind in ("rigify", "mixamo"):
                for drive in (False, True):
                    e = errors_for(seq, kind, drive)
                    print(f"{name:32s} {kind:8s} {'driven' if drive else 'fingers':8s} {e.mean():9.4f} "
                          f"{e.max():9.4f} {e.size:9d}", flush=True)
        if not args.no_figure:
            figure(clip, Path(args.figure), work)
            print(args.figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
