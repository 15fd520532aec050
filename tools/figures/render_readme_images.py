"""Render the pictures of the built-in hands (docs/hand-models.md): rest pose and a fist, right and left, back and palm.

    python -m tools.figures.render_readme_images [--hand open] [--out docs/open_hand.png]
    python -m tools.figures.render_readme_images --compare [--out docs/built_in_hands.jpg]

``--compare`` renders both built-in hands (open, MakeHuman) and puts them side by side at half size.

Goes through the real pipeline: motion-sequence -> rig builder -> keys -> Blender render (Workbench).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from addon.blender.importer import import_sequence
from addon.blender.render import setup_preview_render
from addon.common.hand_model import find_hand_model
from addon.common.motion_sequence import MotionSequence
from addon.common.pose_prior import PosePrior
from addon.common.rotations import axis_angle_to_matrix, matrix_to_axis_angle, mirror_axis_angle

ROOT = Path(__file__).resolve().parents[2]

# Palm down, fingers away from the camera-space viewer: model axes -> OpenCV camera axes.
FINGERS_UP = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def hand(side: str, fist: bool, x: float, palm_to_camera: bool, name: str = "open"):
    model = find_hand_model(side, hand=name)
    right_joints = find_hand_model("right", hand=name).rest_joints()
    pose = PosePrior(right_joints).fist() if fist else np.zeros(45)
    turn = np.eye(3) if palm_to_camera else axis_angle_to_matrix(np.array([0.0, np.pi, 0.0]))
    orient = turn @ FINGERS_UP
    if side == "left":  # the mirror image: mirrored model (x -> -x) seen in a mirrored camera
        mirror = np.diag([-1.0, 1.0, 1.0])
        pose = mirror_axis_angle(pose)
        orient = mirror @ orient @ mirror
    wrist = model.rest_joints()[0]
    target = np.array([x, 0.07, 0.5])
    transl = target - wrist
    seq = MotionSequence(frames=np.array([1.0]), global_orient=matrix_to_axis_angle(orient)[None],
                         hand_pose=pose[None], betas=np.zeros((1, 10)), transl=transl[None], handedness=side)
    return import_sequence(seq, model=model, name=f"{side}_{'fist' if fist else 'rest'}", with_camera=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hand", default="open", choices=["open", "makehuman"])
    ap.add_argument("--compare", action="store_true", help="both built-in hands side by side")
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)
    if args.compare:
        return compare(args.out or str(ROOT / "docs" / "built_in_hands.jpg"))
    args.out = args.out or str(ROOT / "docs" / f"{args.hand}_hand.png")
    render_hands(args.hand, args.out)
    print(args.out)
    return 0


def compare(out: str) -> int:
    import tempfile

    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        tiles = []
        for name, label in (("open", "open hand"), ("makehuman", "MakeHuman hand")):
            path = f"{tmp}/{name}.png"
            render_hands(name, path)
            tile = cv2.resize(cv2.imread(path), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
            cv2.putText(tile, label, (12, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
            tiles.append(tile)
    cv2.imwrite(out, np.concatenate(tiles, axis=1), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(out)
    return 0


def render_hands(name: str, out: str) -> None:
    """Left fist, left rest, right rest, right fist; back of the hand above, palm below."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    xs = np.linspace(-0.36, 0.36, 4)
    layout = [("left", True), ("left", False), ("right", False), ("right", True)]
    for row, palm in enumerate((False, True)):
        for x, (side, fist) in zip(xs, layout):
            rig = hand(side, fist, x, palm_to_camera=palm, name=name)
            rig.root.location = Vector((0.0, 0.0, -0.27 * row))
    scene = bpy.context.scene
    cam = bpy.data.objects.new("readme_camera", bpy.data.cameras.new("readme_camera"))
    scene.collection.objects.link(cam)
    cam.data.type = "ORTHO"
    cam.data.ortho_scale = 0.95
    cam.location = (0.0, 0.0, -0.115)
    cam.rotation_euler = (np.pi / 2, 0.0, 0.0)  # looks along +Y, like the OpenCV camera at the origin
    scene.camera = cam
    scene.render.resolution_x, scene.render.resolution_y = 1600, 800
    setup_preview_render(scene, "workbench", percent=100)
    scene.frame_set(1)
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = out
    bpy.ops.render.render(write_still=True)


if __name__ == "__main__":
    sys.exit(main())
