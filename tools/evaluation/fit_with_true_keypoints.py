"""How good is the fitting stage when its keypoints are good? The network's own output for a clip
(``--refine off``) as the starting estimate, the truth's projected joints (plus Gaussian noise) as the
keypoints, the fitting stage with default settings, scored against the truth.

    .venv/bin/python -m tools.evaluation.fit_with_true_keypoints [--video samples/sample_clip.mp4]
                                                      [--truth samples/sample_clip_truth.npz] [--noise 0,5,8]
                                                      [--detector] [--network [CKPT]] [--truth-start]
                                                      [--truth-fingers]

The difference between these rows and the clip's default run is what the detector's keypoints cost.
``--detector`` adds a row fitted to the detector's own keypoints (as a job reads them); ``--network`` one
fitted to the keypoint network's points on the detector's boxes (their 2D points alike, as a job fits them).
``--truth-start`` fits every row a second time with the truth's pose of each frame as its starting candidate in place of the
network's (the network's output stays the prior): how much of the error is the search for a starting point
rather than the energy itself. ``--truth-fingers`` does the same with the truth's finger pose under the
orientation and translation of the row's own (default) fit: whether the start lacks the palm or the fingers.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from addon.common.hand_model import find_hand_model
from addon.common.job_options import JobOptions
from addon.common.motion_sequence import MotionSequence, load_motion_sequence
from inference.fit import FitSettings, FitWeights, TrackFitter
from inference.pipeline import network_weights, run_job
from inference.records import FrameHands, Hand
from tools.evaluation.detector_keypoints import matched_hands, network_readings
from training.video_scores import project, score_against_motion, sequence_joints, truth_pixels

ROOT = Path(__file__).resolve().parents[2]


def network_alone(video: str, side: str) -> MotionSequence:
    """The clip's run with ``--refine off`` on the given side: the fit's starting estimate."""
    with tempfile.TemporaryDirectory() as work:
        result = run_job(video, JobOptions(hands=[side], refine="off"), work)
        return load_motion_sequence(result.paths[side])


def fit_to_keypoints(raw: MotionSequence, keypoints: Dict[int, np.ndarray], settings: Optional[FitSettings] = None,
                     hand: str = "open", starts: Optional[Dict[int, Hand]] = None) -> MotionSequence:
    """``raw`` (a ``--refine off`` run) fitted to ``keypoints`` ({footage frame, Blender numbering: (21, 2)
    pixels}) by the fitting stage, as a job would fit its track. Frames without keypoints are left out.
    ``starts``: {footage frame: a hand}, the frame's own starting estimate."""
    model = find_hand_model(raw.handedness, hand=hand)
    frames = np.floor(raw.frames + 0.5).astype(int)  # each sample's footage frame
    records = []
    for f in np.unique(frames):
        if f not in keypoints:
            continue
        rows = np.nonzero(frames == f)[0]
        records.append(FrameHands(int(f), [Hand(raw.full_pose[r], raw.betas[r], raw.transl[r]) for r in rows],
                                  keypoints[f], np.ones(21), start=(starts or {}).get(f)))
    fitter = TrackFitter(model, find_hand_model("right", hand=hand), raw.camera_matrix, settings or FitSettings())
    out = fitter.push(records) + fitter.flush()
    samples = [(raw.frames[np.nonzero(frames == r.frame)[0][i]], h) for r in out for i, h in enumerate(r.fitted)]
    pose = np.stack([h.pose for _, h in samples])
    return MotionSequence(frames=np.array([f for f, _ in samples]), global_orient=pose[:, :3], hand_pose=pose[:, 3:],
                          betas=np.stack([h.betas for _, h in samples]),
                          transl=np.stack([h.transl for _, h in samples]), handedness=raw.handedness, fps=raw.fps,
                          camera_matrix=raw.camera_matrix, image_size=raw.image_size)


def true_keypoints(truth: MotionSequence, noise_px: float, seed: int = 0) -> Dict[int, np.ndarray]:
    """The truth's projected joints per footage frame, plus Gaussian noise (standard deviation per axis)."""
    model = find_hand_model(truth.handedness)
    true_px = project(sequence_joints(truth, model), truth.camera_matrix)
    rng = np.random.default_rng(seed)
    return {int(round(f)): true_px[i] + rng.normal(0.0, noise_px, (21, 2)) for i, f in enumerate(truth.frames)}


