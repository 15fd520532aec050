"""Evaluate a BlurHandNet checkpoint on a synthetic set: MPJPE initial / middle / final and MPVPE (middle),
wrist-aligned, in mm, with the ends scored order-invariantly (paper 000, section 4; spec 1.6)."""
from __future__ import annotations

from typing import Dict

import numpy as np
import torch

from inference.models.output import load_model
from scenes.dataset import SyntheticDataset

from . import metrics
from .data import BlurHandSamples, CropSpec


@torch.no_grad()
def evaluate(ckpt: str, data: str, batch_size: int = 16, device: str = "cpu") -> Dict[str, float]:
    """Scores on a synthetic set; the network's MANO layer is the set's own built-in hand (its manifest says
    which), so a hand whose proportions differ is scored on its own joints."""
    from addon.common.hand_model import find_hand_model

    hand = SyntheticDataset(data).manifest.get("settings", {}).get("hand") or "open"
    model = load_model(ckpt, expect="blurhandnet", hand_model=find_hand_model("right", hand=hand)).to(device)
    cfg = model.config
    spec = CropSpec(image_size=cfg.image_size, heatmap_size=cfg.image_size // 8, depth_bins=cfg.heatmap_depth,
                    depth_range_m=cfg.depth_range_m)
    samples = BlurHandSamples(data, spec)
    raw = SyntheticDataset(data)
    loader = torch.utils.data.DataLoader(samples, batch_size=batch_size)
    pj, pv, i = [], [], 0
    for batch in loader:
        out = model(batch["image"].to(device))
        pj.append(out.joints.cpu().numpy())
        pv.append(out.vertices.cpu().numpy())
        i += len(batch["image"])
    pj, pv = np.concatenate(pj), np.concatenate(pv)  # (N, T, 21, 3), (N, T, 778, 3)
    labels = [raw.labels(k) for k in range(len(raw))]
    gj = np.stack([lab["joints3d"] for lab in labels])  # (N, L, 21, 3)
    gv = np.stack([lab["vertices"] for lab in labels])
    if gj.shape[1] == 1:
        gj, gv = np.repeat(gj, 3, 1), np.repeat(gv, 3, 1)
    mid = 1 if pj.shape[1] == 3 else 0
    result = {
        "per_frame_middle": metrics.point_errors(pj[:, mid], gj[:, 1]).mean(-1),  # (N,) mm
        "frames_per_sequence": float(raw.manifest["frames_per_sequence"]),
        "middle_mpjpe": metrics.mpjpe(pj[:, mid], gj[:, 1]),
        "middle_mpvpe": metrics.mpvpe(pv[:, mid], gv[:, 1], pred_root=pj[:, mid, 0], gt_root=gj[:, 1, 0]),
        "middle_pa_mpjpe": metrics.mpjpe(pj[:, mid], gj[:, 1], align="procrustes"),
        "samples": float(len(pj)),
    }
    if pj.shape[1] == 3:
        ends = metrics.order_invariant_ends(pj[:, 0], pj[:, 2], gj[:, 0], gj[:, 2])
        result["initial_mpjpe"] = float(ends["initial"].mean())
        result["final_mpjpe"] = float(ends["final"].mean())
    return result


def table(result: Dict[str, float]) -> str:
    """The paper's layout: MPJPE initial / middle / final, then MPVPE of the middle hand (and, beyond the
    paper's table, the middle hand's MPJPE after Procrustes alignment: articulation without orientation)."""
    f = lambda k: f"{result[k]:8.2f}" if k in result else "       -"  # noqa: E731
    return ("          initial   middle    final  | MPVPE middle | PA-MPJPE middle\n"
            f"MPJPE mm {f('initial_mpjpe')} {f('middle_mpjpe')} {f('final_mpjpe')}  | {f('middle_mpvpe')}     |"
            f" {f('middle_pa_mpjpe')}")


def compare(result: Dict[str, float], baseline: Dict[str, float]) -> str:
    """The model's middle-hand MPJPE against a baseline's on the same frames, with a 95% interval from
    resampling whole test sequences."""
    groups = np.arange(len(result["per_frame_middle"])) // int(result["frames_per_sequence"])
    mean, low, high = metrics.paired_bootstrap(result["per_frame_middle"], baseline["per_frame_middle"], groups)
    return (f"middle MPJPE: baseline - model = {mean:+.2f} mm (95% interval {low:+.2f} .. {high:+.2f} mm, "
            f"resampling {groups.max() + 1} sequences)")
