"""S2HAND(V) and AMVUR: the loss maths (quaternion motion, consistency, SSIM, Gaussian NLL/KL, the camera
target), the crop camera the renderer shares with the projection, the mesh-to-MANO fit, and that each model
trains on a small rendered set."""
import csv
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import assert_close
from inference.mesh_render import project
from inference.models.amvur import Amvur, AmvurConfig, nearest_upsampling
from inference.models.output import load_model, save_checkpoint
from inference.models.s2hand import S2Hand, S2HandConfig, crop_camera, project_crop, to_crop_space
from training.amvur_losses import gaussian_kl, gaussian_nll, weak_perspective_fit
from training.config import load_config
from training.selfsup_losses import (
    bone_direction_loss,
    keypoint_loss,
    quaternion_motion_loss,
    quaternions,
    ssim,
    texture_shape_loss,
)
from training.trainer import train

TINY_S2HAND = S2HandConfig(backbone_depth=10, backbone_width=16, image_size=64, hidden=32, render_size=24,
                           keypoint_branch=True)
TINY_AMVUR = AmvurConfig(backbone_depth=10, backbone_width=16, image_size=64, hidden=32, dim=16, heads=2, layers=1,
                         render_size=24, fit_steps=5)


def _about_z(angles):
    return torch.stack([torch.zeros_like(angles), torch.zeros_like(angles), angles], -1)


def test_quaternion_motion_loss_is_zero_about_a_fixed_axis_at_any_speed():
    angles = torch.tensor([[0.0, 0.1, 0.5, 0.6]])  # uneven steps, one axis, one direction
    orient = _about_z(angles)
    quats = quaternions(orient, torch.zeros(1, 4, 45))
    assert quaternion_motion_loss(quats).item() < 1e-4
    back = _about_z(torch.tensor([[0.0, 0.5, 0.2, 0.6]]))  # turns back: the path is longer than its ends
    assert quaternion_motion_loss(quaternions(back, torch.zeros(1, 4, 45))).item() > 0.5


def test_texture_and_shape_consistency_is_zero_only_for_a_constant_clip():
    lit, betas = torch.rand(2, 1, 778, 3).expand(-1, 3, -1, -1), torch.randn(2, 1, 10).expand(-1, 3, -1)
    assert texture_shape_loss(lit, betas).item() == pytest.approx(0.0, abs=1e-6)
    assert texture_shape_loss(lit + torch.randn(2, 3, 1, 1) * 0.1, betas).item() > 0.01


def test_undetected_keypoints_pull_on_nothing():
    pred, det = torch.randn(2, 21, 2), torch.randn(2, 21, 2)
    conf = torch.zeros(2, 21)
    assert keypoint_loss(pred, det, conf).item() == 0.0 and bone_direction_loss(pred, det, conf).item() == 0.0
    conf[0] = 1.0
    assert keypoint_loss(pred, det, conf).item() > 0 and bone_direction_loss(pred, det, conf).item() > 0


def test_ssim_is_one_for_the_same_image_and_lower_for_noise():
    image = torch.rand(1, 3, 24, 24)
    assert ssim(image, image).item() == pytest.approx(1.0, abs=1e-5)
    assert ssim(image, (image + 0.3 * torch.randn_like(image)).clamp(0, 1)).item() < 0.8


def test_the_crop_camera_projects_like_the_renderer():
    points = torch.randn(2, 21, 3) * 0.05
    crop = to_crop_space(points, torch.tensor([1.0, 0.7]), torch.tensor([[0.1, -0.2], [0.0, 0.3]]))
    assert_close(project_crop(crop, 48), project(crop, crop_camera(48))[..., :2], atol=1e-4)
    # near-orthographic: a point's depth moves its pixel by under half a percent of the crop
    flat = to_crop_space(points * torch.tensor([1.0, 1.0, 0.0]), torch.tensor([1.0, 0.7]), torch.zeros(2, 2))
    deep = to_crop_space(points, torch.tensor([1.0, 0.7]), torch.zeros(2, 2))
    assert (project_crop(flat, 48) - project_crop(deep, 48)).abs().max().item() < 0.005 * 48


