"""Hands found: MediaPipe's hand landmarker (bundled models, runs offline) -> per-frame detections with
handedness, score and 21 keypoints in pixels (MediaPipe order = OpenPose order), or a fixed region.

MediaPipe labels handedness as if the image were mirrored (a selfie camera); footage from an ordinary camera
is not, so its label is swapped here. ``mirrored=True`` keeps MediaPipe's label for selfie footage.

MediaPipe's pipeline finds a hand with its palm detector on the whole frame, then follows it with its
landmark model. The palm detector can miss a hand in every frame (in front of a face, over a busy photo)
that the landmark model, given a crop around it, finds. :class:`SearchingDetector` adds what the pipeline
lacks: the landmark model alone (MediaPipe's own bundled ``hand_landmark_full.tflite``, run with TFLite) on
crops around hands it lost (track by crop) and, while no hand is found, on overlapping square tiles at a few
scales every few frames (search). Each detection says where it came from (``source``).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from addon.common.job_options import SEARCH_SCALES
from addon.common.joints import remap

from .crop import crop_affine, crop_box, crop_to_image


class DetectorUnavailable(RuntimeError):
    """MediaPipe is missing from the worker's Python; the message says how to install it."""


@dataclass(eq=False)  # compared by identity: keypoints are arrays
class Detection:
    side: str  # "right" | "left"
    score: float  # handedness confidence in [0, 1]
    keypoints: np.ndarray  # (21, 2) pixels, MANO-21 order
    box: np.ndarray  # (x0, y0, side) square around the keypoints
    has_keypoints: bool = True  # False for a fixed region (its keypoints are only the region's centre)
    source: str = "palm"  # "palm" (MediaPipe's pipeline), "track" (crop around a lost hand), "search" (tiles)

    @staticmethod
    def from_keypoints(side: str, score: float, keypoints: np.ndarray, scale: float = 1.3,
                       source: str = "palm") -> "Detection":
        return Detection(side, score, keypoints, crop_box(keypoints, scale), source=source)


class HandDetector:
    """MediaPipe's pipeline: the palm detector, then the landmark model on each palm. In video mode (the
    default) it follows the hands between frames itself, so call it on consecutive frames in order; with
    ``static`` every call looks afresh."""

    def __init__(self, max_hands: int = 2, min_confidence: float = 0.5, mirrored: bool = False,
                 complexity: int = 1, static: bool = False):
        try:
            from mediapipe.python.solutions import hands
        except ImportError as exc:
            raise DetectorUnavailable(
                f"MediaPipe is not installed in this Python ({exc}); install it with "
                "`pip install --no-deps mediapipe==0.10.21` (docs/pipeline.md)") from None
        self.mirrored = mirrored
        self._hands = hands.Hands(static_image_mode=static, max_num_hands=max_hands, model_complexity=complexity,
                                  min_detection_confidence=min_confidence, min_tracking_confidence=0.5)

    def __call__(self, rgb: np.ndarray) -> List[Detection]:
        h, w = rgb.shape[:2]
        result = self._hands.process(np.ascontiguousarray(rgb))
        if not result.multi_hand_landmarks:
            return []
        found = []
        for marks, handed in zip(result.multi_hand_landmarks, result.multi_handedness):
            label = handed.classification[0]
            side = label.label.lower()
            if not self.mirrored:
                side = "right" if side == "left" else "left"
            points = np.array([[m.x * w, m.y * h] for m in marks.landmark], dtype=np.float64)
            found.append(Detection.from_keypoints(side, float(label.score), remap(points, "mediapipe21", "mano21")))
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


