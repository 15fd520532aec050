"""Bulk keyframe writing that works with Blender 4.2/4.5 (``Action.fcurves``) and 5.0 (layered actions).

Keys go in with ``keyframe_points.add`` + ``foreach_set``: one call per curve, not one per key.
"""
from __future__ import annotations

from typing import Optional, Sequence

import bpy
import numpy as np

INTERPOLATION = {"CONSTANT": 0, "LINEAR": 1, "BEZIER": 2}


def ensure_action(id_data: bpy.types.ID, name: str) -> bpy.types.Action:
    """The action animating ``id_data``, created and assigned if there is none."""
    ad = id_data.animation_data or id_data.animation_data_create()
    if ad.action is None:
        ad.action = bpy.data.actions.new(name)
    return ad.action


def ensure_fcurve(id_data: bpy.types.ID, data_path: str, index: int = 0, group: str = "") -> bpy.types.FCurve:
    """The F-curve for ``data_path[index]`` on ``id_data``'s action, whichever action API this Blender has."""
    action = id_data.animation_data.action
    if hasattr(action, "fcurve_ensure_for_datablock"):  # 4.4+: layered actions, slots made as needed
        return action.fcurve_ensure_for_datablock(id_data, data_path, index=index, group_name=group)
    fcurve = action.fcurves.find(data_path, index=index)  # 4.2/4.3: legacy actions
    if fcurve is None:
        fcurve = action.fcurves.new(data_path, index=index, action_group=group)
    return fcurve


def find_fcurve(id_data: bpy.types.ID, data_path: str, index: int = 0) -> Optional[bpy.types.FCurve]:
    """The F-curve for ``data_path[index]`` on ``id_data``'s action, or None; never creates one."""
    ad = id_data.animation_data
    action = ad.action if ad else None
    if action is None:
        return None
    if getattr(action, "is_action_layered", False):  # 4.4+: the curves live in the slot's channelbag
        from bpy_extras.anim_utils import action_get_channelbag_for_slot

        bag = action_get_channelbag_for_slot(action, ad.action_slot)
        return bag.fcurves.find(data_path, index=index) if bag else None
    return action.fcurves.find(data_path, index=index)


def write_keys(fcurve: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray,
               interpolation: str = "LINEAR") -> None:
    """Replace the curve's keys with (frames[i], values[i]) in three bulk calls."""
    frames = np.asarray(frames, dtype=np.float32)
    values = np.asarray(values, dtype=np.float32)
    points = fcurve.keyframe_points
    if len(points):
        points.clear()
    points.add(len(frames))
    co = np.empty(2 * len(frames), dtype=np.float32)
    co[0::2] = frames
    co[1::2] = values
    points.foreach_set("co", co)
    points.foreach_set("interpolation", np.full(len(frames), INTERPOLATION[interpolation], dtype=np.int32))
    fcurve.update()


def key_channels(id_data: bpy.types.ID, data_path: str, frames: np.ndarray, values: np.ndarray,
                 group: str = "", interpolation: str = "LINEAR", indices: Optional[Sequence[int]] = None) -> None:
    """Key every component of an array property at once: values (T, C) -> C curves."""
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    for c in range(values.shape[1]):
        index = c if indices is None else indices[c]
        write_keys(ensure_fcurve(id_data, data_path, index, group), frames, values[:, c], interpolation)
