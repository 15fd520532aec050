"""The fitting stage's weights and settings (what :func:`~inference.fit.solve.fit_window` and the streaming
windows read)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class FitWeights:
    keypoints: float = 1.0
    sigma: float = 0.05  # robust scale, as a fraction of the hand's size in the image
    sigma_start: float = 0.4  # annealed from this to ``sigma`` (graduated non-convexity: far keypoints pull first)
    # per keypoint: the price of reading a frame's keypoints mirror-labelled, on frames whose detector took the
    # hand for the other side (FrameHands.mirrored; < 0: never)
    flip_cost: float = 0.05
    pose_prior: float = 0.01
    orient_prior: float = 0.01
    coupling: float = 1.0
    acceleration: float = 0.01  # of the camera-space joints
    steadiness: float = 0.03  # the acceleration of the joints relative to the wrist: the hand's own jitter
    accel_scale_m: float = 0.004  # an acceleration this large (metres / frame^2) costs 1 per joint
    shape: float = 0.01
    # A finger stays straight unless its keypoints show it bent: each PIP flexion costs straight * a^2 / (a^2 + c^2)
    # (c = straight_scale, radians), nothing when straight and at most ``straight`` however far bent. 0: off.
    straight: float = 0.0
    straight_scale: float = 0.25
    switch_cost: float = 0.5  # starting points: price per cm^2 of root-relative joint motion between frames
    max_gap: float = 2.0  # frames: samples further apart are not linked by the smoothness terms


@dataclass
class FitSettings:
    weights: FitWeights = field(default_factory=FitWeights)
    iterations: int = 40
    start_iterations: int = 30  # refinement of each starting candidate
    start_closures: tuple = (0.1, 0.8)  # finger closures of the starting candidates (0 open, 1 fist)
    lr: float = 0.05
    lr_end: float = 0.05  # cosine decay from lr to this
    window: int = 128  # footage frames per window (each step costs a few ms whatever its size: fewer are faster)
    first_window: int = 48  # the track's first window: its first keys come out after these frames
    overlap: int = 16  # frames shared by consecutive windows (re-fitted, not yet final)
    context: int = 3  # final frames before a window that enter its smoothness terms, held fixed

    def scaled(self, strength: float) -> "FitSettings":
        """``strength`` (0..1+, 1 = default) scales the pull of the keypoints against the priors."""
        return dataclasses.replace(self, weights=dataclasses.replace(self.weights,
                                                                     keypoints=self.weights.keypoints * strength))