def test_gaussian_terms_have_their_closed_forms():
    x, mean = torch.tensor([1.0, -1.0]), torch.tensor([0.0, 0.0])
    assert gaussian_nll(x, mean, torch.tensor([1.0, 1.0])).item() == pytest.approx(0.5 + 0.5 * math.log(2 * math.pi))
    best = min(np.linspace(0.2, 3, 57), key=lambda v: gaussian_nll(x, mean, torch.full((2,), v)).item())
    assert best == pytest.approx(1.0, abs=0.05)  # the NLL's best variance is the squared error
    assert gaussian_kl(mean, torch.ones(2), mean, 1.0).item() == pytest.approx(0.0, abs=1e-7)
    assert gaussian_kl(mean + 1, torch.ones(2), mean, 1.0).item() == pytest.approx(0.5)


def test_the_camera_target_recovers_a_known_weak_perspective():
    joints = torch.randn(3, 21, 3) * 0.05
    scale, shift = torch.tensor([0.8, 1.1, 1.4]), torch.tensor([[0.1, 0.0], [-0.2, 0.3], [0.0, -0.1]])
    j2d = to_crop_space(joints, scale, shift)[..., :2]
    assert_close(weak_perspective_fit(joints, j2d), torch.cat([scale[:, None], shift], -1), atol=1e-5)


def test_upsampling_starts_as_each_vertex_taking_its_nearest_token(open_right):
    up = nearest_upsampling(np.asarray(open_right.v_template))
    assert up.shape == (778, 195) and np.all(up.sum(1) == 1)
    assert np.all(up[np.arange(0, 778, 4), np.arange(195)] == 1)  # a token vertex takes itself


def test_amvur_turns_its_mesh_into_mano_parameters():
    torch.manual_seed(0)
    net = Amvur(AmvurConfig(**{**TINY_AMVUR.__dict__, "fit_steps": 60}))
    pose = torch.zeros(1, 45)
    pose[0, 5] = 0.9  # the index finger's middle joint bends
    true = net.mano(torch.tensor([[0.3, 0.2, 0.1]]), pose)
    target = true.vertices - true.joints[:, :1]
    start = net.mano(torch.zeros(1, 3), torch.zeros(1, 45))
    before = (start.vertices - start.joints[:, :1] - target).norm(dim=-1).mean().item()
    orient, hand_pose, betas = net.fit_mano(target, torch.zeros(1, 3), net.pose_mean[None].clone(), torch.zeros(1, 10))
    fitted = net.mano(orient, hand_pose, betas)
    after = (fitted.vertices - fitted.joints[:, :1] - target).norm(dim=-1).mean().item()
    assert after < 0.25 * before, (before, after)


@pytest.mark.parametrize("cls, config", [(S2Hand, TINY_S2HAND), (Amvur, TINY_AMVUR)], ids=["s2hand", "amvur"])
def test_checkpoints_rebuild_the_appearance_models(tmp_path, cls, config):
    torch.manual_seed(0)
    net = cls(config).eval()
    again = load_model(save_checkpoint(net, tmp_path / "m.pt"))
    crops = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = again(crops), net(crops)
    assert_close(a.joints, b.joints, atol=1e-5)
    assert a.joints.shape == (2, 1, 21, 3) and a.extras["joints2d"].shape == (2, 1, 21, 2)
    assert a.extras["vertex_colours"].shape == (2, 1, 778, 3)


@pytest.fixture(scope="module")
def sequence_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("appearance-set")
    subprocess.run([sys.executable, "-m", "scenes.generate", "--out", str(out), "--quiet", "--size", "64",
                    "--frames", "4", "--sequences", "2", "--samples", "2"], check=True, capture_output=True, timeout=600)
    return out


