"""The model's per-joint confidence on the rig: a keyed custom property per bone and a colour overlay.

- Each of the 16 MANO pose bones gets ``hand_mocap_confidence`` keyed at every sample (the mean of the joint
  confidences at the bone's two ends, ``addon.common.joints.bone_confidence``): the Graph Editor shows where
  over the clip the model was unsure of that finger.
- The overlay: a Geometry Nodes modifier after the Armature one turns the bones' current values into a
  per-vertex ``hand_mocap_confidence`` attribute (each vertex weighs its bones' values by its skinning
  weights; drivers carry the keyed values into the node tree, so it follows the timeline), and the skin
  material mixes a red (unsure, 0.2) - yellow (0.5) - green (sure, 0.8) ramp over the skin by the mesh object's
  ``hand_mocap_confidence_overlay`` property (0: off, 1: on; the import option sets it).
"""
from __future__ import annotations

import bpy
import numpy as np

from ..common.joints import bone_confidence
from .keyframes import key_channels
from .rig import OVERLAY_LABEL, HandRig, colour_socket

PROPERTY = "hand_mocap_confidence"
ATTRIBUTE = "hand_mocap_confidence"
TOGGLE = "hand_mocap_confidence_overlay"
MODIFIER = "Hand Mocap confidence"
# red at 0.2 and below (an expected error of 6 cm), yellow at 0.5 (3 cm), green at 0.8 and above (1.5 cm)
RAMP = ((0.2, (0.8, 0.05, 0.02, 1.0)), (0.5, (0.9, 0.75, 0.05, 1.0)), (0.8, (0.1, 0.7, 0.15, 1.0)))


def key_confidence(rig: HandRig, frames: np.ndarray, joint_confidence: np.ndarray,
                   interpolation: str = "LINEAR") -> None:
    """Key each MANO bone's ``hand_mocap_confidence`` from per-sample joint confidences (T, 21), MANO-21."""
    arm = rig.armature
    per_bone = bone_confidence(joint_confidence)  # (T, 16)
    for j, bone in enumerate(rig.bones):
        pbone = arm.pose.bones[bone]
        if PROPERTY not in pbone:
            pbone[PROPERTY] = 1.0
            pbone.id_properties_ui(PROPERTY).update(min=0.0, max=1.0, description="the model's confidence "
                                                    "in this bone (Hand Mocap): 0 unsure .. 1 sure")
        key_channels(arm, f'pose.bones["{bone}"]["{PROPERTY}"]', frames, per_bone[:, j:j + 1], group=bone,
                     interpolation=interpolation)


def add_confidence_overlay(rig: HandRig, show: bool = False) -> None:
    """The per-vertex confidence attribute (Geometry Nodes, driven by the bones' keyed values) and the skin
    material's overlay, switched by the mesh object's ``hand_mocap_confidence_overlay``."""
    mesh_obj = rig.mesh
    if MODIFIER in mesh_obj.modifiers:  # already there (a video import's later chunk): leave the user's switch
        return
    mod = mesh_obj.modifiers.new(MODIFIER, "NODES")
    mod.node_group = _confidence_nodes(rig)
    mesh_obj[TOGGLE] = 1.0 if show else 0.0
    mesh_obj.id_properties_ui(TOGGLE).update(min=0.0, max=1.0, description="show the model's confidence as "
                                             "colour on the skin (Hand Mocap): red unsure, green sure")
    _overlay_material(mesh_obj.data.materials[0])


def _confidence_nodes(rig: HandRig) -> bpy.types.NodeTree:
    tree = bpy.data.node_groups.new(f"{rig.mesh.name}_confidence", "GeometryNodeTree")
    tree.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    tree.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    nodes, links = tree.nodes, tree.links
    group_in, group_out = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    total = None
    for j, bone in enumerate(rig.bones):
        weight = nodes.new("GeometryNodeInputNamedAttribute")  # a vertex group reads as a point attribute
        weight.data_type = "FLOAT"
        weight.inputs["Name"].default_value = bone
        value = nodes.new("ShaderNodeValue")
        value.label = bone
        _drive(value.outputs[0], rig.armature, f'pose.bones["{bone}"]["{PROPERTY}"]')
        term = nodes.new("ShaderNodeMath")
        term.operation = "MULTIPLY_ADD"  # weight x value + the sum so far
        links.new(weight.outputs["Attribute"], term.inputs[0])
        links.new(value.outputs[0], term.inputs[1])
        if total is None:
            term.inputs[2].default_value = 0.0
        else:
            links.new(total.outputs[0], term.inputs[2])
        total = term
        for k, node in enumerate((weight, value, term)):
            node.location = (200 * k, -140 * j)
    store = nodes.new("GeometryNodeStoreNamedAttribute")
    store.data_type = "FLOAT"
    store.domain = "POINT"
    store.inputs["Name"].default_value = ATTRIBUTE
    links.new(group_in.outputs["Geometry"], store.inputs["Geometry"])
    links.new(total.outputs[0], store.inputs["Value"])
    links.new(store.outputs["Geometry"], group_out.inputs["Geometry"])
    store.location, group_out.location, group_in.location = (700, 0), (900, 0), (-200, 0)
    return tree


def _drive(socket, armature: bpy.types.Object, data_path: str) -> None:
    """A plain property driver (no Python expression: it runs with auto-run scripts off)."""
    curve = socket.driver_add("default_value")
    drv = curve.driver
    drv.type = "AVERAGE"
    var = drv.variables.new()
    var.type = "SINGLE_PROP"
    var.targets[0].id_type = "OBJECT"
    var.targets[0].id = armature
    var.targets[0].data_path = data_path


def _overlay_material(mat: bpy.types.Material) -> None:
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    if any(n.label == OVERLAY_LABEL for n in nodes):
        return
    bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
    base = bsdf.inputs["Base Color"]
    skin = base.links[0].from_socket if base.is_linked else None
    attr = nodes.new("ShaderNodeAttribute")
    attr.attribute_type = "GEOMETRY"
    attr.attribute_name = ATTRIBUTE
    ramp = nodes.new("ShaderNodeValToRGB")
    elements = ramp.color_ramp.elements
    while len(elements) < len(RAMP):
        elements.new(0.5)
    for element, (pos, colour) in zip(elements, RAMP):
        element.position, element.color = pos, colour
    toggle = nodes.new("ShaderNodeAttribute")
    toggle.attribute_type = "OBJECT"
    toggle.attribute_name = TOGGLE
    mix = nodes.new("ShaderNodeMix")
    mix.data_type = "RGBA"
    mix.label = OVERLAY_LABEL
    a, b = colour_socket(mix.inputs, "A"), colour_socket(mix.inputs, "B")
    if skin is not None:
        links.new(skin, a)
    else:
        a.default_value = base.default_value
    links.new(attr.outputs["Fac"], ramp.inputs["Fac"])
    links.new(ramp.outputs["Color"], b)
    links.new(toggle.outputs["Fac"], mix.inputs["Factor"])
    links.new(colour_socket(mix.outputs, "Result"), base)
