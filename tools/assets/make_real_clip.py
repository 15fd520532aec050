"""Regenerate the shipped real clip ``samples/real_hand.mp4``: six seconds of a real person's hand opening,
bending, making a fist and pinching at 1280x720, cut from the example video of the dex-retargeting project (MIT
licence, ``samples/LICENSE-real_hand``).

    .venv/bin/python -m tools.assets.make_real_clip --source human_hand_video.mp4 [--out samples/real_hand.mp4]

``--source`` is ``example/vector_retargeting/data/human_hand_video.mp4`` of github.com/dexsuite/dex-retargeting
(1280x720, 30 fps, 621 frames). The clip is its frames 180-359, as OpenCV decodes them, encoded again as MPEG-4
(``mp4v``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from inference.video import Footage

ROOT = Path(__file__).resolve().parents[2]
FIRST, LAST = 180, 359


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True, help="the dex-retargeting example video (human_hand_video.mp4)")
    ap.add_argument("--out", default=str(ROOT / "samples" / "real_hand.mp4"))
    args = ap.parse_args(argv)
    footage = Footage(args.source)
    size = (footage.info.width, footage.info.height)
    writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*"mp4v"), footage.info.fps, size)
    try:
        for _, rgb in footage.frames(FIRST, LAST):
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    print(f"{args.out}: frames {FIRST}-{LAST} of {args.source} at {size[0]}x{size[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
