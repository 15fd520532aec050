"""Deformer and SeqHAND: the fusion maths, maxMSE, the carried state, window blending, and that each model
learns a tiny set of rendered clips."""
import csv
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from addon.common.job_options import JobOptions
from helpers import ROOT, assert_close
from inference.models.deformer import Deformer, DeformerConfig, fuse_poses, warp_poses
from inference.models.output import HandPrediction, load_model, save_checkpoint
from inference.models.seqhand import SeqHand, SeqHandConfig
from inference.runners import CausalRunner, WindowRunner, make_runner, window_weights
from training.config import load_config
from training.trainer import train
from training.video_losses import max_mse

TINY_DEFORMER = DeformerConfig(backbone_depth=10, backbone_width=16, image_size=64, feature_stride=16, dim=32,
                               heads=2, ffn_dim=64, spatial_layers=1, decoder_layers=1, temporal_layers=1,
                               shape_layers=1, window=4, stride=2)
TINY_SEQHAND = SeqHandConfig(backbone_depth=10, backbone_width=16, image_size=64, hidden=16)


def test_warping_by_the_true_motions_reproduces_every_target_pose():
    theta = torch.randn(2, 6, 48, dtype=torch.float64)
    forward = torch.zeros_like(theta)
    backward = torch.zeros_like(theta)
    forward[:, :-1] = theta[:, 1:] - theta[:, :-1]  # the last frame's forward motion is never used
    backward[:, 1:] = theta[:, :-1] - theta[:, 1:]
    forward[:, -1], backward[:, 0] = 99.0, -99.0
    warped = warp_poses(theta, forward, backward)  # (B, source, target, 48)
    assert_close(warped, theta[:, None].expand(-1, 6, -1, -1), atol=1e-12)


def test_fusion_weights_sum_to_one_and_follow_the_confidence():
    conf = torch.randn(3, 5)
    assert_close(fuse_poses(torch.ones(3, 5, 5, 1), conf), torch.ones(3, 5, 1), atol=1e-6)
    sources = torch.eye(5)[None, :, None, :].expand(3, 5, 5, 5)  # source i carries the unit vector e_i
    weights = fuse_poses(sources, conf)[:, 0]
    assert_close(weights, torch.softmax(conf, 1), atol=1e-6)
    strong = conf.clone()
    strong[:, 2] = 50.0  # one confident frame takes over every target
    assert_close(fuse_poses(sources, strong)[:, 3], torch.eye(5)[2].expand(3, 5), atol=1e-6)


def test_max_mse_equals_its_closed_form_and_weighs_large_errors_more():
    pred, target = torch.randn(4, 30, 3, dtype=torch.float64), torch.randn(4, 30, 3, dtype=torch.float64)
    d2 = ((pred - target) ** 2).sum(-1)
    assert_close(max_mse(pred, target), (d2 ** 2).sum(-1) / d2.sum(-1), atol=1e-12)
    even = torch.zeros(1, 10, 3)
    even[..., 0] = 1.0  # ten errors of 1 ...
    one = torch.zeros(1, 10, 3)
    one[0, 0, 0] = np.sqrt(10.0)  # ... and one error with the same sum of squares: maxMSE says it is worse
    assert max_mse(one, torch.zeros_like(one)) > max_mse(even, torch.zeros_like(even))


def test_the_seqhand_state_carried_frame_by_frame_equals_the_window_at_once():
    torch.manual_seed(0)
    net = SeqHand(TINY_SEQHAND).eval()
    clip = torch.randn(1, 7, 3, 64, 64)
    with torch.no_grad():
        whole = net(clip)
        state, joints = None, []
        for k in range(7):
            step = net(clip[:, k:k + 1], state)
            state = (step.extras["state_h"], step.extras["state_c"])
            joints.append(step.joints)
    assert_close(torch.cat(joints, 1), whole.joints, atol=1e-6)
    runner = CausalRunner(net, torch.device("cpu"), chunk=3)  # chunks of 3, 3, 1 through the worker's runner
    out = [o for k in range(7) for o in runner.push(k, clip[0, k].numpy())] + runner.flush()
    assert [o.frame for o in out] == list(range(7))
    assert_close(np.concatenate([o.pose for o in out]),
                 torch.cat([whole.global_orient, whole.hand_pose], -1)[0].double().numpy(), atol=1e-5)


