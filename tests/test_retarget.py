"""Retargeting onto other rigs: the maths on its own, then real characters in real bpy (a rig Rigify generates
from Blender's human meta-rig, MakeHuman's CC0 body with its Mixamo skeleton), the operator, the batch script
and its .blend and FBX, reopened."""
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from addon.common.bone_maps import BoneMapError, bone_map_from_dict, detect_preset, preset, resolve_bone_map
from addon.common.joints import MANO_16
from addon.common.motion_sequence import load_motion_sequence
from addon.common.retarget import (
    HandMotion,
    RetargetError,
    TargetBone,
    TargetHand,
    angles_deg,
    global_rotations,
    kabsch_rotation,
    retarget_rotations,
    swing_rotation,
)
from addon.common.rotations import axis_angle_to_matrix, mirror_axis_angle
from helpers import ROOT, assert_close

SAMPLE = ROOT / "samples" / "open_hand_motion.npz"
BATCH = ROOT / "scripts" / "hand_mocap_batch.py"
KINDS = ("objects", "armatures", "actions")
MEAN_LIMIT, MAX_LIMIT = 5.0, 15.0  # degrees, the bar


def random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


# --- the maths, no Blender -------------------------------------------------------------------------------

def test_swing_takes_one_direction_onto_another_by_a_proper_rotation():
    rng = np.random.default_rng(0)
    for a, b in [(rng.normal(size=3), rng.normal(size=3)), ([0, 1.0, 0], [0, -1.0, 0]), ([1.0, 0, 0], [1.0, 0, 0])]:
        s = swing_rotation(np.array(a), np.array(b))
        assert_close(s @ s.T, np.eye(3), 1e-9, "orthonormal")
        assert abs(np.linalg.det(s) - 1) < 1e-9
        assert_close(s @ (np.array(a) / np.linalg.norm(a)), np.array(b) / np.linalg.norm(b), 1e-9, "a -> b")


def test_kabsch_recovers_a_rotation():
    rng = np.random.default_rng(1)
    r = random_rotation(rng)
    src = rng.normal(size=(5, 3))
    assert_close(kabsch_rotation(src, src @ r.T), r, 1e-9, "rotation")


def synthetic_motion(open_right, frames=6, seed=2) -> HandMotion:
    rng = np.random.default_rng(seed)
    aa = rng.normal(scale=0.4, size=(frames, 16, 3))
    joints = open_right.rest_joints()
    verts = open_right.rest_vertices()
    from addon.common.joints import TIP_VERTEX_IDS
    return HandMotion("right", np.arange(frames, dtype=float), global_rotations(axis_angle_to_matrix(aa)),
                      np.eye(3), joints, {t[:-1]: verts[i] for t, i in TIP_VERTEX_IDS.items()})


def rotated_copy_of_mano(motion: HandMotion, q: np.ndarray, rng) -> TargetHand:
    """A target whose rest hand is MANO's turned by q, bones rolled at random, parented wrist -> finger chains
    (the fingers below the hand, as in Mixamo)."""
    d = motion.rest_directions()
    rests = {}
    for j, joint in enumerate(MANO_16):
        y = q @ d[j]
        roll = swing_rotation(np.array([0, 1.0, 0]), y) @ axis_angle_to_matrix(np.array([0, rng.uniform(-3, 3), 0]))
        rests[joint] = roll
    from addon.common.joints import MANO_PARENTS
    joints = {}
    for j, joint in enumerate(MANO_16):
        p = MANO_PARENTS[j]
        joints[joint] = TargetBone(joint, rests[joint], q @ motion.rest_joints[j], MANO_16[p] if p >= 0 else None,
                                   rests[MANO_16[p]] if p >= 0 else None)
    ancestors = {}
    for j, joint in enumerate(MANO_16):
        chain, p = [], MANO_PARENTS[j]
        while p >= 0:
            chain.append(joints[MANO_16[p]])
            p = MANO_PARENTS[p]
        ancestors[joint] = chain
    return TargetHand(joints, ancestors)