def truth_starts(truth: MotionSequence) -> Dict[int, Hand]:
    """{footage frame: the truth's pose and translation}, as starting estimates for the fit."""
    return {int(round(f)): Hand(truth.full_pose[i], truth.betas[i], truth.transl[i])
            for i, f in enumerate(truth.frames)}


def truth_fingers(truth: MotionSequence, fitted: MotionSequence) -> Dict[int, Hand]:
    """{footage frame: the truth's finger pose under ``fitted``'s orientation and translation}."""
    own = {int(round(f)): i for i, f in enumerate(fitted.frames) if abs(f - round(f)) < 1e-6}  # middle samples
    out = {}
    for i, f in enumerate(np.round(truth.frames).astype(int)):
        if f in own:
            j = own[f]
            out[int(f)] = Hand(np.concatenate([fitted.full_pose[j, :3], truth.full_pose[i, 3:]]), fitted.betas[j],
                               fitted.transl[j])
    return out


def detector_keypoints(video: str | Path, truth: MotionSequence) -> Dict[int, np.ndarray]:
    """{footage frame: (21, 2)} the detector's keypoints of the hand nearest the truth, per frame found."""
    true_px = truth_pixels(truth)
    return {int(round(truth.frames[i])): hand.keypoints for i, _, hand in matched_hands(str(video), true_px)}


def network_keypoints(video: str | Path, truth: MotionSequence, checkpoint: str = "") -> Dict[int, np.ndarray]:
    """{footage frame: (21, 2)} the keypoint network's reading of the detector's box around the hand nearest
    the truth (the crop a job reads; the box unsmoothed), per frame found."""
    readings = network_readings(str(video), truth, truth_pixels(truth), checkpoint)
    return {int(round(truth.frames[i])): read.keypoints for i, _, read in readings}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(ROOT / "samples" / "sample_clip.mp4"))
    ap.add_argument("--truth", default=str(ROOT / "samples" / "sample_clip_truth.npz"))
    ap.add_argument("--noise", default="0,5,8",
                    help="keypoint noise, pixels (standard deviation per axis); empty: no true-keypoint rows")
    ap.add_argument("--detector", action="store_true", help="also fit the detector's own keypoints")
    ap.add_argument("--network", nargs="?", const="", default=None, metavar="CKPT",
                    help="also fit the keypoint network's keypoints (default: the shipped checkpoint); 2D only")
    ap.add_argument("--truth-start", action="store_true",
                    help="also fit each row from the truth's pose as the starting candidate")
    ap.add_argument("--truth-fingers", action="store_true",
                    help="also fit each row from its own fit's orientation with the truth's finger pose")
    ap.add_argument("--straight", type=float, default=None, metavar="W",
                    help="the price of a bent finger (FitWeights.straight) in every row; default: as a job fits "
                         "each kind of keypoints (the network's: inference.pipeline.NETWORK_STRAIGHT, others: 0)")
    args = ap.parse_args(argv)
    truth = load_motion_sequence(args.truth)
    model = find_hand_model(truth.handedness)
    raw = network_alone(args.video, truth.handedness)
    print(f"network alone: {score_against_motion(raw, model, truth, model).line()}")
    # (name, keypoints, the fit's weights as a job sets them for these keypoints)
    plain = FitWeights()
    rows = [(f"true keypoints + {noise:g} px noise", true_keypoints(truth, noise), plain)
            for noise in (float(v) for v in args.noise.split(",") if v)]
    if args.detector:
        rows.append(("the detector's keypoints", detector_keypoints(args.video, truth), plain))
    if args.network is not None:
        rows.append(("the keypoint network's keypoints", network_keypoints(args.video, truth, args.network),
                     network_weights(plain)))
    for name, keypoints, weights in rows:
        straight = weights.straight if args.straight is None else args.straight
        settings = FitSettings(dataclasses.replace(weights, straight=straight))
        if straight:
            name += f" (a bent finger costs {straight:g})"
        fitted = fit_to_keypoints(raw, keypoints, settings)
        print(f"{name}: {score_against_motion(fitted, model, truth, model).line()}")
        if args.truth_start:
            from_truth = fit_to_keypoints(raw, keypoints, settings, starts=truth_starts(truth))
            print(f"{name}, the truth as the start: {score_against_motion(from_truth, model, truth, model).line()}")
        if args.truth_fingers:
            again = fit_to_keypoints(raw, keypoints, settings, starts=truth_fingers(truth, fitted))
            print(f"{name}, the truth's fingers as the start: "
                  f"{score_against_motion(again, model, truth, model).line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
