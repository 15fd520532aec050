"""Benchmark: keyframing a full hand (16 bone rotations, root location, 135 shape keys) for N frames.

    python benchmarks/bm_keyframes.py [--frames 10000]

The per-key baseline grows quadratically with the curve length (each insert updates the whole curve), so
10,000 frames takes about a quarter of an hour on a 2-core machine; ``--frames 1000`` takes seconds.

Compares the project's bulk writer (keyframe_points.add + foreach_set) with the per-key baseline
(``keyframe_insert`` per property per frame), measured in the same run on the same rig and data.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import bpy
import numpy as np

from addon.blender.animate import key_rig, rig_channels
from addon.blender.rig import build_hand_rig
from addon.common.hand_model import find_hand_model

ROOT = Path(__file__).resolve().parent.parent


def fresh_rig():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return build_hand_rig(find_hand_model("right"))


def keyframe_insert_baseline(rig, channels) -> None:
    """What most add-ons do: set each property, insert a key, frame after frame."""
    bones = [rig.armature.pose.bones[b] for b in rig.bones]
    blocks = [rig.mesh.data.shape_keys.key_blocks[k] for k in rig.shape_keys]
    for t, frame in enumerate(channels.frames):
        for j, pb in enumerate(bones):
            pb.rotation_quaternion = channels.quaternions[t, j]
            pb.keyframe_insert("rotation_quaternion", frame=frame, group=pb.name)
        bones[0].location = channels.root_location[t]
        bones[0].keyframe_insert("location", frame=frame)
        for k, block in enumerate(blocks):
            block.value = channels.correctives[t, k]
            block.keyframe_insert("value", frame=frame)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10_000)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    n = args.frames
    full_pose = rng.normal(0.0, 0.5, (n, 48))
    transl = rng.normal(0.0, 0.1, (n, 3))
    frames = np.arange(n, dtype=np.float64) + 1.0

    rig = fresh_rig()
    start = time.perf_counter()
    channels = rig_channels(rig, frames, full_pose, transl)
    t_numpy = time.perf_counter() - start
    start = time.perf_counter()
    key_rig(rig, channels)
    t_bulk = time.perf_counter() - start
    n_keys = n * (16 * 4 + 3 + 135)

    rig = fresh_rig()
    start = time.perf_counter()
    keyframe_insert_baseline(rig, channels)
    t_insert = time.perf_counter() - start

    print(f"frames: {n}, keys: {n_keys:,} ({16 * 4 + 3 + 135} curves)")
    print(f"{'method':34s} {'seconds':>9s} {'keys/s':>12s} {'ratio':>7s}")
    print(f"{'keyframe_insert (baseline)':34s} {t_insert:9.3f} {n_keys / t_insert:12,.0f} {1.0:7.1f}")
    print(f"{'bulk foreach_set (project)':34s} {t_bulk:9.3f} {n_keys / t_bulk:12,.0f} {t_insert / t_bulk:7.1f}")
    print(f"{'  + channel maths in numpy':34s} {t_numpy:9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
