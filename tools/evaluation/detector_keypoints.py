"""How far the fit's keypoints are from the truth, on a clip with a motion truth: MediaPipe's (with the crop
search, as a job runs it), and the keypoint network's on the crop of MediaPipe's box (as a job reads them, but
on the frame's own box where a job smooths the boxes over time), the 21 keypoints of each frame's hand
against the truth's projected joints.

    .venv/bin/python -m tools.evaluation.detector_keypoints [--video samples/sample_clip.mp4]
                                                 [--truth samples/sample_clip_truth.npz]
                                                 [--keypoint-checkpoint FILE] [--hand-model makehuman]
                                                 [--read-crop 0.9]

A clip whose truth is a left hand is read mirrored by the network, as a job reads it. The fitting stage is
as good as these keypoints: compare with tools/evaluation/fit_with_true_keypoints.py.

``--hand-model`` names the hand the clip shows (its truth's joints come from that model). ``--read-crop`` is
the side of the crop the
network reads, relative to the detector's box (default: the job's, ``keypoint_reader.READ_CROP``); the tool
also prints how large the detector's keypoints span against the true joints, which sets that box.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional, Tuple

import numpy as np

from addon.common.hand_model import find_hand_model
from addon.common.motion_sequence import MotionSequence, load_motion_sequence
from inference.detect import Detection, make_detector
from inference.video import Footage
from training.video_scores import project, sequence_joints

ROOT = Path(__file__).resolve().parents[2]

if TYPE_CHECKING:
    from inference.keypoint_reader import FrameKeypoints


def closest(found: list, true_px: np.ndarray):
    """The detection whose keypoints are nearest the truth's (21, 2) pixels (one hand in these clips)."""
    return min(found, key=lambda d: np.linalg.norm(d.keypoints - true_px, axis=-1).mean())


def clip_arguments(description: str) -> argparse.ArgumentParser:
    """A parser with ``--video`` and ``--truth`` (a clip and its motion truth; the shipped sample clip)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--video", default=str(ROOT / "samples" / "sample_clip.mp4"))
    ap.add_argument("--truth", default=str(ROOT / "samples" / "sample_clip_truth.npz"))
    return ap


def matched_hands(video: str, true_px: np.ndarray) -> Iterator[Tuple[int, np.ndarray, Detection]]:
    """Each frame where the detector (with the crop search, as a job runs it) finds a hand: (index, frame,
    the detection nearest the truth's (F, 21, 2) pixels)."""
    detector = make_detector()
    try:
        for index, rgb in Footage(video).frames():
            found = detector(rgb)
            if found and index < len(true_px):
                yield index, rgb, closest(found, true_px[index])
    finally:
        detector.close()


def summary(name: str, errors: np.ndarray) -> str:
    """One line on (frames, 21) keypoint errors in pixels."""
    frame_means = errors.mean(1)
    return (f"{name}: {len(errors)} frames with a hand: keypoints {errors.mean():.1f} px off on average, median "
            f"{np.median(errors):.1f} px; per frame: best decile {np.percentile(frame_means, 10):.1f} px, median "
            f"{np.median(frame_means):.1f} px, worst decile {np.percentile(frame_means, 90):.1f} px, worst "
            f"{frame_means.max():.1f} px")


def network_readings(video: str, truth: MotionSequence, true_px: np.ndarray, checkpoint: str = "",
                     crop: Optional[float] = None) -> Iterator[Tuple[int, Detection, "FrameKeypoints"]]:
    """:func:`matched_hands` with the keypoint network's reading of each detection's box (the crop a job reads,
    the box unsmoothed; a left hand's crop mirrored): (index, detection, reading). ``crop``: the reader's crop
    relative to the box (default: the job's)."""
    import torch

    from inference.keypoint_reader import READ_CROP, KeypointReader, load_keypoint_network

    reader = KeypointReader(load_keypoint_network(checkpoint), torch.device("cpu"), batch_size=1,
                            crop=READ_CROP if crop is None else crop)
    for index, rgb, hand in matched_hands(video, true_px):
        reader.push(index, rgb, hand.box, mirror=truth.handedness == "left")
        yield index, hand, reader.take(index)


def main(argv=None) -> int:
    ap = clip_arguments(__doc__.splitlines()[0])
    ap.add_argument("--keypoint-checkpoint", default="", help="the keypoint network (default: the shipped one)")
    ap.add_argument("--hand-model", default="open", choices=("open", "makehuman"), help="the hand the clip shows")
    ap.add_argument("--read-crop", type=float, default=None, metavar="F",
                    help="the network's crop, times the detector's box (default: the job's)")
    args = ap.parse_args(argv)
    truth = load_motion_sequence(args.truth)
    joints = sequence_joints(truth, find_hand_model(truth.handedness, hand=args.hand_model))
    true_px = project(joints, truth.camera_matrix)
    detector, network, span = [], [], []
    for index, hand, read in network_readings(args.video, truth, true_px, args.keypoint_checkpoint, args.read_crop):
        span.append(np.ptp(hand.keypoints, axis=0).max() / np.ptp(true_px[index], axis=0).max())
        detector.append(np.linalg.norm(hand.keypoints - true_px[index], axis=-1))
        network.append(np.linalg.norm(read.keypoints - true_px[index], axis=-1))
    print(summary("MediaPipe", np.array(detector)))
    print(summary("keypoint network", np.array(network)))
    print(f"MediaPipe's keypoints span {np.median(span):.2f} of the true joints' extent (median over frames; the "
          "job's box is 1.3 times their span)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
