"""Evaluation metrics shared by all five models (spec section 6.2), in numpy. Inputs in metres, outputs in mm.

- MPJPE / MPVPE after root (wrist) alignment, or after Procrustes (similarity) alignment.
- PCK over thresholds and its normalised AUC over a configurable range (default 0-50 mm).
- F-score at 5 and 15 mm between vertex sets (FreiHAND protocol), after Procrustes alignment.
- Acceleration error (HMMR/VIBE), mm per frame squared.
- BlurHandNet's order-invariant end-hand errors: the better of the two pairings, per sample.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

MM = 1000.0


def root_align(x: np.ndarray, root: int = 0) -> np.ndarray:
    """(..., N, 3) minus its root point."""
    return x - x[..., root : root + 1, :]


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per sample, the similarity transform (s, R with det +1, t) of ``pred`` closest to ``gt`` (Umeyama)."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    mp, mg = pred.mean(-2, keepdims=True), gt.mean(-2, keepdims=True)
    p, g = pred - mp, gt - mg
    cov = np.einsum("...ni,...nj->...ij", g, p)
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones_like(s)
    fix[..., -1] = d
    r = u @ (fix[..., :, None] * vt)
    scale = (s * fix).sum(-1) / np.maximum((p**2).sum((-1, -2)), 1e-12)
    return scale[..., None, None] * np.einsum("...ij,...nj->...ni", r, p) + mg


def point_errors(pred: np.ndarray, gt: np.ndarray, align: str = "root") -> np.ndarray:
    """Per-point Euclidean errors in mm after ``align`` ('root', 'procrustes' or 'none')."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    if align == "root":
        pred, gt = root_align(pred), root_align(gt)
    elif align == "procrustes":
        pred = procrustes_align(pred, gt)
    elif align != "none":
        raise ValueError(f"unknown alignment {align!r}")
    return np.linalg.norm(pred - gt, axis=-1) * MM


def mpjpe(pred: np.ndarray, gt: np.ndarray, align: str = "root") -> float:
    return float(point_errors(pred, gt, align).mean())


def mpvpe(pred_verts: np.ndarray, gt_verts: np.ndarray, align: str = "root", pred_root=None, gt_root=None) -> float:
    """Vertex error; root alignment uses the given roots (the wrist joints) when passed, else vertex 0."""
    if align == "root" and pred_root is not None:
        pred_verts = pred_verts - pred_root[..., None, :]
        gt_verts = gt_verts - gt_root[..., None, :]
        align = "none"
    return float(point_errors(pred_verts, gt_verts, align).mean())


def pck_auc(errors_mm: np.ndarray, low: float = 0.0, high: float = 50.0, steps: int = 101) -> Tuple[np.ndarray, float]:
    """PCK at evenly spaced thresholds in [low, high] mm, and the normalised area under that curve."""
    thresholds = np.linspace(low, high, steps)
    e = np.asarray(errors_mm).reshape(-1)
    pck = (e[None, :] <= thresholds[:, None]).mean(axis=1)
    return pck, float(np.trapz(pck, thresholds) / (high - low))


def f_score(pred_verts: np.ndarray, gt_verts: np.ndarray, threshold_mm: float) -> float:
    """Mean over samples of the F-score at ``threshold_mm`` (nearest-neighbour precision/recall)."""
    pred, gt = np.asarray(pred_verts, dtype=np.float64), np.asarray(gt_verts, dtype=np.float64)
    if pred.ndim == 2:  # a single sample
        pred, gt = pred[None], gt[None]
    scores = []
    for p, g in zip(pred, gt):
        d = np.linalg.norm(p[:, None] - g[None], axis=-1) * MM
        precision = (d.min(axis=1) <= threshold_mm).mean()
        recall = (d.min(axis=0) <= threshold_mm).mean()
        scores.append(0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))
    return float(np.mean(scores))


def acceleration_error(pred_seq: np.ndarray, gt_seq: np.ndarray) -> float:
    """(T, N, 3) root-aligned sequences -> mean |second difference of pred - of gt| in mm / frame^2."""
    p, g = root_align(np.asarray(pred_seq)), root_align(np.asarray(gt_seq))
    acc_p = p[2:] - 2 * p[1:-1] + p[:-2]
    acc_g = g[2:] - 2 * g[1:-1] + g[:-2]
    return float(np.linalg.norm(acc_p - acc_g, axis=-1).mean() * MM)


def order_invariant_ends(pred_e1: np.ndarray, pred_e2: np.ndarray, gt_initial: np.ndarray, gt_final: np.ndarray,
                         align: str = "root") -> Dict[str, np.ndarray]:
    """BlurHandNet's end-hand errors: per sample, the pairing of (E1, E2) with (initial, final) of lower MPJPE.

    Returns per-sample initial and final errors (mm, mean over points) under the chosen pairing, and
    ``forward`` (True where E1 is the initial hand).
    """
    e = {k: point_errors(p, g, align).mean(-1) for k, (p, g) in {
        "11": (pred_e1, gt_initial), "22": (pred_e2, gt_final), "12": (pred_e1, gt_final), "21": (pred_e2, gt_initial),
    }.items()}
    forward = e["11"] + e["22"] <= e["12"] + e["21"]
    return {"initial": np.where(forward, e["11"], e["21"]), "final": np.where(forward, e["22"], e["12"]),
            "forward": forward}


def paired_bootstrap(errors_a: np.ndarray, errors_b: np.ndarray, groups: np.ndarray, resamples: int = 5000,
                     seed: int = 0) -> Tuple[float, float, float]:
    """Mean of (b - a) per sample and its 95% interval, resampling whole groups (e.g. sequences, whose frames
    are not independent): (mean, low, high). Positive means ``a`` has the lower error."""
    diff = np.asarray(errors_b, dtype=np.float64) - np.asarray(errors_a, dtype=np.float64)
    ids, inverse = np.unique(groups, return_inverse=True)
    sums = np.bincount(inverse, weights=diff)
    counts = np.bincount(inverse).astype(np.float64)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(ids), (resamples, len(ids)))
    means = sums[pick].sum(1) / counts[pick].sum(1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(diff.mean()), float(low), float(high)