def test_composed_keys_point_every_bone_along_its_mano_segment(open_right):
    # Compose the keys down the hierarchy as Blender does, P_b = P_parent (R_p^T R_b) Q_b, and compare.
    rng = np.random.default_rng(3)
    motion = synthetic_motion(open_right)
    q = random_rotation(rng)
    target = rotated_copy_of_mano(motion, q, rng)
    result = retarget_rotations(motion, target, drive_wrist=True)
    assert_close(result.alignment, q, 1e-6, "the alignment finds the turn between the rest hands")
    posed = {}
    for k, name in enumerate(result.bones):
        bone = target.joints[name]
        parent = posed.get(bone.parent, None)
        if parent is None:
            parent = np.broadcast_to(bone.parent_rest if bone.parent_rest is not None else np.eye(3), (6, 3, 3))
        rel = bone.parent_rest.T @ bone.rest if bone.parent_rest is not None else bone.rest
        posed[name] = np.einsum("tab,bc,tcd->tad", parent, rel, result.basis[:, k])
    d = motion.rest_directions()
    want = np.einsum("tjab,jb->tja", motion.global_rot, d)  # wrist driven: in the world as MANO's (C = I here)
    got = np.stack([posed[j][:, :, 1] for j in MANO_16], axis=1)
    assert angles_deg(got, want).max() < 1e-4
    assert angles_deg(got, np.broadcast_to(d @ q.T, got.shape)).max() > 20  # it moved: not a rest-pose match


def test_a_map_without_a_wrist_or_enough_fingers_is_refused(open_right):
    motion = synthetic_motion(open_right)
    target = rotated_copy_of_mano(motion, np.eye(3), np.random.default_rng(4))
    with pytest.raises(RetargetError, match="no wrist"):
        retarget_rotations(motion, TargetHand({k: v for k, v in target.joints.items() if k != "wrist"}))
    with pytest.raises(RetargetError, match="at least two"):
        retarget_rotations(motion, TargetHand({k: v for k, v in target.joints.items()
                                               if k in ("wrist", "index1", "index2")}))


def test_presets_and_detection_from_bone_names():
    assert preset("mixamo").hands["right"]["index1"] == "mixamorig:RightHandIndex1"
    assert preset("mixamo", ["mixamorig1:LeftHandIndex1"]).hands["left"]["thumb3"] == "mixamorig1:LeftHandThumb3"
    assert preset("rigify").hands["left"]["wrist"] == "hand_fk.L"
    assert preset("rigify").measure["right"]["pinky3"] == "DEF-f_pinky.03.R"
    assert preset("rigify_metarig").hands["right"]["thumb1"] == "thumb.01.R"
    assert detect_preset(["ORG-f_index.01.R", "f_index.01.R", "hand.R"]) == "rigify"
    assert detect_preset(["f_index.01.L", "hand.L"]) == "rigify_metarig"
    assert detect_preset(["Hips", "RightHandIndex1"]) == "mixamo"
    assert resolve_bone_map("auto", ["Hips", "RightHandIndex1"]).hands["right"]["wrist"] == "RightHand"
    with pytest.raises(BoneMapError, match="could not tell"):
        detect_preset(["Bone", "Bone.001"])
    with pytest.raises(BoneMapError, match="unknown bone map"):
        resolve_bone_map("unreal", [])


@pytest.mark.parametrize("data, message", [
    ([], "not a bone map"),
    ({"format": "hand_mocap_bone_map", "version": 2, "right": {}}, "version 2"),
    ({"format": "hand_mocap_bone_map", "version": 1}, "no bones for the right or the left"),
    ({"format": "hand_mocap_bone_map", "version": 1, "right": {"wrist": "h", "index4": "x"}}, "'index4'"),
    ({"format": "hand_mocap_bone_map", "version": 1, "right": {"index1": "x"}}, "needs a \"wrist\""),
    ({"format": "hand_mocap_bone_map", "version": 1, "right": {"wrist": ""}}, "non-empty"),
])
def test_bad_custom_maps_say_what_is_wrong(data, message):
    with pytest.raises(BoneMapError, match=message):
        bone_map_from_dict(data)


