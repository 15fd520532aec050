"""Building blocks shared by the five networks, in plain torch (torchvision is unusable with the CPU wheel).

ResNet backbones (He et al. 2016) that return the stride-8/16/32 feature maps, integral regression
(soft-argmax, Sun et al. 2018) over 3D heatmaps, the 6D rotation representation (Zhou et al. 2019), and a
pre-LayerNorm transformer block (ViT style).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ------------------------------------------------------------------------------------------------ ResNet


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """An eval-mode network with each BatchNorm2d that directly follows a convolution folded into that
    convolution's weights and bias (the same function, one pass over the activations fewer; in place). The
    pairs are this module's: ``Sequential(Conv2d, BatchNorm2d, ...)`` and ``convK`` / ``bnK`` attributes."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if net.training:
        raise ValueError("fold a network in eval mode: training-mode BatchNorm uses the batch's statistics")
    for mod in list(net.modules()):
        if isinstance(mod, nn.Sequential):
            for i in range(len(mod) - 1):
                if isinstance(mod[i], nn.Conv2d) and isinstance(mod[i + 1], nn.BatchNorm2d):
                    mod[i], mod[i + 1] = fuse_conv_bn_eval(mod[i], mod[i + 1]), nn.Identity()
        for k in range(1, 4):
            conv, bn = getattr(mod, f"conv{k}", None), getattr(mod, f"bn{k}", None)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(mod, f"conv{k}", fuse_conv_bn_eval(conv, bn))
                setattr(mod, f"bn{k}", nn.Identity())
    return net


def _shortcut(cin: int, cout: int, stride: int):
    """The residual path's projection when a block changes resolution or width (else the identity: None)."""
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = _shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)), inplace=True)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.down = _shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = F.relu(self.bn2(self.conv2(y)), inplace=True)
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.down is None else self.down(x)), inplace=True)


RESNETS: Dict[int, Tuple[type, List[int]]] = {
    10: (BasicBlock, [1, 1, 1, 1]),
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
}


@dataclass
class Features:
    stride8: torch.Tensor
    stride16: torch.Tensor
    stride32: torch.Tensor
    stride4: Optional[torch.Tensor] = None  # layer1's output (the keypoint network's finest skip)


class ResNet(nn.Module):
    """ResNet-10/18/34/50 without the classifier; ``width`` scales the channels (64 in the paper)."""

    def __init__(self, depth: int = 50, width: int = 64):
        super().__init__()
        if depth not in RESNETS:
            raise ValueError(f"ResNet depth must be one of {sorted(RESNETS)}, not {depth}")
        block, counts = RESNETS[depth]
        self.stem = nn.Sequential(nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        layers, cin = [], width
        for i, n in enumerate(counts):
            w = width * 2**i
            blocks = [block(cin, w, 1 if i == 0 else 2)]
            cin = w * block.expansion
            blocks += [block(cin, w) for _ in range(n - 1)]
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.channels = [width * 2**i * block.expansion for i in range(4)]  # strides 4, 8, 16, 32
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():  # zero-init the last BN of each residual branch (trains faster from scratch)
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)
            elif isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> Features:
        s4 = self.layer1(self.stem(x))
        s8 = self.layer2(s4)
        s16 = self.layer3(s8)
        return Features(s8, s16, self.layer4(s16), s4)


# -------------------------------------------------------------------------------------- soft-argmax


def soft_argmax_3d(heatmaps: torch.Tensor) -> torch.Tensor:
    """(B, J, D, H, W) logits -> (B, J, 3) expected (x, y, z) in voxel units (integral regression).

    The softmax's weighted sums as one matrix product over the (B, H*W, J*D) view, which a channels-last
    convolution's output already is (flattening (D, H, W) instead would copy it)."""
    b, j, d, h, w = heatmaps.shape
    x = heatmaps.float().permute(0, 3, 4, 1, 2).reshape(b, h * w, j * d)
    peak = x.detach().amax(dim=1).reshape(b, 1, j, d).amax(dim=3, keepdim=True)  # per joint: any constant does
    e = torch.exp(x.reshape(b, h * w, j, d) - peak).reshape(b, h * w, j * d)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=e.dtype, device=e.device),
                            torch.arange(w, dtype=e.dtype, device=e.device), indexing="ij")
    grid = torch.stack([torch.ones_like(xs), xs, ys]).reshape(3, h * w)  # rows: 1, x, y per pixel
    sums = torch.matmul(grid, e).reshape(b, 3, j, d)  # over the pixels, per joint and depth bin
    total = sums[:, 0].sum(-1)
    zs = torch.arange(d, dtype=e.dtype, device=e.device)
    return torch.stack([sums[:, 1].sum(-1), sums[:, 2].sum(-1), (sums[:, 0] * zs).sum(-1)], dim=-1) / total[..., None]


