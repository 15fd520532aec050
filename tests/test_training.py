"""Training: a few steps lower the loss on a tiny fixed set; resume continues; configs refuse unknown keys."""
import csv
import subprocess
import sys

import numpy as np
import pytest
import torch

from addon.common.hand_model import find_hand_model
from addon.common.joints import TIP_VERTEX_IDS
from addon.common.lbs import lbs
from helpers import ROOT, assert_close
from training import trainer
from training.config import ConfigError, load_config
from training.data import Augment, BlurHandSamples, CropSpec, crop_affine, rotate_about_camera_z
from training.trainer import effective_precision, load_trained, train

TINY_MODEL = """
[model]
backbone_depth = 10
backbone_width = 16
image_size = 64
feature_dim = 32
heatmap_depth = 8
ktformer_blocks = 1
ktformer_heads = 2
"""


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("train-set")
    subprocess.run([sys.executable, "-m", "scenes.generate", "--out", str(out), "--quiet", "--size", "64",
                    "--frames", "2", "--sequences", "2", "--samples", "2", "--blur", "--subframes", "3"],
                   check=True, capture_output=True, timeout=600)
    return out


def write_config(tmp_path, data, steps, extra=""):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_MODEL + f"""
[data]
train = "{data}"
[train]
steps = {steps}
batch_size = 4
lr = 1e-3
log_every = 1
checkpoint_every = 5
out = "{tmp_path / 'run'}"
""" + extra)
    return path


def losses(run):
    with open(run / "log.csv") as fh:
        return [float(r["total"]) for r in csv.DictReader(fh)]


def test_a_few_steps_lower_the_loss_and_resume_continues(tmp_path, tiny_set):
    cfg = load_config(write_config(tmp_path, tiny_set, steps=25))
    cfg.data.augment = False  # the same four crops every step: the loss must fall
    cfg.data.val = str(tiny_set)
    train(cfg, progress=False)
    log = losses(tmp_path / "run")
    assert len(log) == 25
    with open(tmp_path / "run" / "log.csv") as fh:
        val = [float(r["val_middle_mpjpe"]) for r in csv.DictReader(fh)]
    assert np.isnan(val[0]) and np.isfinite(val[4]) and val[4] > 0  # scored at each checkpoint (every 5)
    assert sum(log[-5:]) / 5 < 0.8 * sum(log[:3]) / 3, log
    model = load_trained(str(tmp_path / "run" / "model.pt"))
    assert model.config.backbone_depth == 10
    cfg = load_config(write_config(tmp_path, tiny_set, steps=30))
    cfg.data.augment = False
    train(cfg, progress=False)  # picks up at step 25 from last.pt
    assert len(losses(tmp_path / "run")) == 30


def test_bf16_runs_as_fp32_and_says_so_on_a_cpu_without_native_bf16(monkeypatch, capsys):
    assert isinstance(trainer.cpu_has_native_bf16(), bool)
    monkeypatch.setattr(trainer, "cpu_has_native_bf16", lambda: False)
    assert effective_precision("bf16", torch.device("cpu")) == "fp32"
    assert "no native bf16" in capsys.readouterr().out
    assert effective_precision("fp32", torch.device("cpu")) == "fp32"
    assert effective_precision("bf16", torch.device("cuda")) == "bf16"  # the GPU's own bf16 is unaffected
    monkeypatch.setattr(trainer, "cpu_has_native_bf16", lambda: True)
    assert effective_precision("bf16", torch.device("cpu")) == "bf16"
    assert capsys.readouterr().out == ""


def test_configs_name_unknown_keys_and_tables(tmp_path):
    path = write_config(tmp_path, "x", 1, extra="\n[optimiser]\nname = 'sgd'\n")
    with pytest.raises(ConfigError, match=r"unknown table\(s\) optimiser"):
        load_config(path)
    path.write_text(TINY_MODEL + "unfolder_depth = 3\n")
    with pytest.raises(ConfigError, match=r"\[model\]: unknown key\(s\) unfolder_depth"):
        load_config(path)


