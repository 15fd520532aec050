"""The project's own detector run over a synthetic dataset: the 2D keypoints a self-supervised model (S2HAND)
trains on, as a user's footage would give them, instead of the renders' true labels.

Each frame is shown to the same detector the worker uses (MediaPipe's pipeline with the crop search), frames
of a sequence in order, and the best-scoring hand is kept. The result sits beside the dataset's manifest as
``detected_keypoints.npz``:

- ``keypoints`` (N, 21, 2) float32: image pixels, MANO-21 order (zeros where nothing was found);
- ``confidence`` (N, 21) float32: the detection's hand score per keypoint (MediaPipe gives no per-keypoint
  confidence), 0 where nothing was found;
- ``side_right`` (N,) bool: the detector's side label (the renders are right hands; a left label is kept so
  the losses can see what a user's footage would give).

The true labels are never read here.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Dict

import cv2
import numpy as np

from scenes.dataset import SyntheticDataset

FILE_NAME = "detected_keypoints.npz"
# Enlarging the 128 px renders before detection found fewer hands (50 and 44 of 400 at 2x and 3x, 65 at 1x).
UPSCALE = 1.0


def detect_dataset(root: str | os.PathLike, upscale: float = UPSCALE, progress: bool = True) -> Dict[str, np.ndarray]:
    """Run the detector over every frame of ``root`` (sequence by sequence, in order) and write the file."""
    from inference.detect import make_detector

    data = SyntheticDataset(root)
    n = len(data)
    keypoints = np.zeros((n, 21, 2), np.float32)
    confidence = np.zeros((n, 21), np.float32)
    side_right = np.zeros(n, bool)
    order = sorted(range(n), key=lambda i: (int(data.labels(i)["sequence"]), int(data.labels(i)["frame"])))
    detector, sequence = None, None
    start = time.perf_counter()
    for done, i in enumerate(order):
        labels = data.labels(i)
        if detector is None or int(labels["sequence"]) != sequence:  # a fresh tracker per sequence
            if detector is not None:
                detector.close()
            detector, sequence = make_detector(max_hands=1), int(labels["sequence"])
        image = data[i]["image"]
        found = detector(cv2.resize(image, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC))
        if found:
            best = max(found, key=lambda d: d.score)
            keypoints[i], confidence[i], side_right[i] = best.keypoints / upscale, best.score, best.side == "right"
        if progress and (done + 1) % 200 == 0:
            print(f"  {done + 1}/{n} frames, {time.perf_counter() - start:.0f} s", file=sys.stderr)
    if detector is not None:
        detector.close()
    out = {"keypoints": keypoints, "confidence": confidence, "side_right": side_right}
    np.savez_compressed(Path(root) / FILE_NAME, **out)
    return out


def load_detected(root: str | os.PathLike) -> Dict[str, np.ndarray]:
    path = Path(root) / FILE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no detected keypoints; run `python -m training.detected_keypoints "
                                f"--data {root}` first")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="+", required=True, help="synthetic dataset folder(s)")
    ap.add_argument("--upscale", type=float, default=UPSCALE, help="enlarge frames this much before detection")
    args = ap.parse_args(argv)
    for root in args.data:
        out = detect_dataset(root, args.upscale)
        found = out["confidence"][:, 0] > 0
        print(f"{root}: a hand in {found.sum()}/{len(found)} frames, labelled right in "
              f"{out['side_right'][found].sum()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