def test_a_lost_track_starts_a_fresh_seqhand_state():
    torch.manual_seed(0)
    net = SeqHand(TINY_SEQHAND).eval()
    crops = torch.randn(6, 3, 64, 64).numpy()
    runner = CausalRunner(net, torch.device("cpu"), chunk=8)
    frames = [0, 1, 2, 10, 11, 12]  # the hand is lost for frames 3..9
    out = [o for k, f in enumerate(frames) for o in runner.push(f, crops[k])] + runner.flush()
    assert runner.resets == 1 and [o.frame for o in out] == frames
    fresh = CausalRunner(net, torch.device("cpu"))
    again = [o for k, f in enumerate((10, 11, 12)) for o in fresh.push(f, crops[3 + k])] + fresh.flush()
    assert_close(np.concatenate([o.pose for o in out[3:]]), np.concatenate([o.pose for o in again]), atol=1e-6)


class WindowProbe(nn.Module):
    """Answers each window with the same pose on every frame: a rotation about x by 0.1 rad times the window's
    first crop's value. Where windows overlap, their answers differ by one step, which shows the blending."""

    temporal_mode = "window"

    def __init__(self):
        super().__init__()
        self.config = DeformerConfig(window=8, stride=4)
        self.windows = []

    def forward(self, clips):
        b, t = clips.shape[:2]
        first = float(clips[0, 0, 0, 0, 0])
        self.windows.append([float(v) for v in clips[0, :, 0, 0, 0]])
        pose = torch.zeros(b, t, 48)
        pose[..., 0] = 0.1 * first
        return HandPrediction(global_orient=pose[..., :3], hand_pose=pose[..., 3:], betas=torch.zeros(b, t, 10),
                              camera=None, vertices=torch.zeros(b, t, 778, 3), joints=torch.zeros(b, t, 21, 3),
                              extras={"joints2d": torch.zeros(b, t, 21, 2)})


def test_window_blending_is_continuous_and_covers_every_frame_once():
    probe = WindowProbe()
    runner = make_runner(probe, torch.device("cpu"))
    assert isinstance(runner, WindowRunner) and (runner.window, runner.stride) == (8, 4)
    frames = list(range(30))
    out = []
    for f in frames:
        out += runner.push(f, np.full((3, 2, 2), float(f), np.float32))
    out += runner.flush()
    assert [o.frame for o in out] == frames
    assert [w[0] for w in probe.windows] == [0, 4, 8, 12, 16, 20, 22]  # the last window ends at the last frame
    assert all(w == list(range(int(w[0]), int(w[0]) + 8)) for w in probe.windows)  # consecutive frames only
    angle = np.array([o.pose[0, 0] for o in out])
    window_step = 0.1 * 4  # neighbouring windows' answers differ by this much
    steps = np.abs(np.diff(angle))
    # inside, a linear cross-fade: every frame moves a quarter of the way (rotation averaging bends it a little)
    assert_close(steps[4:19], np.full(15, 0.25 * window_step), atol=0.01)
    assert steps.max() <= 0.4 * window_step  # the end-aligned last window too; unblended, a key jumps by all of it
    assert_close(angle[:4], np.zeros(4), atol=1e-12)  # frames only the first window covers keep its answer
    assert window_weights(8).tolist() == [0.5, 1.5, 2.5, 3.5, 3.5, 2.5, 1.5, 0.5]


