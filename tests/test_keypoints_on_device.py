"""Training the keypoint network with its frames in device memory: frame packs carry a rendered set's frames
and joints (or a rendered clip's, from its motion truth); the device crops are the worker's crops (same map,
same sampling); a short run on the CPU lowers the loss and writes a checkpoint the job can load."""
from __future__ import annotations

import math
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from helpers import ROOT, assert_close
from inference.crop import crop_affine, crop_box, crop_image
from inference.models.keypoints import KeypointNetConfig
from inference.models.output import load_model
from scenes.dataset import SyntheticDataset
from training.frame_pack import PackError, load_pack, pack_clips, pack_frames, save_pack
from training.keypoints_on_device import (
    DeviceAugment,
    DeviceFrames,
    RunSettings,
    apply_affines,
    crop_affines,
    crop_boxes,
    sample_crops,
    score_checkpoint,
    train_on_device,
)

SMALL = KeypointNetConfig(backbone_depth=10, backbone_width=8, image_size=64, decoder_channels=16)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("kp-set")
    subprocess.run([sys.executable, "-m", "scenes.generate", "--out", str(out), "--quiet", "--size", "96",
                    "--frames", "3", "--sequences", "3", "--samples", "4", "--blur", "--seed", "5"],
                   check=True, capture_output=True, timeout=600)
    return out


@pytest.fixture(scope="module")
def packed(rendered, tmp_path_factory):
    return save_pack(pack_frames([str(rendered)], sharp_share=0.5, quality=95, min_inside=0),
                     tmp_path_factory.mktemp("pack") / "frames.npz")


def test_a_pack_holds_each_frames_image_and_joints(rendered, packed):
    ds, pack = SyntheticDataset(rendered), load_pack(packed)
    assert len(pack) == len(ds) and 0 < pack.sharp.sum() < len(pack)
    for i in range(len(ds)):
        frame = ds[i]
        mid = len(frame["joints2d"]) // 2
        image = frame["sharp"] if pack.sharp[i] else frame["image"]
        assert np.array_equal(pack.image(i), jpeg_round_trip(image, 95)), f"frame {i}: not its own image"
        times = np.repeat(frame["joints2d"][mid:mid + 1], 3, 0) if pack.sharp[i] else frame["joints2d"]
        assert_close(pack.joints2d[i], times, 1e-4, f"frame {i} 2D joints")
        assert_close(pack.joints3d[i], frame["joints3d"][mid], 1e-6, f"frame {i} 3D joints")
    # the draw of sharp or blurred is the pack's seed's, not chance
    again = pack_frames([str(rendered)], sharp_share=0.5, quality=95, min_inside=0)
    assert np.array_equal(again.sharp, pack.sharp) and np.array_equal(again.offsets, pack.offsets)


