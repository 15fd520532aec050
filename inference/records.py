"""The typed records that flow through a job's stages, one footage frame of one hand at a time.

``Hand``: one hand at one instant, in camera space. ``FrameHands``: what the model, keypoint and fit stages
know about a frame of one track. ``Sample``: a key of the motion sequence the stream stage writes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np


@dataclass
class Hand:
    """One hand at one instant, MANO parameters of its own side, camera space (metres, OpenCV axes)."""

    pose: np.ndarray  # (48,) axis-angle: global orientation, then 15 finger joints (flat_hand_mean)
    betas: np.ndarray  # (10,)
    transl: np.ndarray  # (3,) MANO's translation (the rotation is about the wrist)
    joints: Optional[np.ndarray] = None  # (21, 3) camera-space joints, MANO-21
    joint_confidence: Optional[np.ndarray] = None  # (21,) in [0, 1], where the model gives one


@dataclass
class FrameHands:
    """One footage frame of one track.

    ``times`` are the network's hands: one, or three for BlurHandNet (the exposure's start, middle and end,
    once ordered). ``keypoints`` are what the fit follows. ``start`` is another estimate of the middle hand,
    which replaces the network's as the fit's first starting candidate (the network's stays the prior).
    ``fitted`` is set by the fit: its hands at the same times. ``mirrored``: the detector took this frame's hand
    for the other side, so its keypoints may be labelled as a mirror image's (thumb <-> pinky, index <-> ring)."""

    frame: int
    times: List[Hand]
    keypoints: np.ndarray  # (21, 2) image pixels, MANO-21
    kp_weight: np.ndarray  # (21,) >= 0 (0: no keypoint)
    score: float = 1.0  # the detector's confidence in the hand
    start: Optional[Hand] = None
    fitted: Optional[List[Hand]] = None
    mirrored: bool = False

    @property
    def middle(self) -> Hand:
        return self.times[len(self.times) // 2]

    @property
    def final(self) -> List[Hand]:
        """The hands this frame is keyed with: the fitted ones, else the network's."""
        return self.fitted if self.fitted is not None else self.times


@dataclass
class Sample:
    """One key of a motion sequence: a hand at a (possibly fractional) Blender frame."""

    frame: float
    pose: np.ndarray  # (48,)
    betas: np.ndarray  # (10,)
    transl: np.ndarray  # (3,)
    confidence: float
    joint_confidence: Optional[np.ndarray] = None  # (21,)
