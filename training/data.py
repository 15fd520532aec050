"""Training samples for BlurHandNet from the synthetic dataset format (``scenes.dataset``).

Each frame becomes a square crop around the hand over the whole exposure (all three ground-truth times),
resized to the model's input size, with targets in the forms the losses use: heatmap-space joints (x, y in
heatmap pixels, z in depth bins around the middle root), root-relative 3D joints, MANO pose and shape.
Sets rendered without blur give one time; it stands in for all three.

Augmentation (training only) is the usual one for hand-mesh regression: the crop box jittered in scale and
position, an in-plane rotation (applied consistently to the image, the 2D joints, the 3D joints and the global
orientation: a rotation about the camera's z axis), and per-channel colour gains.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import cv2
import numpy as np
import torch

from addon.common.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from inference.crop import crop_affine, crop_box, crop_image, normalise
from scenes.dataset import SyntheticDataset


@dataclass
class CropSpec:
    image_size: int = 256
    heatmap_size: int = 32  # image_size / 8
    depth_bins: int = 32
    depth_range_m: float = 0.3
    scale: float = 1.3  # crop side / hand extent


@dataclass
class Augment:
    """Training-time jitter; ``Augment.none()`` turns everything off."""

    scale: float = 0.25  # crop side x U[1 - s, 1 + s]
    shift: float = 0.15  # crop centre moved by U[-s, s] x side
    rotate_deg: float = 45.0  # in-plane rotation U[-r, r]
    color: float = 0.2  # per-channel gain U[1 - c, 1 + c]

    @staticmethod
    def none() -> "Augment":
        return Augment(0.0, 0.0, 0.0, 0.0)

    def draw(self, rng: np.random.Generator) -> "Jitter":
        return Jitter(rng.uniform(1 - self.scale, 1 + self.scale), rng.uniform(-self.shift, self.shift, 2),
                      np.deg2rad(rng.uniform(-self.rotate_deg, self.rotate_deg)),
                      rng.uniform(1 - self.color, 1 + self.color, 3).astype(np.float32))


def rotate_about_camera_z(angle: float, joints: np.ndarray, global_orient: np.ndarray):
    """3D labels after rotating the camera image by ``angle``: (joints (..., 3), global_orient (..., 3))."""
    c, n = np.cos(angle), np.sin(angle)
    rz = np.array([[c, -n, 0.0], [n, c, 0.0], [0.0, 0.0, 1.0]])
    orient = matrix_to_axis_angle(rz @ axis_angle_to_matrix(global_orient))
    return joints @ rz.T, orient


class BlurHandSamples(torch.utils.data.Dataset):
    """Crops and targets from one or several synthetic dataset folders (concatenated in the given order)."""

    def __init__(self, roots: str | Sequence[str], spec: CropSpec = CropSpec(), augment: Optional[Augment] = None,
                 seed: int = 0, extra: bool = False, sharp_share: float = 0.0):
        roots = [roots] if isinstance(roots, str) else list(roots)
        self.sharp_share = sharp_share  # of a blurred set's frames, taken as its sharp middle-time render
        self.extra = extra  # crop_sample's extra targets (mesh, visibility, mask)
        self.parts = [SyntheticDataset(r) for r in roots]
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])
        self.spec = spec
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def frame(self, i: int) -> dict:
        part = int(np.searchsorted(self.offsets, i, side="right")) - 1
        return self.parts[part][i - int(self.offsets[part])]

    def labels(self, i: int) -> dict:
        part = int(np.searchsorted(self.offsets, i, side="right")) - 1
        return self.parts[part].labels(i - int(self.offsets[part]))

    def __getitem__(self, i: int) -> Dict[str, torch.Tensor]:
        jitter, frame = None, self.frame(i)
        rng = np.random.default_rng([self.seed, self.epoch, i])  # a fresh stream per (seed, epoch, sample)
        if self.augment is not None:
            jitter = self.augment.draw(rng)
        if self.sharp_share and "sharp" in frame and rng.random() < self.sharp_share:
            frame = sharp_frame(frame)
        return crop_sample(frame, self.spec, jitter, extra=self.extra)


def sharp_frame(frame: dict) -> dict:
    """A blurred set's frame as its sharp render at the middle time: that image, the middle labels only."""
    mid = len(frame["joints2d"]) // 2
    one = {k: frame[k][mid:mid + 1] for k in ("joints2d", "joints3d", "global_orient", "hand_pose")}
    return {**frame, **one, "image": frame["sharp"], "vertices": frame["vertices"][mid:mid + 1]}


@dataclass
class Jitter:
    """One draw of :class:`Augment`: the crop box scaled and moved (in box sides), rotated, colour gains."""

    scale: float
    shift: np.ndarray  # (2,)
    angle: float  # radians
    gains: np.ndarray  # (3,)


