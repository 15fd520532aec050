"""The README's first picture: four frames of the shipped real clip, the input above the network's raw hand and
the hand after the fitting stage, both with default options otherwise (what ``make demo`` keys).

    .venv/bin/python -m tools.figures.demo_figure [--video samples/real_hand.mp4] [--frames 30,90,150,175]
                                                  [--crop 340,0,660,540] [--out docs/demo_frames.jpg]

Each hand is the motion-sequence file of a real job, imported by the add-on's importer and rendered by
Blender through the footage camera, laid over the footage.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import bpy
import cv2
import numpy as np

from addon.blender.importer import import_sequence
from addon.blender.render import setup_overlay_render
from addon.common.job_options import JobOptions
from addon.common.motion_sequence import load_motion_sequence
from inference.pipeline import run_job
from inference.video import Footage

ROOT = Path(__file__).resolve().parents[2]

ROWS = (("input", None), ("network alone", "off"), ("fitted", "keypoints"))


def overlays(video: str, refine: str, frames, work: Path) -> dict:
    """Footage frame -> BGRA render of the job's hand at that frame."""
    result = run_job(video, JobOptions(refine=refine), work / refine)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    for path in result.paths.values():
        import_sequence(load_motion_sequence(path))
    scene = bpy.context.scene
    setup_overlay_render(scene)
    out = {}
    for f in frames:
        scene.frame_set(f + 1)  # Blender frame f + 1 shows footage frame f
        scene.render.filepath = str(work / f"{refine}_{f:04d}.png")
        bpy.ops.render.render(write_still=True)
        out[f] = cv2.imread(scene.render.filepath, cv2.IMREAD_UNCHANGED)
    return out


def compose(footage: dict, rows: list, frames, scale: float, opacity: float) -> np.ndarray:
    """One row per (label, overlays or None): each frame's footage, the overlay laid on at ``opacity``, scaled
    and labelled."""
    out = []
    for label, layer in rows:
        tiles = []
        for f in frames:
            img = footage[f].astype(np.float32)
            if layer is not None:
                over = layer[f].astype(np.float32)
                alpha = opacity * over[..., 3:4] / 255.0
                img = img * (1 - alpha) + over[..., :3] * alpha
            tile = cv2.resize(img.astype(np.uint8), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            cv2.putText(tile, f"{label}, frame {f}", (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1,
                        cv2.LINE_AA)
            tiles.append(tile)
        out.append(np.concatenate(tiles, axis=1))
    return np.concatenate(out, axis=0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(ROOT / "samples" / "real_hand.mp4"))
    ap.add_argument("--frames", default="30,90,150,175")
    ap.add_argument("--crop", default="340,0,660,540", help="x0,y0,width,height of the footage to show ('': all)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "demo_frames.jpg"))
    ap.add_argument("--scale", type=float, default=0.4, help="size of each tile relative to the footage")
    args = ap.parse_args(argv)
    frames = [int(v) for v in args.frames.split(",")]
    footage = {i: rgb[..., ::-1] for i, rgb in Footage(args.video).frames() if i in frames}
    with tempfile.TemporaryDirectory() as tmp:
        layers = {refine: overlays(args.video, refine, frames, Path(tmp)) for _, refine in ROWS if refine}
    if args.crop:
        x, y, w, h = (int(v) for v in args.crop.split(","))
        footage = {f: img[y:y + h, x:x + w] for f, img in footage.items()}
        layers = {r: {f: img[y:y + h, x:x + w] for f, img in layer.items()} for r, layer in layers.items()}
    picture = compose(footage, [(label, layers.get(refine)) for label, refine in ROWS], frames, args.scale, 0.85)
    cv2.imwrite(args.out, picture, [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
