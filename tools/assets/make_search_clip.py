"""The crop search's test clip: eight frames of the held-out detection clip ``face_grey`` (the open hand, grey,
about 50 px, in front of a face: MediaPipe's palm detector finds it in none of them) and the hand's true
keypoints there. Cut from ``tools/evaluation/eval_clips.py make``'s render; shipped (about 60 kB) so the tests need no
render.

    .venv/bin/python -m tools.assets.make_search_clip [--source data/eval_clips] [--out samples]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from addon.common.motion_sequence import load_motion_sequence
from inference.video import Footage
from training.video_scores import truth_pixels

ROOT = Path(__file__).resolve().parents[2]

FIRST, COUNT = 0, 8


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=str(ROOT / "data" / "eval_clips"))
    ap.add_argument("--out", default=str(ROOT / "samples"))
    args = ap.parse_args(argv)
    source, out = Path(args.source), Path(args.out)
    footage = Footage(str(source / "face_grey.mp4"))
    truth = load_motion_sequence(source / "face_grey_truth.npz")
    uv = truth_pixels(truth)
    frames = [rgb for _, rgb in footage.frames(FIRST, FIRST + COUNT - 1)]
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out / "search_clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), footage.info.fps, (w, h))
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    index = [int(np.argmin(np.abs(truth.frames - (FIRST + k + 1)))) for k in range(COUNT)]  # Blender frame = index + 1
    np.savez(out / "search_clip_truth.npz", keypoints=uv[index].astype(np.float32), order=np.array("mano21"))
    print(out / "search_clip.mp4", out / "search_clip_truth.npz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
