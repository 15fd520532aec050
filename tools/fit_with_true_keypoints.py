"""How good is the fitting stage when its keypoints are good? The network's own output for a clip
(``--refine off``) as the starting estimate, the truth's projected joints (plus Gaussian noise) as the
keypoints, the fitting stage with default settings, scored against the truth.

    .venv/bin/python tools/fit_with_true_keypoints.py [--video samples/sample_clip.mp4]
                                                      [--truth samples/sample_clip_truth.npz] [--noise 0,5,8]

The difference between these rows and the clip's default run is what the detector's keypoints cost.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from addon.common.hand_model import find_hand_model  # noqa: E402
from addon.common.motion_sequence import MotionSequence, load_motion_sequence  # noqa: E402
from inference.fitting import FitSettings, TrackFitter  # noqa: E402
from inference.keypoint_convention import ON_JOINTS  # noqa: E402
from inference.pipeline import JobSettings, run_job  # noqa: E402
from training.video_scores import project, score_against_motion, sequence_joints  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(ROOT / "samples" / "sample_clip.mp4"))
    ap.add_argument("--truth", default=str(ROOT / "samples" / "sample_clip_truth.npz"))
    ap.add_argument("--noise", default="0,5,8", help="keypoint noise, pixels (standard deviation per axis)")
    args = ap.parse_args(argv)
    truth = load_motion_sequence(args.truth)
    model = find_hand_model(truth.handedness)
    with tempfile.TemporaryDirectory() as work:
        result = run_job(JobSettings(video=args.video, hands=[truth.handedness], refine="off"), work)
        raw = load_motion_sequence(result.paths[truth.handedness])
    print(f"network alone: {score_against_motion(raw, model, truth, model).line()}")
    true_px = project(sequence_joints(truth, model), truth.camera_matrix)
    at_truth = {int(round(f)): i for i, f in enumerate(truth.frames)}
    frames = np.floor(raw.frames + 0.5).astype(int)  # each sample's footage frame (+1: Blender numbering)
    for noise in (float(v) for v in args.noise.split(",")):
        rng = np.random.default_rng(0)
        records = []
        for f in np.unique(frames):
            rows = np.nonzero(frames == f)[0]
            keypoints = true_px[at_truth[f]] + rng.normal(0.0, noise, (21, 2))
            records.append({"frame": int(f), "score": 1.0, "keypoints": keypoints, "kp_weight": np.ones(21),
                            "times": [{"pose": raw.full_pose[r], "betas": raw.betas[r], "transl": raw.transl[r]}
                                      for r in rows]})
        fitter = TrackFitter(model, find_hand_model("right"), raw.camera_matrix, FitSettings(keypoint_offsets=ON_JOINTS))
        out = fitter.push(records) + fitter.flush()
        samples = [(raw.frames[np.nonzero(frames == r["frame"])[0][i]], t) for r in out for i, t in enumerate(r["times"])]
        pose = np.stack([t["pose"] for _, t in samples])
        fitted = MotionSequence(frames=np.array([f for f, _ in samples]), global_orient=pose[:, :3],
                                hand_pose=pose[:, 3:], betas=np.stack([t["betas"] for _, t in samples]),
                                transl=np.stack([t["transl"] for _, t in samples]), handedness=raw.handedness,
                                fps=raw.fps, camera_matrix=raw.camera_matrix, image_size=raw.image_size)
        print(f"true keypoints + {noise:g} px noise: {score_against_motion(fitted, model, truth, model).line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
