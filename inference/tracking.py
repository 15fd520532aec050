"""Per-frame detections -> one track per hand, with a stable side and smooth crop boxes.

Detectors label handedness frame by frame and sometimes flip it; a track keeps one side for its whole life
(the score-weighted vote of its frames), so a hand never swaps rig half-way. Boxes are smoothed with a
Gaussian over the frames where the hand was seen (offline, so without lag).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from .detect import Detection, distinct


@dataclass(eq=False)  # tracks are compared by identity (their detections hold arrays)
class Track:
    detections: Dict[int, Detection] = field(default_factory=dict)
    side: str = "right"

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


def _centre(box: np.ndarray) -> np.ndarray:
    return box[:2] + box[2] / 2


def build_tracks(frames: Sequence[List[Detection]], first_frame: int = 0, max_gap: int = 15,
                 max_hands: int = 2, min_share: float = 0.1) -> List[Track]:
    """``frames[i]`` holds the detections of footage frame ``first_frame + i``. Tracks seen in fewer than
    ``min_share`` of the frames (at least 2, in footage of four frames or more) are detector glitches and are
    dropped."""
    tracks: List[Track] = []
    for i, found in enumerate(frames):
        frame = first_frame + i
        found = distinct(found)
        live = [t for t in tracks if frame - t.last_frame <= max_gap]
        pairs = []  # (distance in box sides, track, detection)
        for d in found:
            for t in live:
                prev = t.detections[t.last_frame]
                dist = np.linalg.norm(_centre(d.box) - _centre(prev.box)) / max(prev.box[2], 1.0)
                if dist < 1.0:
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
            if id(d) not in used_d and in_frame < max_hands:
                tracks.append(Track({frame: d}))
                in_frame += 1
    # a few frames (a photo, a short burst) cannot tell a glitch from a hand: every hand found counts
    needed = max(2, int(np.ceil(min_share * len(frames)))) if len(frames) >= 4 else 1
    kept = [t for t in tracks if len(t.detections) >= needed]
    for glitch in (t for t in tracks if len(t.detections) < needed):
        for frame, d in glitch.detections.items():  # frames a glitch took from a real hand go back to it
            _give_back(kept, frame, d)
    tracks = kept
    for t in tracks:
        votes = t.votes()
        t.side = max(votes, key=votes.get)
    return one_track_per_side(tracks)


def _give_back(tracks: List[Track], frame: int, d: Detection) -> None:
    free = [t for t in tracks if frame not in t.detections]
    if not free:
        return
    def gap(t: Track) -> float:
        near = min(t.detections, key=lambda f: abs(f - frame))
        return np.linalg.norm(_centre(d.box) - _centre(t.detections[near].box)) / t.detections[near].box[2]
    best = min(free, key=gap)
    if gap(best) < 1.5:
        best.detections[frame] = d


def one_track_per_side(tracks: List[Track], strength: Optional[Callable[[Track], float]] = None) -> List[Track]:
    """Tracks of one side that never overlap in time are the same hand lost and found: merge them.
    Where two overlap, the weaker one (by ``strength``, default: its detector votes) is the other hand."""
    merged: Dict[str, Track] = {}
    strength = strength or (lambda t: sum(t.votes().values()))
    for t in sorted(tracks, key=lambda t: -strength(t)):
        side = t.side
        if side in merged and set(merged[side].detections) & set(t.detections):
            side = "left" if side == "right" else "right"
            if side in merged and set(merged[side].detections) & set(t.detections):
                continue  # a third hand: ignored
        if side in merged:
            merged[side].detections.update(t.detections)
        else:
            merged[side] = Track(dict(t.detections), side)
    return [merged[s] for s in ("right", "left") if s in merged]


def smooth_boxes(track: Track, sigma: float = 1.5) -> Dict[int, np.ndarray]:
    """Frame -> smoothed (x0, y0, side) box, over the frames where the hand was seen."""
    frames = np.array(sorted(track.detections))
    boxes = np.array([track.detections[f].box for f in frames])
    state = np.concatenate([boxes[:, :2] + boxes[:, 2:] / 2, boxes[:, 2:]], 1)  # centre x, y, side
    out = {}
    for i, f in enumerate(frames):
        w = np.exp(-0.5 * ((frames - f) / sigma) ** 2)
        w[np.abs(frames - f) > 3 * sigma] = 0
        c = (w[:, None] * state).sum(0) / w.sum()
        out[int(f)] = np.array([c[0] - c[2] / 2, c[1] - c[2] / 2, c[2]])
    return out


def select_hands(tracks: List[Track], hands: Optional[Sequence[str]]) -> List[Track]:
    """Keep the requested sides (None or empty: every hand found)."""
    return [t for t in tracks if not hands or t.side in hands]


def one_hand_tracks(frames: Sequence[List[Detection]], side: str, first_frame: int = 0) -> List[Track]:
    """The user says the footage shows one hand of ``side``: the best detection of each frame is that hand,
    whatever the detector's per-frame handedness label says (labels flip on hard frames; each detection keeps
    its own, which tells the fit where the detector took the hand for its mirror image)."""
    best = [[max(found, key=lambda d: d.score)] if found else [] for found in frames]
    tracks = build_tracks(best, first_frame=first_frame, max_hands=1)
    for t in tracks:
        t.side = side
    return one_track_per_side(tracks)
