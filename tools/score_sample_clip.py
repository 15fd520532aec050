"""Score a motion sequence of the sample clip against its ground truth, in the image: wrist and all-joint
pixel errors (whole frames only) and the wrist's depth error.

    python -m inference run samples/sample_clip.mp4 -o seq.npz --hands right --fov 70.8
    python tools/score_sample_clip.py seq.npz
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from addon.common.hand_model import find_hand_model  # noqa: E402
from addon.common.motion_sequence import load_motion_sequence  # noqa: E402
from inference.pipeline import mano_joints  # noqa: E402


def project(points: np.ndarray, k: np.ndarray) -> np.ndarray:
    uvw = points @ k.T
    return uvw[..., :2] / uvw[..., 2:]


def main(argv=None) -> int:
    path = (argv or sys.argv[1:])[0]
    truth = load_motion_sequence(ROOT / "samples" / "sample_clip_truth.npz")
    seq = load_motion_sequence(path)
    whole = np.isclose(seq.frames, np.round(seq.frames))
    at = np.searchsorted(truth.frames, np.round(seq.frames[whole]))
    gt = mano_joints(find_hand_model("right"), truth.full_pose[at], truth.betas[at]) + truth.transl[at, None]
    pred = mano_joints(find_hand_model(seq.handedness), seq.full_pose[whole], seq.betas[whole]) + \
        seq.transl[whole, None]
    px = np.linalg.norm(project(pred, seq.camera_matrix) - project(gt, truth.camera_matrix), axis=-1)
    print(f"{whole.sum()} frames: wrist error median {np.median(px[:, 0]):.1f} px, mean {px[:, 0].mean():.1f} px; "
          f"all joints mean {px.mean():.1f} px; wrist depth error mean "
          f"{1000 * np.abs(pred[:, 0, 2] - gt[:, 0, 2]).mean():.0f} mm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
