"""Scoring a run against its footage's truth (``tools/evaluation/score_motion.py``) over a stretch of the clip."""
from __future__ import annotations

import json

import numpy as np
import pytest

from addon.common.motion_sequence import load_motion_sequence
from helpers import ROOT
from tools.evaluation import score_motion

TRUTH = ROOT / "samples" / "sample_clip_truth.npz"


def scored(capsys, *argv) -> dict:
    assert score_motion.main([*map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_frames_score_only_that_stretch_of_the_truth(tmp_path, capsys):
    truth = load_motion_sequence(TRUTH)
    run = truth.to_dict()
    run["transl"] = truth.transl + np.where(truth.frames[:, None] > 60, 0.01, 0.0) * np.array([1.0, 0.0, 0.0])
    path = tmp_path / "run.npz"
    np.savez(path, **run)  # the truth itself, moved 1 cm sideways after frame 60
    whole = scored(capsys, path, "--truth", TRUTH)
    early = scored(capsys, path, "--truth", TRUTH, "--frames", "10-40")
    late = scored(capsys, path, "--truth", TRUTH, "--frames", "61-90")
    assert (whole["frames"], early["frames"], late["frames"]) == (len(truth), 31, 30)
    assert early["joint_px_mean"] == pytest.approx(0.0, abs=1e-3)
    assert late["joint_px_mean"] > 1.0 and whole["joint_px_mean"] < late["joint_px_mean"]
    assert early["curl_ok_share"] == late["curl_ok_share"] == 1.0  # the fingers are the truth's throughout


def test_frames_outside_the_truth_are_refused_with_its_own_range(tmp_path):
    with pytest.raises(SystemExit, match="no frame in 500-600 .it has 1-120"):
        score_motion.main([str(TRUTH), "--truth", str(TRUTH), "--frames", "500-600"])
    with pytest.raises(SystemExit):
        score_motion.main([str(TRUTH), "--frames", "sixty"])


def test_curl_misses_are_counted_by_the_side_they_miss_on(tmp_path, capsys):
    """The truth with the index finger's middle joint turned 1.2 rad (about 70 degrees) on the open frames 1-20,
    and straightened in the fist of frames 45-55: the first count as fitted too curled, the second as too
    straight (the curl is the angle between the finger's first and last bone, whichever way it turns)."""
    truth = load_motion_sequence(TRUTH)
    run = truth.to_dict()
    pose = truth.hand_pose.reshape(-1, 15, 3).copy()
    bend = np.zeros(3)
    bend[2] = 1.2  # radians, about the joint's z axis
    pose[:20, 1] += bend  # the index's middle joint: 2nd of MANO's 15 (index1, index2, ...)
    pose[44:55, 1] = 0.0
    run["hand_pose"] = pose.reshape(-1, 45)
    path = tmp_path / "run.npz"
    np.savez(path, **run)
    score = scored(capsys, path, "--truth", TRUTH)
    assert score["curl_too_bent"] == 20, score
    assert score["curl_too_straight"] == 11, score
    assert score["curl_ok_share"] == pytest.approx(1 - 31 / 600)