LANDMARK_INPUT = 224  # the landmark model's square input, pixels
# Hand-presence scores of the landmark model. A hand found by the tiled search must score SEARCH_THRESHOLD
# on its centred, upright crop: the shipped backgrounds' best non-hands scored 0.76 (a cat's face) and 0.90
# (a page of text) there. A hand lost for a moment, looked for around where it was, needs TRACK_THRESHOLD.
SEARCH_THRESHOLD = 0.92
TRACK_THRESHOLD = 0.6
FOLLOW_THRESHOLD = 0.5  # a hand read on the crop its last keypoints give: MediaPipe's own min_tracking_confidence
PROPOSE_THRESHOLD = 0.2  # a tile's (off-centre, unturned) crop: enough to look again, centred and upright
# Tiles of this share of the frame and more are also read turned by quarter turns: the landmark model finds a hand
# pointing down or sideways only when it is turned upright in its crop (the real photos' hands the palm detector
# misses are such). Smaller tiles, which a small hand needs, are many, and are read upright only.
TURNED_FROM = 0.3
QUARTER_TURNS = (0.0, np.pi / 2, np.pi, 3 * np.pi / 2)
SEARCH_BUDGET = 0.02  # seconds of searching per frame at most, over a stretch without a hand
# The crop a followed hand is read on, as MediaPipe's video mode makes it: the box of the palm's keypoints (the
# wrist, the thumb up to its last joint, each finger's first two joints; MediaPipe order) in the hand's upright
# frame, moved a tenth of its height towards the fingers, twice its longer side. The palm's extent does not
# shrink as the fingers curl, as the whole hand's does.
PALM_POINTS = [0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18]
FOLLOW_SCALE = 2.0
# While fewer hands than the most are followed, the palm detector looks for more every this many frames.
PALM_EVERY = 10


class LandmarkModel:
    """MediaPipe's hand landmark network alone, on a square crop: 21 keypoints, a hand-presence score, the
    handedness and metric 3D joints. The model file is the one the MediaPipe wheel bundles; TFLite
    (``tflite-runtime``) runs it, about 5 ms per crop on this CPU."""

    def __init__(self, complexity: int = 1, threads: int = 1):
        try:
            import mediapipe
            from tflite_runtime.interpreter import Interpreter
        except ImportError as exc:
            raise DetectorUnavailable(
                f"the crop search needs MediaPipe and tflite-runtime in this Python ({exc}); install them with "
                "`pip install --no-deps mediapipe==0.10.21 tflite-runtime==2.14.0` (docs/pipeline.md), or "
                "run with --search off") from None
        name = "hand_landmark_full.tflite" if complexity else "hand_landmark_lite.tflite"
        path = os.path.join(os.path.dirname(mediapipe.__file__), "modules", "hand_landmark", name)
        self.net = Interpreter(model_path=path, num_threads=threads)
        self.net.allocate_tensors()
        self.input = self.net.get_input_details()[0]["index"]
        self._pixels = np.empty((1, LANDMARK_INPUT, LANDMARK_INPUT, 3), np.float32)  # one buffer, every crop
        out = {d["name"]: d["index"] for d in self.net.get_output_details()}
        self.outputs = (out["Identity"], out["Identity_1"], out["Identity_2"])  # landmarks, presence, handedness

    def __call__(self, rgb: np.ndarray, box: np.ndarray, angle: float = 0.0):
        """Keypoints (21, 2) image pixels (MediaPipe order), presence, and P(right hand as MediaPipe labels
        it, i.e. mirrored)."""
        affine = crop_affine(box, LANDMARK_INPUT, angle)
        crop = cv2.warpAffine(rgb, affine.astype(np.float32), (LANDMARK_INPUT, LANDMARK_INPUT),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        np.multiply(crop, 1.0 / 255.0, out=self._pixels[0])
        self.net.set_tensor(self.input, self._pixels)
        self.net.invoke()
        marks, presence, handed = (self.net.get_tensor(i) for i in self.outputs)
        keypoints = crop_to_image(marks.reshape(21, 3)[:, :2], affine)
        return keypoints, float(presence.reshape(-1)[0]), float(handed.reshape(-1)[0])


def upright_angle(keypoints_mano21: np.ndarray) -> float:
    """The crop rotation that turns a hand's wrist -> middle-finger base upright (how MediaPipe crops)."""
    v = keypoints_mano21[4] - keypoints_mano21[0]
    return float(np.arctan2(-v[0], -v[1]))


def follow_box(keypoints_mano21: np.ndarray) -> np.ndarray:
    """The square (x0, y0, side) a followed hand is read on next, to be turned by its ``upright_angle``."""
    angle = upright_angle(keypoints_mano21)
    palm = remap(keypoints_mano21, "mano21", "mediapipe21")[PALM_POINTS]
    c, n = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -n], [n, c]])  # image -> upright crop axes (crop_affine's rotation)
    mean = palm.mean(0)
    upright = (palm - mean) @ rot.T
    lo, hi = upright.min(0), upright.max(0)
    centre = mean + ((lo + hi) / 2 - np.array([0.0, 0.1 * (hi - lo)[1]])) @ rot
    side = max(float((hi - lo).max()) * FOLLOW_SCALE, 8.0)
    return np.array([centre[0] - side / 2, centre[1] - side / 2, side])


