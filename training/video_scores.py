"""Scores of a video run against the truth of its footage (numpy only): does the hand in the result do what
the hand in the video does?

The truth is either a motion-sequence file (a rendered clip's MANO motion: 2D and 3D scores) or a keypoint
file (``frames`` (T,) and ``keypoints`` (T, 21, 2) pixels in MANO-21 order, e.g. hand-labelled footage:
2D scores only). Samples are compared at whole footage frames (BlurHandNet's sub-frame keys are skipped).

- side: the run's handedness against the truth's;
- 2D: pixel error of the 21 projected joints (each file projects with its own intrinsics), all-joint mean
  and wrist median;
- 3D: wrist-aligned MPJPE and PA-MPJPE (mm), and the wrist's depth error (mm);
- finger curl: per finger and frame, the angle between the proximal bone (MCP -> PIP; thumb MCP -> IP) and
  the distal one (DIP -> tip; thumb IP -> tip); the share of finger-frames within ``curl_tolerance_deg``
  of the truth, and of those beyond it, how many are fitted more curled than the truth and how many less;
- jitter: the mean acceleration of the root-relative joints over runs of consecutive frames (the second
  difference, mm per frame^2), the run's over the truth's on the same frames (1: as steady as the motion).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Optional

import numpy as np

from addon.common.hand_model import HandModel, find_hand_model
from addon.common.joints import MANO_21, TIP_VERTEX_IDS
from addon.common.lbs import lbs
from addon.common.motion_sequence import MotionSequence

from .metrics import point_errors

# (proximal start, proximal end, distal start, distal end) per finger, MANO-21 names.
CURL_BONES = {
    "thumb": ("thumb2", "thumb3", "thumb3", "thumb4"),
    "index": ("index1", "index2", "index3", "index4"),
    "middle": ("middle1", "middle2", "middle3", "middle4"),
    "ring": ("ring1", "ring2", "ring3", "ring4"),
    "pinky": ("pinky1", "pinky2", "pinky3", "pinky4"),
}
_IDX = {n: i for i, n in enumerate(MANO_21)}
TIPS = [TIP_VERTEX_IDS[n] for n in MANO_21[16:]]


@dataclass
class VideoScore:
    side_ok: bool
    frames: int  # footage frames scored (in both files)
    joint_px_mean: float
    wrist_px_median: float
    mpjpe_mm: Optional[float] = None  # wrist-aligned
    pa_mpjpe_mm: Optional[float] = None
    depth_mm: Optional[float] = None  # wrist depth, mean absolute
    curl_ok_share: Optional[float] = None  # share of finger-frames within the tolerance
    curl_err_deg: Optional[float] = None  # mean absolute curl error
    # finger-frames beyond the tolerance, the fit's finger more curled than the truth's / less curled
    curl_too_bent: Optional[int] = None
    curl_too_straight: Optional[int] = None
    jitter_ratio: Optional[float] = None  # the run's root-relative joint acceleration over the truth's

    def as_dict(self) -> Dict[str, object]:
        return asdict(self)

    def line(self) -> str:
        parts = [f"side {'ok' if self.side_ok else 'WRONG'}", f"{self.frames} frames",
                 f"joints {self.joint_px_mean:.1f} px (wrist median {self.wrist_px_median:.1f} px)"]
        if self.pa_mpjpe_mm is not None:
            parts += [f"MPJPE {self.mpjpe_mm:.1f} mm", f"PA-MPJPE {self.pa_mpjpe_mm:.1f} mm",
                      f"depth {self.depth_mm:.0f} mm",
                      f"curl within tolerance {100 * self.curl_ok_share:.0f}% (mean error {self.curl_err_deg:.0f} deg; "
                      f"beyond it, {self.curl_too_bent} finger-frames fitted too bent, {self.curl_too_straight} "
                      "too straight)", f"jitter {self.jitter_ratio:.2f}x the truth's"]
        return ", ".join(parts)


def sequence_joints(seq: MotionSequence, model: HandModel) -> np.ndarray:
    """(T, 21, 3) camera-space MANO-21 joints of every sample."""
    out = lbs(seq.betas, seq.full_pose, model.v_template, model.shapedirs, model.posedirs, model.J_regressor,
              model.parents, model.weights, seq.transl)
    return np.concatenate([out.joints, out.vertices[:, TIPS]], axis=1)


def project(points: np.ndarray, k: np.ndarray) -> np.ndarray:
    uvw = points @ np.asarray(k).T
    return uvw[..., :2] / uvw[..., 2:]


def truth_pixels(truth: MotionSequence, hand: str = "open") -> np.ndarray:
    """(T, 21, 2) a motion truth's joints projected into its footage, on the built-in ``hand`` it shows."""
    return project(sequence_joints(truth, find_hand_model(truth.handedness, hand=hand)), truth.camera_matrix)


