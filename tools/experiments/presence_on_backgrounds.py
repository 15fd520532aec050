"""The hand-presence score MediaPipe's landmark model gives the shipped backgrounds (no hand in any), as the
crop search reads them: every tile, and for a tile that passes the proposal score, its centred, upright
re-read. The search's acceptance score must stay above the best of these.

    .venv/bin/python -m tools.experiments.presence_on_backgrounds
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from addon.common.job_options import SEARCH_SCALES
from addon.common.joints import remap
from inference.crop import crop_box
from inference.detect import PROPOSE_THRESHOLD, SEARCH_THRESHOLD, LandmarkModel, _starts, upright_angle
from scenes.backgrounds import procedural_texture, registry_sample_images

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    model = LandmarkModel()
    images = {p.stem: cv2.imread(str(p), cv2.IMREAD_COLOR) for p in registry_sample_images()}
    images = {k: cv2.cvtColor(v, cv2.COLOR_BGR2RGB) for k, v in images.items() if v is not None}
    for seed in range(6):
        texture = procedural_texture(np.random.default_rng(seed), 512)
        images[f"texture {seed}"] = np.round(np.clip(texture, 0, 1) ** (1 / 2.2) * 255).astype(np.uint8)
    rows = []
    for name, image in images.items():
        image = np.ascontiguousarray(image)
        h, w = image.shape[:2]
        best = 0.0
        for scale in SEARCH_SCALES:
            side = scale * min(h, w)
            for y0 in _starts(h, side):
                for x0 in _starts(w, side):
                    keypoints, presence, _ = model(image, np.array([x0, y0, side]))
                    if presence >= PROPOSE_THRESHOLD:
                        kp = remap(keypoints, "mediapipe21", "mano21")
                        best = max(best, model(image, crop_box(kp, 1.6), upright_angle(kp))[1])
        rows.append((best, name))
    for best, name in sorted(rows, reverse=True):
        print(f"{name:20s} {best:.2f}")
    print(f"acceptance score of the search: {SEARCH_THRESHOLD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
