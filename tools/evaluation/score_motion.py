"""Score video runs against the truth of their footage: side, 2D joint error, MPJPE / PA-MPJPE, depth and
finger curl, and of the finger-frames whose curl is missed, how many are fitted too curled and how many too
straight (``training/video_scores.py`` defines each).

    .venv/bin/python -m inference run samples/sample_clip.mp4 -o seq.npz
    .venv/bin/python -m tools.evaluation.score_motion seq.npz                                  # the sample clip's truth
    .venv/bin/python -m tools.evaluation.score_motion run.npz --truth clip_truth.npz [--mirrored] [--json]
    .venv/bin/python -m tools.evaluation.score_motion run.npz --truth labels.npz               # keypoint truth (2D only)
    .venv/bin/python -m tools.evaluation.score_motion run.npz --truth clip_truth.npz --frames 65-97   # a stretch of it

A keypoint truth file holds ``frames`` (T,) Blender frames and ``keypoints`` (T, 21, 2) pixels in MANO-21
order (optionally ``handedness``). ``--mirrored`` scores a run of the left-right mirrored footage against
the mirrored truth (a left hand for a right one). ``--frames FIRST-LAST`` scores only the truth's frames in
that range (its own frame numbers, inclusive): where in a clip a run goes wrong.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from addon.common.hand_model import find_hand_model
from addon.common.motion_sequence import MotionSequence, load_motion_sequence
from training.video_scores import mirror_truth, score_against_keypoints, score_against_motion

ROOT = Path(__file__).resolve().parents[2]

SAMPLE_TRUTH = ROOT / "samples" / "sample_clip_truth.npz"
PER_SAMPLE = ("frames", "global_orient", "hand_pose", "betas", "transl", "confidence", "joint_confidence")


def between(frames: np.ndarray, first: float, last: float) -> np.ndarray:
    """The mask of ``frames`` in [first, last]; none there is an error that names the truth's own range."""
    keep = (frames >= first) & (frames <= last)
    if not keep.any():
        raise SystemExit(f"score_motion: the truth has no frame in {first:g}-{last:g} "
                         f"(it has {frames.min():g}-{frames.max():g})")
    return keep


def truth_between(truth: MotionSequence, first: float, last: float) -> MotionSequence:
    """The motion truth's samples whose frame lies in [first, last]."""
    keep = between(truth.frames, first, last)
    return dataclasses.replace(truth, **{name: getattr(truth, name)[keep] for name in PER_SAMPLE
                                         if getattr(truth, name) is not None
                                         and len(getattr(truth, name)) == len(truth.frames)})


def frame_range(text: str) -> tuple:
    """``"65-97"`` -> (65.0, 97.0)."""
    try:
        first, last = (float(v) for v in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIRST-LAST, such as 65-97, not {text!r}") from None
    return first, last


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="motion-sequence files written by a run")
    ap.add_argument("--truth", default=str(SAMPLE_TRUTH), help="motion-sequence or keypoint truth file")
    ap.add_argument("--mirrored", action="store_true", help="the runs are of the mirrored footage")
    ap.add_argument("--mano", default="", help="official MANO folder the runs were made with")
    ap.add_argument("--json", action="store_true", help="print one JSON object per run")
    ap.add_argument("--frames", type=frame_range, metavar="FIRST-LAST",
                    help="score only the truth's frames in this range (a motion truth's own frame numbers)")
    args = ap.parse_args(argv)
    with np.load(args.truth, allow_pickle=False) as data:
        keypoint_truth = "keypoints" in data.files
        if keypoint_truth:
            frames, keypoints = data["frames"], data["keypoints"]
            side = str(data["handedness"]) if "handedness" in data.files else None
            if args.frames:
                keep = between(frames, *args.frames)
                frames, keypoints = frames[keep], keypoints[keep]
    if not keypoint_truth:
        truth = load_motion_sequence(args.truth)
        truth = mirror_truth(truth) if args.mirrored else truth
        truth = truth_between(truth, *args.frames) if args.frames else truth
        truth_model = find_hand_model(truth.handedness, args.mano or None)
    for path in args.runs:
        run = load_motion_sequence(path)
        model = find_hand_model(run.handedness, args.mano or None)
        if keypoint_truth:
            score = score_against_keypoints(run, model, frames, keypoints, side)
        else:
            score = score_against_motion(run, model, truth, truth_model)
        print(json.dumps({"run": path, **score.as_dict()}) if args.json else f"{path}: {score.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
