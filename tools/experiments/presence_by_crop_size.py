"""How large a crop MediaPipe's landmark model needs: its hand-presence score on crops of a clip's true hand
(every 10th frame), centred and turned upright, at several sizes relative to the hand. The crop search's
smallest tile and its tighter track crop come from this.

    .venv/bin/python -m tools.experiments.presence_by_crop_size [--clip face_grey] [--clips data/eval_clips]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from addon.common.motion_sequence import load_motion_sequence
from inference.crop import crop_box
from inference.detect import SEARCH_THRESHOLD, LandmarkModel, upright_angle
from inference.video import Footage
from tools.evaluation.eval_clips import clip_hand
from training.video_scores import truth_pixels

ROOT = Path(__file__).resolve().parents[2]

SIZES = (1.3, 1.6, 2.0, 2.6, 3.2)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default="face_grey")
    ap.add_argument("--clips", default=str(ROOT / "data" / "eval_clips"))
    args = ap.parse_args(argv)
    folder = Path(args.clips)
    truth = load_motion_sequence(folder / f"{args.clip}_truth.npz")
    uv = truth_pixels(truth, clip_hand(folder, args.clip))
    sample_of = {int(round(f)) - 1: i for i, f in enumerate(truth.frames)}  # Blender frame = footage index + 1
    model = LandmarkModel()
    scores = {s: [] for s in SIZES}
    hand = []
    for index, rgb in Footage(str(folder / f"{args.clip}.mp4")).frames():
        if index % 10 or index not in sample_of:
            continue
        kp = uv[sample_of[index]]
        hand.append(np.ptp(kp, axis=0).max())
        for size in SIZES:
            scores[size].append(model(rgb, crop_box(kp, size), upright_angle(kp))[1])
    print(f"{args.clip}: {len(hand)} frames, the hand {np.mean(hand):.0f} px across (mean)")
    print(f"{'crop / hand':>12s} {'median':>7s} {'max':>6s}  passing {SEARCH_THRESHOLD}")
    for size, values in scores.items():
        v = np.array(values)
        print(f"{size:12.1f} {np.median(v):7.2f} {v.max():6.2f}  {(v >= SEARCH_THRESHOLD).sum()}/{len(v)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