def test_missing_bones_are_each_named():
    m = bone_map_from_dict({"format": "hand_mocap_bone_map", "version": 1,
                            "right": {"wrist": "hand", "index1": "i1", "middle1": "m1"}})
    assert m.missing_bones(["hand", "i1"]) == ["m1"]


# --- real characters in Blender ------------------------------------------------------------------------------

def sample_sequence(side: str = "right"):
    seq = load_motion_sequence(SAMPLE)
    if side == "left":  # the same motion on a left hand (the open hand's left is its exact mirror)
        seq = dataclasses.replace(seq, handedness="left", global_orient=mirror_axis_angle(seq.global_orient),
                                  hand_pose=mirror_axis_angle(seq.hand_pose),
                                  transl=seq.transl * np.array([-1.0, 1.0, 1.0]))
    return seq


def import_sample(side="right"):
    from addon.blender.importer import import_sequence

    return import_sequence(sample_sequence(side), with_camera=False)


@pytest.fixture(autouse=True)
def rigify_disabled_afterwards():
    """Rigify is enabled only to generate a rig; left on, its load handlers would run in later tests."""
    yield
    if "bpy" in sys.modules:
        import addon_utils

        if addon_utils.check("rigify")[1]:
            addon_utils.disable("rigify", default_set=True)


def make_character(kind):
    from scenes.characters import makehuman_character, rigify_human

    return makehuman_character() if kind == "mixamo" else rigify_human()[1]


def segment_errors(bpy, target, side, spec="auto", drive_wrist=False):
    from addon.blender.retarget import check_target, measure_segment_errors, motion_from_rig, scene_hands, target_hand

    bone_map = check_target(target, spec, [side])
    motion = motion_from_rig(scene_hands(bpy.context.scene)[side], side)
    result = retarget_rotations(motion, target_hand(target, bone_map.hands[side]), drive_wrist)
    table = bone_map.measure.get(side) or bone_map.hands[side]
    return measure_segment_errors(target, motion, table, result.alignment, drive_wrist)


@pytest.mark.parametrize("kind, side", [("mixamo", "right"), ("mixamo", "left"), ("rigify", "right"),
                                        ("rigify", "left")])
def test_fingers_follow_the_sample_motion_on_both_presets(blank_blend, kind, side):
    from addon.blender.retarget import retarget_hands

    bpy = blank_blend
    import_sample(side)
    target = make_character(kind)
    reports = retarget_hands(target, "auto", sides=(side,))
    assert [r.side for r in reports] == [side] and reports[0].bone_map == kind and reports[0].samples == 120
    errors = np.concatenate(list(segment_errors(bpy, target, side).values()))
    assert errors.size == 15 * 120
    assert errors.mean() <= MEAN_LIMIT and errors.max() <= MAX_LIMIT, (errors.mean(), errors.max())


@pytest.mark.parametrize("kind", ["mixamo", "rigify"])
def test_driving_the_wrist_turns_the_hand_as_the_footage_does(blank_blend, kind):
    from addon.blender.retarget import retarget_hands

    bpy = blank_blend
    import_sample()
    target = make_character(kind)
    target.rotation_euler = (0.0, 0.0, 0.7)  # a character that does not stand at the origin's axes
    reports = retarget_hands(target, "auto", drive_wrist=True)
    assert len(reports[0].bones) == 16
    errors = segment_errors(bpy, target, "right", drive_wrist=True)
    assert errors["wrist"].max() < 1.0 and max(e.max() for e in errors.values()) <= MAX_LIMIT
    if kind == "rigify":
        assert "FK" in reports[0].note and target.pose.bones["upper_arm_parent.R"]["IK_FK"] == 1.0


def test_the_measure_sees_a_bone_that_points_the_wrong_way(blank_blend):
    # The check can fail: turn one keyed finger bone by 20 degrees and the measured error says so.
    from addon.blender.keyframes import find_fcurve
    from addon.blender.retarget import retarget_hands

    bpy = blank_blend
    import_sample()
    target = make_character("mixamo")
    retarget_hands(target, "mixamo")
    name = "mixamorig:RightHandIndex2"
    turned = (np.cos(np.radians(10.0)), 0.0, 0.0, np.sin(np.radians(10.0)))  # 20 degrees about its z, held
    for i, value in enumerate(turned):
        curve = find_fcurve(target, f'pose.bones["{name}"].rotation_quaternion', i)
        for point in curve.keyframe_points:
            point.co[1] = value
        curve.update()
    errors = segment_errors(bpy, target, "right")
    assert errors["index2"].max() > 5.0 and errors["middle2"].max() < 0.5


