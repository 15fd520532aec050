"""Training: a few steps lower the loss on a tiny fixed set; resume continues; configs refuse unknown keys."""
import csv
import subprocess
import sys

import pytest

from helpers import ROOT
from training.config import ConfigError, load_config
from training.trainer import load_trained, train

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
    subprocess.run([sys.executable, str(ROOT / "scenes" / "generate.py"), "--out", str(out), "--quiet", "--size", "64",
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
    train(cfg, progress=False)
    log = losses(tmp_path / "run")
    assert len(log) == 25
    assert sum(log[-5:]) / 5 < 0.8 * sum(log[:3]) / 3, log
    model = load_trained(str(tmp_path / "run" / "model.pt"))
    assert model.config.backbone_depth == 10
    cfg = load_config(write_config(tmp_path, tiny_set, steps=30))
    train(cfg, progress=False)  # picks up at step 25 from last.pt
    assert len(losses(tmp_path / "run")) == 30


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
