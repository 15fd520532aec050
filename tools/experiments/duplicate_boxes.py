"""How often MediaPipe finds one hand twice, one box lying inside the other, and which of the two is right.

    .venv/bin/python -m tools.experiments.duplicate_boxes [CLIP ...]     # names in data/eval_clips, or "sample_clip"

For every frame with two detections whose smaller box lies mostly inside the larger (the share
``inference.tracking.distinct`` treats as one hand), it counts whether the larger box's keypoints are the
closer to the truth's projected joints: the evidence for keeping the larger one.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from addon.common.motion_sequence import load_motion_sequence
from inference.detect import box_overlap, make_detector
from inference.video import Footage
from tools.evaluation.eval_clips import clip_hand
from training.video_scores import truth_pixels

ROOT = Path(__file__).resolve().parents[2]

CLIPS = ["sample_clip", "point_side", "count_roll", "face_skin", "busy_grey", "busy_skin", "face_grey",
         "mh_point_side", "mh_count_roll", "sample_rot90", "sample_mirrored"]
MAX_INSIDE = 0.7  # inference.tracking.distinct's default


def clip_paths(name: str):
    if name == "sample_clip":
        return ROOT / "samples" / "sample_clip.mp4", ROOT / "samples" / "sample_clip_truth.npz"
    return ROOT / "data" / "eval_clips" / f"{name}.mp4", ROOT / "data" / "eval_clips" / f"{name}_truth.npz"


def count_pairs(name: str):
    """(pairs, pairs whose larger box has the closer keypoints)."""
    video, truth_path = clip_paths(name)
    truth = load_motion_sequence(truth_path)
    true_px = truth_pixels(truth, clip_hand(video.parent, name))
    detector = make_detector()  # the raw detections, before tracking merges anything
    pairs = larger_closer = 0
    for index, rgb in Footage(video).frames():
        found = detector(rgb)
        if len(found) != 2 or index >= len(true_px):
            continue
        a, b = found
        if box_overlap(a.box, b.box)[1] <= MAX_INSIDE:
            continue
        big, small = (a, b) if a.box[2] > b.box[2] else (b, a)
        error = [np.linalg.norm(d.keypoints - true_px[index], axis=-1).mean() for d in (big, small)]
        pairs += 1
        larger_closer += error[0] < error[1]
    detector.close()
    return pairs, larger_closer


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*", default=CLIPS)
    args = ap.parse_args(argv)
    total = [0, 0]
    for name in args.clips:
        video, _ = clip_paths(name)
        if not video.is_file():
            print(f"{name}: {video} is missing (make it with tools/evaluation/eval_clips.py make)")
            continue
        pairs, closer = count_pairs(name)
        total[0] += pairs
        total[1] += closer
        print(f"{name}: {pairs} frames with a box inside another; the larger box is the closer in {closer}")
    print(f"all: the larger box is the closer in {total[1]} of {total[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
