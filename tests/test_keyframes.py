"""The bulk keyframe writer."""
import numpy as np

from helpers import assert_close


def test_bulk_keys_replace_existing_ones_and_evaluate_exactly(blank_blend):
    from addon.blender.keyframes import ensure_action, ensure_fcurve, key_channels

    bpy = blank_blend
    obj = bpy.data.objects.new("probe", None)
    bpy.context.scene.collection.objects.link(obj)
    ensure_action(obj, "probe")
    frames = np.array([1.0, 2.5, 4.0])
    key_channels(obj, "location", frames, np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]]), group="probe")
    key_channels(obj, "location", frames[:2], np.array([[9, 9, 9], [8, 8, 8]]))  # replaces, not appends
    fc = ensure_fcurve(obj, "location", 1)
    assert fc == ensure_fcurve(obj, "location", 1)  # found again, not created twice
    assert len(fc.keyframe_points) == 2 and fc.group.name == "probe"
    bpy.context.scene.frame_set(1, subframe=0.75)  # halfway between the keys at 1 and 2.5
    assert_close(np.array(obj.location), [8.5, 8.5, 8.5], 1e-5, "linear interpolation")


def test_blender_5_actions_are_layered_with_a_slot_per_datablock(blank_blend):
    from addon.blender.keyframes import ensure_action, key_channels

    bpy = blank_blend
    obj = bpy.data.objects.new("probe", None)
    bpy.context.scene.collection.objects.link(obj)
    action = ensure_action(obj, "probe")
    key_channels(obj, "rotation_euler", np.arange(3.0), np.zeros((3, 3)))
    if bpy.app.version >= (4, 4, 0):
        assert action.is_action_layered and obj.animation_data.action_slot is not None
    else:  # legacy actions
        assert len(action.fcurves) == 3
