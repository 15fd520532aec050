"""MANO linear blend skinning in numpy, for places without torch (Blender scenes, checks, previews).

Same maths as the MANO paper: shape blend, joint regression, pose correctives from (R - I), then LBS
along the kinematic tree. The torch path (training, worker) uses smplx's layer on the same arrays.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rotations import axis_angle_to_matrix


@dataclass
class LBSOutput:
    vertices: np.ndarray  # (B, 778, 3)
    joints: np.ndarray  # (B, 16, 3) posed MANO joints
    rest_joints: np.ndarray  # (B, 16, 3) joints of the shaped rest mesh
    transforms: np.ndarray  # (B, 16, 4, 4) skinning matrices (rest -> posed)


def shaped_rest(v_template: np.ndarray, shapedirs: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """(B, 10) betas -> (B, V, 3) rest vertices."""
    nb = shapedirs.shape[-1]
    betas = np.asarray(betas, dtype=np.float64)[:, :nb]
    return v_template[None] + (betas @ shapedirs.reshape(-1, nb).T).reshape(len(betas), *shapedirs.shape[:2])


def pose_features(rot_mats: np.ndarray) -> np.ndarray:
    """(B, 16, 3, 3) rotations -> (B, 135) pose-corrective coefficients, the entries of R - I for joints 1..15."""
    return (rot_mats[:, 1:] - np.eye(3)).reshape(rot_mats.shape[0], -1)


def forward_kinematics(rot: np.ndarray, rest_joints: np.ndarray, parents) -> tuple:
    """(B, J, 3, 3) local rotations about (B, J, 3) rest joints -> posed joints (B, J, 3) and the (B, J, 4, 4)
    skinning transforms that carry rest points to posed points."""
    batch, n_joints = rot.shape[:2]
    world = np.zeros((batch, n_joints, 4, 4))
    for j in range(n_joints):
        local = np.tile(np.eye(4), (batch, 1, 1))
        local[:, :3, :3] = rot[:, j]
        p = parents[j]
        local[:, :3, 3] = rest_joints[:, j] - (rest_joints[:, p] if p >= 0 else 0.0)
        world[:, j] = local if p < 0 else world[:, p] @ local
    joints = world[:, :, :3, 3].copy()
    skin = world.copy()
    skin[:, :, :3, 3] -= np.einsum("bjcd,bjd->bjc", world[:, :, :3, :3], rest_joints)
    return joints, skin


def lbs(
    betas: np.ndarray,
    full_pose: np.ndarray,
    v_template: np.ndarray,
    shapedirs: np.ndarray,
    posedirs: np.ndarray,
    j_regressor: np.ndarray,
    parents: np.ndarray,
    weights: np.ndarray,
    transl: np.ndarray | None = None,
    vertex_ids: np.ndarray | None = None,
) -> LBSOutput:
    """betas (B, 10), full_pose (B, 48) axis-angle (global orient first) -> posed mesh and joints.
    ``vertex_ids``: only these vertices are posed (``vertices`` is (B, len(vertex_ids), 3)); the joints are the
    same, as they come from the whole shaped rest mesh."""
    full_pose = np.asarray(full_pose, dtype=np.float64)
    batch = full_pose.shape[0]
    v_shaped = shaped_rest(v_template, shapedirs, betas)
    rest_joints = j_regressor @ v_shaped  # (B, J, 3)
    rot = axis_angle_to_matrix(full_pose.reshape(batch, -1, 3))
    if vertex_ids is not None:
        v_shaped, posedirs, weights = v_shaped[:, vertex_ids], posedirs[vertex_ids], weights[vertex_ids]
    n_basis = posedirs.shape[-1]
    offsets = np.einsum("bk,vck->bvc", pose_features(rot)[:, :n_basis], posedirs)
    v_posed = v_shaped + offsets

    joints, skin = forward_kinematics(rot, rest_joints, parents)
    per_vertex = np.einsum("vj,bjcd->bvcd", weights, skin)
    verts = np.einsum("bvcd,bvd->bvc", per_vertex[:, :, :3, :3], v_posed) + per_vertex[:, :, :3, 3]
    if transl is not None:
        t = np.asarray(transl, dtype=np.float64)[:, None]
        verts = verts + t
        joints = joints + t
    return LBSOutput(vertices=verts, joints=joints, rest_joints=rest_joints, transforms=skin)