class SearchingDetector:
    """Hands found by MediaPipe's palm detector, then followed by its landmark model on crops, as MediaPipe's
    video mode follows them, with a search behind both:

    - **follow**: a hand found in the last frame is read once on the crop its keypoints give (turned upright);
      one found in the last ``keep`` frames but lost since is looked for in a box around where it was (moved
      by its recent motion), read twice: there, then centred on what was found;
    - **palm**: MediaPipe's pipeline (palm detector, then landmarks) on the whole frame, in every frame without
      a followed hand, and every ``palm_every`` frames while fewer than ``max_hands`` hands are followed, for
      hands that come in. The pipeline runs in static mode: the following is done here, once;
    - **search**: while no hand at all is found, every ``every`` frames, overlapping square tiles of
      ``scales`` x the frame's shorter side (half-tile steps) are each given to the landmark model: as they
      are, and tiles of ``turned_from`` and more also turned by a quarter, a half and three quarters, since
      the landmark model reads a hand well only when it is roughly upright in its crop (a hand pointing down
      or sideways, which the palm detector often misses too). After three fruitless searches in a row, each
      further one doubles the wait before the next (up to ``max_every`` frames; a find resets it), and a
      search never runs sooner than its own cost allows (``budget`` seconds per frame waited), so long
      stretches without a hand do not pay for a full search every ``every`` frames.

    A tile's hand is read once more from a crop centred on it and turned upright, and counts when that
    crop's presence score passes ``threshold``; a hand followed from the last frame needs ``FOLLOW_THRESHOLD``,
    one lost for a moment ``track_threshold``. Finds overlapping
    another are dropped (the better one stays)."""

    def __init__(self, full: "HandDetector", landmarks: LandmarkModel, max_hands: int = 2,
                 scales: Sequence[float] = SEARCH_SCALES, every: int = 10, max_every: int = 80, keep: int = 8,
                 threshold: float = SEARCH_THRESHOLD, track_threshold: float = TRACK_THRESHOLD,
                 track_scales: Sequence[float] = (2.0, 1.5), turned_from: float = TURNED_FROM,
                 budget: float = SEARCH_BUDGET, palm_every: int = PALM_EVERY):
        self.full, self.landmarks, self.max_hands = full, landmarks, max_hands
        self.scales, self.every, self.keep, self.threshold = tuple(scales), every, keep, threshold
        self.max_every, self.turned_from, self.budget = max(every, max_every), turned_from, budget
        self.palm_every = palm_every
        self.search_seconds = 0.0  # the last search's cost
        self.fruitless = 0  # searches in a row that found nothing
        self.track_threshold, self.track_scales = track_threshold, tuple(track_scales)
        self.frame = -1
        self.last_search = -10 ** 9
        self.last_palm = -10 ** 9
        self.seen: List[dict] = []  # {"keypoints", "frame", "velocity"} of hands recently found

    def __call__(self, rgb: np.ndarray) -> List[Detection]:
        self.frame += 1
        found: List[Detection] = []
        for hand in self.seen:  # the most recently found first
            if any(_same_hand(self._expected(hand), d.keypoints) for d in found):
                continue  # an older sighting of a hand already followed
            det = self._follow(rgb, hand)
            if det is not None and _free(det, found):
                found.append(det)
        found = found[: self.max_hands]
        if len(found) < self.max_hands and (not found or self.frame - self.last_palm >= self.palm_every):
            self.last_palm = self.frame
            found += [d for d in self.full(rgb) if _free(d, found)][: self.max_hands - len(found)]
        wait = max(min(self.every * 2 ** max(0, self.fruitless - 2), self.max_every), self.search_seconds / self.budget)
        if not found and self.frame - self.last_search >= wait:
            self.last_search = self.frame
            tick = time.perf_counter()
            found = distinct(self._tiles(rgb))[: self.max_hands]
            self.search_seconds = time.perf_counter() - tick
            self.fruitless = 0 if found else self.fruitless + 1
        elif found:
            self.fruitless = 0
        self._remember(found)
        return found

    def _expected(self, hand: dict) -> np.ndarray:
        """Where a hand seen before should be now, moved by its recent motion."""
        return hand["keypoints"] + (self.frame - hand["frame"]) * hand["velocity"]

    def _follow(self, rgb: np.ndarray, hand: dict) -> Optional[Detection]:
        keypoints = self._expected(hand)
        angle = upright_angle(keypoints)
        if self.frame - hand["frame"] == 1:
            keypoints_mp, presence, right = self.landmarks(rgb, follow_box(keypoints), angle)
            if presence >= FOLLOW_THRESHOLD:
                return self._detection(keypoints_mp, right, "track")
        for scale in self.track_scales:  # room for its motion first; then tighter, as a small hand needs
            det = self._read(rgb, crop_box(keypoints, scale), angle, "track", self.track_threshold,
                             centred=follow_box)
            if det is not None:
                return det
        return None

    def close(self) -> None:
        self.full.close()

    def _read(self, rgb: np.ndarray, box: np.ndarray, angle: float, source: str,
              threshold: Optional[float] = None, propose: Optional[float] = None,
              centred=lambda kp: crop_box(kp, 1.6)) -> Optional[Detection]:
        """The landmark model on ``box``; if its presence passes ``propose``, once more on the crop ``centred``
        gives around what it found, turned upright, which must pass ``threshold``. (The search's thresholds
        were set on the whole hand's box; a lost hand is looked for again on MediaPipe's palm box.)"""
        threshold = self.threshold if threshold is None else threshold
        keypoints, presence, right = self.landmarks(rgb, box, angle)
        if presence < (threshold if propose is None else propose):
            return None
        kp = remap(keypoints, "mediapipe21", "mano21")
        keypoints, presence, right = self.landmarks(rgb, centred(kp), upright_angle(kp))
        if presence < threshold:
            return None
        return self._detection(keypoints, right, source)

    def _detection(self, keypoints_mp: np.ndarray, right: float, source: str) -> Detection:
        """A detection from the landmark model's reading: MediaPipe-order keypoints and P(right)."""
        side = "right" if right >= 0.5 else "left"
        if self.full.mirrored:
            side = "left" if side == "right" else "right"
        return Detection.from_keypoints(side, max(right, 1 - right), remap(keypoints_mp, "mediapipe21", "mano21"),
                                        source=source)

    def _tiles(self, rgb: np.ndarray) -> List[Detection]:
        h, w = rgb.shape[:2]
        out = []
        for scale in self.scales:
            side = scale * min(h, w)
            turns = QUARTER_TURNS if scale >= self.turned_from else QUARTER_TURNS[:1]
            for y0 in _starts(h, side):
                for x0 in _starts(w, side):
                    for turn in turns:
                        det = self._read(rgb, np.array([x0, y0, side]), turn, "search", propose=PROPOSE_THRESHOLD)
                        if det is not None:
                            out.append(det)
                            break
        return out

    def _remember(self, found: List[Detection]) -> None:
        kept = []
        for d in found:
            before = next((h for h in self.seen if _same_hand(h["keypoints"], d.keypoints)), None)
            velocity = np.zeros(2)
            if before is not None:
                velocity = (d.keypoints - before["keypoints"]).mean(0) / max(1, self.frame - before["frame"])
            kept.append({"keypoints": d.keypoints, "frame": self.frame, "velocity": velocity})
        self.seen = kept + [h for h in self.seen if self.frame - h["frame"] <= self.keep and
                            all(not _same_hand(h["keypoints"], d.keypoints) for d in found)]


