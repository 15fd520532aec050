"""Would test-time augmentation make MediaPipe's keypoints better? Each frame's hand (as a job finds it) is
read again by the landmark model on crops of other sizes, mirrored and turned, and each reading, and some
averages of them, is scored against the truth's projected joints.

    .venv/bin/python tools/keypoint_tta.py [--video samples/sample_clip.mp4] [--truth samples/sample_clip_truth.npz]

On the sample clip none of them beats the detector's own keypoints (README: Fitting the hand to the footage).
It also prints how well the readings' disagreement (per keypoint, the mean distance of the eight crop readings
from their mean) ranks the detector's own errors: a candidate for weighting the fit's keypoints.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

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
    spread, detector_error = [], []
    for index, rgb, hand in matched_hands(args.video, true_px):
        read_all = readings(model, rgb, hand.keypoints)
        for name, points in read_all.items():
            errors.setdefault(name, []).append(np.linalg.norm(points - true_px[index], axis=-1).mean())
        crops = np.stack([read_all[f"{kind} {s}"] for kind in ("crop", "mirrored") for s in SCALES])
        spread.append(np.linalg.norm(crops - crops.mean(0), axis=-1).mean(0))
        detector_error.append(np.linalg.norm(hand.keypoints - true_px[index], axis=-1))
    for name, per_frame in errors.items():
        e = np.array(per_frame)
        print(f"{name:16s} mean {e.mean():5.1f} px, median {np.median(e):5.1f}, worst decile {np.percentile(e, 90):5.1f}")
    # Could the readings' disagreement weight the fit's keypoints? Only if it tells which keypoints are off.
    spread, detector_error = np.concatenate(spread), np.concatenate(detector_error)
    rho = spearmanr(spread, detector_error).statistic
    low, high = spread <= np.percentile(spread, 25), spread > np.percentile(spread, 75)
    print(f"the readings' spread against the detector's error, per keypoint: Spearman {rho:.2f}; the detector's "
          f"error where the spread is in its lowest quarter {detector_error[low].mean():.1f} px, highest quarter "
          f"{detector_error[high].mean():.1f} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
