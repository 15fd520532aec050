"""Add-on preferences: the official MANO folder and the inference worker (interpreter, folder, device),
with a *Check* button that starts the worker and shows what it can do, or exactly why it cannot start."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

import bpy
from bpy.props import StringProperty

from ..common.worker_client import WorkerError, check_interpreter, default_python, default_worker_root
from .job_properties import properties

ADDON_ID = __package__.rpartition(".")[0]  # "addon" from the repo, "bl_ext.<repo>.hand_mocap" installed


def preferences(context: bpy.types.Context):
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon else None


@dataclass
class WorkerSettings:
    python: str
    root: str
    job_options: Dict[str, Any]  # the job options the preferences hold (``Spec.ui == "preferences"``)


def worker_settings(context: bpy.types.Context) -> WorkerSettings:
    """The preferences with their defaults filled in (the checkout's .venv when run from the repository)."""
    prefs = preferences(context)
    found = default_worker_root()
    root = bpy.path.abspath(prefs.worker_root) if prefs and prefs.worker_root else str(found or "")
    python = bpy.path.abspath(prefs.worker_python) if prefs and prefs.worker_python else default_python(found)
    options = {}
    if prefs is not None:
        for name, prop in properties("preferences").items():
            value = getattr(prefs, name)
            options[name] = bpy.path.abspath(value) if value and prop.keywords.get("subtype") == "DIR_PATH" else value
    return WorkerSettings(python, root, options)


class HANDMOCAP_OT_check_worker(bpy.types.Operator):
    """Start the worker with these settings and show its capabilities, or why it fails"""

    bl_idname = "hand_mocap.check_worker"
    bl_label = "Check"

    def execute(self, context):
        s = worker_settings(context)
        prefs = preferences(context)
        try:
            text = check_interpreter(s.python, s.root or None)
            level = "INFO"
        except WorkerError as exc:
            text, level = f"Cannot start the worker: {exc}", "ERROR"
        if prefs is not None:
            prefs.check_result = text
        self.report({level}, text)
        return {"FINISHED"} if level == "INFO" else {"CANCELLED"}


class HandMocapPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    worker_python: StringProperty(
        name="Worker Python", subtype="FILE_PATH", default="",
        description="A Python with torch, smplx, opencv and mediapipe (e.g. the .venv that `make setup` makes). "
        "Empty: the Hand Mocap folder's .venv")
    worker_root: StringProperty(
        name="Hand Mocap folder", subtype="DIR_PATH", default="",
        description="The Hand Mocap checkout holding inference/ (empty: found next to the add-on)")
    check_result: StringProperty(name="", default="", options={"SKIP_SAVE"})

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "mano_dir")
        layout.prop(self, "hand_model")
        layout.label(text="Without official files a built-in hand (same format, free licence) is used.",
                     icon="INFO")
        box = layout.box()
        box.label(text="Inference worker")
        box.prop(self, "worker_python")
        box.prop(self, "worker_root")
        row = box.row()
        row.prop(self, "device")
        row.operator(HANDMOCAP_OT_check_worker.bl_idname, icon="CHECKMARK")
        if self.check_result:
            for line in _wrap(self.check_result, 90):
                box.label(text=line)


HandMocapPreferences.__annotations__.update(properties("preferences"))  # hand model, device, MANO folder


def _wrap(text: str, width: int):
    words, line = text.split(), ""
    for w in words:
        if len(line) + len(w) + 1 > width:
            yield line
            line = w
        else:
            line = f"{line} {w}".strip()
    if line:
        yield line
