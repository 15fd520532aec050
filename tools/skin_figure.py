"""The README's skin figure: frames of the sample clip, the input above the imported hand in its procedural
skin and in the colours the job took from the footage (``--skin footage``), both laid over the footage.
On the sample clip it also prints how far those colours are from the same sampling done with the clip's
true hand, and the seconds the colour pass took.

    .venv/bin/python tools/skin_figure.py [--video samples/sample_clip.mp4] [--frames 9,45,101]
                                          [--out docs/footage_skin.jpg]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import bpy  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from addon.blender.importer import import_sequence  # noqa: E402
from demo_figure import compose  # noqa: E402
from addon.blender.render import setup_overlay_render  # noqa: E402
from addon.common.motion_sequence import load_motion_sequence  # noqa: E402
from inference.pipeline import JobSettings, run_job  # noqa: E402
from inference.video import Footage  # noqa: E402

ROWS = (("input", None), ("procedural skin", "procedural"), ("skin from the footage (--skin footage)", "footage"))


def overlays(seq_path: str, colours: bool, frames, work: Path) -> dict:
    """Footage frame -> BGRA render of the hand, with or without the sequence's footage colours."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    seq = load_motion_sequence(seq_path)
    if not colours:
        seq.vertex_colors = None
    import_sequence(seq)
    scene = bpy.context.scene
    setup_overlay_render(scene)
    scene.display.shading.color_type = "VERTEX" if colours else "TEXTURE"
    out = {}
    for f in frames:
        scene.frame_set(f + 1)  # Blender frame f + 1 shows footage frame f
        scene.render.filepath = str(work / f"{int(colours)}_{f:04d}.png")
        bpy.ops.render.render(write_still=True)
        out[f] = cv2.imread(scene.render.filepath, cv2.IMREAD_UNCHANGED)
    return out


def compare_with_truth(path: str, video: str, seconds: float) -> None:
    from addon.common.hand_model import find_hand_model
    from inference.footage_colours import footage_colours

    truth = load_motion_sequence(ROOT / "samples" / "sample_clip_truth.npz")
    reference = footage_colours(Footage(video).frames(), truth, find_hand_model(truth.handedness))
    seen = reference.seen > 2
    got = load_motion_sequence(path).vertex_colors[seen]
    print(f"footage colours vs the true hand's (linear RGB, {seen.sum()} vertices seen in 3+ frames): mean "
          f"absolute difference {np.abs(got - reference.colours[seen]).mean():.3f}; colour pass {seconds:.2f} s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(ROOT / "samples" / "sample_clip.mp4"))
    ap.add_argument("--frames", default="9,45,101")
    ap.add_argument("--out", default=str(ROOT / "docs" / "footage_skin.jpg"))
    ap.add_argument("--scale", type=float, default=0.5, help="size of each tile relative to the footage")
    args = ap.parse_args(argv)
    frames = [int(v) for v in args.frames.split(",")]
    footage = {i: rgb[..., ::-1] for i, rgb in Footage(args.video).frames() if i in frames}
    with tempfile.TemporaryDirectory() as tmp:
        result = run_job(JobSettings(video=args.video, skin="footage"), Path(tmp) / "job")
        path = next(iter(result.paths.values()))
        if Path(args.video).resolve() == (ROOT / "samples" / "sample_clip.mp4").resolve():
            compare_with_truth(path, args.video, result.seconds["colours"])
        layers = {skin: overlays(path, skin == "footage", frames, Path(tmp)) for _, skin in ROWS if skin}
    picture = compose(footage, [(label, layers.get(skin)) for label, skin in ROWS], frames, args.scale, 1.0)
    cv2.imwrite(args.out, picture, [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
