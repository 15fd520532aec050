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


def _pairs_file(path, kin: HandKinematics, clips: int = 10, per_clip: int = 3):
    """A ``tools/lifter_footage.py detect`` file whose keypoints are the joints' exact projections."""
    rng = np.random.default_rng(3)
    n = clips * per_clip
    joints = _hand_joints(kin, rng, n)
    np.savez(path, keypoints=_project(joints).numpy(), camera=np.tile(CAMERA.numpy(), (n, 1, 1)),
             joints=joints.numpy(), betas=np.zeros((n, 10), np.float32), side_right=np.ones(n, bool),
             clip=np.repeat(np.arange(clips), per_clip), frame=np.tile(np.arange(per_clip), clips))
    return joints


def test_footage_pairs_give_root_relative_targets_in_the_view_and_hold_out_every_tenth_clip(open_right, tmp_path):
    from training.lifter import FootagePairs

    joints = _pairs_file(tmp_path / "pairs.npz", HandKinematics(open_right))
    train, held = FootagePairs(tmp_path / "pairs.npz"), FootagePairs(tmp_path / "pairs.npz", held_out=True)
    assert (len(train), train.clips, len(held), held.clips) == (27, 9, 3, 1)
    features, habit, target, betas = held.sample(3)
    rel = joints[27:] - joints[27:, :1]  # clip 9: the held-out one
    assert_close(target.norm(dim=-1), rel.norm(dim=-1), atol=1e-5, what="distances from the wrist (m)")
    assert_close(target[:, 0], torch.zeros(3, 3), atol=1e-7, what="wrist")
    assert_close(features, normalise(_project(joints[27:]), CAMERA)[0], atol=1e-6, what="features")
    assert habit.tolist() == [1.0, 1.0, 1.0]  # MediaPipe's keypoints
    # the view frame looks at the wrist: the wrist-to-middle-knuckle direction is image-up (-y), off the depth axis
    up = target[:, 4] / target[:, 4].norm(dim=-1, keepdim=True)
    assert (up[:, 1] < -0.5).all()


def test_fine_tuning_on_footage_mixes_it_into_every_batch_and_records_it(open_right, tmp_path):
    from inference.lifting import load_lifter, save_lifter
    from training.lifter import train

    _pairs_file(tmp_path / "pairs.npz", HandKinematics(open_right))
    start = KeypointLifter(LifterConfig(hidden=32, layers=1, hypotheses=2))
    save_lifter(start, tmp_path / "start.pt", {})
    tuned = train(3, tmp_path / "tuned.pt", batch=16, footage=str(tmp_path / "pairs.npz"), footage_share=0.25,
                  init=str(tmp_path / "start.pt"))
    meta = torch.load(tmp_path / "tuned.pt", weights_only=True)["meta"]
    assert meta["footage_share"] == 0.25 and meta["init"].endswith("start.pt")
    assert tuned.config.hidden == 32  # the initial checkpoint's config, not the default
    moved = [not torch.equal(a, b) for a, b in zip(start.state_dict().values(), load_lifter(tmp_path / "tuned.pt")
                                                    .state_dict().values())]
    assert any(moved)
