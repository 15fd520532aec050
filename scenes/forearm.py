"""A forearm (MakeHuman's, CC0) and a random sleeve, fixed rigidly to the rendered hand's wrist.

Real footage shows a forearm behind the hand, and often a sleeve; a floating hand teaches a network that
hands end in nothing. The forearm is the part of MakeHuman's body that its Mixamo weights give to the
right forearm, carried into the MANO model frame by the same rotation that registered MakeHuman's hand
(``makehuman_rotation`` in the MakeHuman hand's file) and placed so MakeHuman's wrist joint lands on the
hand model's wrist joint. It is skinned entirely to the wrist bone, so it turns and moves with the hand's
global orientation and translation and never bends. Labels stay the hand's: the mask pass treats the
forearm and sleeve like any other object in front of, or beside, the hand.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import bpy
import numpy as np

from addon.common.hand_model import BUILTIN_HANDS, HandModel, load_hand_model

from .characters import mpfb2_data, read_base_mesh

FOREARM_WEIGHT = 0.5  # MakeHuman vertices whose right-forearm weight is at least this form the forearm
FOREARM_TONE = np.array([0.62, 0.43, 0.34])  # the open hand texture's mean skin colour (linear), to be tinted


@dataclass
class ForearmMesh:
    vertices: np.ndarray  # (V, 3) MANO model frame, relative to MakeHuman's wrist joint
    faces: np.ndarray  # (F, 4) quads
    normals: np.ndarray  # (V, 3) outward vertex normals
    along: np.ndarray  # (V,) distance from the wrist along the forearm, metres


@lru_cache(maxsize=1)
def forearm_mesh() -> ForearmMesh:
    """MakeHuman's right forearm in the MANO model frame, the wrist joint at the origin (cached)."""
    data = mpfb2_data()
    verts, quads, groups = read_base_mesh(data / "3dobjs" / "base.obj")
    weights = json.loads((data / "rigs" / "standard" / "weights.mixamo.json").read_text())["weights"]
    pairs = np.asarray(weights["mixamorig:RightForeArm"])
    w = np.zeros(len(verts))
    w[pairs[:, 0].astype(int)] = pairs[:, 1]
    keep = (w[quads] >= FOREARM_WEIGHT).all(axis=1)
    ids = np.unique(quads[keep].ravel())
    local = np.full(len(verts), -1)
    local[ids] = np.arange(len(ids))
    mh = load_hand_model(BUILTIN_HANDS["makehuman"]["right"])
    rotation = mh.extras["makehuman_rotation"]
    wrist = verts[groups["joint-r-hand"]].mean(axis=0)
    v = (verts[ids] - wrist) @ rotation.T
    faces = local[quads[keep]]
    normals = _vertex_normals(v, faces)
    axis = -(mh.rest_joints()[4] - mh.rest_joints()[0])  # from the middle finger's base back to the wrist
    axis /= np.linalg.norm(axis)
    return ForearmMesh(v, faces, normals, v @ axis)


def _vertex_normals(v: np.ndarray, quads: np.ndarray) -> np.ndarray:
    n = np.zeros_like(v)
    for a, b, c in ((0, 1, 2), (0, 2, 3)):
        face = np.cross(v[quads[:, b]] - v[quads[:, a]], v[quads[:, c]] - v[quads[:, a]])
        for k in (a, b, c):
            np.add.at(n, quads[:, k], face)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def _material(name: str, rgb, roughness: float) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:
        mat.use_nodes = True
    bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
    bsdf.inputs["Roughness"].default_value = roughness
    mat.diffuse_color = (*rgb, 1.0)
    return mat


def _skinned_object(name: str, v: np.ndarray, faces: np.ndarray, armature: bpy.types.Object, bone: str,
                    material: bpy.types.Material) -> bpy.types.Object:
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(v.tolist(), [], faces.tolist())
    mesh.validate(verbose=False)
    mesh.shade_smooth()
    mesh.materials.append(material)
    obj = bpy.data.objects.new(name, mesh)
    armature.users_collection[0].objects.link(obj)
    obj.parent = armature
    group = obj.vertex_groups.new(name=bone)
    group.add(list(range(len(v))), 1.0, "REPLACE")  # rigid: everything follows the wrist bone
    modifier = obj.modifiers.new("Armature", "ARMATURE")
    modifier.object = armature
    return obj


def add_forearm(armature: bpy.types.Object, wrist_bone: str, model: HandModel, betas: np.ndarray,
                tone: np.ndarray, rng: np.random.Generator) -> list:
    """A forearm in the hand's skin tone (randomly tinted) and, on most draws, a sleeve of random colour,
    length and looseness; both skinned rigidly to ``wrist_bone``. Returns the new objects."""
    arm = forearm_mesh()
    wrist = model.rest_joints(betas)[0]
    side = 1.0 if model.side == "right" else -1.0  # the left hand's model frame is the right's mirror (x)
    mirror = np.array([side, 1.0, 1.0])
    faces = arm.faces if side > 0 else arm.faces[:, ::-1]
    tint = np.clip(tone * rng.uniform(0.9, 1.1, 3), 0.0, 1.5)
    skin = _material("forearm_skin", FOREARM_TONE * tint, float(rng.uniform(0.4, 0.6)))
    objects = [_skinned_object("forearm", arm.vertices * mirror + wrist, faces, armature, wrist_bone, skin)]
    if rng.random() < 0.75:
        start = float(rng.uniform(0.02, 0.15))  # how far up the forearm the sleeve begins
        loose = float(rng.uniform(0.004, 0.012))
        keep = (arm.along[arm.faces] >= start).all(axis=1)
        if keep.any():
            colour = rng.uniform(0.02, 0.8, 3) * rng.uniform(0.3, 1.0)
            cloth = _material("sleeve", colour, float(rng.uniform(0.5, 1.0)))
            v = (arm.vertices + loose * arm.normals) * mirror + wrist
            objects.append(_skinned_object("sleeve", v, faces[keep], armature, wrist_bone, cloth))
    return objects


def remove(objects: Optional[list]) -> None:
    for obj in objects or []:
        mesh, materials = obj.data, list(obj.data.materials)
        bpy.data.objects.remove(obj)
        bpy.data.meshes.remove(mesh)
        for mat in materials:
            if mat is not None and mat.users == 0:
                bpy.data.materials.remove(mat)
