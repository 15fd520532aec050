"""Which hand is it? Decided per track by the detector's labels where they are consistent, else by geometry
with the labels as a second opinion; where two hands are seen together, their places in the image weigh in.

The 2D keypoints alone cannot tell a right hand from a left one: a mirror image in depth projects to the
same points. What they do fix, for each hand model, is the orientation that explains them. The network,
which sees the hand's appearance (nails, palm), gives its own orientation for the crop read as a right hand
and for the mirrored crop read as a left hand. For the true side the two orientations agree (on the sample
clip the median gap is about 40 degrees); for the wrong side they are about opposite (about 170 degrees):
the palm that the keypoints put toward the camera is, to the network, a back. So each side is fitted to the
keypoints of a few frames spread over the track, and the side whose fitted orientations are closer to the
network's wins. The network learnt from renders, though, and on real hands the detector's own labels, where
they agree over the track, are the better evidence (``docs/pipeline.md``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import numpy as np
import torch

from addon.common.hand_model import HandModel
from addon.common.rotations import axis_angle_to_matrix

from .crop import crop_affine, normalise
from .detect import Detection
from .fit import FitSettings, FitWeights, fit_frames
from .placement import place_hands
from .records import FrameHands
from .runners import predict_independent
from .tracking import Track

# How much each kind of evidence counts. The detector's handedness labels were learnt on real hands and are
# reliable where they are consistent and confident over a track (``Track.label_evidence`` at least
# ``LABELS_RELIABLE``: on the real photos they are, and right; on the project's renders MediaPipe's labels are
# less sure and flip, while the network's orientation, learnt on renders, is right there and wrong on real hands).
# Reliable labels decide, the geometry second; otherwise the geometry decides, the labels second. The position is
# weak: a person facing the camera holds the right hand on the image's left, but hands cross.
GEOMETRY_WEIGHT, DETECTOR_WEIGHT = 1.0, 0.3
RELIABLE_DETECTOR_WEIGHT, GEOMETRY_WEIGHT_BESIDE_IT = 1.0, 0.3
LABELS_RELIABLE = 0.9
POSITION_WEIGHT = 0.2
UNCERTAIN_BELOW = 0.15  # |combined evidence| under this: the job log warns that the side is a guess
SIDE_FIT_FRAMES = 6  # frames per track fitted as each side
# Short fits, without the network's priors: only the keypoints decide each side's orientation.
SIDE_FIT = FitSettings(FitWeights(pose_prior=0.0, orient_prior=0.0), iterations=30, start_iterations=15, lr=0.03,
                       lr_end=0.03)


@dataclass
class SideCrop:
    """A detected hand's crop for the side decision: as the network sees a right hand, and mirrored."""

    detection: Detection
    crop: np.ndarray
    mirrored: np.ndarray


def orientation_gap_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles (degrees) between axis-angle rotations a (..., 3) and b (..., 3)."""
    r = np.swapaxes(axis_angle_to_matrix(a), -1, -2) @ axis_angle_to_matrix(b)
    return np.degrees(np.arccos(np.clip((np.trace(r, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0)))


@dataclass
class SideEvidence:
    gap_deg: Dict[str, float]  # per side: median gap between the keypoint fit's and the network's orientation
    geometry: float  # in [-1, 1], > 0 for right: the mean of (gap left - gap right) / 180 over frames
    detector: float  # in [-1, 1], > 0 for right: the detector's labels (``Track.label_evidence``)
    frames: int
    position: float = 0.0  # in [-1, 1], > 0 for right: left of the other hand in the image (two hands at once)

    @property
    def reliable(self) -> bool:
        """The detector's labels are consistent and confident over the track."""
        return abs(self.detector) >= LABELS_RELIABLE

    @property
    def combined(self) -> float:
        geometry, detector = (GEOMETRY_WEIGHT_BESIDE_IT, RELIABLE_DETECTOR_WEIGHT) if self.reliable else \
            (GEOMETRY_WEIGHT, DETECTOR_WEIGHT)
        return (geometry * self.geometry + detector * self.detector + POSITION_WEIGHT * self.position) / \
            (geometry + detector + POSITION_WEIGHT)

    @property
    def side(self) -> str:
        return "right" if self.combined >= 0 else "left"

    @property
    def uncertain(self) -> bool:
        return abs(self.combined) < UNCERTAIN_BELOW

    def describe(self) -> str:
        where = f", position {self.position:+.0f}" if self.position else ""
        if not self.frames:
            return f"{self.side} (detector labels {self.detector:+.2f}, reliable{where})"
        return (f"{self.side} (detector labels {self.detector:+.2f}, unsure; geometry {self.geometry:+.2f} over "
                f"{self.frames} frames: fitted-vs-network orientation gap {self.gap_deg['right']:.0f} deg as a right "
                f"hand, {self.gap_deg['left']:.0f} deg as a left hand{where})")


