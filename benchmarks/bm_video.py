"""Benchmark: video to keyed hand, end to end on this CPU, per second of footage, split by stage.

    python benchmarks/bm_video.py [--video samples/sample_clip.mp4] [--checkpoint FILE]

Stages: decode (OpenCV, both passes), detect (MediaPipe), model (the default BlurHandNet checkpoint, batch 8),
post (end-hand ordering, translation solve, filters, writing chunk files) and keyframing (the Blender rig built
and keyed in bulk from the result). The baseline in the same run is keyframing the same samples with one
``keyframe_insert`` per channel and sample, the way most add-ons do it.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

from addon.blender.animate import key_rig, rig_channels  # noqa: E402
from addon.blender.importer import import_sequence  # noqa: E402
from addon.common.motion_sequence import load_motion_sequence  # noqa: E402
from inference.pipeline import JobSettings, run_job  # noqa: E402


def keys_bulk_and_baseline(seq):
    """Seconds to key the same channels in bulk, and one ``keyframe_insert`` at a time."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    rig = import_sequence(seq, with_camera=False)
    arm = rig.armature
    ch = rig_channels(rig, seq.frames, seq.full_pose, seq.transl)
    start = time.perf_counter()
    key_rig(rig, ch)
    bulk = time.perf_counter() - start
    arm.animation_data_clear()
    rig.mesh.data.shape_keys.animation_data_clear()
    key = rig.mesh.data.shape_keys
    start = time.perf_counter()
    for t, frame in enumerate(ch.frames):
        for j, bone in enumerate(rig.bones):
            pb = arm.pose.bones[bone]
            pb.rotation_quaternion = ch.quaternions[t, j]
            pb.keyframe_insert("rotation_quaternion", frame=frame)
        arm.pose.bones[rig.bones[0]].location = ch.root_location[t]
        arm.pose.bones[rig.bones[0]].keyframe_insert("location", frame=frame)
        for k, name in enumerate(rig.shape_keys):
            block = key.key_blocks[name]
            block.value = ch.correctives[t, k]
            block.keyframe_insert("value", frame=frame)
    return bulk, time.perf_counter() - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(ROOT / "samples" / "sample_clip.mp4"))
    ap.add_argument("--checkpoint", default="")
    ap.add_argument("--fov", type=float, default=70.8)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        settings = JobSettings(video=args.video, checkpoint=args.checkpoint, hands=["right"], fov_deg=args.fov)
        start = time.perf_counter()
        result = run_job(settings, work)
        job_seconds = time.perf_counter() - start
        seq = load_motion_sequence(result.paths["right"])
        frames = int(np.round(seq.frames).max() - np.round(seq.frames).min() + 1)
        footage_seconds = frames / seq.fps
        bpy.ops.wm.read_factory_settings(use_empty=True)
        start = time.perf_counter()
        import_sequence(seq)
        keying = time.perf_counter() - start
        bulk, baseline = keys_bulk_and_baseline(seq)
    stages = dict(result.seconds, **{"rig + keys (Blender)": keying})
    other = job_seconds - sum(result.seconds.values())
    stages["start-up + model load"] = other
    total = sum(stages.values())
    print(f"video: {Path(args.video).name}, {frames} frames = {footage_seconds:.1f} s of footage at {seq.fps:g} fps; "
          f"{len(seq)} samples keyed (3 per frame)")
    print(f"{'stage':24s} {'seconds':>8s} {'s per footage s':>16s} {'share':>6s}")
    for name, s in stages.items():
        print(f"{name:24s} {s:8.2f} {s / footage_seconds:16.2f} {100 * s / total:5.1f}%")
    print(f"{'total':24s} {total:8.2f} {total / footage_seconds:16.2f}")
    print(f"keys alone: bulk {bulk:.3f} s vs keyframe_insert per key {baseline:.2f} s (baseline): "
          f"{baseline / bulk:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
