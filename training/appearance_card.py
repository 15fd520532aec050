"""The appearance models' own model-card figures on a synthetic set (crops cut around the true joints):

- ``uncertainty``: does AMVUR's variance track its error? Spearman rank correlation between each vertex's
  predicted variance and its error over the set (per vertex, then the mean and median over the 778), the
  same pooled over every (frame, vertex), and the mean per-joint variance on hidden against seen joints
  (the set's own occlusion labels).
- ``consistency``: S2HAND(V)'s video terms against the same network without them: the standard deviation of
  shape (betas) and of the predicted texture over each test sequence's frames, averaged over sequences,
  with a paired bootstrap over sequences.

    python -m training.appearance_card uncertainty --ckpt runs/amvur_tiny/model.pt --data data/SET
    python -m training.appearance_card consistency --ckpt runs/s2hand_tiny/model.pt \\
        --baseline runs/s2hand_tiny_single/model.pt --data data/SET
"""
from __future__ import annotations

import argparse
from typing import Dict, List

import numpy as np
import torch

from inference.models.output import load_model
from scenes.dataset import SyntheticDataset

from .data import CropSpec, crop_sample
from .metrics import paired_bootstrap


def spearman(a: np.ndarray, b: np.ndarray, axis: int = 0) -> np.ndarray:
    """Spearman's rank correlation of ``a`` and ``b`` along ``axis`` (ties broken by order: float data)."""
    ra = np.argsort(np.argsort(a, axis=axis), axis=axis).astype(np.float64)
    rb = np.argsort(np.argsort(b, axis=axis), axis=axis).astype(np.float64)
    ra -= ra.mean(axis=axis, keepdims=True)
    rb -= rb.mean(axis=axis, keepdims=True)
    return (ra * rb).sum(axis) / np.sqrt((ra ** 2).sum(axis) * (rb ** 2).sum(axis))


def _frames(data: str):
    """(dataset, [(sequence, frame, index)] in order)."""
    raw = SyntheticDataset(data)
    order = sorted((int(lab["sequence"]), int(lab["frame"]), i) for i, lab in ((i, raw.labels(i))
                                                                               for i in range(len(raw))))
    return raw, order


def _model(ckpt: str, data: str):
    from addon.common.hand_model import find_hand_model

    hand = SyntheticDataset(data).manifest.get("settings", {}).get("hand") or "open"
    return load_model(ckpt, hand_model=find_hand_model("right", hand=hand)).eval()


@torch.no_grad()
def uncertainty(ckpt: str, data: str, batch_size: int = 16) -> Dict[str, float]:
    model = _model(ckpt, data)
    raw, order = _frames(data)
    spec = CropSpec(image_size=model.config.image_size)
    var_v, err_v, var_j, seen = [], [], [], []
    for start in range(0, len(order), batch_size):
        items = [crop_sample(raw[i], spec, extra=True) for _, _, i in order[start:start + batch_size]]
        out = model(torch.stack([s["image"] for s in items]))
        truth = torch.stack([s["vertices_cam"] for s in items])
        var_v.append(out.extras["logvar"][:, 0].exp().sum(-1).numpy())  # (B, 778) cm^2
        err_v.append(((out.vertices[:, 0] - truth).norm(dim=-1) * 1000).numpy())  # mm, wrist-aligned
        var_j.append(out.extras["joint_variance"][:, 0].numpy())
        seen.append(torch.stack([s["visible"] for s in items]).numpy() > 0.5)
    var_v, err_v, var_j, seen = map(np.concatenate, (var_v, err_v, var_j, seen))
    per_vertex = spearman(var_v, err_v, axis=0)
    return {
        "frames": float(len(var_v)),
        "spearman_per_vertex_mean": float(np.nanmean(per_vertex)),
        "spearman_per_vertex_median": float(np.nanmedian(per_vertex)),
        "spearman_pooled": float(spearman(var_v.ravel(), err_v.ravel())),
        "spearman_per_frame": float(spearman(var_v.mean(1), err_v.mean(1))),
        "mpvpe_mm": float(err_v.mean()),
        "joint_variance_hidden_cm2": float(var_j[~seen].mean()) if (~seen).any() else float("nan"),
        "joint_variance_seen_cm2": float(var_j[seen].mean()),
        "hidden_joint_share": float((~seen).mean()),
    }


@torch.no_grad()
def sequence_spread(ckpt: str, data: str) -> Dict[str, np.ndarray]:
    """Per test sequence: the mean over betas of their standard deviation over the frames, and the same for
    the texture (per vertex and channel, the crop's sRGB in [0, 1])."""
    model = _model(ckpt, data)
    raw, order = _frames(data)
    spec = CropSpec(image_size=model.config.image_size)
    by_seq: Dict[int, List[int]] = {}
    for seq, _, i in order:
        by_seq.setdefault(seq, []).append(i)
    shape, texture = [], []
    for seq, indices in sorted(by_seq.items()):
        out = model(torch.stack([crop_sample(raw[i], spec)["image"] for i in indices]))
        shape.append(out.betas[:, 0].std(0).mean().item())
        texture.append(out.extras["vertex_colours"][:, 0].std(0).mean().item())
    return {"shape": np.array(shape), "texture": np.array(texture), "sequences": np.array(sorted(by_seq))}


def consistency(ckpt: str, baseline: str, data: str) -> Dict[str, tuple]:
    mine, theirs = sequence_spread(ckpt, data), sequence_spread(baseline, data)
    out = {}
    for key in ("shape", "texture"):
        diff = paired_bootstrap(mine[key], theirs[key], mine["sequences"])  # baseline minus model
        out[key] = (float(mine[key].mean()), float(theirs[key].mean()), *diff)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.appearance_card", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    u = sub.add_parser("uncertainty", help="AMVUR: variance against error, hidden against seen joints")
    u.add_argument("--ckpt", required=True)
    u.add_argument("--data", required=True)
    c = sub.add_parser("consistency", help="S2HAND(V) against S2HAND: shape and texture spread over sequences")
    c.add_argument("--ckpt", required=True)
    c.add_argument("--baseline", required=True)
    c.add_argument("--data", required=True)
    args = ap.parse_args(argv)
    if args.what == "uncertainty":
        for key, value in uncertainty(args.ckpt, args.data).items():
            print(f"{key:28s} {value:.4f}")
    else:
        print(f"{'':8s} {'model':>8s} {'baseline':>9s}  baseline - model (95% interval over sequences)")
        for key, (a, b, mean, low, high) in consistency(args.ckpt, args.baseline, args.data).items():
            print(f"{key:8s} {a:8.4f} {b:9.4f}  {mean:+.4f} ({low:+.4f} to {high:+.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