def pointwise(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """A 1x1, stride-1 convolution as a matrix product over the channels: on a channels-last input it is one
    GEMM with no copies (torch's CPU convolution takes a slower path for 1x1 kernels at small batches)."""
    out = F.linear(x.permute(0, 2, 3, 1), conv.weight.reshape(conv.out_channels, conv.in_channels), conv.bias)
    return out.permute(0, 3, 1, 2)


def sample_features(features: torch.Tensor, points_xy: torch.Tensor) -> torch.Tensor:
    """Bilinear features (B, C, H, W) at (B, J, 2) pixel coordinates of that map -> (B, J, C)."""
    h, w = features.shape[-2:]
    grid = torch.stack([points_xy[..., 0] / (w - 1) * 2 - 1, points_xy[..., 1] / (h - 1) * 2 - 1], dim=-1)
    out = F.grid_sample(features, grid[:, :, None], align_corners=True)  # (B, C, J, 1)
    return out[..., 0].transpose(1, 2)


# -------------------------------------------------------------------------------------- rotations


def rotmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b for stacks of small matrices (..., n, m) @ (..., m, p), broadcast over the leading axes.

    Flattened to one batch axis first: torch's CPU matmul on 4-D stacks of 3x3 matrices was measured 40x
    slower than on the same matrices as one 3-D batch (0.78 ms against 31 ms, forward and backward of
    1,088 x 16 products)."""
    lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])  # torch's imports its reference ops (~1 s) on first use
    a = a.expand(*lead, *a.shape[-2:]).reshape(-1, *a.shape[-2:])
    b = b.expand(*lead, *b.shape[-2:]).reshape(-1, *b.shape[-2:])
    return torch.bmm(a, b).reshape(*lead, a.shape[-2], b.shape[-1])


def axis_angle_to_matrix(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) Rodrigues, with its Taylor series near zero (finite gradients at the identity)."""
    theta2 = (v * v).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    small = theta2 < 1e-8
    safe = torch.where(small, torch.ones_like(theta2), theta2)
    theta = torch.sqrt(safe)
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / safe)
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*v.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=v.dtype, device=v.device).expand_as(k)
    return eye + a * k + b * rotmul(k, k)


def rotation_6d_to_matrix(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3): Gram-Schmidt on the two columns (Zhou et al., CVPR 2019)."""
    a1, a2 = x[..., :3], x[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rotation_6d(m: torch.Tensor) -> torch.Tensor:
    return torch.cat([m[..., :, 0], m[..., :, 1]], dim=-1)


def matrix_to_quaternion(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) (w, x, y, z), w >= 0, with finite gradients everywhere.

    Shepperd's method: the largest of the four squared components is the pivot (its square root is of a
    value >= 1, so well-conditioned); the other components come from off-diagonal sums divided by it.
    All four candidates are computed and one is picked; clamping keeps the unused ones' gradients finite.
    """
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    d21, d02, d10 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    s01, s02, s12 = m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1]
    diag = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    r = 2 * torch.sqrt(torch.clamp(diag, min=1e-6))  # 4 * |component| for each candidate pivot
    cands = torch.stack([
        torch.stack([r[..., 0] / 4, d21 / r[..., 0], d02 / r[..., 0], d10 / r[..., 0]], -1),
        torch.stack([d21 / r[..., 1], r[..., 1] / 4, s01 / r[..., 1], s02 / r[..., 1]], -1),
        torch.stack([d02 / r[..., 2], s01 / r[..., 2], r[..., 2] / 4, s12 / r[..., 2]], -1),
        torch.stack([d10 / r[..., 3], s02 / r[..., 3], s12 / r[..., 3], r[..., 3] / 4], -1),
    ], -2)  # (..., 4 candidates, 4)
    pick = diag.argmax(-1)
    q = torch.gather(cands, -2, pick[..., None, None].expand(*pick.shape, 1, 4)).squeeze(-2)
    return q * torch.where(q[..., :1] < 0, -1.0, 1.0)


def matrix_to_axis_angle(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3), angle in [0, pi]; exact at the identity and differentiable there."""
    q = matrix_to_quaternion(m)
    w, v = q[..., :1], q[..., 1:]
    sin_sq = (v * v).sum(-1, keepdim=True)
    small = sin_sq < 1e-12
    sin_half = torch.sqrt(torch.clamp(sin_sq, min=1e-12))
    angle = 2 * torch.atan2(sin_half, w)
    # near zero, angle / sin(angle/2) -> 2 / cos(angle/2)
    scale = torch.where(small, 2 / torch.clamp(w, min=1e-6), angle / sin_half)
    return v * scale


# -------------------------------------------------------------------------------------- transformer


class TransformerBlock(nn.Module):
    """Pre-LayerNorm multi-head self-attention + MLP (ViT block)."""

    def __init__(self, dim: int, heads: int = 4, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(),
                                 nn.Linear(int(dim * mlp_ratio), dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class CrossAttentionBlock(nn.Module):
    """Pre-LayerNorm cross-attention of queries onto a token set, then an MLP (a transformer decoder layer
    without self-attention: with one query there is nothing to attend to)."""

    def __init__(self, dim: int, heads: int = 4, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(),
                                 nn.Linear(int(dim * mlp_ratio), dim))

    def forward(self, queries: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(tokens)
        queries = queries + self.attn(self.norm_q(queries), kv, kv, need_weights=False)[0]
        return queries + self.mlp(self.norm2(queries))


# -------------------------------------------------------------------------------------- ConvLSTM


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step (Shi et al., NeurIPS 2015): the LSTM gates as convolutions over feature maps.

    State is (h, c), both (B, hidden, H, W); ``None`` starts from zeros. The forget gate's bias starts at 1
    so early training keeps the state (the usual LSTM initialisation)."""

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3):
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel, 1, kernel // 2)
        with torch.no_grad():
            self.gates.bias.zero_()
            self.gates.bias[hidden:2 * hidden].fill_(1.0)

    def forward(self, x: torch.Tensor, state=None):
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden, *x.shape[-2:])
            state = (zeros, zeros)
        h, c = state
        i, f, g, o = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)