def test_any_roll_and_euler_bones_are_handled(blank_blend):
    bpy = blank_blend
    from addon.blender.retarget import retarget_hands

    import_sample()
    target = make_character("mixamo")
    bpy.context.view_layer.objects.active = target
    bpy.ops.object.mode_set(mode="EDIT")
    rng = np.random.default_rng(5)
    for bone in target.data.edit_bones:
        if "HandIndex" in bone.name or "HandThumb" in bone.name:
            bone.roll = float(rng.uniform(-np.pi, np.pi))
    bpy.ops.object.mode_set(mode="OBJECT")
    target.pose.bones["mixamorig:RightHandIndex1"].rotation_mode = "ZXY"
    target.pose.bones["mixamorig:RightHandThumb2"].rotation_mode = "AXIS_ANGLE"
    retarget_hands(target, "mixamo")
    assert target.pose.bones["mixamorig:RightHandIndex1"].rotation_mode == "ZXY"
    assert target.animation_data.action is not None
    errors = np.concatenate(list(segment_errors(bpy, target, "right").values()))
    assert errors.max() <= 0.5


def test_a_motion_sequence_file_drives_the_target_as_its_imported_hand_does(blank_blend, open_right):
    from addon.blender.keyframes import find_fcurve
    from addon.blender.retarget import motion_from_sequence, retarget_hands

    def keys(target):
        curve = find_fcurve(target, 'pose.bones["mixamorig:RightHandMiddle2"].rotation_quaternion', 1)
        return np.array([p.co[1] for p in curve.keyframe_points])

    import_sample()
    from_rig = make_character("mixamo")
    retarget_hands(from_rig, "mixamo")
    from_file = make_character("mixamo")
    retarget_hands(from_file, "mixamo", sources={"right": motion_from_sequence(sample_sequence(), open_right)})
    assert_close(keys(from_file), keys(from_rig), 1e-4, "same keys from the file and from the keyed rig")
    assert np.ptp(keys(from_rig)) > 0.1


def test_a_bake_range_keys_only_those_frames(blank_blend):
    from addon.blender.keyframes import find_fcurve
    from addon.blender.retarget import retarget_hands

    import_sample()
    target = make_character("mixamo")
    retarget_hands(target, "mixamo", frame_range=(10, 20))
    curve = find_fcurve(target, 'pose.bones["mixamorig:RightHandIndex1"].rotation_quaternion', 0)
    frames = [p.co[0] for p in curve.keyframe_points]
    assert min(frames) >= 10 and max(frames) <= 20 and len(frames) == 11


def scene_counts(bpy):
    return {k: len(getattr(bpy.data, k)) for k in KINDS}


def test_bad_targets_maps_and_unkeyed_hands_change_nothing(blank_blend, tmp_path):
    from addon.blender.retarget import retarget_hands
    from addon.blender.rig import build_hand_rig

    bpy = blank_blend
    import_sample()
    target = make_character("mixamo")
    before = scene_counts(bpy)
    bogus = tmp_path / "map.json"
    bogus.write_text(json.dumps({"format": "hand_mocap_bone_map", "version": 1, "right": {
        "wrist": "mixamorig:RightHand", "index1": "mixamorig:RightHandIndex1", "middle1": "NoSuchBone",
        "ring1": "AlsoMissing"}}))
    with pytest.raises(BoneMapError, match="lacks 2 bone.*NoSuchBone, AlsoMissing"):
        retarget_hands(target, str(bogus))
    mesh = target.children[0]
    with pytest.raises(RetargetError, match="is a mesh object, not an armature"):
        retarget_hands(mesh, "mixamo")
    assert target.animation_data is None and scene_counts(bpy) == before

    bpy.ops.wm.read_factory_settings(use_empty=True)
    from addon.common.hand_model import OPEN_HAND_FILES, load_hand_model

    rig = build_hand_rig(load_hand_model(OPEN_HAND_FILES["right"]), name="Unkeyed")
    rig.root["hand_mocap_side"] = "right"
    target = make_character("mixamo")
    before = scene_counts(bpy)
    with pytest.raises(RetargetError, match="has no keys to retarget"):
        retarget_hands(target, "mixamo")
    assert target.animation_data is None and scene_counts(bpy) == before


