"""Video to animated hand in real Blender with a real worker: keys cover the clip and its sub-frames, the
mesh's wrist lands on the footage's wrist, and failures keep what was received without half-built rigs."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from addon.common.hand_model import find_hand_model
from addon.common.motion_sequence import load_motion_sequence
from helpers import ROOT

CLIP = ROOT / "samples" / "sample_clip.mp4"
TRUTH = ROOT / "samples" / "sample_clip_truth.npz"
BATCH = ROOT / "scripts" / "hand_mocap_batch.py"
WRIST_MEDIAN_PX = 25.0  # stated bound: median over the clip's frames, 640 x 360 footage


def _import(bpy, **options):
    from addon.blender.video_job import new_job, run_sync
    from addon.common.job_options import JobOptions

    bpy.ops.wm.read_factory_settings(use_empty=True)
    env = options.pop("env", None)
    start = new_job(str(CLIP), JobOptions(fov_deg=70.8, **options))
    return run_sync(start, sys.executable, str(ROOT), env=env)


@pytest.fixture(scope="module")
def clip_import():
    import bpy

    job = _import(bpy, hands=["right"])
    yield bpy, job
    bpy.ops.wm.read_factory_settings(use_empty=True)


def _key_frames(obj):
    from addon.blender.keyframes import ensure_fcurve

    curve = ensure_fcurve(obj, 'pose.bones["wrist.R"].rotation_quaternion', 0)
    return np.array([k.co[0] for k in curve.keyframe_points])


def test_keys_cover_the_clip_and_its_sub_frames(clip_import):
    bpy, job = clip_import
    assert job.finished and job.error is None, job.error
    arm = bpy.data.objects["Hand.R_armature"]
    keys = _key_frames(arm)
    seen = sorted(set(range(1, 121)) - {f + 1 for f in job.frames_without_hand})
    assert len(job.frames_without_hand) <= 6
    expected = np.concatenate([[f - 0.25, f, f + 0.25] for f in seen])
    assert np.allclose(keys, expected, atol=1e-4)  # three hands per frame, at frame -/+ exposure / 2
    scene = bpy.context.scene
    assert (scene.frame_start, scene.frame_end, scene.render.fps) == (1, 120, 30)  # the footage's frames; sub-frame keys just outside are fine
    cam = scene.camera
    assert cam is not None and cam.data.background_images[0].clip.filepath.endswith("sample_clip.mp4")


def test_the_mesh_wrist_follows_the_footage_wrist(clip_import):
    bpy, job = clip_import
    truth = load_motion_sequence(TRUTH)
    model = find_hand_model("right")
    k = truth.camera_matrix
    mesh = bpy.data.objects["Hand.R_mesh"]
    root = bpy.data.objects["Hand.R"]
    from addon.common.lbs import lbs

    errors = []
    frames = [f for f in range(2, 120, 6) if f - 1 not in job.frames_without_hand]
    for frame in frames:
        bpy.context.scene.frame_set(frame)
        evaluated = mesh.evaluated_get(bpy.context.evaluated_depsgraph_get())
        verts = np.array([v.co for v in evaluated.data.vertices])
        to_cv = np.array(root.matrix_world.inverted() @ mesh.matrix_world)
        verts = verts @ to_cv[:3, :3].T + to_cv[:3, 3]
        wrist = model.J_regressor[0] @ verts
        i = frame - 1
        gt = lbs(truth.betas[i:i + 1], truth.full_pose[i:i + 1], model.v_template, model.shapedirs,
                 model.posedirs, model.J_regressor, model.parents, model.weights, truth.transl[i:i + 1])
        g = gt.joints[0, 0]
        p, q = k @ wrist, k @ g
        errors.append(np.linalg.norm(p[:2] / p[2] - q[:2] / q[2]))
    assert np.median(errors) < WRIST_MEDIAN_PX, np.round(errors, 1)


def test_a_crash_keeps_the_keys_received_and_no_half_built_rig(blank_blend):
    bpy = blank_blend
    job = _import(bpy, hands=["right"], frame_end=30, env={"HAND_MOCAP_WORKER_FAULT": "crash"})
    assert job.error and "injected fault" in job.error and "Traceback" in job.error_log
    assert sorted(o.name for o in bpy.data.objects) == ["Hand.R", "Hand.R_armature", "Hand.R_camera", "Hand.R_mesh"]
    assert len(_key_frames(bpy.data.objects["Hand.R_armature"])) > 0  # the first partial's keys stay


def test_batch_video_writes_a_blend_and_fails_with_one_line_reasons(tmp_path, blank_blend):
    out = tmp_path / "clip.blend"
    ok = subprocess.run([sys.executable, str(BATCH), "--", "--video", str(CLIP), "--out", str(out), "--hands",
                         "right", "--end", "11", "--fov", "70.8"], capture_output=True, text=True, timeout=300)
    deformer = subprocess.run([sys.executable, str(BATCH), "--", "--video", str(CLIP), "--out", str(tmp_path / "d.blend"),
                               "--model", "deformer", "--window", "6", "--window-stride", "3", "--hands", "right",
                               "--end", "11"], capture_output=True, text=True, timeout=300)
    assert deformer.returncode == 0, deformer.stderr[-2000:]
    assert (tmp_path / "d.blend").is_file()
    assert ok.returncode == 0, ok.stderr[-2000:]
    bpy = blank_blend
    bpy.ops.wm.open_mainfile(filepath=str(out))
    assert len(_key_frames(bpy.data.objects["Hand.R_armature"])) >= 3 * 9
    bad = subprocess.run([sys.executable, str(BATCH), "--", "--video", str(tmp_path / "nope.mp4"), "--out",
                          str(tmp_path / "x.blend")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2  # a bad command line
    assert bad.stderr.strip().splitlines()[-1].startswith("hand-mocap: error:") and "no such file" in bad.stderr
    assert not (tmp_path / "x.blend").exists()
    python = subprocess.run([sys.executable, str(BATCH), "--", "--video", str(CLIP), "--out", str(tmp_path / "y.blend"),
                             "--python", "/no/python"], capture_output=True, text=True, timeout=300)
    assert python.returncode == 2 and "--python: /no/python is not an executable Python" in python.stderr


def test_the_operator_runs_to_the_end_without_a_window_and_reports_errors(addon_registered, tmp_path, monkeypatch):
    bpy = addon_registered
    monkeypatch.setenv("HAND_MOCAP_CHECKPOINTS", str(tmp_path))  # the worker finds no checkpoint there
    with pytest.raises(RuntimeError, match="s2hand: no trained checkpoint"):
        bpy.ops.hand_mocap.import_video(filepath=str(CLIP), model="s2hand")
    monkeypatch.delenv("HAND_MOCAP_CHECKPOINTS")
    assert len(bpy.data.objects) == 0  # nothing half-built
    assert "no trained checkpoint" in bpy.data.texts["Hand Mocap worker log"].as_string()
    assert bpy.ops.hand_mocap.import_video(filepath=str(CLIP), hands="right", frame_end=11, fov_deg=70.8) == {"FINISHED"}
    assert len(_key_frames(bpy.data.objects["Hand.R_armature"])) >= 3 * 9


@pytest.mark.parametrize("model", ["deformer", "seqhand", "s2hand", "amvur"])
def test_the_other_models_import_through_the_operator(addon_registered, model):
    bpy = addon_registered
    assert bpy.ops.hand_mocap.import_video(filepath=str(CLIP), model=model, hands="right", frame_end=11,
                                           fov_deg=70.8) == {"FINISHED"}
    frames = _key_frames(bpy.data.objects["Hand.R_armature"])
    assert 9 <= len(frames) <= 12 and all(float(f).is_integer() for f in frames)  # one key a frame, no sub-frames
    from addon.blender.confidence import MODIFIER, PROPERTY
    from addon.blender.keyframes import find_fcurve

    curve = find_fcurve(bpy.data.objects["Hand.R_armature"], f'pose.bones["index_pip.R"]["{PROPERTY}"]')
    if model == "amvur":  # the model's per-joint variance, as confidence keyed on every bone and the overlay
        values = np.array([k.co[1] for k in curve.keyframe_points])
        assert len(values) == len(frames) and np.all((values > 0) & (values < 1)) and np.ptp(values) > 0
        assert MODIFIER in bpy.data.objects["Hand.R_mesh"].modifiers
    else:
        assert curve is None and MODIFIER not in bpy.data.objects["Hand.R_mesh"].modifiers


def test_network_skin_gives_the_rig_the_models_own_colours(addon_registered):
    bpy = addon_registered
    assert bpy.ops.hand_mocap.import_video(filepath=str(CLIP), model="amvur", hands="right", frame_end=11,
                                           skin="network") == {"FINISHED"}
    attr = bpy.data.objects["Hand.R_mesh"].data.color_attributes["skin"]
    colours = np.empty(len(attr.data) * 4, dtype=np.float32)
    attr.data.foreach_get("color", colours)
    r, g, b, _ = np.median(colours.reshape(-1, 4), axis=0)
    assert r > g > b > 0.0  # a skin tone, as the footage's (tests/test_footage_colours.py)
    with pytest.raises(RuntimeError, match="needs a model that predicts colours"):  # said before any work
        bpy.ops.hand_mocap.import_video(filepath=str(CLIP), model="blurhandnet", hands="right", skin="network")


def test_footage_skin_colours_the_rig_from_the_clip(addon_registered):
    bpy = addon_registered
    assert bpy.ops.hand_mocap.import_video(filepath=str(CLIP), hands="right", frame_end=11, skin="footage") == {"FINISHED"}
    mesh = bpy.data.objects["Hand.R_mesh"]
    attr = mesh.data.color_attributes["skin"]
    colours = np.empty(len(attr.data) * 4, dtype=np.float32)
    attr.data.foreach_get("color", colours)
    r, g, b, _ = np.median(colours.reshape(-1, 4), axis=0)
    assert r > g > b > 0.0  # the clip's skin tone (tests/test_footage_colours.py compares it with the truth's)
    bsdf = next(n for n in mesh.data.materials[0].node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    assert bsdf.inputs["Base Color"].links[0].from_node.type == "VERTEX_COLOR"