def jpeg_round_trip(rgb: np.ndarray, quality: int) -> np.ndarray:
    data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_a_pack_leaves_out_frames_whose_hand_is_mostly_outside_the_image(rendered):
    ds = SyntheticDataset(rendered)
    inside = np.array([((ds.labels(i)["joints2d"][1] >= 0) & (ds.labels(i)["joints2d"][1] < 96)).all(-1).sum()
                       for i in range(len(ds))])
    need = int(np.sort(inside)[len(inside) // 2])  # the median frame's count: some frames pass, some do not
    pack = pack_frames([str(rendered)], min_inside=need)
    assert len(pack) == (inside >= need).sum()


def test_a_cropped_pack_keeps_the_square_around_the_hand_with_its_joints_in_that_square(rendered):
    ds = SyntheticDataset(rendered)
    full = pack_frames([str(rendered)], sharp_share=0.5, quality=95, min_inside=0)
    cropped = pack_frames([str(rendered)], sharp_share=0.5, quality=95, min_inside=0, crop=(1.8, 64))
    assert np.array_equal(full.sharp, cropped.sharp)  # the same draws
    for i in range(len(ds)):
        frame = ds[i]
        image = frame["sharp"] if full.sharp[i] else frame["image"]
        box = crop_box(full.joints2d[i], 1.8)
        affine = crop_affine(box, 64)
        assert np.array_equal(cropped.image(i), jpeg_round_trip(crop_image(image, box, 64), 95))
        assert_close(cropped.joints2d[i], full.joints2d[i] @ affine[:, :2].T + affine[:, 2], 1e-3, "joints in the crop")
        assert_close(cropped.joints3d[i], full.joints3d[i], 0.0, "3D joints stay")


def test_a_set_without_blur_packs_its_one_image_as_sharp(tmp_path):
    out = tmp_path / "sharp-set"
    subprocess.run([sys.executable, "-m", "scenes.generate", "--out", str(out), "--quiet", "--size", "64",
                    "--frames", "2", "--sequences", "2", "--samples", "2", "--seed", "9"],
                   check=True, capture_output=True, timeout=600)
    ds, pack = SyntheticDataset(out), pack_frames([str(out)], sharp_share=0.0, quality=95, min_inside=0)
    assert len(pack) == len(ds) and pack.sharp.all()  # streaks may be drawn on them in training
    for i in range(len(ds)):
        assert np.array_equal(pack.image(i), jpeg_round_trip(ds[i]["image"], 95))
        assert_close(pack.joints2d[i], np.repeat(ds[i]["joints2d"], 3, 0), 1e-4, "one time, three times over")


def test_a_file_that_is_not_a_pack_is_refused(tmp_path, packed):
    with pytest.raises(PackError, match="no such"):
        load_pack(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(PackError, match="not a readable"):
        load_pack(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", format=np.array("something else"))
    with pytest.raises(PackError, match="not a frame pack"):
        load_pack(tmp_path / "other.npz")
    with np.load(packed) as data:
        arrays = {k: data[k] for k in data.files}
    np.savez(tmp_path / "cut.npz", **{**arrays, "offsets": arrays["offsets"][:-1]})
    with pytest.raises(PackError, match="inconsistent"):
        load_pack(tmp_path / "cut.npz")


def test_device_crops_are_the_workers_crops():
    """Boxes, maps and pixels as ``inference.crop`` makes them, on a frame of the shipped clip."""
    cap = cv2.VideoCapture(str(ROOT / "samples" / "sample_clip.mp4"))
    ok, bgr = cap.read()
    assert ok
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    rng = np.random.default_rng(3)
    points = rng.uniform([200, 80], [420, 300], (4, 3, 21, 2))
    boxes = crop_boxes(torch.from_numpy(points), 1.3)
    for i in range(4):
        assert_close(boxes[i].numpy(), crop_box(points[i], 1.3), 1e-9, "box")
    angles = torch.tensor([0.0, 0.4, -1.3, math.pi / 2], dtype=torch.float64)
    affines = crop_affines(boxes, 128, angles)
    crops = sample_crops(torch.from_numpy(rgb)[None].expand(4, -1, -1, -1), torch.arange(4), affines, 128)
    for i in range(4):
        expected = crop_affine(boxes[i].numpy(), 128, float(angles[i]))
        assert_close(affines[i].numpy(), expected, 1e-9, "affine")
        assert_close(apply_affines(torch.from_numpy(points[i, 1])[None], affines[i:i + 1])[0].numpy(),
                     points[i, 1] @ expected[:, :2].T + expected[:, 2], 1e-9, "joints")
        worker = crop_image(rgb, boxes[i].numpy(), 128, float(angles[i])).astype(np.float64)
        ours = crop_image_from(crops[i])
        assert np.abs(ours - worker).mean() < 0.5, f"crop {i}: {np.abs(ours - worker).mean():.2f} levels apart"
        assert np.percentile(np.abs(ours - worker), 99) <= 6.0  # cv2 rounds its weights to 1/32 of a pixel


def crop_image_from(crop: torch.Tensor) -> np.ndarray:
    return crop.permute(1, 2, 0).double().numpy() * 255.0


def test_a_streak_smears_the_crop_along_its_direction_only():
    image = np.zeros((1, 64, 64, 3), np.uint8)
    image[0, 32, 32] = 255  # one bright pixel
    frames = torch.from_numpy(image)
    affine = crop_affines(torch.tensor([[0.0, 0.0, 64.0]]), 64, torch.zeros(1))
    streak = sample_crops(frames, torch.tensor([0]), affine, 64, torch.tensor([[12.0, 0.0]]))[0, 0]
    rows, cols = torch.nonzero(streak > 1e-3, as_tuple=True)
    assert set(rows.tolist()) == {32} and cols.min() <= 27 and cols.max() >= 37  # 12 px along x, none along y
    assert float(streak.sum()) == pytest.approx(1.0, rel=1e-4)  # the light is spread, not lost


def test_batches_carry_the_middle_joints_into_the_crop_and_depths_from_the_wrist(packed):
    frames = DeviceFrames([load_pack(packed)], 64, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    index = torch.arange(len(frames))
    batch = frames.batch(index, DeviceAugment.none(), gen)
    pack = load_pack(packed)
    for i in range(len(pack)):
        expected = crop_affine(crop_box(pack.joints2d[i], 1.3), 64)
        assert_close(batch["points"][i].numpy(), pack.joints2d[i, 1] @ expected[:, :2].T + expected[:, 2], 1e-3,
                     f"frame {i} joints in the crop")
        assert_close(batch["depths"][i].numpy(), pack.joints3d[i, :, 2] - pack.joints3d[i, 0, 2], 1e-6, "depths")
    jittered = frames.batch(index, DeviceAugment(), gen)
    inside = ((jittered["points"] > -8) & (jittered["points"] < 72)).all(-1).float().mean()
    assert inside > 0.9 and not torch.allclose(jittered["points"], batch["points"])


def test_packs_of_other_image_sizes_share_one_set_and_keep_their_own_pixels(rendered, packed):
    small = pack_frames([str(rendered)], sharp_share=0.5, quality=95, min_inside=0, crop=(1.8, 48))
    frames = DeviceFrames([load_pack(packed), small], 64, torch.device("cpu"))
    n = len(load_pack(packed))
    assert len(frames) == n + len(small) and frames.images.shape[1:3] == (96, 96)
    assert np.array_equal(frames.images[n][:48, :48].numpy(), small.image(0))
    assert int(frames.images[n][48:].max()) == 0 and int(frames.images[n][:, 48:].max()) == 0
    assert_close(frames.joints2d[n].numpy(), small.joints2d[0], 0.0, "the small pack's joints")


def test_a_short_run_lowers_the_loss_and_writes_a_checkpoint_the_job_loads(packed, tmp_path):
    torch.manual_seed(0)
    settings = RunSettings(minutes=10.0, batch_size=8, lr=2e-3, max_steps=60, log_seconds=0.0, checkpoint_seconds=1e9)
    result = train_on_device([str(packed)], tmp_path / "run", SMALL, settings, aug=DeviceAugment.none(),
                             val=str(packed), device="cpu", say=lambda *_: None)
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()[1:]
    totals = [float(r.split(",")[4]) for r in rows]
    assert result["steps"] == 60 and len(totals) >= 50
    assert np.mean(totals[-10:]) < 0.8 * np.mean(totals[:5]), totals
    model = load_model(tmp_path / "run" / "model.pt", expect="keypoints")
    meta = model.checkpoint_metadata
    assert meta["trainer"] == "training.keypoints_on_device" and meta["run"]["max_steps"] == 60
    assert meta["final"] and meta["val_crop_px"] == pytest.approx(result["val_crop_px"])
    assert model.config == SMALL
    best = load_model(tmp_path / "run" / "best.pt", expect="keypoints").checkpoint_metadata
    assert best["val_crop_px"] <= meta["val_crop_px"]
    # --score reads the saved checkpoint back as the run scored it (its weights stored in half precision)
    rescored = score_checkpoint(tmp_path / "run" / "model.pt", packed, "cpu")
    assert rescored["val_crop_px"] == pytest.approx(result["val_crop_px"], rel=0.05, abs=0.2)


def test_a_clip_pack_holds_the_videos_frames_cropped_around_the_truths_projected_joints(tmp_path):
    from addon.common.motion_sequence import load_motion_sequence
    from inference.video import Footage
    from training.video_scores import project, truth_pixels

    truth = ROOT / "samples" / "sample_clip_truth.npz"
    pack = load_pack(save_pack(pack_clips([str(truth)], quality=95, every=8, crop=(1.8, 144)), tmp_path / "c.npz"))
    true_px = truth_pixels(load_motion_sequence(truth))
    assert len(pack) == 15 and pack.sharp.all() and pack.visible.all()  # frames 0, 8, ..., 112 of 120
    frames = dict(Footage(str(ROOT / "samples" / "sample_clip.mp4")).frames())
    for index in (0, 40, 112):
        i = index // 8
        box = crop_box(np.repeat(true_px[index][None], 3, 0), 1.8)
        affine = crop_affine(box, 144)
        assert_close(pack.joints2d[i, 1], true_px[index] @ affine[:, :2].T + affine[:, 2], 1e-3, "crop pixels")
        assert np.abs(pack.image(i).astype(float) - crop_image(frames[index], box, 144)).mean() < 3.0  # JPEG
    seq = load_motion_sequence(truth)  # the 3D joints are the truth's, in its camera's space
    assert_close(project(pack.joints3d[5], seq.camera_matrix), true_px[40], 1e-3, "image pixels")
    with pytest.raises(PackError, match="no clip"):
        pack_clips([str(tmp_path / "lost_truth.npz")])
