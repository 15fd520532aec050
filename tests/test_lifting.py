"""The lifting network's geometry: its input does not depend on where the camera points, the translation it
solves reprojects onto the keypoints, and a left hand's proposals are the mirror image of its mirror's.

These properties hold whatever the weights are, so an untrained network is enough to test them; what a
trained one is worth is measured by ``tools/fit_with_true_keypoints.py --lifter`` (README)."""
from __future__ import annotations

import numpy as np
import torch

from addon.common.hand_model import find_hand_model
from helpers import assert_close
from inference.fitting import AnatomicalFrame, limit_arrays
from inference.handmodel.kinematics import HandKinematics
from inference.lifting import MIRROR, KeypointLifter, LifterConfig, lift, normalise, solve_translation
from inference.models.blocks import axis_angle_to_matrix

CAMERA = torch.tensor([[900.0, 0.0, 320.0], [0.0, 900.0, 240.0], [0.0, 0.0, 1.0]])


def _project(points: torch.Tensor, camera: torch.Tensor = CAMERA) -> torch.Tensor:
    uvw = points @ camera.T
    return uvw[..., :2] / uvw[..., 2:]


def _hand_joints(kin: HandKinematics, rng: np.random.Generator, n: int) -> torch.Tensor:
    pose = torch.as_tensor(rng.normal(0.0, 0.3, (n, 48)), dtype=torch.float32)
    joints = kin(pose, torch.zeros(n, 10))
    wrist = torch.as_tensor(np.c_[rng.uniform(-0.1, 0.1, (n, 2)), rng.uniform(0.4, 0.8, n)], dtype=torch.float32)
    return joints - joints[:, :1] + wrist[:, None]


def test_the_input_is_the_same_wherever_the_camera_points(open_right):
    """Turning the camera about its centre moves the hand's image, but the virtual camera looking at the wrist
    sees the same keypoints: only the off-axis angle (the input's last two numbers) changes."""
    joints = _hand_joints(HandKinematics(open_right), np.random.default_rng(0), 4)
    turn = axis_angle_to_matrix(torch.tensor([[0.05, -0.08, 0.6]]))[0]
    before, _ = normalise(_project(joints), CAMERA)
    after, _ = normalise(_project(joints @ turn.T), CAMERA)
    assert_close(after[:, :42], before[:, :42], atol=1e-4, what="normalised keypoints")
    assert (after[:, 42:] - before[:, 42:]).abs().max() > 0.01  # the off-axis angle does see the turn


def test_the_solved_translation_puts_the_joints_back_on_their_keypoints(open_right):
    joints = _hand_joints(HandKinematics(open_right), np.random.default_rng(1), 5)
    rel = joints - joints[:, :1]
    t = solve_translation(rel, _project(joints), CAMERA)
    assert_close(t, joints[:, 0], atol=1e-4, what="translation (m)")
    weight = torch.ones(5, 21)
    weight[:, 10:] = 0.0  # joints without weight do not count: wrong keypoints there change nothing
    wrong = _project(joints)
    wrong[:, 10:] += 40.0
    assert_close(solve_translation(rel, wrong, CAMERA, weight), joints[:, 0], atol=1e-4, what="weighted")


def test_a_left_hands_proposals_mirror_those_of_its_mirror_image():
    right, left = find_hand_model("right"), find_hand_model("left")
    kin_r, kin_l = HandKinematics(right), HandKinematics(left)
    frame, (lo, hi) = AnatomicalFrame(right), limit_arrays()
    torch.manual_seed(0)
    lifter = KeypointLifter(LifterConfig(hidden=64, layers=1, hypotheses=3)).eval()
    keypoints = _project(_hand_joints(kin_r, np.random.default_rng(2), 3))
    mirrored = keypoints.clone()
    mirrored[..., 0] = 2 * CAMERA[0, 2] - mirrored[..., 0]
    weight, betas = torch.ones(3, 21), torch.zeros(10)
    pose_r, transl_r = lift(lifter, keypoints, weight, CAMERA, "right", kin_r, frame, lo, hi, betas)
    pose_l, transl_l = lift(lifter, mirrored, weight, CAMERA, "left", kin_l, frame, lo, hi, betas)
    assert pose_r.shape == (3, 3, 48) and transl_r.shape == (3, 3, 3)
    assert_close(pose_l, pose_r * torch.tensor(MIRROR).repeat(16), atol=1e-4, what="left pose vs mirrored right")
    # each proposal's translation reprojects its joints onto the keypoints as well as a rigid hand can
    joints_l = kin_l(pose_l.reshape(-1, 48), betas[None]).reshape(3, 3, 21, 3) + transl_l[:, :, None]
    joints_r = kin_r(pose_r.reshape(-1, 48), betas[None]).reshape(3, 3, 21, 3) + transl_r[:, :, None]
    assert_close(_project(joints_l)[..., 0], 2 * CAMERA[0, 2] - _project(joints_r)[..., 0], atol=0.05,
                 what="left proposals' image vs the mirror of the right's (px)")
