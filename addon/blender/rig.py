"""Build a rigged, skinned, textured MANO hand in Blender that reproduces the MANO layer exactly.

Stages, each for the whole hand before the next (as in Rigify): objects, bones (edit mode), skin (vertex
groups + Armature modifier), pose correctives (135 shape keys from ``posedirs``), surface (UVs, material).

Spaces: the mesh and the armature share one local space, MANO's model frame in metres; their parent, an
empty, maps OpenCV camera axes (x right, y down, z forward) to Blender's world (z up), so the MANO output
with its camera-space translation lands in front of a camera at the world origin looking along +Y.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, List, Optional

import bpy
import numpy as np
from mathutils import Matrix

from ..common.hand_model import HandModel, builtin_texture
from ..common.joints import MANO_16, MANO_PARENTS, TIP_NAMES, TIP_VERTEX_IDS

# OpenCV camera axes -> Blender world axes (+90 degrees about X).
CV_TO_BLENDER = Matrix(((1, 0, 0, 0), (0, 0, 1, 0), (0, -1, 0, 0), (0, 0, 0, 1)))
_SEGMENTS = {"thumb": ("cmc", "mcp", "ip"), "other": ("mcp", "pip", "dip")}
SKIN_RGBA = (0.72, 0.45, 0.36, 1.0)
SHAPE_KEY_SLIDER = 2.0  # entries of R - I lie in [-2, 1]
OVERLAY_LABEL = "confidence overlay"  # the skin material's mix node that lays the confidence over the skin


def bone_name(joint: str, side: str) -> str:
    """'index2' -> 'index_pip.R'; 'thumb1' -> 'thumb_cmc.R'; 'index4' -> 'index_tip.R'; 'wrist' -> 'wrist.R'."""
    suffix = ".R" if side == "right" else ".L"
    if joint == "wrist":
        return "wrist" + suffix
    finger, k = joint[:-1], int(joint[-1])
    seg = "tip" if k == 4 else _SEGMENTS["thumb" if finger == "thumb" else "other"][k - 1]
    return f"{finger}_{seg}{suffix}"


def shape_key_names(side: str) -> List[str]:
    """Names of the 135 pose correctives: bone, then the (row, column) of its R - I entry."""
    return [f"{bone_name(j, side)}.R{r}{c}" for j in MANO_16[1:] for r in range(3) for c in range(3)]


@dataclass
class HandRig:
    root: bpy.types.Object
    armature: bpy.types.Object
    mesh: bpy.types.Object
    side: str
    bones: List[str]  # the 16 MANO bones, MANO order
    bone_rest: np.ndarray  # (16, 3, 3): each bone's rest orientation in armature (= MANO) space
    rest_joints: np.ndarray  # (16, 3)
    shape_keys: List[str]
    extra: List[bpy.types.Object] = field(default_factory=list)  # camera etc.

    @property
    def objects(self) -> List[bpy.types.Object]:
        return [self.root, self.armature, self.mesh, *self.extra]


@contextmanager
def undo_on_error() -> Iterator[None]:
    """Remove every object and data-block created inside the block if it raises: nothing half-built stays."""
    kinds = ("objects", "meshes", "armatures", "materials", "images", "actions", "cameras", "shape_keys",
             "node_groups")
    before = {k: set(getattr(bpy.data, k)) for k in kinds}
    try:
        yield
    except BaseException:
        if bpy.context.object and bpy.context.object.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        for k in ("objects", "cameras", "meshes", "armatures", "materials", "images", "actions", "node_groups"):
            for block in set(getattr(bpy.data, k)) - before[k]:
                getattr(bpy.data, k).remove(block)
        raise


def build_hand_rig(model: HandModel, betas: Optional[np.ndarray] = None, name: str = "Hand",
                   collection: Optional[bpy.types.Collection] = None,
                   vertex_colors: Optional[np.ndarray] = None) -> HandRig:
    """A rig of ``model`` at shape ``betas`` (10,), linked into ``collection`` (default: the scene's)."""
    collection = collection or bpy.context.scene.collection
    side = model.side
    verts = model.rest_vertices(betas)
    joints = model.J_regressor @ verts
    with undo_on_error():
        root, arm_obj, mesh_obj = _create_objects(name, side, verts, model.f, collection)
        bones = _create_bones(arm_obj, side, joints, verts)
        rest = np.array([np.array(arm_obj.data.bones[b].matrix_local.to_3x3()) for b in bones])
        _skin(mesh_obj, arm_obj, model.weights, bones)
        keys = _add_pose_correctives(mesh_obj, verts, model.posedirs, side)
        _add_surface(mesh_obj, model, vertex_colors)
    return HandRig(root=root, armature=arm_obj, mesh=mesh_obj, side=side, bones=bones, bone_rest=rest,
                   rest_joints=joints, shape_keys=keys)


def _create_objects(name, side, verts, faces, collection):
    root = bpy.data.objects.new(f"{name}", None)
    root.empty_display_type = "ARROWS"
    root.empty_display_size = 0.05
    root.matrix_world = CV_TO_BLENDER
    root["hand_mocap_side"] = side
    arm = bpy.data.armatures.new(f"{name}_armature")
    arm.display_type = "OCTAHEDRAL"
    arm_obj = bpy.data.objects.new(f"{name}_armature", arm)
    arm_obj.show_in_front = True
    mesh = bpy.data.meshes.new(f"{name}_mesh")
    mesh.from_pydata(verts.tolist(), [], np.asarray(faces).tolist())
    mesh.validate(verbose=False)
    mesh.shade_smooth()
    mesh_obj = bpy.data.objects.new(f"{name}_mesh", mesh)
    for obj in (root, arm_obj, mesh_obj):
        collection.objects.link(obj)
    arm_obj.parent = root
    mesh_obj.parent = arm_obj
    return root, arm_obj, mesh_obj


def _create_bones(arm_obj, side, joints, verts) -> List[str]:
    """16 deforming MANO bones with heads on the joints, plus 5 fingertip leaves; returns the MANO bones."""
    view_layer = bpy.context.view_layer
    previous = view_layer.objects.active
    view_layer.objects.active = arm_obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        eb = arm_obj.data.edit_bones
        children = {p: c for c, p in enumerate(MANO_PARENTS) if p >= 0 and p != 0}
        tips = {t[:-1]: verts[TIP_VERTEX_IDS[t]] for t in TIP_NAMES}
        names = [bone_name(j, side) for j in MANO_16]
        for j, joint in enumerate(MANO_16):
            bone = eb.new(names[j])
            bone.head = joints[j]
            if j == 0:
                bone.tail = joints[MANO_16.index("middle1")]
            elif j in children:
                bone.tail = joints[children[j]]
            else:
                bone.tail = tips[joint[:-1]]
            bone.roll = 0.0
            bone.use_deform = True
        for j, joint in enumerate(MANO_16):
            if MANO_PARENTS[j] >= 0:
                eb[names[j]].parent = eb[names[MANO_PARENTS[j]]]
        for tip_joint in TIP_NAMES:
            finger = tip_joint[:-1]
            last = eb[bone_name(f"{finger}3", side)]
            bone = eb.new(bone_name(tip_joint, side))
            bone.head = last.tail
            direction = np.array(last.tail) - np.array(last.head)
            bone.tail = np.array(last.tail) + 0.3 * direction
            bone.parent = last
            bone.use_deform = False
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = previous
    for name in names:
        arm_obj.pose.bones[name].rotation_mode = "QUATERNION"
    return names


def _skin(mesh_obj, arm_obj, weights, bones) -> None:
    for j, name in enumerate(bones):
        group = mesh_obj.vertex_groups.new(name=name)
        column = weights[:, j]
        ids = np.nonzero(column)[0]
        for value in np.unique(column[ids]):  # one call per distinct weight
            group.add(ids[column[ids] == value].tolist(), float(value), "REPLACE")
    mod = mesh_obj.modifiers.new("Armature", "ARMATURE")
    mod.object = arm_obj
    mod.use_vertex_groups = True
    mod.use_deform_preserve_volume = False  # MANO is linear blend skinning


def _add_pose_correctives(mesh_obj, verts, posedirs, side) -> List[str]:
    names = shape_key_names(side)
    basis = mesh_obj.shape_key_add(name="Basis", from_mix=False)
    basis.data.foreach_set("co", verts.astype(np.float32).ravel())
    for k, name in enumerate(names):
        key = mesh_obj.shape_key_add(name=name, from_mix=False)
        key.data.foreach_set("co", (verts + posedirs[:, :, k]).astype(np.float32).ravel())
        key.slider_min = -SHAPE_KEY_SLIDER
        key.slider_max = SHAPE_KEY_SLIDER
    mesh_obj.data.shape_keys.name = f"{mesh_obj.name}_correctives"
    return names


def _add_surface(mesh_obj, model: HandModel, vertex_colors: Optional[np.ndarray]) -> None:
    mesh = mesh_obj.data
    mat = bpy.data.materials.new(f"{mesh_obj.name}_skin")
    if mat.node_tree is None:
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
    bsdf.inputs["Roughness"].default_value = 0.55
    if "Subsurface Weight" in bsdf.inputs:
        bsdf.inputs["Subsurface Weight"].default_value = 0.08
    bsdf.inputs["Base Color"].default_value = SKIN_RGBA
    mat.diffuse_color = SKIN_RGBA
    if model.vt is not None and model.ft is not None:
        uv = mesh.uv_layers.new(name="UVMap")
        uv.data.foreach_set("uv", model.vt[model.ft].astype(np.float32).ravel())
        texture = builtin_texture(model)
        if vertex_colors is None and texture is not None:
            image = bpy.data.images.load(str(texture), check_existing=True)
            image.pack()  # the .blend stays self-contained
            tex = nodes.new("ShaderNodeTexImage")
            tex.image = image
            links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    mesh.materials.append(mat)
    if vertex_colors is not None:
        set_vertex_colours(mesh_obj, vertex_colors)


def set_vertex_colours(mesh_obj, colours: np.ndarray) -> None:
    """Per-vertex linear RGB (V, 3) as the skin: a ``skin`` colour attribute drives the material's base colour
    (in place of any texture, which stays in the material, unlinked)."""
    mesh = mesh_obj.data
    attr = mesh.color_attributes.get("skin") or mesh.color_attributes.new("skin", "FLOAT_COLOR", "POINT")
    rgba = np.concatenate([colours, np.ones((len(colours), 1))], axis=1)
    attr.data.foreach_set("color", rgba.astype(np.float32).ravel())
    mat = mesh.materials[0]
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    node = next((n for n in nodes if n.type == "VERTEX_COLOR"), None) or nodes.new("ShaderNodeVertexColor")
    node.layer_name = "skin"
    links.new(node.outputs["Color"], skin_input(mat))
    mesh.color_attributes.active_color = attr


def colour_socket(sockets, name: str):
    """The colour socket called ``name`` (a Mix node has one per data type under the same name)."""
    return next(s for s in sockets if s.name == name and s.type == "RGBA")


def skin_input(mat: bpy.types.Material):
    """Where the skin colour goes: the confidence overlay's skin side when there is one, else the base colour."""
    nodes = mat.node_tree.nodes
    overlay = next((n for n in nodes if n.label == OVERLAY_LABEL), None)
    if overlay is not None:
        return colour_socket(overlay.inputs, "A")
    return next(n for n in nodes if n.type == "BSDF_PRINCIPLED").inputs["Base Color"]