def weigh_evidence(gaps: Dict[str, np.ndarray], detector: float, position: float = 0.0) -> SideEvidence:
    """Per-frame orientation gaps (degrees) of each side's fit, the detector's labels (in [-1, 1], > 0 for right)
    and the hand's place beside another one."""
    frames = len(gaps["right"])
    geometry = float(np.mean((gaps["left"] - gaps["right"]) / 180.0)) if frames else 0.0
    return SideEvidence({s: float(np.median(g)) if len(g) else float("nan") for s, g in gaps.items()}, geometry,
                        float(detector), frames, position)


def position(track: Track, others: List[Track]) -> float:
    """+1 where ``track`` is the hand on the image's left of two seen together (a right hand, for a person
    facing the camera), -1 on the right, 0 without another hand at the same time."""
    for other in others:
        shared = sorted(set(track.detections) & set(other.detections))
        if shared:
            x = [np.median([t.detections[f].keypoints[:, 0].mean() for f in shared]) for t in (track, other)]
            return 1.0 if x[0] < x[1] else -1.0
    return 0.0


def sample_frames(frames: List[int], count: int) -> List[int]:
    """Up to ``count`` frames spread evenly over a track's frames."""
    frames = sorted(frames)
    if len(frames) <= count:
        return frames
    return [frames[i] for i in np.linspace(0, len(frames) - 1, count).round().astype(int)]


def side_gaps(crops: List[SideCrop], frames: List[int], net, models: Dict[str, HandModel], k: np.ndarray,
              device: torch.device) -> Dict[str, np.ndarray]:
    """Per side, the gap (degrees) between the orientation fitted to each crop's keypoints and the network's
    orientation for the crop read as that side."""
    size = net.config.image_size
    outputs = predict_independent(net, np.stack([normalise(c.crop) for c in crops] +
                                                [normalise(c.mirrored) for c in crops]), device)
    gaps = {}
    for h, side in enumerate(("right", "left")):
        records = []
        for i, (f, c) in enumerate(zip(frames, crops)):
            o = outputs[h * len(crops) + i]
            affine = crop_affine(c.detection.box, size, mirror=side == "left")
            hands = place_hands(o.pose, o.betas, o.joints2d, affine, side == "left", c.detection.keypoints,
                                models[side], k)
            records.append(FrameHands(f, [hands[len(hands) // 2]], c.detection.keypoints, np.ones(21)))
        fit = fit_frames(records, models[side], models["right"], k, SIDE_FIT, device)
        gaps[side] = orientation_gap_deg(fit.pose[:, :3], np.stack([r.times[0].pose[:3] for r in records]))
    return gaps


def side_evidence(track: Track, crops: Dict[int, SideCrop], others: List[Track], net, models: Dict[str, HandModel],
                  k: np.ndarray, device: torch.device) -> SideEvidence:
    """What tells a track's side: its detector labels, the geometry of a few of its ``crops`` (frame -> crop),
    and its place beside ``others``. Reliable labels outweigh everything else together, so then the geometry's
    fits are skipped."""
    labels, where = track.label_evidence(), position(track, others)
    frames = sample_frames(list(crops), SIDE_FIT_FRAMES)
    if abs(labels) >= LABELS_RELIABLE or not frames:
        return weigh_evidence({"right": np.array([]), "left": np.array([])}, labels, where)
    return weigh_evidence(side_gaps([crops[f] for f in frames], frames, net, models, k, device), labels, where)
