"""Evaluate a checkpoint on a synthetic set, in mm.

BlurHandNet: MPJPE initial / middle / final and MPVPE (middle), wrist-aligned, the ends scored
order-invariantly (paper 000, section 4; spec 1.6). The video models (Deformer, SeqHAND) run over each test
sequence the way the worker runs them on footage (sliding blended windows; a state carried frame to frame)
and are scored on every frame's middle time: MPJPE, PA-MPJPE, MPJPE on frames where at least 30% of the
joints are hidden, and acceleration error. The keypoint network: its 2D error (crop and image pixels) and
its depth error relative to the wrist, on seen and on hidden joints."""
from __future__ import annotations

from typing import Dict

import numpy as np
import torch

from inference.models.output import load_model
from scenes.dataset import SyntheticDataset

from . import metrics
from .data import BlurHandSamples, CropSpec

OCCLUDED_SHARE = 0.3  # a frame is "occluded" when at least this share of its joints is hidden


@torch.no_grad()
def evaluate(ckpt: str, data: str, batch_size: int = 16, device: str = "cpu") -> Dict[str, float]:
    """Scores on a synthetic set; the network's MANO layer is the set's own built-in hand (its manifest says
    which), so a hand whose proportions differ is scored on its own joints."""
    from addon.common.hand_model import find_hand_model

    hand = SyntheticDataset(data).manifest.get("settings", {}).get("hand") or "open"
    model = load_model(ckpt, hand_model=find_hand_model("right", hand=hand)).to(device)
    if model.model_name == "keypoints":
        return evaluate_keypoints(model, data, batch_size, device)
    if model.temporal_mode != "frame":
        return evaluate_clips(model, data, device)
    cfg = model.config
    spec = CropSpec(image_size=cfg.image_size, heatmap_size=cfg.image_size // 8,
                    depth_bins=getattr(cfg, "heatmap_depth", 32), depth_range_m=getattr(cfg, "depth_range_m", 0.3))
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
    resampling whole test sequences (video models: also PA-MPJPE, occluded frames and acceleration error)."""
    groups = result.get("groups")
    if groups is None:
        groups = np.arange(len(result["per_frame_middle"])) // int(result["frames_per_sequence"])
    rows = [("middle MPJPE", "per_frame_middle", None)]
    if "video_model" in result:
        rows += [("PA-MPJPE", "per_frame_pa", None), ("MPJPE, occluded frames", "per_frame_middle", "occluded")]
    out = []
    for name, key, mask in rows:
        keep = result[mask] if mask else np.ones(len(groups), bool)
        mean, low, high = metrics.paired_bootstrap(result[key][keep], baseline[key][keep], groups[keep])
        out.append(f"{name}: baseline - model = {mean:+.2f} mm (95% interval {low:+.2f} .. {high:+.2f} mm, "
                   f"resampling {len(np.unique(groups[keep]))} sequences)")
    if "video_model" in result:
        seqs = np.arange(len(result["per_sequence_accel"]))
        mean, low, high = metrics.paired_bootstrap(result["per_sequence_accel"], baseline["per_sequence_accel"], seqs)
        out.append(f"acceleration error: baseline - model = {mean:+.2f} mm/frame^2 (95% interval {low:+.2f} .. "
                   f"{high:+.2f})")
    return "\n".join(out)


@torch.no_grad()
def evaluate_clips(model, data: str, device: str = "cpu") -> Dict[str, float]:
    """A video model over every sequence of ``data``, crops cut around each frame's true joints (a perfect
    detector), through the same runner as the worker."""
    from inference.runners import make_runner

    from .data import CropSpec, crop_sample

    raw = SyntheticDataset(data)
    spec = CropSpec(image_size=model.config.image_size)
    by_sequence: Dict[int, list] = {}
    for i in range(len(raw)):
        lab = raw.labels(i)
        by_sequence.setdefault(int(lab["sequence"]), []).append((int(lab["frame"]), i))
    pred_j, true_j, hidden, groups, accel = [], [], [], [], []
    for seq, items in sorted(by_sequence.items()):
        runner = make_runner(model, torch.device(device))
        outputs = []
        for frame, i in sorted(items):
            outputs += runner.push(frame, crop_sample(raw[i], spec)["image"].numpy())
        outputs += runner.flush()
        pose = torch.from_numpy(np.stack([o.pose[0] for o in outputs])).float()
        betas = torch.from_numpy(np.stack([o.betas[0] for o in outputs])).float()
        joints = model.mano(pose[:, :3], pose[:, 3:], betas).joints.numpy()
        labels = [raw.labels(i) for _, i in sorted(items)]
        truth = np.stack([lab["joints3d"][len(lab["joints3d"]) // 2] for lab in labels])
        pred_j.append(joints)
        true_j.append(truth)
        hidden.append(np.array([1 - lab["visible"].mean() for lab in labels]))
        groups.append(np.full(len(items), seq))
        accel.append(metrics.acceleration_error(joints, truth))
    pj, gj, hid = np.concatenate(pred_j), np.concatenate(true_j), np.concatenate(hidden)
    per_frame = metrics.point_errors(pj, gj).mean(-1)
    occluded = hid >= OCCLUDED_SHARE
    return {
        "per_frame_middle": per_frame, "groups": np.concatenate(groups),
        "per_frame_pa": metrics.point_errors(pj, gj, align="procrustes").mean(-1),
        "per_sequence_accel": np.array(accel), "occluded": occluded,
        "frames_per_sequence": float(raw.manifest["frames_per_sequence"]),
        "middle_mpjpe": float(per_frame.mean()),
        "middle_pa_mpjpe": metrics.mpjpe(pj, gj, align="procrustes"),
        "occluded_mpjpe": float(per_frame[occluded].mean()) if occluded.any() else float("nan"),
        "occluded_share": float(occluded.mean()),
        "acceleration_error": float(np.mean(accel)),
        "samples": float(len(pj)),
        "video_model": 1.0,
    }


def clip_table(result: Dict[str, float]) -> str:
    return ("MPJPE mm | PA-MPJPE mm | MPJPE on occluded frames mm (share) | accel. error mm/frame^2\n"
            f"{result['middle_mpjpe']:8.2f} | {result['middle_pa_mpjpe']:11.2f} | {result['occluded_mpjpe']:8.2f} "
            f"({result['occluded_share']:.0%})                | {result['acceleration_error']:8.2f}")


@torch.no_grad()
def evaluate_keypoints(model, data: str, batch_size: int = 16, device: str = "cpu") -> Dict[str, float]:
    """The keypoint network on every frame of ``data``, cropped around the true joints as training crops
    (without jitter): middle-time 2D error and depth error (relative to the wrist), seen and hidden joints."""
    from inference.models.keypoints import STRIDE

    from .keypoint_losses import depth_targets, keypoint_targets

    spec = CropSpec(image_size=model.config.image_size, heatmap_size=model.config.image_size // STRIDE)
    samples = BlurHandSamples(data, spec)
    raw = SyntheticDataset(data)
    px, mm, image_px = [], [], []
    for batch in torch.utils.data.DataLoader(samples, batch_size=batch_size):
        out = model(batch["image"].to(device))
        px.append(torch.linalg.norm(out.keypoints.cpu() - keypoint_targets(batch, STRIDE), dim=-1).numpy())
        mm.append((out.depth.cpu() - depth_targets(batch)).abs().numpy() * 1000)
        image_px.append(px[-1] * (batch["box"][:, 2:3].numpy() / spec.image_size))  # crop pixels -> image pixels
    px, mm, image_px = np.concatenate(px), np.concatenate(mm), np.concatenate(image_px)
    seen = np.stack([raw.labels(i)["visible"] for i in range(len(raw))]).astype(bool)
    return {"keypoint_model": 1.0, "samples": float(len(px)), "crop_px": float(px.mean()),
            "crop_px_median": float(np.median(px)), "image_px": float(image_px.mean()),
            "crop_px_seen": float(px[seen].mean()), "crop_px_hidden": float(px[~seen].mean()) if (~seen).any()
            else float("nan"), "depth_mm": float(mm[:, 1:].mean()), "depth_mm_seen": float(mm[:, 1:][seen[:, 1:]].mean()),
            "hidden_share": float((~seen).mean()), "image_size": float(spec.image_size)}


def keypoint_table(result: Dict[str, float]) -> str:
    return (f"2D error, {result['image_size']:.0f} px crop: mean {result['crop_px']:.2f} px (median "
            f"{result['crop_px_median']:.2f}; seen joints {result['crop_px_seen']:.2f}, hidden "
            f"{result['crop_px_hidden']:.2f}, {result['hidden_share']:.0%} hidden); in the set's images "
            f"{result['image_px']:.2f} px\ndepth relative to the wrist: mean error {result['depth_mm']:.1f} mm "
            f"(seen joints {result['depth_mm_seen']:.1f} mm); {result['samples']:.0f} frames")
