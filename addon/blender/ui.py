"""Preferences, the import operator, its File > Import entry and the sidebar panel."""
from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from ..common.hand_model import HandModelError
from ..common.motion_sequence import MotionSequenceError
from .importer import import_sequence_file

ADDON_ID = __package__.rpartition(".")[0]  # "addon" from the repo, "bl_ext.<repo>.hand_mocap" installed


def preferences(context: bpy.types.Context):
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon else None


class HandMocapPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    mano_dir: StringProperty(
        name="Official MANO folder",
        description="Folder holding MANO_RIGHT.pkl / MANO_LEFT.pkl (registration at mano.is.tue.mpg.de). "
        "Empty: use the built-in open hand",
        subtype="DIR_PATH",
        default="",
    )

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "mano_dir")
        layout.label(text="Without official files the shipped open hand (same format, free licence) is used.",
                     icon="INFO")


class HANDMOCAP_OT_import_sequence(bpy.types.Operator, ImportHelper):
    """Import a hand motion-sequence file (.npz) as a rigged, animated MANO hand"""

    bl_idname = "hand_mocap.import_sequence"
    bl_label = "Import Hand Motion Sequence"
    bl_options = {"REGISTER", "UNDO", "PRESET"}

    filename_ext = ".npz"
    filter_glob: StringProperty(default="*.npz", options={"HIDDEN"})
    use_official_mano: BoolProperty(
        name="Use official MANO", description="Use the MANO files from the add-on preferences", default=True)
    add_camera: BoolProperty(name="Add camera", description="Add a camera matching the footage", default=True)
    interpolation: EnumProperty(
        name="Interpolation",
        items=[("LINEAR", "Linear", "Straight lines between samples"),
               ("BEZIER", "Bezier", "Smooth curves through the samples"),
               ("CONSTANT", "Constant", "Hold each sample")],
        default="LINEAR",
    )

    def execute(self, context):
        prefs = preferences(context)
        mano_dir = prefs.mano_dir if (prefs and self.use_official_mano and prefs.mano_dir) else None
        try:
            rig = import_sequence_file(self.filepath, mano_dir=bpy.path.abspath(mano_dir) if mano_dir else None,
                                       with_camera=self.add_camera, interpolation=self.interpolation)
        except (MotionSequenceError, HandModelError, ValueError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for obj in context.view_layer.objects:
            obj.select_set(False)
        rig.armature.select_set(True)
        context.view_layer.objects.active = rig.armature
        self.report({"INFO"}, f"Imported {rig.root.name}: {len(rig.bones)} bones, {len(rig.shape_keys)} correctives")
        return {"FINISHED"}


class HANDMOCAP_PT_sidebar(bpy.types.Panel):
    bl_label = "Hand Mocap"
    bl_idname = "HANDMOCAP_PT_sidebar"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Hand Mocap"

    def draw(self, context):
        layout = self.layout
        layout.operator(HANDMOCAP_OT_import_sequence.bl_idname, icon="IMPORT")
        prefs = preferences(context)
        model = "official MANO" if prefs and prefs.mano_dir else "open hand (built in)"
        layout.label(text=f"Hand model: {model}")


def menu_import(self, context):
    self.layout.operator(HANDMOCAP_OT_import_sequence.bl_idname, text="Hand Motion Sequence (.npz)")


CLASSES = (HandMocapPreferences, HANDMOCAP_OT_import_sequence, HANDMOCAP_PT_sidebar)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.TOPBAR_MT_file_import.append(menu_import)


def unregister() -> None:
    bpy.types.TOPBAR_MT_file_import.remove(menu_import)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
