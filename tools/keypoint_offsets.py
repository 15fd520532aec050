"""Measure how far MediaPipe's keypoints lie from MANO's joints, and write ``inference/keypoint_offsets.json``.

    .venv/bin/python tools/keypoint_offsets.py [DATASET ...] [--out inference/keypoint_offsets.json]

Each DATASET is a synthetic dataset (``scenes/generate.py``) with the detector's keypoints beside it
(``python -m training.detected_keypoints --data DATASET``); the default is the mixed training set's two hands,
``data/synth_mix/open`` and ``data/synth_mix/makehuman`` (``make checkpoint-mixed`` renders and detects
them). These are training renders: the evaluation clips (``tools/eval_clips.py``) play no part.

For every frame where the detector found the hand and called it a right hand (the renders are right hands;
a left call may carry mirror-labelled keypoints), each detected keypoint is read in the frame of its joint's
true bone (parent -> joint): how far along the bone from the true joint, as a fraction of the bone's length
in the image. The median over frames, pooled over the datasets, is the joint's offset
(``inference/keypoint_convention.py``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import numpy as np  # noqa: E402

from addon.common.joints import MANO_21  # noqa: E402
from inference.keypoint_convention import OFFSETS_FILE, PARENTS_21, detector_points  # noqa: E402
from addon.common.hand_model import find_hand_model  # noqa: E402
from addon.common.motion_sequence import load_motion_sequence  # noqa: E402
from detector_keypoints import matched_hands  # noqa: E402
from scenes.dataset import SyntheticDataset  # noqa: E402
from training.video_scores import project, sequence_joints  # noqa: E402
from training.detected_keypoints import load_detected  # noqa: E402

SAMPLE = ROOT / "samples" / "sample_clip.mp4"
SAMPLE_TRUTH = ROOT / "samples" / "sample_clip_truth.npz"
DEFAULT_SETS = [ROOT / "data" / "synth_mix" / "open", ROOT / "data" / "synth_mix" / "makehuman"]


def detected_and_true(root: Path) -> tuple:
    """(detected, true) keypoints (N, 21, 2) of the frames where a right hand was found."""
    detected = load_detected(root)
    data = SyntheticDataset(root)
    true = []
    for i in range(len(data)):
        labels = data.labels(i)
        true.append(labels["joints2d"][int(np.argmin(np.abs(labels["time_offset"])))])  # the exposure's middle
    found = (detected["confidence"][:, 0] > 0) & detected["side_right"]
    return detected["keypoints"][found].astype(np.float64), np.stack(true)[found].astype(np.float64)


def along_fractions(detected: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(21,) median fraction of each joint's true bone by which the detected keypoint lies along it from the
    true joint (negative: back towards the wrist)."""
    bone = true - true[:, PARENTS_21]
    length2 = (bone ** 2).sum(-1)
    ok = length2 > 1e-6
    along = ((detected - true) * bone).sum(-1) / np.where(ok, length2, 1.0)
    return np.array([0.0] + [float(np.median(along[ok[:, j], j])) for j in range(1, 21)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datasets", nargs="*", default=[str(p) for p in DEFAULT_SETS])
    ap.add_argument("--out", default=str(OFFSETS_FILE))
    args = ap.parse_args(argv)
    pairs = [detected_and_true(Path(d)) for d in args.datasets]
    detected = np.concatenate([p[0] for p in pairs])
    true = np.concatenate([p[1] for p in pairs])
    along = np.round(along_fractions(detected, true), 3)
    before = np.linalg.norm(detected - true, axis=-1)
    after = np.linalg.norm(detected - detector_points(true, along), axis=-1)
    for name, (d, t) in zip(args.datasets, pairs):
        print(f"{name}: {len(d)} frames; keypoints {np.linalg.norm(d - t, axis=-1).mean():.2f} px from the true joints, "
              f"{np.linalg.norm(d - detector_points(t, along), axis=-1).mean():.2f} px from where the offsets put them")
    print("joint      along its bone   keypoint to joint -> to the offset joint, px (mean)")
    for j in range(1, 21):
        print(f"{MANO_21[j]:10s} {along[j]:+.3f}           {before[:, j].mean():5.2f} -> {after[:, j].mean():5.2f}")
    Path(args.out).write_text(json.dumps({
        "joint_order": "mano21",
        "along": along.tolist(),
        "detector": "MediaPipe hand landmarker (inference/detect.py)",
        "measured_on": [{"dataset": Path(d).relative_to(ROOT).as_posix() if Path(d).resolve().is_relative_to(ROOT)
                         else str(d), "frames": len(p[0])} for d, p in zip(args.datasets, pairs)],
        "error_px": {"before": round(float(before.mean()), 2), "after": round(float(after.mean()), 2)},
    }, indent=1) + "\n")
    print(f"wrote {args.out}: keypoints {before.mean():.2f} px from the true joints, {after.mean():.2f} px from "
          f"where the offsets put them, over {len(detected)} frames")
    # footage the measurement never saw: the shipped sample clip
    truth = load_motion_sequence(SAMPLE_TRUTH)
    joints = sequence_joints(truth, find_hand_model(truth.handedness))
    on_joints = project(joints, truth.camera_matrix)
    on_offsets = project(detector_points(joints, along), truth.camera_matrix)
    pairs = [(np.linalg.norm(hand.keypoints - on_joints[i], axis=-1).mean(),
              np.linalg.norm(hand.keypoints - on_offsets[i], axis=-1).mean())
             for i, _, hand in matched_hands(str(SAMPLE), on_joints)]
    near, off = np.array(pairs).T
    print(f"sample clip, {len(pairs)} frames: keypoints from the joints {np.median(near):.1f} px (median frame), "
          f"from where the offsets put them {np.median(off):.1f} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
