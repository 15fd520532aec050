"""One hand's frames -> the keys of its motion sequence, in order: the end hands ordered by continuity (one
frame of look-ahead), the fit (when given a :class:`~inference.fit.TrackFitter`), sub-frame times, gap filling
and smoothing. Everything is causal past the fit's window, so keys already sent never change.

BlurHandNet's three hands per frame become samples at frame - e/2, frame and frame + e/2 (e = the exposure in
frames); which end hand comes first is decided by continuity: the start of frame t should meet the end of
frame t - 1, and the end of frame t the middle of frame t + 1.
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional

import numpy as np

from addon.common.job_options import JobOptions
from addon.common.motion_sequence import MotionSequence

from .filters import PoseSmoother, interpolate_pose
from .fit import TrackFitter
from .records import FrameHands, Sample
from .stage_timer import StageTimer


class HandStream:
    """``push(frame)`` takes each footage frame's :class:`FrameHands` (or None where the hand was not seen) and
    returns the samples that are final; ``flush()`` the rest."""

    def __init__(self, options: JobOptions, fps: float, fitter: Optional[TrackFitter] = None,
                 timer: Optional[StageTimer] = None):
        self.exposure, self.first_frame, self.fill_gaps = options.exposure, options.first_blender_frame, \
            options.fill_gaps
        self.fps, self.fitter = fps, fitter
        self.timer = timer or StageTimer()  # the fit's own stage
        self.pending: Optional[FrameHands] = None  # waiting for one frame of look-ahead
        self.prev_end: Optional[np.ndarray] = None
        self.last_kept: Optional[Sample] = None
        self.smoother = PoseSmoother(options.smoothing) if options.smoothing > 0 else None
        self.last_time: Optional[float] = None

    def push(self, frame: Optional[FrameHands]) -> List[Sample]:
        ordered = [self._order(self.pending, frame)] if self.pending is not None else []
        self.pending = frame
        return self._samples(self._fit(ordered))

    def flush(self) -> List[Sample]:
        ordered = [self._order(self.pending, None)] if self.pending is not None else []
        self.pending = None
        return self._samples(self._fit(ordered, last=True))

    def _fit(self, frames: List[FrameHands], last: bool = False) -> List[FrameHands]:
        if self.fitter is None:
            return frames
        with self.timer("fit"):
            return self.fitter.push(frames) + (self.fitter.flush() if last else [])

    def _order(self, frame: FrameHands, following: Optional[FrameHands]) -> FrameHands:
        """BlurHandNet's three hands as (start, middle, end) of the exposure, by continuity with the previous
        frame's end and the next frame's middle; only the middle one when the exposure is 0."""
        if len(frame.times) != 3:
            self.prev_end = frame.times[0].joints
            return frame
        first, mid, last = frame.times
        swap_cost = keep_cost = 0.0
        if self.prev_end is not None:
            keep_cost += _distance(first.joints, self.prev_end)
            swap_cost += _distance(last.joints, self.prev_end)
        if following is not None:
            nxt = following.middle.joints
            keep_cost += _distance(last.joints, nxt)
            swap_cost += _distance(first.joints, nxt)
        if swap_cost < keep_cost:
            first, last = last, first
        self.prev_end = last.joints
        return dataclasses.replace(frame, times=[first, mid, last] if self.exposure > 0 else [mid])

    def _samples(self, frames: List[FrameHands]) -> List[Sample]:
        out = []
        for r in frames:
            hands = r.final
            e = self.exposure
            offsets = [-e / 2, 0.0, e / 2] if len(hands) == 3 else [0.0]
            base = r.frame + self.first_frame
            samples = [Sample(base + o, h.pose, h.betas, h.transl, r.score, t.joint_confidence)
                       for o, h, t in zip(offsets, hands, r.times)]
            filled = self._fill_gap(samples[0])
            self.last_kept = samples[-1]
            out += [self._smooth(s) for s in filled + samples]
        return out

    def _fill_gap(self, next_sample: Sample) -> List[Sample]:
        """Samples for the footage frames between the last kept sample and ``next_sample``: interpolated
        (confidence 0) when there are at most ``fill_gaps`` of them, else none."""
        if self.last_kept is None:
            return []
        a, b = self.last_kept, next_sample
        gap = [f for f in range(int(np.floor(a.frame)) + 1, int(np.ceil(b.frame))) if a.frame < f < b.frame]
        if not gap or len(gap) > self.fill_gaps:
            return []
        out = []
        for frame in gap:
            t = (frame - a.frame) / (b.frame - a.frame)
            out.append(Sample(float(frame), interpolate_pose(a.pose, b.pose, t), (1 - t) * a.betas + t * b.betas,
                              (1 - t) * a.transl + t * b.transl, 0.0,
                              None if a.joint_confidence is None else np.zeros(21)))
        return out

    def _smooth(self, sample: Sample) -> Sample:
        if self.smoother is None:
            return sample
        dt = 0.0 if self.last_time is None else (sample.frame - self.last_time) / self.fps
        self.last_time = sample.frame
        pose, transl = self.smoother(sample.pose, sample.transl, dt)
        return dataclasses.replace(sample, pose=pose, transl=transl)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm((a - a[:1]) - (b - b[:1]), axis=-1).mean())


def to_sequence(samples: List[Sample], side: str, fps: float, model: str, k: np.ndarray, size,
                source: str) -> MotionSequence:
    """Samples of one hand -> a motion sequence (the worker's chunk and result files)."""
    pose = np.stack([s.pose for s in samples])
    per_joint = np.stack([s.joint_confidence for s in samples]) \
        if all(s.joint_confidence is not None for s in samples) else None
    return MotionSequence(
        frames=np.array([s.frame for s in samples], dtype=np.float64), global_orient=pose[:, :3],
        hand_pose=pose[:, 3:], betas=np.stack([s.betas for s in samples]),
        transl=np.stack([s.transl for s in samples]), handedness=side, fps=fps, model=model,
        confidence=np.array([s.confidence for s in samples], dtype=np.float64), joint_confidence=per_joint,
        camera_matrix=k, image_size=np.array(size), source=source)