def finger_curls(joints: np.ndarray) -> np.ndarray:
    """(..., 21, 3) -> (..., 5) curl angles in degrees (thumb, index, middle, ring, pinky)."""
    out = []
    for a, b, c, d in CURL_BONES.values():
        u = joints[..., _IDX[b], :] - joints[..., _IDX[a], :]
        v = joints[..., _IDX[d], :] - joints[..., _IDX[c], :]
        cos = (u * v).sum(-1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-12)
        out.append(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    return np.stack(out, -1)


def whole_frames(frames: np.ndarray) -> np.ndarray:
    return np.isclose(frames, np.round(frames), atol=1e-6)


def joint_acceleration(joints: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """(T, 21, 3) joints at whole footage ``frames`` (T,) -> the root-relative joints' acceleration (mm per
    frame^2, one value per joint) at every frame whose neighbours on both sides are consecutive frames."""
    rel = (joints - joints[:, :1]) * 1000.0
    inner = (frames[1:-1] - frames[:-2] == 1) & (frames[2:] - frames[1:-1] == 1)
    acc = rel[2:] - 2 * rel[1:-1] + rel[:-2]
    return np.linalg.norm(acc[inner], axis=-1)


def jitter_ratio(pred: np.ndarray, gt: np.ndarray, frames: np.ndarray) -> Optional[float]:
    """The run's mean root-relative joint acceleration over the truth's, on the same frames."""
    truth = joint_acceleration(gt, frames)
    return float(joint_acceleration(pred, frames).mean() / truth.mean()) if truth.size and truth.mean() > 0 else None


def score_against_motion(run: MotionSequence, run_model: HandModel, truth: MotionSequence, truth_model: HandModel,
                         curl_tolerance_deg: float = 25.0) -> VideoScore:
    """A run against motion truth (both motion-sequence files of the same footage)."""
    keep = whole_frames(run.frames)
    run_frames = np.round(run.frames[keep])
    common, at_run, at_truth = np.intersect1d(run_frames, np.round(truth.frames), return_indices=True)
    if len(common) == 0:
        raise ValueError("the run and the truth share no footage frame")
    pred = sequence_joints(run, run_model)[keep][at_run]
    gt = sequence_joints(truth, truth_model)[at_truth]
    px = np.linalg.norm(project(pred, run.camera_matrix) - project(gt, truth.camera_matrix), axis=-1)
    signed = finger_curls(pred) - finger_curls(gt)
    curl = np.abs(signed)
    return VideoScore(
        side_ok=run.handedness == truth.handedness, frames=len(common), joint_px_mean=float(px.mean()),
        wrist_px_median=float(np.median(px[:, 0])), mpjpe_mm=float(point_errors(pred, gt, "root").mean()),
        pa_mpjpe_mm=float(point_errors(pred, gt, "procrustes").mean()),
        depth_mm=float(1000 * np.abs(pred[:, 0, 2] - gt[:, 0, 2]).mean()),
        curl_ok_share=float((curl <= curl_tolerance_deg).mean()), curl_err_deg=float(curl.mean()),
        curl_too_bent=int((signed > curl_tolerance_deg).sum()),
        curl_too_straight=int((signed < -curl_tolerance_deg).sum()), jitter_ratio=jitter_ratio(pred, gt, common))


def score_against_keypoints(run: MotionSequence, run_model: HandModel, frames: np.ndarray, keypoints: np.ndarray,
                            handedness: Optional[str] = None) -> VideoScore:
    """A run against 2D keypoint truth: ``keypoints`` (T, 21, 2) pixels, MANO-21 order, at footage
    ``frames`` (the run's Blender frames, i.e. footage frame + 1 by default)."""
    keep = whole_frames(run.frames)
    common, at_run, at_truth = np.intersect1d(np.round(run.frames[keep]), np.round(frames), return_indices=True)
    if len(common) == 0:
        raise ValueError("the run and the truth share no footage frame")
    pred = project(sequence_joints(run, run_model)[keep][at_run], run.camera_matrix)
    px = np.linalg.norm(pred - np.asarray(keypoints)[at_truth], axis=-1)
    return VideoScore(side_ok=handedness is None or run.handedness == handedness, frames=len(common),
                      joint_px_mean=float(px.mean()), wrist_px_median=float(np.median(px[:, 0])))


def mirror_truth(truth: MotionSequence) -> MotionSequence:
    """The truth of the left-right mirrored footage: a left hand, x mirrored about the principal point."""
    from addon.common.rotations import mirror_axis_angle

    k = truth.camera_matrix.copy()
    width = int(truth.image_size[0])
    k[0, 2] = width - k[0, 2]
    pose = mirror_axis_angle(truth.full_pose)
    return MotionSequence(frames=truth.frames, global_orient=pose[:, :3], hand_pose=pose[:, 3:], betas=truth.betas,
                          transl=truth.transl * np.array([-1.0, 1.0, 1.0]),
                          handedness="left" if truth.handedness == "right" else "right", fps=truth.fps,
                          model=truth.model, camera_matrix=k, image_size=truth.image_size)


def summarise(scores: List[VideoScore]) -> str:
    return "\n".join(s.line() for s in scores)
