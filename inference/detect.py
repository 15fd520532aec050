"""Hands found: MediaPipe's hand landmarker (bundled models, runs offline) -> per-frame detections with
handedness, score and 21 keypoints in pixels (MediaPipe order = OpenPose order), or a fixed region.

MediaPipe labels handedness as if the image were mirrored (a selfie camera); footage from an ordinary camera
is not, so its label is swapped here. ``mirrored=True`` keeps MediaPipe's label for selfie footage.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from addon.common.joints import remap

from .crop import crop_box


class DetectorUnavailable(RuntimeError):
    """MediaPipe is missing from the worker's Python; the message says how to install it."""


@dataclass
class Detection:
    side: str  # "right" | "left"
    score: float  # handedness confidence in [0, 1]
    keypoints: np.ndarray  # (21, 2) pixels, MANO-21 order
    box: np.ndarray  # (x0, y0, side) square around the keypoints
    has_keypoints: bool = True  # False for a fixed region (its keypoints are only the region's centre)
    world: Optional[np.ndarray] = None  # (21, 3) the detector's own metric 3D joints (camera axes, MANO-21)

    @staticmethod
    def from_keypoints(side: str, score: float, keypoints: np.ndarray, scale: float = 1.3,
                       world: Optional[np.ndarray] = None) -> "Detection":
        return Detection(side, score, keypoints, crop_box(keypoints, scale), world=world)


class HandDetector:
    """Video-mode landmarker: tracks between frames, so call it on consecutive frames in order."""

    def __init__(self, max_hands: int = 2, min_confidence: float = 0.5, mirrored: bool = False,
                 complexity: int = 1):
        try:
            from mediapipe.python.solutions import hands
        except ImportError as exc:
            raise DetectorUnavailable(
                f"MediaPipe is not installed in this Python ({exc}); install it with "
                "`pip install --no-deps mediapipe==0.10.21` (README: Worker set-up)") from None
        self.mirrored = mirrored
        self._hands = hands.Hands(static_image_mode=False, max_num_hands=max_hands, model_complexity=complexity,
                                  min_detection_confidence=min_confidence, min_tracking_confidence=0.5)

    def __call__(self, rgb: np.ndarray) -> List[Detection]:
        h, w = rgb.shape[:2]
        result = self._hands.process(np.ascontiguousarray(rgb))
        if not result.multi_hand_landmarks:
            return []
        found = []
        worlds = result.multi_hand_world_landmarks or [None] * len(result.multi_hand_landmarks)
        for marks, handed, world in zip(result.multi_hand_landmarks, result.multi_handedness, worlds):
            label = handed.classification[0]
            side = label.label.lower()
            if not self.mirrored:
                side = "right" if side == "left" else "left"
            points = np.array([[m.x * w, m.y * h] for m in marks.landmark], dtype=np.float64)
            metric = None if world is None else remap(
                np.array([[m.x, m.y, m.z] for m in world.landmark], dtype=np.float64), "mediapipe21", "mano21")
            found.append(Detection.from_keypoints(side, float(label.score), remap(points, "mediapipe21", "mano21"),
                                                  world=metric))
        return found

    def close(self) -> None:
        self._hands.close()


class FixedRegion:
    """The user's own region (x0, y0, side) in pixels, as the one hand of the given side in every frame."""

    def __init__(self, box: np.ndarray, side: str = "right"):
        self.box, self.side = np.asarray(box, dtype=np.float64), side

    def __call__(self, rgb: np.ndarray) -> List[Detection]:
        x0, y0, s = self.box
        corners = np.array([[x0, y0], [x0 + s, y0 + s]])
        return [Detection(self.side, 1.0, np.repeat(corners.mean(0, keepdims=True), 21, 0), self.box.copy(), False)]

    def close(self) -> None:
        pass


def make_detector(region: Optional[np.ndarray] = None, side: str = "right", **kwargs):
    return FixedRegion(region, side) if region is not None else HandDetector(**kwargs)
