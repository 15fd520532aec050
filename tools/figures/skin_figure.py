"""The skin figure (docs/pipeline.md): frames of the sample clip, the input above the imported hand in its procedural
skin, in the colours the job took from the footage (``--skin footage``), in the colours AMVUR itself predicts
(``--model amvur --skin network``), and AMVUR's per-joint confidence as the rig's overlay shows it (Cycles,
the material's own red - yellow - green ramp), each laid over the footage.
On the sample clip it also prints how far those colours are from the same sampling done with the clip's
true hand, and the seconds the colour pass took.

    .venv/bin/python -m tools.figures.skin_figure [--video samples/sample_clip.mp4] [--frames 9,45,101]
                                          [--out docs/footage_skin.jpg]
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
from addon.blender.render import setup_overlay_render, setup_preview_render
from addon.common.job_options import JobOptions
from addon.common.motion_sequence import load_motion_sequence
from inference.pipeline import run_job
from inference.video import Footage
from tools.figures.demo_figure import compose

ROOT = Path(__file__).resolve().parents[2]

ROWS = (("input", None), ("procedural skin", "procedural"), ("--skin footage", "footage"),
        ("AMVUR, --skin network", "network"), ("AMVUR confidence", "confidence"))


def overlays(seq_path: str, kind: str, frames, work: Path) -> dict:
    """Footage frame -> BGRA render of the hand: procedural skin, the sequence's colours, or the confidence
    overlay (rendered with Cycles, which evaluates the material's overlay nodes)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    seq = load_motion_sequence(seq_path)
    colours = kind in ("footage", "network")
    if not colours:
        seq.vertex_colors = None
    import_sequence(seq, show_confidence=kind == "confidence")
    scene = bpy.context.scene
    setup_overlay_render(scene)
    scene.display.shading.color_type = "VERTEX" if colours else "TEXTURE"
    if kind == "confidence":
        setup_preview_render(scene, "cycles", 100)
        scene.render.film_transparent = True
        world = scene.world.node_tree.nodes["Background"].inputs
        world["Color"].default_value, world["Strength"].default_value = (1.0, 1.0, 1.0, 1.0), 0.3
        next(o for o in scene.objects if o.type == "LIGHT").data.energy = 1.5  # the ramp's colours, not glare
        scene.view_settings.view_transform = "Standard"  # AgX would wash the ramp's red and yellow out
    out = {}
    for f in frames:
        scene.frame_set(f + 1)  # Blender frame f + 1 shows footage frame f
        scene.render.filepath = str(work / f"{kind}_{f:04d}.png")
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


def describe_amvur(amvur_path: str, footage_path: str) -> None:
    """How AMVUR's own colours compare with the footage's, and the spread of its confidences."""
    mine, theirs = load_motion_sequence(amvur_path), load_motion_sequence(footage_path)
    conf = mine.joint_confidence
    print(f"AMVUR's colours vs the footage colours (linear RGB, all vertices): mean absolute difference "
          f"{np.abs(mine.vertex_colors - theirs.vertex_colors).mean():.3f}; medians "
          f"{np.round(np.median(mine.vertex_colors, 0), 3)} vs {np.round(np.median(theirs.vertex_colors, 0), 3)}")
    print(f"AMVUR's joint confidence over the clip: 10th / 50th / 90th percentile "
          f"{' / '.join(f'{v:.2f}' for v in np.percentile(conf, [10, 50, 90]))}")


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
        result = run_job(args.video, JobOptions(skin="footage"), Path(tmp) / "job")
        path = next(iter(result.paths.values()))
        if Path(args.video).resolve() == (ROOT / "samples" / "sample_clip.mp4").resolve():
            compare_with_truth(path, args.video, result.seconds["colours"])
        amvur = run_job(args.video, JobOptions(model="amvur", skin="network"), Path(tmp) / "amvur")
        amvur_path = next(iter(amvur.paths.values()))
        describe_amvur(amvur_path, path)
        sources = {"procedural": path, "footage": path, "network": amvur_path, "confidence": amvur_path}
        layers = {kind: overlays(sources[kind], kind, frames, Path(tmp)) for _, kind in ROWS if kind}
    picture = compose(footage, [(label, layers.get(skin)) for label, skin in ROWS], frames, args.scale, 1.0)
    cv2.imwrite(args.out, picture, [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
