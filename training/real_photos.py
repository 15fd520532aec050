"""Real photos with annotated hand keypoints, read from a folder laid out like the evaluation set the project
is measured on (FreiHAND, CMU Panoptic and InterHand2.6M test fixtures), and the measure it is held to.

Layout (any of the three sub-folders may be missing)::

    ROOT/freihand/test_freihand.json          COCO style: images[] (id, file_name), annotations[] (image_id,
    ROOT/panoptic/test_panoptic.json          bbox x, y, w, h, keypoints 21 x (x, y, visible), OpenPose order)
    ROOT/interhand2.6m/test_interhand2.6m_data.json       images[] (capture, camera, frame_idx), annotations[]
    ROOT/interhand2.6m/test_interhand2.6m_joint_3d.json   [capture][frame_idx]: world_coord 42 x 3 mm, joint_valid
    ROOT/interhand2.6m/test_interhand2.6m_camera.json     [capture]: campos, camrot, focal, princpt per camera

FreiHAND's hands are right hands; a Panoptic file name ending in ``_l`` / ``_r`` names the side; InterHand's
joints are the right hand's (0-20) then the left's (21-41), each tips first with the wrist last, projected
with ``x_cam = camrot (X - campos)``, ``u = fx x / z + cx``.

The measure: for every annotated hand, the written hand nearest to it; its 21 joints projected with the
written camera against the visible annotated keypoints, in units of the hand box's longer side (the
annotation's box; for InterHand, 1.2 times the extent of the projected truth). PCK@t is the share within t;
a hand with nothing written counts 0. A written hand lies on the annotated hand nearest to it (within half a
box): that hand is found, and the written side is right or wrong where the set names the side.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from addon.common.joints import remap

COCO_SETS = {"freihand": "test_freihand.json", "panoptic": "test_panoptic.json"}
INTERHAND = "interhand2.6m"
PCK_THRESHOLDS = (0.1, 0.2)


class RealPhotoError(ValueError):
    """A folder or file not in the expected layout; the message names it and what is wrong."""


@dataclass
class AnnotatedHand:
    """One annotated hand of one photo."""

    image: Path
    source: str  # freihand | panoptic | interhand2.6m
    keypoints: np.ndarray  # (21, 2) pixels, MANO-21 order
    visible: np.ndarray  # (21,) bool
    box_side: float  # the longer side of the hand's box, pixels: the unit of the error
    side: Optional[str] = None  # "right" / "left" where the set says it
    joints_mm: Optional[np.ndarray] = None  # (21, 3) camera-space joints, MANO-21 order (InterHand)

    @property
    def name(self) -> str:
        return f"{self.source}/{self.image.name}" + (f" ({self.side})" if self.side else "")


@dataclass
class WrittenHand:
    """A hand as a job (or a detector) gives it for a photo: projected joints, its side, 3D joints if any."""

    keypoints: np.ndarray  # (21, 2) pixels, MANO-21
    side: str
    joints_m: Optional[np.ndarray] = None  # (21, 3) camera space, metres


@dataclass
class HandScore:
    """One annotated hand: the errors of the written hand nearest to it (PCK), whether a written hand lies on it
    (the annotated hand nearest to that written hand, within half a box), and the sides written on it."""

    hand: AnnotatedHand
    errors: Optional[np.ndarray]  # (visible,) errors in box sides; None: nothing written in its photo
    found: bool = False
    sides: List[str] = field(default_factory=list)  # the sides of the written hands that lie on it
    pa_mpjpe_mm: Optional[float] = None  # of the written hand that lies on it (InterHand)

    def pck(self, threshold: float) -> float:
        return 0.0 if self.errors is None else float((self.errors <= threshold).mean())


def _read_json(path: Path):
    if not path.is_file():
        raise RealPhotoError(f"{path}: missing")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RealPhotoError(f"{path}: not JSON ({exc})") from None


def _coco_hands(root: Path, source: str, name: str) -> List[AnnotatedHand]:
    data = _read_json(root / source / name)
    try:
        images = {im["id"]: im["file_name"] for im in data["images"]}
        hands = []
        for a in data["annotations"]:
            points = np.asarray(a["keypoints"], dtype=np.float64).reshape(21, 3)
            file_name = images[a["image_id"]]
            stem = Path(file_name).stem
            side = "right" if source == "freihand" else \
                {"_l": "left", "_r": "right"}.get(stem[-2:]) if source == "panoptic" else None
            hands.append(AnnotatedHand(root / source / file_name, source,
                                       remap(points[:, :2], "openpose21", "mano21"),
                                       remap(points[:, 2], "openpose21", "mano21", axis=0) > 0,
                                       float(max(a["bbox"][2], a["bbox"][3])), side))
    except (KeyError, TypeError, ValueError) as exc:
        raise RealPhotoError(f"{root / source / name}: not COCO-style hand keypoints ({exc!r})") from None
    return hands


def _interhand_hands(root: Path) -> List[AnnotatedHand]:
    folder = root / INTERHAND
    data = _read_json(folder / "test_interhand2.6m_data.json")
    joints = _read_json(folder / "test_interhand2.6m_joint_3d.json")
    cameras = _read_json(folder / "test_interhand2.6m_camera.json")
    hands = []
    try:
        for image, ann in zip(data["images"], data["annotations"]):
            capture, camera = str(image["capture"]), str(image["camera"])
            cam = cameras[capture]
            rot, pos = np.asarray(cam["camrot"][camera], float), np.asarray(cam["campos"][camera], float)
            (fx, fy), (cx, cy) = cam["focal"][camera], cam["princpt"][camera]
            world = np.asarray(joints[capture][str(image["frame_idx"])]["world_coord"], float)
            valid = np.asarray(ann["joint_valid"], float).reshape(-1) > 0
            for side, half in (("right", slice(0, 21)), ("left", slice(21, 42))):
                if ann["hand_type"] not in ("interacting", side):
                    continue
                x = (world[half] - pos) @ rot.T
                uv = np.stack([fx * x[:, 0] / x[:, 2] + cx, fy * x[:, 1] / x[:, 2] + cy], 1)
                hands.append(AnnotatedHand(folder / image["file_name"], INTERHAND, remap(uv, "interhand21", "mano21"),
                                           remap(valid[half].astype(float), "interhand21", "mano21", axis=0) > 0,
                                           1.2 * float(np.ptp(uv, axis=0).max()), side,
                                           remap(x, "interhand21", "mano21")))
    except (KeyError, TypeError, ValueError) as exc:
        raise RealPhotoError(f"{folder}: not the InterHand2.6M layout ({exc!r})") from None
    return hands


def load_real_photos(root: str | Path) -> List[AnnotatedHand]:
    """Every annotated hand under ``root`` (see the module's notes), or a :class:`RealPhotoError`."""
    root = Path(root)
    if not root.is_dir():
        raise RealPhotoError(f"{root}: no such folder")
    hands: List[AnnotatedHand] = []
    for source, name in COCO_SETS.items():
        if (root / source).is_dir():
            hands += _coco_hands(root, source, name)
    if (root / INTERHAND).is_dir():
        hands += _interhand_hands(root)
    if not hands:
        raise RealPhotoError(f"{root}: none of {', '.join([*COCO_SETS, INTERHAND])} holds annotated hands")
    return hands


def _errors(hand: AnnotatedHand, written: WrittenHand) -> np.ndarray:
    v = hand.visible
    return np.linalg.norm(written.keypoints[v] - hand.keypoints[v], axis=-1) / hand.box_side


def score_photo(hands: Sequence[AnnotatedHand], written: Sequence[WrittenHand]) -> List[HandScore]:
    """The measure for one photo's annotated hands: for each, the nearest written hand (any side; none written:
    PCK 0); and each written hand assigned to the annotated hand it lies on."""
    scores = []
    for hand in hands:
        errors = [_errors(hand, w) for w in written]
        scores.append(HandScore(hand, min(errors, key=lambda e: e.mean()) if errors else None))
    for w in written:
        errors = [_errors(hand, w).mean() for hand in hands]
        on = int(np.argmin(errors))
        if errors[on] >= 0.5:  # on no annotated hand
            continue
        score = scores[on]
        score.found = True
        score.sides.append(w.side)
        if score.hand.joints_mm is not None and w.joints_m is not None:
            from training.metrics import point_errors

            score.pa_mpjpe_mm = float(point_errors(w.joints_m[None], score.hand.joints_mm[None] / 1000.0,
                                                   "procrustes").mean())
    return scores


@dataclass
class Summary:
    hands: int
    pck: Dict[float, float]
    found: int
    sides_known: int  # written hands lying on an annotated hand whose side the set names
    sides_right: int
    pa_mpjpe_mm: Optional[float]
    scores: List[HandScore] = field(default_factory=list)

    def row(self, name: str) -> str:
        pa = "" if self.pa_mpjpe_mm is None else f"{self.pa_mpjpe_mm:.1f}"
        return (f"| {name} | {self.pck[0.1]:.3f} | {self.pck[0.2]:.3f} | {self.found}/{self.hands} | "
                f"{self.sides_right}/{self.sides_known} | {pa} |")


def summarise(scores: List[HandScore]) -> Summary:
    known = [side == s.hand.side for s in scores if s.hand.side for side in s.sides]
    pas = [s.pa_mpjpe_mm for s in scores if s.pa_mpjpe_mm is not None]
    return Summary(len(scores), {t: float(np.mean([s.pck(t) for s in scores])) for t in PCK_THRESHOLDS},
                   sum(s.found for s in scores), len(known), int(sum(known)),
                   float(np.mean(pas)) if pas else None, scores)


TABLE_HEADER = ("| source of the hand | PCK@0.1 | PCK@0.2 | hands found | sides right | InterHand PA-MPJPE, mm |\n"
                "|---|---|---|---|---|---|")
