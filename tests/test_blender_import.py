"""Importing motion sequences in Blender: the operator, the rig it builds, and what bad input leaves behind."""
import numpy as np
import pytest

from addon.common.hand_model import OPEN_HAND_FILES, load_hand_model
from addon.common.motion_sequence import MotionSequence, load_motion_sequence
from helpers import ROOT, assert_close, write_official_format

SAMPLE = ROOT / "samples" / "open_hand_motion.npz"
KINDS = ("objects", "meshes", "armatures", "materials", "images", "actions", "cameras", "shape_keys")


def counts(bpy):
    return {k: len(getattr(bpy.data, k)) for k in KINDS}


def keyed_frames(id_data, data_path, index=0):
    from addon.blender.keyframes import ensure_fcurve

    fc = ensure_fcurve(id_data, data_path, index)
    co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
    fc.keyframe_points.foreach_get("co", co)
    return co[0::2], co[1::2]


def test_operator_imports_a_rigged_textured_animated_hand(addon_registered):
    bpy = addon_registered
    assert bpy.ops.hand_mocap.import_sequence(filepath=str(SAMPLE)) == {"FINISHED"}
    seq = load_motion_sequence(SAMPLE)
    arm = bpy.data.objects["Hand.R_armature"]
    mesh = bpy.data.objects["Hand.R_mesh"]
    assert len(arm.data.bones) == 21 and "index_pip.R" in arm.data.bones and "thumb_tip.R" in arm.data.bones
    assert len(mesh.data.shape_keys.key_blocks) == 136  # basis + 135 correctives
    assert {g.name for g in mesh.vertex_groups} == {b.name for b in arm.data.bones if b.use_deform}
    assert mesh.modifiers["Armature"].object == arm
    frames, _ = keyed_frames(arm, 'pose.bones["index_mcp.R"].rotation_quaternion')
    assert_close(frames, seq.frames, 1e-6, "bone key frames")
    frames, _ = keyed_frames(mesh.data.shape_keys, 'key_blocks["index_pip.R.R00"].value')
    assert len(frames) == len(seq)
    scene = bpy.context.scene
    assert (scene.frame_start, scene.frame_end, scene.render.fps) == (1, 120, 30)
    assert scene.camera.name == "Hand.R_camera"
    assert (scene.render.resolution_x, scene.render.resolution_y) == (1280, 720)
    image = mesh.data.materials[0].node_tree.nodes["Image Texture"].image
    assert image.packed_file is not None, "the texture must travel inside the .blend"
    assert mesh.data.uv_layers.active is not None
    assert mesh.parent == arm and arm.parent == bpy.data.objects["Hand.R"]


def test_keys_hold_the_sequence_values_at_fractional_frames(blank_blend):
    from addon.blender.importer import import_sequence
    from addon.common.rotations import axis_angle_to_matrix

    rng = np.random.default_rng(3)
    n = 5
    seq = MotionSequence(frames=np.array([1.0, 1.5, 2.25, 3.0, 10.75]), global_orient=rng.normal(size=(n, 3)),
                         hand_pose=rng.normal(size=(n, 45)), betas=np.zeros((n, 10)),
                         transl=rng.normal(size=(n, 3)), handedness="right")
    rig = import_sequence(seq, with_camera=False)
    frames, values = keyed_frames(rig.mesh.data.shape_keys, f'key_blocks["{rig.shape_keys[0]}"].value')
    assert_close(frames, seq.frames, 1e-6, "fractional frames")
    expected = axis_angle_to_matrix(seq.hand_pose[:, :3])[:, 0, 0] - 1.0  # first entry of R_index1 - I
    assert_close(values, expected, 1e-6, "shape-key values")
    assert blank_blend.context.scene.frame_end == 11


def test_official_mano_from_the_preferences_is_used(addon_registered, tmp_path):
    bpy = addon_registered
    official = load_hand_model(OPEN_HAND_FILES["right"])
    official.v_template = official.v_template * 1.1  # a visibly different hand
    write_official_format(official, tmp_path / "MANO_RIGHT.pkl")
    from addon.blender.ui import preferences

    preferences(bpy.context).mano_dir = str(tmp_path)
    assert bpy.ops.hand_mocap.import_sequence(filepath=str(SAMPLE)) == {"FINISHED"}
    mesh = bpy.data.objects["Hand.R_mesh"]
    basis = np.empty(778 * 3, dtype=np.float32)
    mesh.data.shape_keys.key_blocks["Basis"].data.foreach_get("co", basis)
    assert_close(basis.reshape(-1, 3), official.v_template, 1e-6, "official template")


