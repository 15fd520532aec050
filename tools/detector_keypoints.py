"""How far the detector's keypoints are from the truth: MediaPipe (with the crop search, as a job runs it) on
a clip with a motion truth, the 21 keypoints of each frame's hand against the truth's projected joints.

    .venv/bin/python tools/detector_keypoints.py [--video samples/sample_clip.mp4]
                                                 [--truth samples/sample_clip_truth.npz]

The fitting stage is as good as these keypoints: compare with tools/fit_with_true_keypoints.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from addon.common.hand_model import find_hand_model  # noqa: E402
from addon.common.motion_sequence import load_motion_sequence  # noqa: E402
from inference.detect import make_detector  # noqa: E402
from inference.video import Footage  # noqa: E402
from training.video_scores import project, sequence_joints  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(ROOT / "samples" / "sample_clip.mp4"))
    ap.add_argument("--truth", default=str(ROOT / "samples" / "sample_clip_truth.npz"))
    args = ap.parse_args(argv)
    truth = load_motion_sequence(args.truth)
    true_px = project(sequence_joints(truth, find_hand_model(truth.handedness)), truth.camera_matrix)
    detector = make_detector()
    per_frame = []
    for index, rgb in Footage(args.video).frames():
        found = detector(rgb)
        if found and index < len(true_px):  # the hand nearest the truth (one hand in these clips)
            per_frame.append(min((np.linalg.norm(d.keypoints - true_px[index], axis=-1) for d in found),
                                 key=lambda e: e.mean()))
    detector.close()
    errors = np.array(per_frame)
    frame_means = errors.mean(1)
    print(f"{len(errors)} frames with a hand: keypoints {errors.mean():.1f} px off on average, median "
          f"{np.median(errors):.1f} px; per frame: best decile {np.percentile(frame_means, 10):.1f} px, median "
          f"{np.median(frame_means):.1f} px, worst decile {np.percentile(frame_means, 90):.1f} px, worst "
          f"{frame_means.max():.1f} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