def apply_jitter(box: np.ndarray, jitter: Optional[Jitter]):
    """(box, angle, gains) of a crop box under one augmentation draw (none: the box as it is)."""
    if jitter is None:
        return box, 0.0, None
    side = box[2] * jitter.scale
    centre = box[:2] + box[2] / 2 + jitter.shift * box[2]
    return np.array([centre[0] - side / 2, centre[1] - side / 2, side]), jitter.angle, jitter.gains


def crop_sample(frame: dict, spec: CropSpec, jitter: Optional[Jitter] = None, extra: bool = False) -> Dict[str, torch.Tensor]:
    """One frame of the synthetic format -> the training dict (``training_sample``), cropped around the hand
    over the whole exposure and jittered; ``extra`` adds the video models' targets (middle-time root-relative
    vertices, joint visibility, the hand mask at a quarter of the crop size)."""
    j2d, j3d = frame["joints2d"], frame["joints3d"]  # (L, 21, 2), (L, 21, 3)
    pose = np.concatenate([frame["global_orient"], frame["hand_pose"]], -1)
    if len(j2d) == 1:  # sharp set: the one time stands for all three
        j2d, j3d, pose = np.repeat(j2d, 3, 0), np.repeat(j3d, 3, 0), np.repeat(pose, 3, 0)
    box, angle, gains = apply_jitter(crop_box(j2d, spec.scale), jitter)
    if angle:
        j3d, orient = rotate_about_camera_z(angle, j3d, pose[:, :3])
        pose = np.concatenate([orient, pose[:, 3:]], -1)
    image = normalise(crop_image(frame["image"], box, spec.image_size, angle), gains)
    out = training_sample(image, crop_affine(box, spec.image_size, angle), j2d, j3d, pose, frame["betas"], box, spec)
    if extra:
        mid = len(frame["joints3d"]) // 2
        verts = frame["vertices"][mid] - frame["joints3d"][mid, 0]
        if angle:
            verts = rotate_about_camera_z(angle, verts, pose[:1, :3])[0]
        quarter = spec.image_size // 4
        mask = crop_image(frame["mask"].astype(np.uint8) * 255, box, spec.image_size, angle)
        out["vertices_cam"] = torch.from_numpy(verts.astype(np.float32))
        out["visible"] = torch.from_numpy(np.asarray(frame["visible"], dtype=np.float32))
        out["mask"] = torch.from_numpy(cv2.resize(mask, (quarter, quarter), interpolation=cv2.INTER_AREA)
                                       .astype(np.float32) / 255.0)
    return out


def training_sample(image: np.ndarray, affine: np.ndarray, joints2d: np.ndarray, joints3d: np.ndarray,
                    pose: np.ndarray, betas: np.ndarray, box: np.ndarray, spec: CropSpec) -> Dict[str, torch.Tensor]:
    """The dict every training set yields: the normalised crop (3, S, S) and, for the three times, heatmap
    joints (x, y through the crop ``affine`` in heatmap pixels, z in depth bins around the middle root),
    root-relative camera joints, MANO pose (3, 48); betas (10,) and the crop box."""
    hm_xy = (joints2d @ affine[:, :2].T + affine[:, 2]) / spec.image_size * spec.heatmap_size
    hm_z = ((joints3d[..., 2] - joints3d[1, 0, 2]) / spec.depth_range_m + 0.5) * spec.depth_bins
    return {
        "image": torch.from_numpy(np.ascontiguousarray(image)),
        "joints_img": torch.from_numpy(np.concatenate([hm_xy, hm_z[..., None]], -1).astype(np.float32)),
        "joints_cam": torch.from_numpy((joints3d - joints3d[:, :1]).astype(np.float32)),
        "pose": torch.from_numpy(np.asarray(pose).astype(np.float32)),
        "betas": torch.from_numpy(np.asarray(betas).astype(np.float32)),
        "box": torch.from_numpy(box.astype(np.float32)),
    }


