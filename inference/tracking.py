"""Per-frame detections -> one track per hand, frame by frame as the footage streams in, with a stable side and
smooth crop boxes.

A detection joins the live track whose last box is nearest (within one box side); others start tracks, up to
the hands a frame may hold. A track is a hand once it has been seen in ``confirm`` frames; one that dies
before that was a detector glitch. Detectors label handedness frame by frame and sometimes flip it; a track
keeps one side for its whole life (decided once, ``side.py``), so a hand never swaps rig half-way. Boxes are
smoothed with a Gaussian over the frames where the hand was seen; a frame's box is final once the track has
been followed ``SMOOTH_REACH`` frames past it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

from .detect import Detection, distinct

BOX_SIGMA = 1.5  # frames: the box smoothing's Gaussian
SMOOTH_REACH = int(np.ceil(3 * BOX_SIGMA))  # frames after a frame whose boxes its smoothed box takes in


@dataclass(eq=False)  # tracks are compared by identity (their detections hold arrays)
class Track:
    detections: Dict[int, Detection] = field(default_factory=dict)
    side: str = "right"

    @property
    def first_frame(self) -> int:
        return min(self.detections)

    @property
    def last_frame(self) -> int:
        return max(self.detections)

    def votes(self) -> Dict[str, float]:
        out = {"right": 0.0, "left": 0.0}
        for d in self.detections.values():
            out[d.side] += d.score
        return out

    def label_evidence(self) -> float:
        """The detector's handedness labels as evidence in [-1, 1], > 0 for right: the mean over the track's
        frames of +-(2 score - 1). Near +-1 only where the labels are both consistent and confident."""
        if not self.detections:
            return 0.0
        return float(np.mean([(1.0 if d.side == "right" else -1.0) * (2 * d.score - 1)
                              for d in self.detections.values()]))

    def smoothed_box(self, frame: int, sigma: float = BOX_SIGMA) -> np.ndarray:
        """The (x0, y0, side) box of ``frame`` (one the hand was seen in), smoothed over its neighbours."""
        near = [f for f in range(frame - SMOOTH_REACH, frame + SMOOTH_REACH + 1) if f in self.detections]
        frames = np.array(near, dtype=np.float64)
        boxes = np.array([self.detections[f].box for f in near])
        state = np.concatenate([boxes[:, :2] + boxes[:, 2:] / 2, boxes[:, 2:]], 1)  # centre x, y, side
        w = np.exp(-0.5 * ((frames - frame) / sigma) ** 2)
        c = (w[:, None] * state).sum(0) / w.sum()
        return np.array([c[0] - c[2] / 2, c[1] - c[2] / 2, c[2]])


def _centre(box: np.ndarray) -> np.ndarray:
    return box[:2] + box[2] / 2


class OnlineTracker:
    """Detections in, frame by frame; tracks out. ``one_hand``: the footage shows one hand, so each frame's
    best detection is that hand, whatever its label says."""

    def __init__(self, max_hands: int = 2, max_gap: int = 15, confirm: int = 3, one_hand: bool = False):
        self.max_hands, self.max_gap, self.confirm, self.one_hand = max_hands, max_gap, confirm, one_hand
        self.tracks: List[Track] = []

    def update(self, frame: int, found: List[Detection]) -> None:
        found = distinct(found)
        if self.one_hand:
            found = sorted(found, key=lambda d: -d.score)[:1]
        live = self.live(frame)
        pairs = []  # (distance in box sides, order, track, detection)
        for d in found:
            for t in live:
                prev = t.detections[t.last_frame]
                dist = np.linalg.norm(_centre(d.box) - _centre(prev.box)) / max(prev.box[2], 1.0)
                if dist < 1.0 or self.one_hand:
                    pairs.append((dist, len(pairs), t, d))
        used_t, used_d = set(), set()
        for _, _, t, d in sorted(pairs, key=lambda p: p[:2]):
            if id(t) in used_t or id(d) in used_d:
                continue
            t.detections[frame] = d
            used_t.add(id(t))
            used_d.add(id(d))
        in_frame = len(used_t)
        for d in sorted(found, key=lambda d: -d.score):
            if id(d) not in used_d and in_frame < (1 if self.one_hand else self.max_hands):
                self.tracks.append(Track({frame: d}))
                in_frame += 1

    def live(self, frame: int) -> List[Track]:
        return [t for t in self.tracks if frame - t.last_frame <= self.max_gap]

    def is_hand(self, track: Track) -> bool:
        """Seen in ``confirm`` frames: a hand, not a detector's glitch."""
        return len(track.detections) >= self.confirm


def confirm_frames(total: int) -> int:
    """Frames a track needs to be a hand: three, or one in footage of fewer than four frames (a photo)."""
    return 3 if total >= 4 else 1