def test_vertex_colours_in_the_sequence_replace_the_texture(blank_blend):
    from addon.blender.importer import import_sequence

    seq = load_motion_sequence(SAMPLE)
    seq.vertex_colors = np.tile([0.9, 0.2, 0.1], (778, 1))
    rig = import_sequence(seq, with_camera=False)
    attr = rig.mesh.data.color_attributes["skin"]
    rgba = np.empty(778 * 4, dtype=np.float32)
    attr.data.foreach_get("color", rgba)
    assert_close(rgba.reshape(-1, 4)[:, :3], seq.vertex_colors, 1e-6, "vertex colours")
    nodes = rig.mesh.data.materials[0].node_tree.nodes
    assert "Color Attribute" in nodes and "Image Texture" not in nodes


def test_a_left_hand_sequence_builds_a_left_rig(blank_blend):
    from addon.blender.importer import import_sequence

    seq = MotionSequence(frames=np.arange(3.0), global_orient=np.zeros((3, 3)), hand_pose=np.zeros((3, 45)),
                         betas=np.zeros((3, 10)), transl=np.zeros((3, 3)), handedness="left")
    rig = import_sequence(seq)
    assert rig.side == "left" and rig.bones[1] == "index_mcp.L" and rig.root.name == "Hand.L"
    wrist_x = np.array(rig.armature.data.bones["wrist.L"].head_local)[0]
    assert wrist_x < 0, "the left MANO hand lies on the -x side"


@pytest.mark.parametrize("make_bad, message", [
    (lambda tmp: tmp / "missing.npz", "no such file"),
    (lambda tmp: _broken(tmp, hand_pose=np.full((4, 45), np.nan)), "hand_pose contains NaN"),
    (lambda tmp: _broken(tmp, betas=np.zeros((3, 10))), r"betas must have shape \(4, 10\)"),
])
def test_bad_files_are_reported_and_leave_nothing_behind(addon_registered, tmp_path, make_bad, message, capsys):
    bpy = addon_registered
    before = counts(bpy)
    with pytest.raises(RuntimeError, match=message):  # bpy raises the operator's ERROR report
        bpy.ops.hand_mocap.import_sequence(filepath=str(make_bad(tmp_path)))
    assert counts(bpy) == before


def _broken(tmp, **arrays):
    d = MotionSequence(frames=np.arange(4.0), global_orient=np.zeros((4, 3)), hand_pose=np.zeros((4, 45)),
                       betas=np.zeros((4, 10)), transl=np.zeros((4, 3))).to_dict()
    d.update(arrays)
    np.savez(tmp / "bad.npz", **d)
    return tmp / "bad.npz"


def test_a_failure_midway_through_the_build_removes_the_half_built_rig(blank_blend):
    from addon.blender.importer import import_sequence

    bpy = blank_blend
    model = load_hand_model(OPEN_HAND_FILES["right"])
    model.posedirs = model.posedirs[:, :, :100]  # breaks at the shape-key stage, after bones and skin exist
    seq = load_motion_sequence(SAMPLE)
    before = counts(bpy)
    with pytest.raises(IndexError):
        import_sequence(seq, model=model)
    assert counts(bpy) == before
    assert bpy.context.mode == "OBJECT"


def test_the_import_is_a_single_undo_step(addon_registered):
    # Background Blender has no window, so its undo stack cannot be driven here; what makes the import one
    # step is that it is one registered operator with UNDO that pushes no steps of its own.
    from addon.blender.ui import HANDMOCAP_OT_import_sequence

    assert {"REGISTER", "UNDO"} <= HANDMOCAP_OT_import_sequence.bl_options
    source = "".join(p.read_text() for p in (ROOT / "addon" / "blender").glob("*.py"))
    assert "undo_push" not in source
