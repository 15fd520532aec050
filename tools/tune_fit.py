"""The fitting stage's optimiser settings, compared on the tuning clips only: the sample clip and its altered
copies (``tools/eval_clips.py make``). The held-out clips play no part here; check a choice on them once,
with ``tools/eval_clips.py run`` and ``compare``.

    .venv/bin/python tools/tune_fit.py [--variants NAME,NAME] [--noise 5,5,8]

Each clip's network output (``--refine off``) and the detector's keypoints are computed once; each variant
then fits them (``tools/fit_with_true_keypoints.py``). Two kinds of keypoints: the sample clip's true joints
plus Gaussian noise (one seed per ``--noise`` entry), and the detector's own on every tuning clip. Means of
the scores (``training/video_scores.py``) per kind.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import numpy as np  # noqa: E402

from addon.common.hand_model import find_hand_model  # noqa: E402
from addon.common.motion_sequence import load_motion_sequence  # noqa: E402
from fit_with_true_keypoints import detector_keypoints, fit_to_keypoints, network_alone, true_keypoints  # noqa: E402
from inference.fitting import FitSettings, FitWeights  # noqa: E402
from inference.keypoint_convention import ON_JOINTS  # noqa: E402
from training.video_scores import score_against_motion  # noqa: E402

CLIPS = ["sample_mirrored", "sample_rot90", "sample_15fps", "sample_320x180"]  # from tools/eval_clips.py make
VARIANTS = {  # name: changes to the default FitSettings
    "default": {},
    "before": dict(lr=0.03, lr_end=0.03, start_iterations=20),  # the settings until this comparison
    "lr0.03": dict(lr=0.03, lr_end=0.03),
    "start20": dict(start_iterations=20),
    "start40": dict(start_iterations=40),
    "iter60": dict(iterations=60),
    "decay0.02": dict(lr_end=0.02),
    # the energy's weights (FitWeights), each changed alone
    "accel0.1": dict(weights=FitWeights(acceleration=0.1)),
    "accel0.001": dict(weights=FitWeights(acceleration=0.001)),
    "prior0.1": dict(weights=FitWeights(pose_prior=0.1)),
    "synergy0.01": dict(weights=FitWeights(synergy=0.01)),
    "sigma0.1": dict(weights=FitWeights(sigma=0.1)),
    "switch2": dict(weights=FitWeights(switch_cost=2.0)),
}


def tuning_clips(folder: Path) -> list:
    """(name, video, truth) of the sample clip and those of its copies that ``eval_clips.py make`` wrote."""
    out = [("sample_clip", ROOT / "samples" / "sample_clip.mp4", ROOT / "samples" / "sample_clip_truth.npz")]
    out += [(n, folder / f"{n}.mp4", folder / f"{n}_truth.npz") for n in CLIPS if (folder / f"{n}.mp4").is_file()]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="before,default,lr0.03,start20,iter60,decay0.02")
    ap.add_argument("--noise", default="5,5,8", help="pixels per axis, one seed each (0, 1, ...)")
    ap.add_argument("--clips", default=str(ROOT / "data" / "eval_clips"))
    args = ap.parse_args(argv)
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        ap.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    clips = []
    for name, video, truth_path in tuning_clips(Path(args.clips)):
        truth = load_motion_sequence(truth_path)
        clips.append((name, truth, network_alone(str(video), truth.handedness), detector_keypoints(video, truth)))
    print(f"tuning clips: {', '.join(c[0] for c in clips)}; noise {args.noise} px on the sample clip's truth")
    print("| variant | noisy truth: 2D px / PA mm / curl % / curl error deg | detector: 2D px / PA mm / curl % / "
          "curl error deg | detector, curl % per clip |")
    print("|---|---|---|---|")
    for name in names:
        settings = dataclasses.replace(FitSettings(keypoint_offsets=ON_JOINTS), **VARIANTS[name])
        rows = {"noisy": [], "detector": []}
        _, truth, raw, found = clips[0]
        model = find_hand_model(truth.handedness)
        for seed, noise in enumerate(float(v) for v in args.noise.split(",")):
            fitted = fit_to_keypoints(raw, true_keypoints(truth, noise, seed), settings)
            rows["noisy"].append(score_against_motion(fitted, model, truth, model))
        for _, truth, raw, found in clips:
            model = find_hand_model(truth.handedness)
            rows["detector"].append(score_against_motion(fit_to_keypoints(raw, found, settings), model, truth, model))
        cells = []
        for kind in ("noisy", "detector"):
            m = np.array([[s.joint_px_mean, s.pa_mpjpe_mm, 100 * s.curl_ok_share, s.curl_err_deg] for s in rows[kind]])
            cells.append(" / ".join(f"{v:.1f}" for v in m.mean(0)))
        per_clip = " ".join(f"{100 * s.curl_ok_share:.0f}" for s in rows["detector"])
        print(f"| {name} | {cells[0]} | {cells[1]} | {per_clip} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
