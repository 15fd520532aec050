"""Where the detector puts a hand's keypoints, given MANO's joints (``inference/keypoint_convention.py``)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from addon.common.hand_model import find_hand_model
from addon.common.job_options import JobOptionError
from addon.common.motion_sequence import load_motion_sequence
from helpers import ROOT, assert_close
from inference.detect import HandDetector
from inference.fitting import FitSettings
from inference.keypoint_convention import ON_JOINTS, PARENTS_21, detector_offsets, detector_points
from inference.pipeline import JobSettings, offsets
from inference.video import Footage
from training.video_scores import project, sequence_joints

CLIP = ROOT / "samples" / "sample_clip.mp4"


def _straight_hand() -> np.ndarray:
    """21 MANO-21 joints (x, y, z) of a flat hand 0.5 m from the camera: the wrist at (0, 0), the five finger
    bases 8 cm above it and 2 cm apart, each further joint 2 cm above its parent."""
    points = np.zeros((21, 3))
    bases = [1, 4, 7, 10, 13]
    for j in range(1, 21):  # a parent always comes before its joint in MANO-21
        points[j] = [(bases.index(j) - 2) * 0.02, -0.08, 0] if j in bases else points[PARENTS_21[j]] + [0, -0.02, 0]
    return points + [0.0, 0.0, 0.5]


def test_each_joint_moves_along_its_own_bone_by_its_fraction():
    joints = _straight_hand()
    along = -np.linspace(0.0, 0.9, 21)
    moved = detector_points(joints, along)
    assert_close(moved, joints + along[:, None] * (joints - joints[PARENTS_21]), atol=1e-12, what="moved joints")
    assert_close(moved[0], joints[0], atol=0.0, what="the wrist")
    assert_close(detector_points(joints, np.zeros(21)), joints, atol=0.0, what="zero offsets")
    assert_close(detector_points(joints[:16], along), moved[:16], atol=0.0, what="MANO-16, the same joints")
    batch = torch.as_tensor(np.stack([joints, joints * 2.0]))
    assert_close(detector_points(batch, torch.as_tensor(along)).numpy()[1], detector_points(joints * 2.0, along),
                 atol=1e-12, what="a torch batch")


def test_the_shipped_offsets_put_keypoints_back_towards_the_wrist_within_each_bone():
    along = np.asarray(detector_offsets())
    assert along.shape == (21,) and along[0] == 0.0
    assert np.all(along[1:] < 0.0) and np.all(along > -1.0)
    assert FitSettings().keypoint_offsets == ON_JOINTS  # the fit's default: keypoints on the joints


def test_the_offsets_predict_the_detectors_keypoints_on_the_sample_clip():
    """Measured on training renders, checked on footage they never saw: the shipped clip's first frames."""
    truth = load_motion_sequence(ROOT / "samples" / "sample_clip_truth.npz")
    joints = sequence_joints(truth, find_hand_model("right"))
    on_joints = project(joints, truth.camera_matrix)
    on_offsets = project(detector_points(joints, np.asarray(detector_offsets())), truth.camera_matrix)
    detector = HandDetector()
    before, after = [], []
    for index, rgb in Footage(CLIP).frames(0, 40):
        found = detector(rgb)
        if found:
            keypoints = min(found, key=lambda d: np.linalg.norm(d.keypoints - on_joints[index], axis=-1).mean()).keypoints
            before.append(np.linalg.norm(keypoints - on_joints[index], axis=-1).mean())
            after.append(np.linalg.norm(keypoints - on_offsets[index], axis=-1).mean())
    detector.close()
    assert len(before) >= 30
    assert np.median(after) < 0.8 * np.median(before), (np.median(before), np.median(after))


def test_the_job_option_chooses_what_the_fit_expects_and_a_wrong_value_is_refused():
    assert offsets(JobSettings(video="clip.mp4")) == ON_JOINTS
    assert offsets(JobSettings(video="clip.mp4", keypoint_offsets="measured")) == detector_offsets()
    with pytest.raises(JobOptionError, match="--keypoint-offsets must be joints or measured, not 'guess'"):
        JobSettings(video="clip.mp4", keypoint_offsets="guess").validate()
