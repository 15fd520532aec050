"""Would test-time augmentation make MediaPipe's keypoints better? Each frame's hand (as a job finds it) is
read again by the landmark model on crops of other sizes, mirrored and turned, and each reading, and some
averages of them, is scored against the truth's projected joints.

    .venv/bin/python tools/keypoint_tta.py [--video samples/sample_clip.mp4] [--truth samples/sample_clip_truth.npz]

On the sample clip none of them beats the detector's own keypoints (README: Fitting the hand to the footage).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import numpy as np  # noqa: E402

from addon.common.joints import remap  # noqa: E402
from addon.common.motion_sequence import load_motion_sequence  # noqa: E402
from inference.crop import crop_box, crop_image, crop_affine, crop_to_image  # noqa: E402
from inference.detect import LANDMARK_INPUT, LandmarkModel, upright_angle  # noqa: E402
from training.video_scores import truth_pixels  # noqa: E402
from detector_keypoints import clip_arguments, matched_hands  # noqa: E402

SCALES = (1.4, 1.6, 2.0, 2.4)  # crop side over the hand's extent
TURNS = (-0.3, 0.3)  # extra in-plane turns of the crop, radians


def read(model: LandmarkModel, rgb: np.ndarray, box: np.ndarray, angle: float, mirror: bool = False) -> np.ndarray:
    """The landmark model's 21 keypoints (image pixels, MANO-21) on one crop, mirrored or not."""
    crop = crop_image(rgb, box, LANDMARK_INPUT, angle, mirror)
    model.net.set_tensor(model.input, (crop.astype(np.float32) / 255.0)[None])
    model.net.invoke()
    marks = model.net.get_tensor(model.outputs[0]).reshape(21, 3)[:, :2]
    return remap(crop_to_image(marks, crop_affine(box, LANDMARK_INPUT, angle, mirror)), "mediapipe21", "mano21")


def readings(model: LandmarkModel, rgb: np.ndarray, keypoints: np.ndarray) -> dict:
    angle = upright_angle(keypoints)
    out = {"detector": keypoints}
    for s in SCALES:
        plain = read(model, rgb, crop_box(keypoints, s), angle)
        mirrored = read(model, rgb, crop_box(keypoints, s), angle, mirror=True)
        out[f"crop {s}"], out[f"mirrored {s}"], out[f"both {s}"] = plain, mirrored, (plain + mirrored) / 2
    turned = [read(model, rgb, crop_box(keypoints, 2.0), angle + t) for t in TURNS]
    out["turned mean"] = (out["crop 2.0"] + sum(turned)) / (1 + len(turned))
    out["median of five"] = np.median(np.stack([out[f"crop {s}"] for s in SCALES[1:]] + turned), 0)
    return out


def main(argv=None) -> int:
    args = clip_arguments(__doc__.splitlines()[0]).parse_args(argv)
    true_px = truth_pixels(load_motion_sequence(args.truth))
    model = LandmarkModel()
    errors: dict = {}
    for index, rgb, hand in matched_hands(args.video, true_px):
        for name, points in readings(model, rgb, hand.keypoints).items():
            errors.setdefault(name, []).append(np.linalg.norm(points - true_px[index], axis=-1).mean())
    for name, per_frame in errors.items():
        e = np.array(per_frame)
        print(f"{name:16s} mean {e.mean():5.1f} px, median {np.median(e):5.1f}, worst decile {np.percentile(e, 90):5.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