def test_eval_prints_the_papers_table_and_names_wrong_checkpoints(tmp_path, tiny_set):
    from training.__main__ import main
    from training.evaluate import evaluate, table

    cfg = load_config(write_config(tmp_path, tiny_set, steps=2))
    train(cfg, progress=False)
    result = evaluate(str(tmp_path / "run" / "model.pt"), str(tiny_set))
    assert {"initial_mpjpe", "middle_mpjpe", "final_mpjpe", "middle_mpvpe"} <= set(result)
    assert "initial   middle    final" in table(result)
    (tmp_path / "bad.pt").write_bytes(b"nope")
    assert main(["eval", "--ckpt", str(tmp_path / "bad.pt"), "--data", str(tiny_set)]) == 1
    assert main(["eval", "--ckpt", str(tmp_path / "run" / "model.pt"), "--data", str(tmp_path)]) == 1


def test_crop_rotation_moves_2d_and_3d_labels_together():
    # With the crop centred on the principal point, rotating the image by the crop affine must equal
    # projecting the 3D points rotated about the camera's z axis.
    rng = np.random.default_rng(0)
    k = np.array([[300.0, 0, 64], [0, 300.0, 64], [0, 0, 1]])
    points = rng.uniform([-0.05, -0.05, 0.4], [0.05, 0.05, 0.5], (21, 3))
    project = lambda p: (p @ k.T)[:, :2] / (p @ k.T)[:, 2:]  # noqa: E731
    box = np.array([24.0, 24.0, 80.0])
    for angle in (0.0, 0.4, -0.9):
        affine = crop_affine(box, 128, angle)
        moved2d = project(points) @ affine[:, :2].T + affine[:, 2]
        rotated, _ = rotate_about_camera_z(angle, points, np.zeros(3))
        assert_close(moved2d, (project(rotated) - box[:2]) * 128 / box[2], atol=1e-9)


def test_augmented_samples_keep_pose_joints_and_heatmap_consistent(tiny_set):
    model = find_hand_model("right")
    spec = CropSpec(image_size=64, heatmap_size=8, depth_bins=8)
    plain = BlurHandSamples(str(tiny_set), spec)
    jitter = BlurHandSamples([str(tiny_set)], spec, Augment(rotate_deg=60), seed=3)
    for data in (plain, jitter):
        s = data[1]
        pose = s["pose"].numpy().astype(np.float64)
        betas = np.repeat(s["betas"].numpy()[None].astype(np.float64), 3, 0)
        out = lbs(betas, pose, model.v_template, model.shapedirs, model.posedirs, model.J_regressor,
                  model.parents, model.weights)
        joints = np.concatenate([out.joints, out.vertices[:, list(TIP_VERTEX_IDS.values())]], 1)
        assert_close(joints - joints[:, :1], s["joints_cam"].numpy(), atol=1e-5)  # orient rotated with joints
    a, b = jitter[1], jitter[1]
    assert torch.equal(a["image"], b["image"])  # reproducible for one (seed, epoch, sample)
    jitter.epoch = 1
    assert not torch.equal(a["image"], jitter[1]["image"])  # and new draws on the next pass
    assert not torch.allclose(plain[1]["joints_cam"], a["joints_cam"])


def test_a_run_can_start_from_a_checkpoints_weights(tmp_path, tiny_set):
    import torch

    cfg = load_config(write_config(tmp_path, tiny_set, steps=2))
    train(cfg, progress=False)
    source = tmp_path / "run" / "model.pt"
    second = tmp_path / "second"
    second.mkdir()
    cfg = load_config(write_config(second, tiny_set, steps=1, extra=f'init = "{source}"\n'))
    cfg.train.lr = 0.0  # one step that changes nothing: the weights are the source's
    train(cfg, progress=False)
    # parameters only: a training step still moves batch-norm statistics
    a = dict(load_trained(str(source)).named_parameters())
    b = dict(load_trained(str(second / "run" / "model.pt")).named_parameters())
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-3) for k in a)
    other = load_config(write_config(second, tiny_set, steps=1, extra=f'init = "{source}"\n'))
    other.model.feature_dim = 2 * other.model.feature_dim
    other.train.out = str(second / "other")
    with pytest.raises(ValueError, match="model config differs"):
        train(other, progress=False)


@pytest.mark.parametrize("path", sorted((ROOT / "training" / "configs").glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_config_loads_and_builds_its_model(path):
    from training.tasks import TASKS

    cfg = load_config(path)
    model = TASKS[cfg.train.model].model_class(cfg.model)
    assert model.config == cfg.model and cfg.train.steps > 0
