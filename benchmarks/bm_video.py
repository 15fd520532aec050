"""Benchmark: video to keyed hand, end to end on this CPU, per second of footage, split by stage.

    .venv/bin/python benchmarks/bm_video.py [--video samples/sample_clip.mp4] [--checkpoint FILE]

The job runs with default options (the side decided by geometry, the fitting stage on), after a short
warm-up job so that library loading counts in neither run. Stages: decode
(OpenCV, both passes), detect (MediaPipe), side (each track fitted as a right and a left hand), model (the
default BlurHandNet checkpoint, batch 8), keypoints (the keypoint network on the same crops, batch 8: the
default keypoints), post
(end-hand ordering, translation solve, filters, chunk files), fit (the fitting stage) and keyframing (the Blender rig built and keyed in bulk from the result). Two
baselines in the same run: the same job without the fitting stage (``refine off``, which reads no keypoints
either), and keyframing the same
samples with one ``keyframe_insert`` per channel and sample; and the job on MediaPipe's keypoints
(``--keypoints mediapipe``, no keypoint network) against the default's. Last, detection alone
with the crop search off and on, on the clip and on footage where the palm detector misses the hand.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import bpy
import numpy as np

from addon.common.job_options import JobOptions
from addon.blender.animate import key_rig, rig_channels
from addon.blender.importer import import_sequence
from addon.common.motion_sequence import load_motion_sequence
from inference.pipeline import run_job

ROOT = Path(__file__).resolve().parent.parent


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
    ap.add_argument("--fov", type=float, default=0.0, help="horizontal field of view (default: the job's default)")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each job; the median one is reported")
    args = ap.parse_args(argv)
    timed = {}
    common = dict(checkpoint=args.checkpoint, **({"fov_deg": args.fov} if args.fov else {}))
    with tempfile.TemporaryDirectory() as work:
        run_job(args.video, JobOptions(frame_end=9, **common), Path(work) / "warm-up")  # libraries loaded for both runs
        configs = (("baseline", dict(refine="off")), ("default", {}), ("mediapipe", dict(keypoint_source="mediapipe")))
        runs = {name: [] for name, _ in configs}
        for k in range(args.repeat):  # the jobs take turns, so a slow spell of the machine slows each alike
            for name, options in configs:
                start = time.perf_counter()
                result = run_job(args.video, JobOptions(**common, **options), Path(work) / f"{name}{k}")
                runs[name].append((time.perf_counter() - start, k, result))
        for name, _ in configs:  # the run of median length (machines' timings wander)
            seconds, _, result = sorted(runs[name], key=lambda r: r[0])[len(runs[name]) // 2]
            timed[name] = (result, seconds)
        # each turn's default job over its baseline job: the median of these pairs
        paired = float(np.median([d[0] / b[0] for d, b in zip(runs["default"], runs["baseline"])]))
        result, job_seconds = timed["default"]
        seq = load_motion_sequence(next(iter(result.paths.values())))
        frames = int(np.round(seq.frames).max() - np.round(seq.frames).min() + 1)
        footage_seconds = frames / seq.fps
        bpy.ops.wm.read_factory_settings(use_empty=True)
        start = time.perf_counter()
        import_sequence(seq)
        keying = time.perf_counter() - start
        bulk, baseline = keys_bulk_and_baseline(seq)
    stages = dict(result.seconds, **{"rig + keys (Blender)": keying})
    stages["start-up + model load"] = job_seconds - sum(result.seconds.values())
    total = sum(stages.values())
    _, off_seconds = timed["baseline"]
    off_total = off_seconds + keying
    print(f"video: {Path(args.video).name}, {frames} frames = {footage_seconds:.1f} s of footage at {seq.fps:g} fps; "
          f"{len(seq)} samples keyed ({seq.handedness} hand)")
    print(f"{'stage':24s} {'seconds':>8s} {'s per footage s':>16s} {'share':>6s}")
    for name, s in stages.items():
        print(f"{name:24s} {s:8.2f} {s / footage_seconds:16.2f} {100 * s / total:5.1f}%")
    print(f"{'total':24s} {total:8.2f} {total / footage_seconds:16.2f}")
    print(f"baseline in the same run, the same job without the fitting stage (--refine off): total "
          f"{off_total:.2f} s; fitting adds {100 * (total / off_total - 1):.0f}% ({stages['fit']:.2f} s fitting, "
          f"{stages.get('keypoints', 0.0):.2f} s reading keypoints); the side "
          f"decision takes {stages.get('side', 0.0):.2f} s ({100 * stages.get('side', 0.0) / total:.0f}% of the total)")
    print(f"the same, turn by turn: the default job took {paired:.2f}x the job without the fitting stage (the median "
          f"of {args.repeat} pairs run back to back; keying left out), fitting adds {100 * (paired - 1):.0f}%")
    mediapipe, mediapipe_seconds = timed["mediapipe"]
    print(f"--keypoints mediapipe in the same run (MediaPipe's keypoints, no keypoint network): total "
          f"{mediapipe_seconds + keying:.2f} s ({(mediapipe_seconds + keying) / total:.2f}x the default's; "
          f"{mediapipe.seconds.get('fit', 0.0):.2f} s fitting)")
    print(f"keys alone: bulk {bulk:.3f} s vs keyframe_insert per key {baseline:.2f} s (baseline): "
          f"{baseline / bulk:.0f}x")
    detection_costs([args.video] + [str(p) for p in SEARCH_CLIPS if p.is_file()])
    return 0


# Footage where MediaPipe's palm detector misses the hand (tools/evaluation/eval_clips.py make renders it).
SEARCH_CLIPS = [ROOT / "data" / "eval_clips" / f"{name}.mp4"
                for name in ("sample_small", "face_grey", "face_skin", "busy_grey", "busy_skin", "mh_face_grey",
                             "mh_face_skin", "mh_busy_grey", "mh_busy_skin", "grasp_back")]


def detection_costs(videos) -> None:
    """Detection alone, the crop search off (the baseline) and on: milliseconds per frame and frames with a hand."""
    from inference.detect import make_detector, source_counts
    from inference.video import Footage

    warm = [rgb for _, rgb in Footage(videos[0]).frames(0, 4)]
    for search in (False, True):  # libraries and models loaded before anything is timed
        detector = make_detector(search=search)
        for rgb in warm:
            detector(rgb)
        detector.close()
    print(f"{'footage':22s} {'search':>6s} {'ms/frame':>9s} {'hand found':>11s}  by palm / track / search")
    for video in videos:
        frames = [rgb for _, rgb in Footage(video).frames()]
        costs = {}
        for search in (False, True):
            detector = make_detector(search=search)
            start = time.perf_counter()
            found = [detector(rgb) for rgb in frames]
            costs[search] = (time.perf_counter() - start) / len(frames) * 1000
            detector.close()
            c = source_counts(found)
            print(f"{Path(video).name:22s} {'on' if search else 'off':>6s} {costs[search]:9.1f} "
                  f"{sum(bool(f) for f in found):5d}/{len(frames):<5d}  {c['palm']} / {c['track']} / {c['search']}")
        print(f"{'':22s} the search costs {100 * (costs[True] / costs[False] - 1):+.0f}% on {Path(video).name}")


if __name__ == "__main__":
    sys.exit(main())
