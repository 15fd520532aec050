"""Loaders for the published real datasets, in their released layouts: InterHand2.6M and the BlurHand release
(which reuses InterHand2.6M's annotation layout and adds, per blurry image, the five sharp frames it averages).

Layout read (``ROOT`` as downloaded)::

    ROOT/images/{split}/{file_name}
    ROOT/annotations/{split}/{P}_{split}_data.json             COCO-style: images[], annotations[]
    ROOT/annotations/{split}/{P}_{split}_camera.json           {capture: {campos, camrot, focal, princpt: {cam: ...}}}
    ROOT/annotations/{split}/{P}_{split}_joint_3d.json         {capture: {frame_idx: {world_coord: 42 x 3 mm, ...}}}
    ROOT/annotations/{split}/{P}_{split}_MANO_NeuralAnnot.json {capture: {frame_idx: {right|left: {pose, shape, trans}}}}

with ``P`` = ``InterHand2.6M`` or ``BlurHand``. ``images[i]`` has id, file_name, capture, camera, frame_idx;
``annotations[i]`` has id, image_id, bbox, joint_valid (42), hand_type. BlurHand annotations add
``aid_list``: the annotation ids of the five sharp frames, in time order; the initial, middle and final
hands are the first, third and fifth.

World joints (42: right hand then left hand, each in InterHand's tips-first order) are millimetres; camera
coordinates are ``camrot @ (world - campos)``. NeuralAnnot MANO poses are world-frame and relative to the
official MANO mean pose, so these loaders need the official MANO files; left hands are mirrored into the
right-hand model, image and labels together. Annotations with an invalid joint are skipped.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

import cv2
import numpy as np
import torch

from addon.common.hand_model import HandModel
from addon.common.joints import remap
from addon.common.rotations import axis_angle_to_matrix, matrix_to_axis_angle, mirror_axis_angle
from inference.crop import crop_affine, crop_box, crop_image, normalise

from .data import CropSpec, training_sample

PREFIXES = {"interhand": "InterHand2.6M", "blurhand": "BlurHand"}


class RealDataError(ValueError):
    """A dataset folder that is not in the published layout; the message names the file and what is wrong."""


def _read(path: Path):
    if not path.is_file():
        raise RealDataError(f"{path}: missing (expected the published annotation layout; see training/real_data.py)")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RealDataError(f"{path}: not JSON ({exc})") from None


class InterHandLayout:
    """The annotation files of one split, indexed."""

    def __init__(self, root: str | Path, split: str, kind: str, model: Optional[HandModel]):
        if kind not in PREFIXES:
            raise RealDataError(f"unknown dataset kind {kind!r}; known: {', '.join(PREFIXES)}")
        if model is None or model.is_open_hand:
            raise RealDataError(f"{root}: {PREFIXES[kind]}'s MANO annotations are relative to the official MANO "
                                "mean pose; give the official MANO folder (mano_dir) to train on them")
        self.root, self.split, self.model = Path(root), split, model
        ann = self.root / "annotations" / split
        prefix = f"{PREFIXES[kind]}_{split}"
        data = _read(ann / f"{prefix}_data.json")
        self.cameras = _read(ann / f"{prefix}_camera.json")
        self.joints = _read(ann / f"{prefix}_joint_3d.json")
        self.mano = _read(ann / f"{prefix}_MANO_NeuralAnnot.json")
        try:
            self.images = {int(im["id"]): im for im in data["images"]}
            self.annotations = {int(a["id"]): a for a in data["annotations"]}
        except (KeyError, TypeError) as exc:
            raise RealDataError(f"{ann / (prefix + '_data.json')}: no images/annotations lists ({exc})") from None

    def camera(self, image: dict):
        cam = self.cameras[str(image["capture"])]
        c = str(image["camera"])
        rot = np.asarray(cam["camrot"][c], dtype=np.float64)
        pos = np.asarray(cam["campos"][c], dtype=np.float64)
        f, p = cam["focal"][c], cam["princpt"][c]
        k = np.array([[f[0], 0, p[0]], [0, f[1], p[1]], [0, 0, 1.0]])
        return rot, pos, k

    def hand(self, annotation: dict, side: str):
        """Camera-frame labels of one annotation's ``side`` hand, mirrored into a right hand if left:
        joints (21, 3) metres, 2D joints (21, 2) pixels, pose (48,) right-hand flat-mean, betas (10,)."""
        image = self.images[int(annotation["image_id"])]
        rot, pos, k = self.camera(image)
        capture, frame = str(image["capture"]), str(image["frame_idx"])
        world = np.asarray(self.joints[capture][frame]["world_coord"], dtype=np.float64)
        half = slice(0, 21) if side == "right" else slice(21, 42)
        cam = (world[half] - pos) @ rot.T / 1000.0
        uvw = cam @ k.T
        uv = uvw[:, :2] / uvw[:, 2:]
        params = self.mano[capture][frame][side]
        pose = np.asarray(params["pose"], dtype=np.float64)
        mean = self.model.hands_mean if side == "right" else mirror_axis_angle(self.model.hands_mean)
        full = np.concatenate([matrix_to_axis_angle(rot @ axis_angle_to_matrix(pose[:3])), pose[3:] + mean])
        joints = remap(cam, "interhand21", "mano21")
        uv = remap(uv, "interhand21", "mano21")
        if side == "left":
            full, joints = mirror_axis_angle(full), joints * np.array([-1.0, 1.0, 1.0])
        return {"joints": joints, "uv": uv, "pose": full, "betas": np.asarray(params["shape"], dtype=np.float64),
                "image": image}

    def valid(self, annotation: dict, side: str) -> bool:
        v = np.asarray(annotation["joint_valid"]).reshape(-1)
        return bool(np.all(v[:21] if side == "right" else v[21:42]))


class RealSamples(torch.utils.data.Dataset):
    """Training samples (the same dict as ``BlurHandSamples``) from InterHand2.6M (one time, repeated) or the
    BlurHand release (initial / middle / final from ``aid_list``)."""

    def __init__(self, root: str | Path, split: str, kind: str, model: Optional[HandModel],
                 spec: CropSpec = CropSpec()):
        self.layout = InterHandLayout(root, split, kind, model)
        self.kind, self.spec = kind, spec
        self.items: List[tuple] = []  # (the image's annotation id, annotation ids of the three times, side)
        for a in self.layout.annotations.values():
            side = a.get("hand_type")
            if side not in ("right", "left"):
                continue  # interacting hands: not a single-hand sample
            if kind == "blurhand":
                if "aid_list" not in a:
                    raise RealDataError(f"{root}: annotation {a['id']} has no aid_list: not the BlurHand release")
                ids = [int(a["aid_list"][i]) for i in (0, 2, 4)]
            else:
                ids = [int(a["id"])] * 3
            if all(self.layout.valid(self.layout.annotations[i], side) for i in ids):
                self.items.append((int(a["id"]), ids, side))
        if not self.items:
            raise RealDataError(f"{root}: no single-hand annotation with all joints valid in split {split!r}")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Dict[str, torch.Tensor]:
        own, ids, side = self.items[i]
        spec, layout = self.spec, self.layout
        times = [layout.hand(layout.annotations[a], side) for a in ids]
        image_info = layout.images[int(layout.annotations[own]["image_id"])]
        path = layout.root / "images" / layout.split / image_info["file_name"]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise RealDataError(f"{path}: missing or unreadable image")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        uv = np.stack([t["uv"] for t in times])
        box = crop_box(uv, spec.scale)
        mirror = side == "left"
        image = normalise(crop_image(rgb, box, spec.image_size, mirror=mirror))
        return training_sample(image, crop_affine(box, spec.image_size, mirror=mirror), uv,
                               np.stack([t["joints"] for t in times]), np.stack([t["pose"] for t in times]),
                               times[1]["betas"], box, spec)
