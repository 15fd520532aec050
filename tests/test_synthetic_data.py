"""The synthetic data engine: pose flows, rendering, labels, determinism, resume, bad input."""
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from addon.common.hand_model import find_hand_model
from helpers import assert_close
from scenes.dataset import DatasetError, SyntheticDataset
from scenes.pose_bank import PoseBank, PoseBankError
from scenes.pose_flow import FlowParams, sample_flow

TINY = ["--size", "48", "--frames", "2", "--samples", "2", "--shard-size", "2"]


def generate(out, *extra, check=True):
    result = subprocess.run([sys.executable, "-m", "scenes.generate", "--out", str(out), "--quiet", *TINY, *map(str, extra)],
                            capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def blurred(tmp_path_factory):
    out = tmp_path_factory.mktemp("blurred")
    generate(out, "--sequences", 3, "--blur", "--subframes", 3, "--occluders", "--seed", 7)
    return out


def test_pose_flows_walk_from_one_bank_pose_toward_another_through_bank_poses():
    model = find_hand_model("right")
    bank = PoseBank.from_prior(3000, seed=1, model=model)
    k = np.array([[200.0, 0, 128], [0, 200.0, 128], [0, 0, 1]])
    flow = sample_flow(bank, model, k, (256, 256), FlowParams(frames=10, alpha=3.0), np.random.default_rng(0))
    assert flow.hand_pose.shape == (10, 45) and np.all(np.abs(flow.betas) <= 2.0)
    for pose, i in zip(flow.hand_pose, flow.bank_index):
        np.testing.assert_array_equal(pose, bank.poses[i])  # every pose is a real bank pose
    start, end = bank.joints[flow.bank_index[0]], bank.joints[flow.bank_index[-1]]
    assert np.linalg.norm(start - end) > 0.01
    z = flow.wrist[:, 2]
    assert np.all((z >= 0.3) & (z <= 0.6))
    # the camera moves monotonically toward its end values (no snapping there)
    assert np.all(np.diff(np.linalg.norm(flow.wrist - flow.wrist[-1], axis=1)) <= 1e-12)


def test_pose_banks_reject_wrong_shapes_and_official_only_sources(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((10, 44)))
    with pytest.raises(PoseBankError, match=r"expected poses of shape \(N, 45\)"):
        PoseBank.load(str(tmp_path / "bad.npy"))
    (tmp_path / "freihand.json").write_text(json.dumps([[0.0] * 61] * 3))
    with pytest.raises(PoseBankError, match="official MANO mean pose"):
        PoseBank.load(str(tmp_path / "freihand.json"), find_hand_model("right"))
    np.save(tmp_path / "ok.npy", np.zeros((5, 48)))
    assert len(PoseBank.load(str(tmp_path / "ok.npy"))) == 5


def check_labels(ds, size=48):
    """Projected joints match the 2D labels, visible joints lie in the hand mask, the MANO mesh covers it."""
    for i in range(len(ds)):
        frame = ds[i]
        k = frame["K"]
        mid = len(ds.label_times) // 2
        uvw = frame["joints3d"][mid] @ k.T
        assert_close(uvw[:, :2] / uvw[:, 2:], frame["joints2d"][mid], 0.5, "projected joints (px)")
        px = np.round(frame["joints2d"][mid][frame["visible"]]).astype(int)
        assert np.all(frame["mask"][px[:, 1], px[:, 0]]), "a joint marked visible lies outside the hand mask"
        # the mask is the hand seen at the middle time: projected MANO vertices cover it
        v2d = frame["vertices"][mid] @ k.T
        v2d = np.round(v2d[:, :2] / v2d[:, 2:]).astype(int)
        inside = (v2d >= 0).all(1) & (v2d < size).all(1)
        cover = np.zeros((size, size), bool)
        for dx in (-2, -1, 0, 1, 2):
            for dy in (-2, -1, 0, 1, 2):
                p = np.clip(v2d[inside] + [dx, dy], 0, size - 1)
                cover[p[:, 1], p[:, 0]] = True
        if frame["mask"].sum() > 10:
            assert (frame["mask"] & cover).sum() / frame["mask"].sum() > 0.95
        assert frame["image"].shape == (size, size, 3)


def test_labels_match_the_pictures(blurred):
    ds = SyntheticDataset(blurred)
    assert len(ds) == 6 and ds.label_times.tolist() == [-2.0, 0.0, 2.0]
    check_labels(ds)
    assert ds[0]["sharp"].shape == (48, 48, 3)


def test_a_forearm_and_sleeve_are_drawn_but_stay_out_of_the_hand_labels(tmp_path):
    from scenes.renderer import HandRenderer, RenderSettings

    out = tmp_path / "forearm"
    generate(out, "--sequences", 2, "--forearm", "--hand", "makehuman", "--seed", 5)
    check_labels(SyntheticDataset(out))
    # in one scene: the forearm covers pixels the hand mask leaves out, right at the wrist
    renderer = HandRenderer(RenderSettings(size=64, engine="workbench"))
    model = find_hand_model("right", hand="makehuman")
    rig = renderer.add_hand(model, np.zeros(10), 2, "hand", camera=True)
    renderer.add_forearm(rig, model, np.zeros(10), 2, np.random.default_rng(0))
    wrist = model.rest_joints()[0]
    turn = np.array([0.0, 0.0, 0.0, *np.zeros(45)])
    renderer.pose(rig, turn, np.array([0.0, 0.05, 0.45]) - wrist)
    alpha = renderer.render()[..., 3] > 0.5
    hand = renderer.hand_mask(rig)
    assert hand.sum() > 50 and (alpha & ~hand).sum() > 50 and not (hand & ~alpha).any()
    names = {o.name for o in renderer.scene.objects}
    renderer.clear()
    assert {"forearm"} <= names and not {o.name for o in renderer.scene.objects} & {"forearm", "sleeve"}


def test_the_blurred_frames_middle_truth_is_the_sharp_frame_rendered_then(blurred):
    from scenes.backgrounds import BackgroundSource
    from scenes.renderer import HandRenderer, RenderSettings, load_image_linear
    from scenes.synthesize import SynthSettings, synthesize_sequence

    ds = SyntheticDataset(blurred)
    first = ds[0]
    # re-create sequence 0 in this process and render its middle time directly
    renderer = HandRenderer(RenderSettings(size=48, samples=2))
    bank = PoseBank.from_prior(20000, model=find_hand_model("right"))
    models = {"right": find_hand_model("right"), "left": find_hand_model("left")}
    settings = SynthSettings(frames=2, blur=True, subframes=3, occluders=True)
    labels = synthesize_sequence(renderer, bank, models, BackgroundSource.from_folder(None, load_image_linear), settings, 7, 0,
                                 blurred / "again")
    assert_close(labels["joints3d"][0], first["joints3d"], 1e-6, "same labels from the same seed")
    from addon.common.png import read_png

    again = read_png(blurred / "again" / "sharp" / "s000000_f000.png")
    assert np.abs(again.astype(int) - first["sharp"].astype(int)).max() <= 1
    # the blurred image is not the sharp one, the sharp one is the middle sub-frame
    assert np.abs(first["image"].astype(int) - first["sharp"].astype(int)).mean() > 0.5


def test_one_pass_motion_blur_matches_the_sub_frame_average():
    # One Cycles render with deformation motion blur against the paper's average of renders, same scene. The
    # hand layers (premultiplied linear RGBA) differ by no more than the one-pass frame's own sampling noise.
    from scenes.renderer import HandRenderer, RenderSettings
    from scenes.synthesize import SynthSettings, flow_at

    settings = SynthSettings(frames=4, blur=True, subframes=9)
    renderer = HandRenderer(RenderSettings(size=64, samples=16))
    model = find_hand_model("right")
    rng = np.random.default_rng(3)
    flow = sample_flow(PoseBank.from_prior(2000, model=model), model, renderer.settings.intrinsics, (64, 64),
                       FlowParams(frames=4, extra=settings.margin), rng)
    rig = renderer.add_hand(model, flow.betas, flow.skin, "hand", camera=True)
    renderer.randomize_lights(rng)
    times = settings.margin + 1 + settings.times()
    poses = [flow_at(flow, t) for t in times]

    def one_pass(seed):
        renderer.scene.cycles.seed = seed
        renderer.key_exposure(rig, np.array([p[0] for p in poses]), np.array([p[1] for p in poses]))
        image = renderer.render_blurred()
        renderer.clear_exposure_keys()
        return image

    motion, noise = one_pass(0), one_pass(1)
    renderer.scene.cycles.seed = 0
    average = 0.0
    for full, transl in poses:
        renderer.pose(rig, full, transl)
        average = average + renderer.render() / len(poses)
    renderer.pose(rig, *poses[len(poses) // 2])
    sharp = renderer.render()
    covered = (motion[..., 3] > 1e-3) | (average[..., 3] > 1e-3)

    def mad(a, b):
        return float(np.abs(a - b)[covered].mean())

    assert mad(motion, average) <= 1.5 * mad(motion, noise)  # the gap is noise, not a different picture
    footprint = {k: int((v[..., 3] > 0.02).sum()) for k, v in (("motion", motion), ("average", average),
                                                                 ("sharp", sharp))}
    assert footprint["motion"] > 1.1 * footprint["sharp"]  # the blur smears the hand over more pixels
    assert abs(footprint["motion"] - footprint["average"]) < 0.15 * footprint["average"]
    assert abs(motion[..., 3].sum() - average[..., 3].sum()) < 0.1 * average[..., 3].sum()
    assert renderer.scene.render.use_motion_blur is False and rig.armature.animation_data is None


def test_a_dataset_from_before_the_blur_method_resumes_as_averaged(tmp_path):
    out = tmp_path / "old"
    generate(out, "--sequences", 2, "--blur", "--subframes", 3, "--blur-method", "average")
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("blur_method", "blur_samples"):  # a manifest written before these settings existed
        del manifest["settings"][key]
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert "other settings (blur_method)" in generate(out, "--sequences", 2, "--blur", "--subframes", 3,
                                                      check=False).stderr
    (out / "shard_000000" / "labels.npz").unlink()  # an unfinished shard, redone with the old method
    generate(out, "--sequences", 2, "--blur", "--subframes", 3, "--blur-method", "average")
    assert (out / "shard_000000" / "labels.npz").is_file()


def test_same_seed_gives_the_same_files_and_workers_do_not_change_them(tmp_path, blurred):
    second = tmp_path / "again"
    generate(second, "--sequences", 3, "--blur", "--subframes", 3, "--occluders", "--seed", 7, "--workers", 2)
    assert not (second / ".scratch").exists(), "render scratch files left behind"
    for shard in ("shard_000000", "shard_000001"):
        a = np.load(blurred / shard / "labels.npz")
        b = np.load(second / shard / "labels.npz")
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        for png in sorted((blurred / shard / "images").glob("*.png")):
            assert png.read_bytes() == (second / shard / "images" / png.name).read_bytes(), png.name


def test_ray_tasks_give_the_local_runs_files_and_a_resumed_run_skips_finished_shards(tmp_path, blurred):
    # A local Ray instance (started and stopped by the run itself): each task renders a shard on its node
    # and the driver writes the files.
    out = tmp_path / "ray"
    done = generate(out, "--sequences", 3, "--blur", "--subframes", 3, "--occluders", "--seed", 7, "--ray")
    assert "3/3 shards" not in done.stderr  # --quiet: no bar
    local = sorted(p.relative_to(blurred) for p in blurred.glob("shard_*/**/*") if p.is_file())
    assert local and local == sorted(p.relative_to(out) for p in out.glob("shard_*/**/*") if p.is_file())
    for rel in local:
        assert (blurred / rel).read_bytes() == (out / rel).read_bytes(), rel
    kept = (out / "shard_000000" / "labels.npz").stat().st_mtime_ns
    redo = out / "shard_000001"
    (redo / "labels.npz").unlink()
    generate(out, "--sequences", 3, "--blur", "--subframes", 3, "--occluders", "--seed", 7, "--ray")
    assert (out / "shard_000000" / "labels.npz").stat().st_mtime_ns == kept
    assert (redo / "labels.npz").read_bytes() == (blurred / "shard_000001" / "labels.npz").read_bytes()
    assert not list(out.glob("*.partial")) and not (out / ".scratch").exists()


def test_an_interrupted_run_resumes_without_duplicates(tmp_path):
    out = tmp_path / "ds"
    generate(out, "--sequences", 4)
    kept = (out / "shard_000000" / "labels.npz").stat().st_mtime_ns
    # simulate a crash during shard 1: its folder is only partial
    os.rename(out / "shard_000001", out / "shard_000001.partial")
    (out / "shard_000001.partial" / "labels.npz").unlink()
    with pytest.raises(DatasetError, match="1 of 2 shards are complete"):
        SyntheticDataset(out)
    generate(out, "--sequences", 4)
    assert (out / "shard_000000" / "labels.npz").stat().st_mtime_ns == kept
    assert not (out / "shard_000001.partial").exists()
    ds = SyntheticDataset(out)
    seqs = [(int(ds.labels(i)["sequence"]), int(ds.labels(i)["frame"])) for i in range(len(ds))]
    assert sorted(seqs) == [(s, f) for s in range(4) for f in range(2)]


@pytest.mark.parametrize("extra, message", [
    (["--backgrounds", "/nonexistent/folder"], "background folder /nonexistent/folder does not exist"),
    (["--backgrounds", "{empty}"], "holds no images"),
    (["--pose-bank", "{badbank}"], "expected poses of shape (N, 45)"),
    (["--blur", "--subframes", "4"], "--subframes must be odd"),
    (["--blur", "--engine", "workbench"], "use --engine cycles, or --blur-method average"),
    (["--exclude-photos", "coffee,no_such_photo"], "no built-in photo named no_such_photo"),
    (["--backgrounds", "{empty}", "--exclude-photos", "coffee"], "applies to the built-in backgrounds"),
])
def test_bad_input_is_named_before_rendering(tmp_path, extra, message):
    (tmp_path / "empty").mkdir()
    np.save(tmp_path / "bad.npy", np.zeros((3, 7)))
    args = [a.format(empty=tmp_path / "empty", badbank=tmp_path / "bad.npy") for a in extra]
    result = generate(tmp_path / "out", "--sequences", 1, *args, check=False)
    assert result.returncode == 1
    assert message in result.stderr.strip().splitlines()[-1]
    assert not list((tmp_path / "out").glob("shard_*"))


def test_excluded_photos_never_become_backgrounds():
    from scenes.backgrounds import BackgroundSource, registry_sample_images

    names = [p.stem for p in registry_sample_images()]
    assert {"coffee", "astronaut"} <= set(names)
    source = BackgroundSource.default(loader=lambda path: path.stem, exclude=["coffee", "astronaut"])
    assert source.procedural_share == 0.5  # procedural textures as before, for half the sequences
    photos_only = dataclasses.replace(source, procedural_share=0.0)
    photos = {photos_only.image(np.random.default_rng(seed)) for seed in range(200)}
    assert not photos & {"coffee", "astronaut"} and len(photos) == len(names) - 2


def test_unwritable_output_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = generate(blocker / "ds", "--sequences", 1, check=False)
    assert result.returncode == 1 and "cannot write to" in result.stderr


def test_real_annotation_banks_load_with_the_official_model(tmp_path):
    from addon.common.hand_model import OPEN_HAND_FILES, load_hand_model
    from helpers import write_official_format

    official = load_hand_model(write_official_format(load_hand_model(OPEN_HAND_FILES["right"]),
                                                     tmp_path / "MANO_RIGHT.pkl"))
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.normal(0, 0.3, (4, 48)), np.zeros((4, 13))], axis=1)
    (tmp_path / "training_mano.json").write_text(json.dumps(rows.tolist()))
    bank = PoseBank.load(str(tmp_path / "training_mano.json"), official)
    assert_close(bank.poses, rows[:, 3:48] + official.hands_mean, 1e-12, "FreiHAND poses + MANO mean")
    ih = {"0": {"10": {"right": {"pose": rows[0, :48].tolist(), "shape": [0] * 10, "trans": [0] * 3},
                       "left": {"pose": rows[1, :48].tolist(), "shape": [0] * 10, "trans": [0] * 3}}}}
    (tmp_path / "InterHand_MANO_NeuralAnnot.json").write_text(json.dumps(ih))
    bank = PoseBank.load(str(tmp_path / "InterHand_MANO_NeuralAnnot.json"), official)
    assert len(bank) == 2
    from addon.common.rotations import mirror_axis_angle

    assert_close(bank.poses[1], mirror_axis_angle(rows[1, 3:48]) + official.hands_mean, 1e-12, "left mirrored")


def test_training_samples_put_the_hand_in_the_crop_and_joints_on_the_heatmap(blurred):
    from training.data import BlurHandSamples, CropSpec

    samples = BlurHandSamples(str(blurred), CropSpec(image_size=64, heatmap_size=8, depth_bins=8))
    s = samples[0]
    assert s["image"].shape == (3, 64, 64) and s["joints_img"].shape == (3, 21, 3)
    xy = s["joints_img"][..., :2]
    assert torch.all((xy >= 0) & (xy <= 8)), "joints of all three times fall inside the crop"
    assert torch.allclose(s["joints_cam"][:, 0], torch.zeros(3, 3))
    assert abs(float(s["joints_img"][1, 0, 2]) - 4.0) < 1e-4, "the middle root sits at the middle depth bin"