def test_short_runs_and_gaps_get_their_own_windows():
    probe = WindowProbe()
    runner = WindowRunner(probe, torch.device("cpu"), window=8, stride=4)
    out = []
    for f in [0, 1, 2, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]:
        out += runner.push(f, np.full((3, 2, 2), float(f), np.float32))
    out += runner.flush()
    assert [o.frame for o in out] == [0, 1, 2, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    assert probe.windows[0] == [0, 1, 2]  # a run shorter than a window: one shorter window, nothing padded
    assert [w[0] for w in probe.windows[1:]] == [7, 9]


@pytest.mark.parametrize("config", [TINY_DEFORMER, TINY_SEQHAND], ids=["deformer", "seqhand"])
def test_checkpoints_rebuild_the_video_models(tmp_path, config):
    torch.manual_seed(0)
    net = (Deformer if isinstance(config, DeformerConfig) else SeqHand)(config).eval()
    path = save_checkpoint(net, tmp_path / "m.pt")
    again = load_model(path)
    clip = torch.randn(1, 4, 3, 64, 64)
    with torch.no_grad():
        assert_close(again(clip).joints, net(clip).joints, atol=1e-6)
    assert again.temporal_mode == net.temporal_mode


@pytest.fixture(scope="module")
def clip_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("clip-set")
    subprocess.run([sys.executable, "-m", "scenes.generate", "--out", str(out), "--quiet", "--size", "64",
                    "--frames", "4", "--sequences", "2", "--samples", "2", "--occluders"],
                   check=True, capture_output=True, timeout=600)
    return out


MODEL_TABLES = {
    "deformer": """[model]
backbone_depth = 10
backbone_width = 16
image_size = 64
feature_stride = 16
dim = 32
heads = 2
ffn_dim = 64
spatial_layers = 1
decoder_layers = 1
temporal_layers = 1
shape_layers = 1
window = 4
""",
    "seqhand": """[model]
backbone_depth = 10
backbone_width = 16
image_size = 64
hidden = 16
""",
}


@pytest.mark.parametrize("model, lr", [("deformer", 1e-3), ("seqhand", 3e-3)])
def test_each_video_model_overfits_a_tiny_set_of_clips(tmp_path, clip_set, model, lr):
    path = tmp_path / "c.toml"
    path.write_text(MODEL_TABLES[model] + f"""
[data]
train = "{clip_set}"
augment = false
[train]
model = "{model}"
steps = 100
batch_size = 2
clip_frames = 4
lr = {lr}
log_every = 1
out = "{tmp_path / 'run'}"
""")
    cfg = load_config(path)
    torch.manual_seed(0)
    train(cfg, progress=False)
    with open(tmp_path / "run" / "log.csv") as fh:
        log = [float(r["total"]) for r in csv.DictReader(fh)]
    assert len(log) == 100 and np.isfinite(log).all()
    assert np.mean(log[-5:]) < 0.5 * np.mean(log[:3]), log
    assert load_model(tmp_path / "run" / "model.pt").model_name == model


def test_detached_seqhand_fine_tuning_keeps_the_convlstm(tmp_path, clip_set):
    path = tmp_path / "c.toml"
    path.write_text(MODEL_TABLES["seqhand"] + f"""
[data]
train = "{clip_set}"
[train]
model = "seqhand"
steps = 3
batch_size = 2
clip_frames = 1
freeze = ["recurrent"]
log_every = 1
out = "{tmp_path / 'run'}"
""")
    torch.manual_seed(0)
    start = SeqHand(TINY_SEQHAND)
    init = save_checkpoint(start, tmp_path / "start.pt")
    cfg = load_config(path)
    cfg.train.init = str(init)
    train(cfg, progress=False)
    tuned = load_model(tmp_path / "run" / "model.pt")
    before, after = dict(start.named_parameters()), dict(tuned.named_parameters())
    assert all(torch.equal(before[k].half().float(), after[k]) for k in before if k.startswith("recurrent."))
    assert not torch.equal(before["out.weight"].half().float(), after["out.weight"])


@pytest.mark.parametrize("name", ["deformer_tiny", "deformer_tiny_no_fusion", "deformer_paper", "seqhand_tiny",
                                  "seqhand_tiny_no_convlstm", "seqhand_paper"])
def test_the_shipped_video_configs_load_and_build(name):
    cfg = load_config(ROOT / "training" / "configs" / f"{name}.toml")
    model = {"deformer": Deformer, "seqhand": SeqHand}[cfg.train.model](cfg.model)
    assert model.config == cfg.model and cfg.train.clip_frames >= 1


def test_the_motion_discriminator_trains_alternately_with_the_generator(clip_set):
    from training.data import ClipSamples, CropSpec
    from training.tasks import TASKS, LossStep
    from training.video_losses import DeformerSwitches, DeformerWeights

    torch.manual_seed(0)
    model = Deformer(TINY_DEFORMER)
    step = LossStep(TASKS["deformer"], model, DeformerWeights(), DeformerSwitches(adversarial=True), torch.device("cpu"))
    batch = torch.utils.data.default_collate([ClipSamples(str(clip_set), 4, CropSpec(64, 4))[0]] * 2)
    before = [p.detach().clone() for p in step.discriminator.parameters()]
    losses = step(step.forward(model, batch), batch)
    assert "adversarial" in losses and torch.isfinite(losses["total"])
    losses["total"].backward()
    assert model.pose.heads[0].weight.grad is not None  # the generator's step reaches the network
    step.after_step(batch)
    assert any(not torch.equal(a, b) for a, b in zip(before, step.discriminator.parameters()))


def test_a_video_model_job_weighs_the_side_with_the_default_network(tmp_path):
    from inference.pipeline import run_job

    logs = []
    result = run_job(str(ROOT / "samples" / "sample_clip.mp4"), JobOptions(model="seqhand", frame_end=29),
                     tmp_path, lambda kind, fields: logs.append(fields.get("message", "")))
    assert any("weighed with blurhandnet's orientation" in m for m in logs)
    assert list(result.paths) == ["right"]  # the clip shows a right hand
