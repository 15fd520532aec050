"""Regenerate the shipped sample clip: ``samples/sample_clip.mp4`` (4 s, 30 fps, 640x360) and its ground truth
``samples/sample_clip_truth.npz`` (a motion-sequence file).

    python -m tools.assets.make_sample_clip [--out-dir samples] [--engine workbench|cycles] [--subframes 9]

The open hand waves fast, makes a fist and counts, over a photograph; each frame averages ``subframes``
Cycles renders across a half-frame exposure (a 180-degree shutter) in linear light, so fast motion blurs
the way a real camera's does. The truth is the MANO motion at each frame's mid-exposure time. Workbench is
the default engine: Cycles at this size costs seconds per sub-frame on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from addon.blender.importer import add_footage_camera
from addon.common.hand_model import find_hand_model
from scenes.backgrounds import crop_resize, linear_to_srgb, registry_sample_images
from scenes.pose_flow import PoseFlow
from scenes.renderer import HandRenderer, RenderSettings, load_image_linear
from scenes.synthesize import flow_at
from tools.assets.make_sample_sequence import build

ROOT = Path(__file__).resolve().parents[2]

WIDTH, HEIGHT = 640, 360
SHUTTER = 0.5  # exposure as a fraction of the frame interval


def background_window(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The largest centred window of ``image`` with the clip's aspect ratio, resized to the clip."""
    h, w = image.shape[:2]
    crop_w = min(w, h * width / height)
    window = np.array([(w - crop_w) / 2, (h - crop_w * height / width) / 2, crop_w])
    return crop_resize(image, window, width, height)


def render_clip(seq, out: Path, backdrop: np.ndarray, skin: int = 2, light_seed: int = 3, engine: str = "workbench",
                samples: int = 16, subframes: int = 9, tint=None, progress: bool = True, hand: str = "open") -> Path:
    """Render the right-hand motion ``seq`` (a motion sequence with intrinsics and image size) over
    ``backdrop`` (linear RGB, the clip's size) as an mp4v video: each frame the average of ``subframes``
    renders across a half-frame exposure, in linear light. ``tint`` (3,) multiplies the skin texture; ``hand``
    names the built-in hand."""
    width, height = (int(v) for v in seq.image_size)
    model = find_hand_model("right", hand=hand)
    flow = PoseFlow(hand_pose=seq.hand_pose, global_orient=seq.global_orient, transl=seq.transl,
                    wrist=seq.transl + model.rest_joints(seq.betas[0])[0], betas=seq.betas[0], skin=skin)
    renderer = HandRenderer(RenderSettings(size=width, engine=engine, samples=samples))
    rig = renderer.add_hand(model, flow.betas, flow.skin, "hand", camera=False)
    if tint is not None:
        tint_texture(rig, np.asarray(tint, dtype=np.float32))
    add_footage_camera(rig, seq.camera_matrix, seq.image_size, renderer.scene.collection)
    renderer.randomize_lights(np.random.default_rng(light_seed))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), seq.fps, (width, height))
    offsets = np.linspace(-SHUTTER / 2, SHUTTER / 2, subframes)
    for i in range(len(seq)):
        acc = np.zeros((height, width, 3))
        for o in offsets:
            full, transl = flow_at(flow, i + o)
            renderer.pose(rig, full, transl)
            rgba = renderer.render()
            acc += rgba[..., :3] + (1 - rgba[..., 3:]) * backdrop
        frame = np.round(linear_to_srgb(acc / len(offsets)) * 255).astype(np.uint8)
        writer.write(frame[..., ::-1])
        if progress:
            print(f"\rframe {i + 1}/{len(seq)}", end="", file=sys.stderr)
    writer.release()
    if progress:
        print(file=sys.stderr)
    return out


def tint_texture(rig, tint: np.ndarray) -> None:
    """Multiply the skin texture's pixels by ``tint`` (a skin tone every engine shows, Workbench included)."""
    for mat in rig.mesh.data.materials:
        for node in mat.node_tree.nodes:
            if node.type == "TEX_IMAGE" and node.image is not None:
                image = node.image.copy()
                px = np.empty(len(image.pixels), dtype=np.float32)
                image.pixels.foreach_get(px)
                px = px.reshape(-1, 4)
                px[:, :3] *= tint
                image.pixels.foreach_set(px.ravel())
                node.image = image


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default=str(ROOT / "samples"))
    ap.add_argument("--engine", choices=["workbench", "cycles"], default="workbench")
    ap.add_argument("--samples", type=int, default=16, help="Cycles samples")
    ap.add_argument("--subframes", type=int, default=9)
    args = ap.parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    seq = build(wave_deg=35.0, wave_hz=2.0, sway_m=0.05, sway_hz=0.8, size=(WIDTH, HEIGHT), focal=450.0)
    seq.model = "ground truth (synthetic sample clip)"
    seq.save(out / "sample_clip_truth.npz")
    photos = [p for p in registry_sample_images() if p.stem == "coffee"]
    background = load_image_linear(photos[0]) if photos else np.full((HEIGHT, WIDTH, 3), 0.2, np.float32)
    render_clip(seq, out / "sample_clip.mp4", background_window(background, WIDTH, HEIGHT) * 0.8, skin=2,
                light_seed=3, engine=args.engine, samples=args.samples, subframes=args.subframes)
    print(f"{out / 'sample_clip.mp4'}\n{out / 'sample_clip_truth.npz'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