def test_operator_retargets_in_one_undoable_step_and_reports_errors(addon_registered):
    from addon.blender.retarget_operator import HANDMOCAP_OT_retarget

    bpy = addon_registered
    assert {"REGISTER", "UNDO"} <= HANDMOCAP_OT_retarget.bl_options
    import_sample()
    target = make_character("mixamo")
    settings = bpy.context.scene.hand_mocap_retarget
    settings.target = target
    assert bpy.ops.hand_mocap.retarget() == {"FINISHED"}
    assert target.animation_data.action is not None
    settings.target = None
    with pytest.raises(RuntimeError, match="choose a target armature"):
        bpy.ops.hand_mocap.retarget()


def run_batch(*args):
    return subprocess.run([sys.executable, str(BATCH), "--", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def finger_direction(bpy, arm, frame, base="mixamorig:RightHandIndex2", end="mixamorig:RightHandIndex3"):
    """World direction from one joint to the next: independent of how an importer orients its bones."""
    bpy.context.scene.frame_set(frame)
    head = [np.array(arm.matrix_world @ arm.pose.bones[b].head) for b in (base, end)]
    return head[1] - head[0]


@pytest.fixture
def character_blend(blank_blend, tmp_path):
    """A .blend holding the MakeHuman character (armature ``MakeHuman``), as a user's file would."""
    make_character("mixamo")
    path = tmp_path / "character.blend"
    blank_blend.ops.wm.save_as_mainfile(filepath=str(path))
    blank_blend.ops.wm.read_factory_settings(use_empty=True)
    return path


def test_batch_retarget_writes_a_blend_and_an_fbx_whose_character_carries_the_keys(blank_blend, character_blend,
                                                                                     tmp_path):
    bpy = blank_blend
    character = character_blend
    out = tmp_path / "out.blend"
    done = run_batch("--sequence", SAMPLE, "--out", out, "--retarget-to", f"{character}:MakeHuman", "--export", "fbx")
    assert done.returncode == 0, done.stderr
    assert "retargeted the right hand -> MakeHuman (mixamo): 15 bones, 120 keys each" in done.stdout

    bpy.ops.wm.open_mainfile(filepath=str(out))
    arm = bpy.data.objects["MakeHuman"]
    in_blend = [finger_direction(bpy, arm, f) for f in (1, 60)]
    assert angles_deg(in_blend[0], in_blend[1]) > 10  # the finger moves

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(out.with_suffix(".fbx")), anim_offset=0)  # FBX time f/fps -> frame f
    arms = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert len(arms) == 1 and not any("wrist.R" in b.name for b in arms[0].data.bones)  # the character only
    in_fbx = [finger_direction(bpy, arms[0], f) for f in (1, 60)]
    for a, b in zip(in_blend, in_fbx):  # the FBX round trip keeps the pose (importer's axes are Blender's)
        assert angles_deg(a, b) < 2.0


def test_batch_retarget_checks_the_target_before_any_work(character_blend, tmp_path):
    character = character_blend
    out = tmp_path / "out.blend"
    for args, message in [
        (["--retarget-to", f"{character}:Nobody"], "has no object 'Nobody'"),
        (["--retarget-to", f"{character}:MakeHuman_body"], "is not an armature"),
        (["--retarget-to", f"{character}:MakeHuman", "--bone-map", "rigify"], "lacks 64 bone"),
        (["--retarget-to", str(character)], "must be FILE.blend:ARMATURE"),
        (["--bone-map", "mixamo"], "need --retarget-to"),
    ]:
        done = run_batch("--sequence", SAMPLE, "--out", out, *args)
        assert done.returncode == 2 and message in done.stderr.strip().splitlines()[-1], (args, done.stderr)
        assert not out.exists()
