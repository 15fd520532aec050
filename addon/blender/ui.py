"""Preferences, the import operator, its File > Import entry and the sidebar panel."""
from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from ..common.hand_model import HandModelError
from ..common.motion_sequence import MotionSequenceError
from . import retarget_operator
from .importer import import_sequence_file
from .preferences import HANDMOCAP_OT_check_worker, HandMocapPreferences, preferences
from .video_operator import HANDMOCAP_OT_import_video, menu_import_video


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
    show_confidence: BoolProperty(name="Show confidence", default=False,
                                  description="Colour the hand by the per-joint confidence the file carries "
                                  "(AMVUR): red unsure, green sure")
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
                                       with_camera=self.add_camera, interpolation=self.interpolation,
                                       hand=prefs.hand_model if prefs else "open",
                                       show_confidence=self.show_confidence)
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
        layout.operator(HANDMOCAP_OT_import_video.bl_idname, icon="FILE_MOVIE")
        clip = context.scene.active_clip if context.scene else None
        if clip is not None:  # footage already in the .blend: track it where it sits on the timeline
            op = layout.operator(HANDMOCAP_OT_import_video.bl_idname, text=f"Track Movie Clip '{clip.name}'",
                                 icon="TRACKER")
            path = bpy.path.abspath(clip.filepath)
            # an image sequence's clip names its first image: the job reads the whole folder
            op.filepath = os.path.dirname(path) if clip.source == "SEQUENCE" else path
            op.first_blender_frame = clip.frame_start
        layout.operator(HANDMOCAP_OT_import_sequence.bl_idname, icon="IMPORT")
        prefs = preferences(context)
        model = "official MANO" if prefs and prefs.mano_dir else \
            f"{prefs.hand_model if prefs else 'open'} hand (built in)"
        layout.label(text=f"Hand model: {model}")
        log = bpy.data.texts.get("Hand Mocap worker log")
        if log is not None and log.lines:
            layout.label(text=log.lines[0].body[:80], icon="ERROR")


def menu_import(self, context):
    self.layout.operator(HANDMOCAP_OT_import_sequence.bl_idname, text="Hand Motion Sequence (.npz)")


CLASSES = (HandMocapPreferences, HANDMOCAP_OT_check_worker, HANDMOCAP_OT_import_sequence,
           HANDMOCAP_OT_import_video, HANDMOCAP_PT_sidebar)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    retarget_operator.register()  # its panel sits inside the sidebar panel
    bpy.types.TOPBAR_MT_file_import.append(menu_import)
    bpy.types.TOPBAR_MT_file_import.append(menu_import_video)


def unregister() -> None:
    bpy.types.TOPBAR_MT_file_import.remove(menu_import_video)
    bpy.types.TOPBAR_MT_file_import.remove(menu_import)
    retarget_operator.unregister()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