class ClipSamples(torch.utils.data.Dataset):
    """Clips of ``frames`` consecutive frames of one sequence, for the video models (Deformer, SeqHAND).

    Every start inside every sequence is a sample. One :class:`Jitter` per clip (the camera roll, zoom and
    colour stay put over a clip, as in footage), plus a small per-frame box jitter that stands in for the
    detector's frame-to-frame noise. Each item holds the per-frame dicts of ``crop_sample`` stacked on a time
    axis (image (T, 3, S, S), joints_img (T, 3, 21, 3), ...), with the video targets (``extra``)."""

    def __init__(self, roots: str | Sequence[str], frames: int, spec: CropSpec = CropSpec(),
                 augment: Optional[Augment] = None, seed: int = 0, box_jitter: float = 0.03):
        self.frames_data = BlurHandSamples(roots, spec)
        self.frames, self.spec, self.augment, self.seed, self.box_jitter = frames, spec, augment, seed, box_jitter
        self.epoch = 0
        runs: Dict[tuple, list] = {}
        for i in range(len(self.frames_data)):
            lab = self.frames_data.labels(i)
            part = int(np.searchsorted(self.frames_data.offsets, i, side="right")) - 1
            runs.setdefault((part, int(lab["sequence"])), []).append((int(lab["frame"]), i))
        self.sequences = [[i for _, i in sorted(run)] for run in runs.values()]
        self.starts = [(s, k) for s, seq in enumerate(self.sequences) for k in range(len(seq) - frames + 1)]
        if not self.starts:
            raise ValueError(f"no sequence has {frames} frames (longest: {max(map(len, self.sequences))})")

    def __len__(self) -> int:
        return len(self.starts)

    def frame_indices(self, i: int) -> list:
        s, k = self.starts[i]
        return self.sequences[s][k:k + self.frames]

    def __getitem__(self, i: int) -> Dict[str, torch.Tensor]:
        items = []
        rng = np.random.default_rng([self.seed, self.epoch, i])
        clip = self.augment.draw(rng) if self.augment is not None else None
        for n in self.frame_indices(i):
            jitter = clip
            if clip is not None and self.box_jitter:
                jitter = Jitter(clip.scale * rng.uniform(1 - self.box_jitter, 1 + self.box_jitter),
                                clip.shift + rng.uniform(-self.box_jitter, self.box_jitter, 2), clip.angle, clip.gains)
            items.append(crop_sample(self.frames_data.frame(n), self.spec, jitter, extra=True))
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}


class DetectedClipSamples(torch.utils.data.Dataset):
    """Clips for the self-supervised S2HAND(V): ``frames`` frames of one sequence that the project's detector
    found a hand in (``training.detected_keypoints``), in order, each cropped around its *detected* keypoints
    as the worker crops footage. Targets are the detections in crop pixels (``keypoints`` (T, 21, 2),
    ``confidence`` (T, 21)); the true root-relative joints (``joints_cam`` (T, 21, 3)) ride along for
    validation and the supervised comparison run only. The spec samples frames at a fixed interval; here the
    detector finds a third of the frames, so a clip is consecutive *detected* frames (gaps of 1-3 frames).
    """

    def __init__(self, roots: str | Sequence[str], frames: int, spec: CropSpec = CropSpec(),
                 augment: Optional[Augment] = None, seed: int = 0, max_gap: int = 3):
        from .detected_keypoints import load_detected

        roots = [roots] if isinstance(roots, str) else list(roots)
        self.frames_data = BlurHandSamples(roots, spec)
        self.detected = {k: np.concatenate([load_detected(r)[k] for r in roots]) for k in ("keypoints", "confidence")}
        self.frames, self.spec, self.augment, self.seed = frames, spec, augment, seed
        self.epoch = 0
        runs: Dict[tuple, list] = {}
        for i in range(len(self.frames_data)):
            if self.detected["confidence"][i, 0] <= 0:
                continue
            lab = self.frames_data.labels(i)
            part = int(np.searchsorted(self.frames_data.offsets, i, side="right")) - 1
            runs.setdefault((part, int(lab["sequence"])), []).append((int(lab["frame"]), i))
        self.clips = []
        for run in runs.values():
            run.sort()
            for k in range(len(run) - frames + 1):
                pick = run[k:k + frames]
                if all(b[0] - a[0] <= max_gap for a, b in zip(pick, pick[1:])):
                    self.clips.append([i for _, i in pick])
        if not self.clips:
            raise ValueError(f"no sequence has {frames} detected frames at most {max_gap} apart")

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> Dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, i])
        jitter = self.augment.draw(rng) if self.augment is not None else None
        items = []
        for n in self.clips[i]:
            frame = self.frames_data.frame(n)
            detected = self.detected["keypoints"][n].astype(np.float64)
            box, angle, gains = apply_jitter(crop_box(detected, self.spec.scale), jitter)
            affine = crop_affine(box, self.spec.image_size, angle)
            mid = len(frame["joints3d"]) // 2
            joints = frame["joints3d"][mid]
            if angle:  # the true joints only ride along for scoring: rotated with the crop
                joints = rotate_about_camera_z(angle, joints, frame["global_orient"][mid])[0]
            items.append({
                "image": torch.from_numpy(normalise(crop_image(frame["image"], box, self.spec.image_size, angle), gains)),
                "keypoints": torch.from_numpy((detected @ affine[:, :2].T + affine[:, 2]).astype(np.float32)),
                "confidence": torch.from_numpy(self.detected["confidence"][n].astype(np.float32)),
                "joints_cam": torch.from_numpy((joints - joints[:1]).astype(np.float32)),
            })
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}
