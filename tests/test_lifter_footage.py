"""The lifter's training footage (``tools/lifter_footage.py``): every clip comes from its own random stream and
avoids what the evaluation clips show, and the detected pairs are the real detector's keypoints on the clip
beside the truth's joints."""
from __future__ import annotations

import shutil
import sys

import numpy as np

from addon.common.hand_model import find_hand_model
from addon.common.motion_sequence import load_motion_sequence
from helpers import ROOT, assert_close
from training.video_scores import project, sequence_joints

sys.path.insert(0, str(ROOT / "tools"))

import lifter_footage  # noqa: E402


def test_a_clip_is_planned_from_its_own_stream_and_never_over_an_evaluation_photo():
    first, again, other = (lifter_footage.plan_clip(c, 100) for c in (3, 3, 4))
    assert_close(again.seq.full_pose, first.seq.full_pose, atol=0, what="same clip, same seed")
    assert (again.background, again.tint, again.light_seed) == (first.background, first.tint, first.light_seed)
    assert np.abs(other.seq.full_pose - first.seq.full_pose).max() > 0.1
    assert np.abs(lifter_footage.plan_clip(3, 101).seq.transl - first.seq.transl).max() > 1e-3  # the base seed
    backgrounds = {lifter_footage.plan_clip(c, 100).background for c in range(40)}
    assert not backgrounds & lifter_footage.EVAL_PHOTOS
    assert {"coffee", "chelsea", "astronaut"} <= lifter_footage.EVAL_PHOTOS  # the sample clip's and the eval clips'
    assert any(b.startswith("texture:") for b in backgrounds) and any(not b.startswith("texture:") for b in backgrounds)


def test_detected_pairs_hold_the_detectors_keypoints_beside_the_truths_joints_and_are_cached(tmp_path):
    """The sample clip stands in for a rendered clip: the real detector runs over the real video."""
    shutil.copy(ROOT / "samples" / "sample_clip.mp4", tmp_path / "clip007.mp4")
    shutil.copy(ROOT / "samples" / "sample_clip_truth.npz", tmp_path / "clip007_truth.npz")
    pairs = lifter_footage.detect_clip(tmp_path / "clip007_truth.npz")
    truth = load_motion_sequence(tmp_path / "clip007_truth.npz")
    joints = sequence_joints(truth, find_hand_model("right"))
    n = len(pairs["frame"])
    assert n > 100 and (pairs["clip"] == 7).all()
    assert_close(pairs["joints"], joints[pairs["frame"]], atol=1e-5, what="joints of the frames found (m)")
    true_px = project(joints[pairs["frame"]], truth.camera_matrix)
    err = np.linalg.norm(pairs["keypoints"] - true_px, axis=-1).mean(1)
    extent = (true_px.max(1) - true_px.min(1)).max(1)
    assert (err <= lifter_footage.NOT_THE_HAND * extent).all()  # detections of something else are left out
    assert 5.0 < np.median(err) < 60.0  # MediaPipe's own keypoints: neither the truth nor noise
    # a second call reads the cache: the video is no longer needed
    (tmp_path / "clip007.mp4").unlink()
    again = lifter_footage.detect_clip(tmp_path / "clip007_truth.npz")
    assert_close(again["keypoints"], pairs["keypoints"], atol=0, what="cached keypoints")
