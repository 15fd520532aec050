"""Loaders for InterHand2.6M and the BlurHand release, on tiny fixtures written in their published layouts."""
from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest

from addon.common.hand_model import find_hand_model
from addon.common.joints import TIP_VERTEX_IDS, remap
from addon.common.lbs import lbs
from addon.common.rotations import axis_angle_to_matrix
from helpers import assert_close
from training.data import CropSpec
from training.real_data import RealDataError, RealSamples

TIPS = list(TIP_VERTEX_IDS.values())
CAMROT = axis_angle_to_matrix(np.array([0.1, 0.3, -0.05]))
CAMPOS = np.array([10.0, -20.0, -450.0])  # mm


def official(side):
    # the open hand's arrays standing in for an official file (the loaders only need a non-open model)
    return dataclasses.replace(find_hand_model(side), is_open_hand=False)


def mano_world(model, pose, betas, trans):
    """MANO-21 joints (21, 3) in metres for a world-frame pose (48,) with flat_hand_mean=True."""
    out = lbs(betas[None], pose[None], model.v_template, model.shapedirs, model.posedirs, model.J_regressor,
              model.parents, model.weights, trans[None])
    return np.concatenate([out.joints, out.vertices[:, TIPS]], 1)[0]


def write_dataset(root, kind):
    rng = np.random.default_rng(7)
    prefix = {"interhand": "InterHand2.6M", "blurhand": "BlurHand"}[kind]
    ann_dir = root / "annotations" / "train"
    img_dir = root / "images" / "train"
    ann_dir.mkdir(parents=True)
    img_dir.mkdir(parents=True)
    images, annotations, joints, mano, truth = [], [], {"0": {}}, {"0": {}}, {}
    shapes = {side: rng.normal(0, 0.5, 10) for side in ("right", "left")}  # one subject
    for frame in range(5):
        entry = {}
        world42 = np.zeros((42, 3))
        for side, half in (("right", slice(0, 21)), ("left", slice(21, 42))):
            model = official(side)
            pose = np.concatenate([[0.2 + 0.1 * frame, -0.4, 0.3], rng.normal(0, 0.2, 45)])
            betas = shapes[side]
            trans = np.array([0.0 if side == "right" else 0.15, 0.02, 0.05])
            j = mano_world(model, pose, betas, trans) * 1000.0
            world42[half] = remap(j, "mano21", "interhand21")
            stored = np.concatenate([pose[:3], pose[3:] - model.hands_mean])  # relative to the mean pose
            entry[side] = {"pose": stored.tolist(), "shape": betas.tolist(), "trans": trans.tolist()}
            truth[(frame, side)] = (pose, betas)
        joints["0"][str(frame)] = {"world_coord": world42.tolist(), "hand_type": "interacting"}
        mano["0"][str(frame)] = entry
        images.append({"id": frame, "file_name": f"f{frame}.png", "width": 64, "height": 64, "capture": 0,
                       "camera": "400", "frame_idx": frame})
        for k, side in enumerate(("right", "left")):
            annotations.append({"id": 10 * frame + k, "image_id": frame, "bbox": [0, 0, 64, 64],
                                "joint_valid": [1] * 42, "hand_type": side, "hand_type_valid": 1})
        cv2.imwrite(str(img_dir / f"f{frame}.png"), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    if kind == "blurhand":  # one blurry image per side, made of the five sharp frames
        images.append({"id": 99, "file_name": "blur.png", "width": 64, "height": 64, "capture": 0, "camera": "400",
                       "frame_idx": 2})
        cv2.imwrite(str(img_dir / "blur.png"), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
        sharp = annotations
        annotations = [{"id": 1000 + k, "image_id": 99, "bbox": [0, 0, 64, 64], "joint_valid": [1] * 42,
                        "hand_type": side, "hand_type_valid": 1, "is_middle": True,
                        "aid_list": [10 * f + k for f in range(5)]} for k, side in enumerate(("right", "left"))]
        annotations += [dict(a, hand_type="interacting") for a in sharp]  # sharp frames: labels only
    camera = {"0": {"campos": {"400": CAMPOS.tolist()}, "camrot": {"400": CAMROT.tolist()},
                    "focal": {"400": [600.0, 600.0]}, "princpt": {"400": [32.0, 32.0]}}}
    for name, data in (("data", {"images": images, "annotations": annotations}), ("camera", camera),
                       ("joint_3d", joints), ("MANO_NeuralAnnot", mano)):
        (ann_dir / f"{prefix}_train_{name}.json").write_text(json.dumps(data))
    return truth


def check_labels_match_mano(sample, times):
    """Root-relative joints must equal MANO (right model) at the loaded camera-frame pose."""
    right = official("right")
    for t in range(times):
        j = mano_world(right, sample["pose"][t].double().numpy(), sample["betas"].double().numpy(), np.zeros(3))
        assert_close(j - j[:1], sample["joints_cam"][t].numpy(), atol=2e-5)


def test_interhand_labels_are_camera_frame_flat_mean_and_left_hands_mirror(tmp_path):
    write_dataset(tmp_path, "interhand")
    data = RealSamples(tmp_path, "train", "interhand", official("right"), CropSpec(64, 8, 8))
    assert len(data) == 10
    sides = [side for _, _, side in data.items]
    for i in (sides.index("right"), sides.index("left")):
        sample = data[i]
        assert sample["image"].shape == (3, 64, 64)
        check_labels_match_mano(sample, 3)
        assert torch_equal(sample["joints_cam"][0], sample["joints_cam"][2])  # one time, repeated


def torch_equal(a, b):
    return bool((a == b).all())


def test_blurhand_times_come_from_the_aid_list_in_order(tmp_path):
    truth = write_dataset(tmp_path, "blurhand")
    data = RealSamples(tmp_path, "train", "blurhand", official("right"), CropSpec(64, 8, 8))
    assert len(data) == 2  # the two blurry annotations; the sharp frames are labels only
    sample = data[[side for _, _, side in data.items].index("right")]
    check_labels_match_mano(sample, 3)
    # initial / middle / final = sharp frames 0, 2, 4: their hand poses, untouched by the camera
    for t, frame in enumerate((0, 2, 4)):
        assert_close(sample["pose"][t, 3:].numpy(), truth[(frame, "right")][0][3:], atol=1e-5)


def test_real_loaders_refuse_the_open_hand_and_name_missing_files(tmp_path):
    write_dataset(tmp_path, "interhand")
    with pytest.raises(RealDataError, match="official MANO mean pose"):
        RealSamples(tmp_path, "train", "interhand", find_hand_model("right"))
    with pytest.raises(RealDataError, match="BlurHand_train_data.json: missing"):
        RealSamples(tmp_path, "train", "blurhand", official("right"))
    with pytest.raises(RealDataError, match="has no aid_list"):
        (tmp_path / "annotations/train/BlurHand_train_data.json").write_text(
            (tmp_path / "annotations/train/InterHand2.6M_train_data.json").read_text())
        for name in ("camera", "joint_3d", "MANO_NeuralAnnot"):
            (tmp_path / f"annotations/train/BlurHand_train_{name}.json").write_text(
                (tmp_path / f"annotations/train/InterHand2.6M_train_{name}.json").read_text())
        RealSamples(tmp_path, "train", "blurhand", official("right"))