def box_overlap(a: np.ndarray, b: np.ndarray) -> tuple:
    """Intersection of two square boxes over their union, and over the smaller box."""
    lo, hi = np.maximum(a[:2], b[:2]), np.minimum(a[:2] + a[2], b[:2] + b[2])
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    return inter / (a[2] ** 2 + b[2] ** 2 - inter), inter / min(a[2], b[2]) ** 2


def distinct(found: List[Detection], max_iou: float = 0.4, max_inside: float = 0.7) -> List[Detection]:
    """One detection per hand: a box overlapping a better-scored one is the same hand found twice. A box
    lying mostly inside another (``max_inside`` of its area) is part of the same hand read as a whole one
    (MediaPipe's palm detector fires on the fingers of a side-on hand): the larger box is kept, whose
    keypoints cover the whole hand. On the side-view evaluation clip its keypoints are the closer to the
    truth in 38 of the 40 frames with such a pair; over eleven evaluation clips, in 110 of 149
    (``tools/experiments/duplicate_boxes.py``)."""
    kept: List[Detection] = []
    for d in sorted(found, key=lambda d: -d.score):
        clash = [(k, *box_overlap(d.box, k.box)) for k in kept]
        if any(iou > max_iou for _, iou, _ in clash):
            continue
        inside = [k for k, _, share in clash if share > max_inside]
        if not inside:
            kept.append(d)
        elif all(d.box[2] > k.box[2] for k in inside):  # the whole hand replaces its parts, in their rank
            at = kept.index(inside[0])
            kept = [k for k in kept if k not in inside]
            kept.insert(at, d)
    return kept


