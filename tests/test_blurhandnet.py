"""BlurHandNet: shapes for the full model and its ablations, checkpoints that rebuild it exactly."""
import pytest
import torch

from addon.common.hand_model import find_hand_model
from helpers import assert_close
from inference.models.blurhandnet import BlurHandNet, BlurHandNetConfig
from inference.models.output import CheckpointError, load_model, save_checkpoint

TINY = dict(backbone_depth=10, backbone_width=16, image_size=64, feature_dim=32, heatmap_depth=8,
            ktformer_blocks=1, ktformer_heads=2)


@pytest.mark.parametrize("switches, times", [({}, 3), ({"unfolder": False}, 1), ({"ktformer": False}, 3),
                                             ({"kinematic_pe": False, "temporal_pe": False}, 3),
                                             ({"shape_from": "decoder"}, 3)])
def test_forward_gives_three_hands_or_one_for_the_single_frame_baseline(switches, times):
    torch.manual_seed(0)
    model = BlurHandNet(BlurHandNetConfig(**TINY, **switches)).eval()
    out = model(torch.rand(2, 3, 64, 64))
    assert out.vertices.shape == (2, times, 778, 3) and out.joints.shape == (2, times, 21, 3)
    assert out.hand_pose.shape == (2, times, 45) and out.betas.shape == (2, times, 10)
    assert out.extras["unfolder_joints"].shape == (2, times, 21, 3)
    assert torch.all(out.camera[..., 2] > 0)


def test_an_untrained_model_starts_at_the_flat_mean_hand():
    model = BlurHandNet(BlurHandNetConfig(**TINY)).eval()
    out = model(torch.rand(1, 3, 64, 64))
    rest = torch.as_tensor(find_hand_model("right").v_template, dtype=torch.float32)
    assert_close(out.vertices[0, 1].detach().numpy(), rest.numpy(), 1e-5, "identity pose, zero betas")


def test_checkpoint_rebuilds_the_model_with_identical_outputs_and_without_mano_arrays(tmp_path):
    torch.manual_seed(1)
    model = BlurHandNet(BlurHandNetConfig(**TINY)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = save_checkpoint(model, tmp_path / "bhn.pt", steps=3)
    stored = torch.load(path, weights_only=True)
    assert not any(k.startswith("mano.") for k in stored["state_dict"]), "MANO arrays must not be stored"
    again = load_model(path, expect="blurhandnet")
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        a, b = model(x), again(x)
    assert torch.equal(a.vertices, b.vertices) and torch.equal(a.hand_pose, b.hand_pose)
    assert again.checkpoint_metadata == {"steps": 3}


def test_wrong_checkpoints_are_named(tmp_path):
    model = BlurHandNet(BlurHandNetConfig(**TINY))
    path = save_checkpoint(model, tmp_path / "bhn.pt")
    with pytest.raises(CheckpointError, match="is a blurhandnet checkpoint, not deformer"):
        load_model(path, expect="deformer")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_model(tmp_path / "junk.pt")
    data = torch.load(path, weights_only=True)
    data["config"]["mystery"] = 1
    torch.save(data, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match="unknown key\(s\) mystery"):
        load_model(tmp_path / "odd.pt")
