"""How far the fit's keypoints are from the truth, on a clip with a motion truth: MediaPipe's (with the crop
search, as a job runs it), and the keypoint network's on the crop of MediaPipe's box (as a job reads them, but
on the frame's own box where a job smooths the boxes over time), the 21 keypoints of each frame's hand
against the truth's projected joints.

    .venv/bin/python tools/detector_keypoints.py [--video samples/sample_clip.mp4]
                                                 [--truth samples/sample_clip_truth.npz] [--left]
                                                 [--keypoint-checkpoint FILE]

``--left``: the clip shows a left hand (the network reads it mirrored, as a job does). The fitting stage is
as good as these keypoints: compare with tools/fit_with_true_keypoints.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterator, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from addon.common.motion_sequence import load_motion_sequence  # noqa: E402
from inference.detect import Detection, make_detector  # noqa: E402
from inference.video import Footage  # noqa: E402
from training.video_scores import truth_pixels  # noqa: E402


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


def main(argv=None) -> int:
    import torch

    from inference.keypoint_reader import KeypointReader, load_keypoint_network

    ap = clip_arguments(__doc__.splitlines()[0])
    ap.add_argument("--left", action="store_true", help="the clip shows a left hand")
    ap.add_argument("--keypoint-checkpoint", default="", help="the keypoint network (default: the shipped one)")
    args = ap.parse_args(argv)
    true_px = truth_pixels(load_motion_sequence(args.truth))
    reader = KeypointReader(load_keypoint_network(args.keypoint_checkpoint), torch.device("cpu"), batch_size=1)
    detector, network = [], []
    for index, rgb, hand in matched_hands(args.video, true_px):
        reader.push(index, rgb, hand.box, mirror=args.left)
        detector.append(np.linalg.norm(hand.keypoints - true_px[index], axis=-1))
        network.append(np.linalg.norm(reader.take(index).keypoints - true_px[index], axis=-1))
    print(summary("MediaPipe", np.array(detector)))
    print(summary("keypoint network", np.array(network)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