def _starts(length: int, side: float) -> List[float]:
    """Tile origins along one axis: half-tile steps, the last tile flush with the edge."""
    if side >= length:
        return [(length - side) / 2]
    n = int(np.ceil((length - side) / (side / 2))) + 1
    return list(np.linspace(0.0, length - side, n))


def _same_hand(a: np.ndarray, b: np.ndarray) -> bool:
    """Two keypoint sets of one hand: their centres closer than half the hand's size."""
    size = max(float(np.ptp(a, axis=0).max()), 8.0)
    return float(np.linalg.norm(a.mean(0) - b.mean(0))) < 0.5 * size


def _free(det: Detection, found: List[Detection]) -> bool:
    return all(not _same_hand(det.keypoints, d.keypoints) for d in found)


def make_detector(region: Optional[np.ndarray] = None, side: str = "right", search: bool = True,
                  scales: Sequence[float] = SEARCH_SCALES, max_hands: int = 2, **kwargs):
    """A fixed region, MediaPipe's pipeline, or (default) the pipeline with the crop search behind it."""
    if region is not None:
        return FixedRegion(region, side)
    if not search:
        return HandDetector(max_hands=max_hands, **kwargs)
    full = HandDetector(max_hands=max_hands, static=True, **kwargs)  # the searching detector follows the hands
    return SearchingDetector(full, LandmarkModel(), max_hands=max_hands, scales=scales)


def source_counts(frames: List[List[Detection]]) -> Dict[str, int]:
    """Frames with at least one hand found by each source."""
    return {s: sum(any(d.source == s for d in found) for found in frames) for s in ("palm", "track", "search")}
