"""Shared network blocks: backbone shapes and sizes, soft-argmax, feature sampling, 6D rotations."""
import numpy as np
import pytest
import torch

from addon.common.rotations import axis_angle_to_matrix
from helpers import assert_close
from inference.models.blocks import (
    ResNet,
    TransformerBlock,
    fold_batchnorm,
    matrix_to_axis_angle,
    matrix_to_rotation_6d,
    rotation_6d_to_matrix,
    sample_features,
    soft_argmax_3d,
)


@pytest.mark.parametrize("depth, params_m", [(18, 11.18), (34, 21.28), (50, 23.51)])
def test_resnets_have_the_published_sizes_and_strides(depth, params_m):
    net = ResNet(depth)
    n = sum(p.numel() for p in net.parameters()) / 1e6
    assert abs(n - params_m) < 0.05, n  # torchvision's counts without the classifier
    feats = net(torch.zeros(1, 3, 256, 256))
    expansion = 4 if depth == 50 else 1
    assert feats.stride8.shape == (1, 128 * expansion, 32, 32)
    assert feats.stride16.shape == (1, 256 * expansion, 16, 16)
    assert feats.stride32.shape == (1, 512 * expansion, 8, 8)


@pytest.mark.parametrize("depth", [18, 50])
def test_folding_batchnorm_into_the_convolutions_keeps_the_function(depth):
    torch.manual_seed(0)
    net = ResNet(depth, width=16)
    for m in net.modules():  # statistics far from the identity, as a trained network's are
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.2, 3), m.weight.data.uniform_(0.5, 2)
            m.bias.data.uniform_(-1, 1)
    net.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = net(x).stride32
        fold_batchnorm(net)
        after = net(x).stride32
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert_close(after.numpy(), before.numpy(), 1e-3 * float(before.abs().max()), "folded")
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(ResNet(18, width=16).train())


def test_soft_argmax_finds_a_sharp_peak_and_averages_a_split_one():
    hm = torch.full((1, 2, 8, 16, 16), -50.0)
    hm[0, 0, 3, 5, 11] = 50.0
    hm[0, 1, 2, 4, 4] = hm[0, 1, 6, 8, 10] = 50.0
    out = soft_argmax_3d(hm)
    assert_close(out[0, 0].numpy(), [11, 5, 3], 1e-4, "peak")
    assert_close(out[0, 1].numpy(), [7, 6, 4], 1e-4, "mean of two peaks")


def test_feature_sampling_reads_the_map_at_pixel_coordinates():
    fmap = torch.arange(2 * 6 * 8, dtype=torch.float32).reshape(1, 2, 6, 8)
    pts = torch.tensor([[[3.0, 2.0], [3.5, 2.0]]])
    out = sample_features(fmap, pts)
    assert_close(out[0, 0].numpy(), fmap[0, :, 2, 3].numpy(), 1e-5, "on a pixel")
    assert_close(out[0, 1].numpy(), (fmap[0, :, 2, 3] + fmap[0, :, 2, 4]).numpy() / 2, 1e-5, "between pixels")


def test_6d_and_axis_angle_round_trip_against_numpy_rodrigues():
    aa = np.random.default_rng(0).normal(0, 1.2, (200, 3))
    aa[0] = [np.pi - 1e-6, 0, 0]
    m = torch.as_tensor(axis_angle_to_matrix(aa))
    assert_close(rotation_6d_to_matrix(matrix_to_rotation_6d(m)).numpy(), m.numpy(), 1e-10, "6D")
    back = matrix_to_axis_angle(m)
    assert_close(axis_angle_to_matrix(back.numpy()), m.numpy(), 1e-6, "axis-angle")
    noisy = rotation_6d_to_matrix(torch.randn(10, 6))
    assert_close((noisy @ noisy.transpose(1, 2)).numpy(), np.broadcast_to(np.eye(3), (10, 3, 3)), 1e-5, "SO(3)")


def test_transformer_block_keeps_the_token_shape_and_mixes_tokens():
    block = TransformerBlock(32, heads=4)
    x = torch.randn(2, 63, 32)
    y = block(x)
    assert y.shape == x.shape
    x2 = x.clone()
    x2[:, 0] = torch.randn(2, 32)  # (a constant shift would vanish in the LayerNorm)
    assert not torch.allclose(block(x2)[:, 5], y[:, 5])  # token 5 sees token 0
