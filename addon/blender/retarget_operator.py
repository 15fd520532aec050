"""The retarget operator and its sidebar panel: put the imported hands' motion on a character's armature."""
from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, PointerProperty, StringProperty

from ..common.bone_maps import BoneMapError
from ..common.retarget import RetargetError
from .retarget import retarget_hands, scene_hands

PRESET_ITEMS = [
    ("auto", "Detect", "Tell Rigify, Rigify meta-rig and Mixamo rigs apart by their bone names"),
    ("rigify", "Rigify (generated)", "A rig Rigify generated: keys its FK finger controls (f_index.01.R ...)"),
    ("rigify_metarig", "Rigify meta-rig", "Rigify's human meta-rig (hand.R, f_index.01.R, thumb.01.R ...)"),
    ("mixamo", "Mixamo", "Mixamo's skeleton (mixamorig:RightHandIndex1 ...)"),
    ("custom", "Custom map (.json)", "A bone-map file: MANO joint -> bone name, per hand"),
]
HAND_ITEMS = [("both", "Both", "Every imported hand the map covers"), ("right", "Right", "The right hand only"),
              ("left", "Left", "The left hand only")]


def _is_armature(_settings, obj) -> bool:
    return obj.type == "ARMATURE" and not any(k == "hand_mocap_side" for k in (obj.parent or obj).keys())


class HandMocapRetargetSettings(bpy.types.PropertyGroup):
    target: PointerProperty(name="Target", type=bpy.types.Object, poll=_is_armature,
                            description="The character's armature to key")
    preset: EnumProperty(name="Bone map", items=PRESET_ITEMS, default="auto")
    map_file: StringProperty(name="Map file", subtype="FILE_PATH", description="A bone-map .json file")
    hands: EnumProperty(name="Hands", items=HAND_ITEMS, default="both")
    drive_wrist: BoolProperty(name="Drive wrist", default=False,
                              description="Also turn the character's hand bone as the footage's hand turns "
                                          "(off: fingers only, the arm's own animation keeps the hand)")
    use_range: BoolProperty(name="Limit frames", default=False, description="Bake only a range of frames")
    frame_start: IntProperty(name="Start", default=1)
    frame_end: IntProperty(name="End", default=250)


class HANDMOCAP_OT_retarget(bpy.types.Operator):
    """Key the target armature's hand bones so its fingers point where the imported MANO hand's point"""

    bl_idname = "hand_mocap.retarget"
    bl_label = "Retarget Hands"
    bl_options = {"REGISTER", "UNDO"}  # one undo step takes every key back

    @classmethod
    def poll(cls, context):
        return context.scene is not None and bool(scene_hands(context.scene))

    def execute(self, context):
        s = context.scene.hand_mocap_retarget
        spec = bpy.path.abspath(s.map_file) if s.preset == "custom" else s.preset
        if s.preset == "custom" and not s.map_file:
            self.report({"ERROR"}, "choose a bone-map .json file")
            return {"CANCELLED"}
        sides = ("right", "left") if s.hands == "both" else (s.hands,)
        frame_range = (s.frame_start, s.frame_end) if s.use_range else None
        try:
            reports = retarget_hands(s.target, spec, sides=sides, drive_wrist=s.drive_wrist,
                                     frame_range=frame_range, scene=context.scene)
        except (RetargetError, BoneMapError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for report in reports:
            self.report({"INFO"}, str(report))
        return {"FINISHED"}


class HANDMOCAP_PT_retarget(bpy.types.Panel):
    bl_label = "Retarget"
    bl_idname = "HANDMOCAP_PT_retarget"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Hand Mocap"
    bl_parent_id = "HANDMOCAP_PT_sidebar"

    def draw(self, context):
        s = context.scene.hand_mocap_retarget
        layout = self.layout
        layout.prop(s, "target")
        layout.prop(s, "preset")
        if s.preset == "custom":
            layout.prop(s, "map_file")
        layout.prop(s, "hands", expand=True)
        layout.prop(s, "drive_wrist")
        row = layout.row(align=True)
        row.prop(s, "use_range", text="")
        sub = row.row(align=True)
        sub.enabled = s.use_range
        sub.prop(s, "frame_start")
        sub.prop(s, "frame_end")
        hands = scene_hands(context.scene)
        layout.operator(HANDMOCAP_OT_retarget.bl_idname, icon="ARMATURE_DATA")
        if not hands:
            layout.label(text="Import a hand first", icon="INFO")


CLASSES = (HandMocapRetargetSettings, HANDMOCAP_OT_retarget, HANDMOCAP_PT_retarget)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.hand_mocap_retarget = PointerProperty(type=HandMocapRetargetSettings)


def unregister() -> None:
    del bpy.types.Scene.hand_mocap_retarget
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