def _train(tmp_path, model: str, table: str, data, steps: int, extra: str = ""):
    path = tmp_path / "c.toml"
    path.write_text(table + f"""
[data]
train = "{data}"
augment = false
[train]
model = "{model}"
steps = {steps}
batch_size = 2
clip_frames = {3 if model == 's2hand' else 1}
lr = 1e-3
log_every = 1
out = "{tmp_path / 'run'}"
{extra}""")
    torch.manual_seed(0)
    train(load_config(path), progress=False)
    with open(tmp_path / "run" / "log.csv") as fh:
        return list(csv.DictReader(fh))


def test_s2hand_trains_from_2d_keypoints_and_the_image(tmp_path, sequence_set):
    from scenes.dataset import SyntheticDataset
    from training.detected_keypoints import FILE_NAME

    # The set's own 2D labels stand in for detections here (MediaPipe finds little in 64 px renders); this
    # checks the trainer, not the detector. Half the frames count as undetected.
    data = SyntheticDataset(sequence_set)
    keypoints = np.stack([data.labels(i)["joints2d"][len(data.labels(i)["joints2d"]) // 2] for i in range(len(data))])
    confidence = np.ones((len(data), 21), np.float32)
    confidence[1::4] = 0.0
    np.savez(sequence_set / FILE_NAME, keypoints=keypoints.astype(np.float32), confidence=confidence,
             side_right=np.ones(len(data), bool))
    table = "[model]\n" + "\n".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}"
                                    for k, v in TINY_S2HAND.__dict__.items()) + "\n"
    log = _train(tmp_path, "s2hand", table, sequence_set, 60)
    last = log[-1]
    for term in ("keypoints", "pixel", "ssim", "quaternion", "texture_shape", "keypoints2d", "consistency"):
        assert np.isfinite(float(last[term])), term
    keypoints = [float(r["keypoints"]) for r in log]
    assert np.mean(keypoints[-5:]) < 0.7 * np.mean(keypoints[:3]), keypoints
    assert "joints3d" not in last  # no 3D label is read by default
    from training.appearance_card import consistency

    ckpt = str(tmp_path / "run" / "model.pt")
    card = consistency(ckpt, ckpt, str(sequence_set))  # the model card's S2HAND(V)-vs-S2HAND figures run
    for key in ("shape", "texture"):
        mine, theirs, diff, low, high = card[key]
        assert mine == theirs > 0 and diff == low == high == 0.0  # a model against itself: no difference


def test_amvur_learns_a_small_set(tmp_path, sequence_set):
    table = "[model]\n" + "\n".join(f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}"
                                    for k, v in TINY_AMVUR.__dict__.items()).replace("'", '"') + "\n"
    log = _train(tmp_path, "amvur", table, sequence_set, 80)
    totals = [float(r["total"]) for r in log]
    assert np.isfinite(totals).all() and {"vertices", "joints", "kl", "camera", "joints2d", "texture"} <= set(log[0])
    assert np.mean(totals[-5:]) < 0.5 * np.mean(totals[:3]), totals
    net = load_model(tmp_path / "run" / "model.pt")
    with torch.no_grad():
        out = net(torch.randn(1, 3, 64, 64))
    assert (out.extras["joint_variance"] > 0).all()
    from training.appearance_card import uncertainty

    card = uncertainty(str(tmp_path / "run" / "model.pt"), str(sequence_set))  # the model card's figures run
    assert card["frames"] == 8 and all(np.isfinite(v) for k, v in card.items() if not k.startswith("joint_"))
    assert all(-1 <= card[k] <= 1 for k in card if k.startswith("spearman"))
    assert card["joint_variance_seen_cm2"] > 0 and 0 <= card["hidden_joint_share"] <= 1


def test_spearman_is_the_rank_correlation():
    from scipy.stats import spearmanr

    from training.appearance_card import spearman

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    b[:, 0] = np.exp(a[:, 0])  # monotone: 1
    b[:, 1] = -a[:, 1] ** 3  # reversed: -1
    ours = spearman(a, b, axis=0)
    assert_close(ours[:2], np.array([1.0, -1.0]), 1e-12, "monotone columns")
    assert_close(ours, np.array([spearmanr(a[:, k], b[:, k])[0] for k in range(4)]), 1e-12, "against scipy")
