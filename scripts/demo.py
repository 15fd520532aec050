"""The demo: the shipped real clip (``samples/real_hand.mp4``: a real person's hand) -> the inference worker
(default options, the default BlurHandNet checkpoint) -> an animated open hand on a camera matching the footage
-> ``out/demo.blend`` and ``out/demo.mp4`` (the input beside the hand rendered over it).

    .venv/bin/python scripts/demo.py [--video FILE] [--out DIR] [job options, e.g. --hands right --fov 70.8]

It runs with the bpy module of the project's environment (``make demo``). The job runs with the job's own
defaults, as a user's first import would; any job option of the batch script can be given.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import bpy
import cv2
import numpy as np

from addon.blender.batch import script_args
from addon.blender.render import render_animation, setup_overlay_render
from addon.blender.video_job import new_job, run_sync
from addon.common import protocol as P
from addon.common.job_options import OneLineParser, add_job_arguments, options_from_args
from addon.common.worker_client import default_python

ROOT = Path(__file__).resolve().parent.parent


def render_hand_layer(scene: bpy.types.Scene, folder: Path) -> None:
    """The hand alone over a transparent film, one PNG per footage frame."""
    setup_overlay_render(scene)
    scene.render.filepath = str(folder / "hand_")
    scene.render.use_file_extension = True
    bpy.ops.render.render(animation=True)


def side_by_side(video: str, layers: Path, first: int, last: int, folder: Path) -> None:
    """Footage | footage with the rendered hand over it (alpha blend), as PNG frames."""
    cap = cv2.VideoCapture(video)
    for frame in range(first, last + 1):
        ok, bgr = cap.read()
        if not ok:
            break
        layer = cv2.imread(str(layers / f"hand_{frame:04d}.png"), cv2.IMREAD_UNCHANGED)
        over = bgr.astype(np.float32)
        if layer is not None:
            alpha = layer[..., 3:4].astype(np.float32) / 255.0
            over = over * (1 - 0.85 * alpha) + layer[..., :3].astype(np.float32) * 0.85 * alpha
        both = np.concatenate([bgr, over.astype(np.uint8)], axis=1)
        cv2.putText(both, "input", (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
        cv2.putText(both, f"hand mocap (frame {frame})", (bgr.shape[1] + 10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                    (255, 255, 255), 2)
        cv2.imwrite(str(folder / f"both_{frame:04d}.png"), both)
    cap.release()


def encode(folder: Path, first: int, last: int, size, fps: float, path: Path) -> Path:
    """PNG frames -> H.264 MP4 with Blender's own FFmpeg (OpenCV cannot write H.264)."""
    scene = bpy.data.scenes.new("demo_video")
    sed = scene.sequence_editor_create()
    strip = sed.strips.new_image("frames", str(folder / f"both_{first:04d}.png"), 1, 1)
    for frame in range(first + 1, last + 1):
        strip.elements.append(f"both_{frame:04d}.png")
    scene.frame_start, scene.frame_end = 1, last - first + 1
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.fps = int(round(fps))
    render_animation(scene, path)
    bpy.data.scenes.remove(scene)
    return path


def main(argv=None) -> int:
    ap = OneLineParser(prog="demo", description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(ROOT / "samples" / "real_hand.mp4"))
    ap.add_argument("--out", default=str(ROOT / "out"))
    add_job_arguments(ap)
    args = ap.parse_args(script_args(argv))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    start = new_job(args.video, options_from_args(args))

    def progress(job, event):
        if isinstance(event, P.Progress) and (event.done == event.total or event.done % 40 < 8):
            print(f"demo: {event.stage} {event.done}/{event.total} frames", flush=True)
        elif isinstance(event, P.Log):
            print(f"demo: {event.message}", flush=True)

    job = run_sync(start, default_python(ROOT), str(ROOT), on_event=progress)
    if job.error:
        print(f"demo: error: {job.error}\n{job.error_log}", file=sys.stderr)
        return 1
    scene = bpy.context.scene
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "demo.blend"), compress=True)
    print(f"demo: wrote {out / 'demo.blend'}: {job.summary()} (worker: {job.seconds})")
    cap = cv2.VideoCapture(args.video)
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    work = Path(tempfile.mkdtemp(prefix="hand_mocap_demo_"))
    try:
        scene.frame_start, scene.frame_end = 1, count  # Blender frame f shows footage frame f - 1
        tick = time.perf_counter()
        render_hand_layer(scene, work)
        rendered = time.perf_counter() - tick
        side_by_side(args.video, work, 1, count, work)
        video = encode(work, 1, count, (2 * width, height), fps, out / "demo.mp4")
        print(f"demo: rendered the hand layer in {rendered:.1f} s, composited and encoded in "
              f"{time.perf_counter() - tick - rendered:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"demo: wrote {video} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
