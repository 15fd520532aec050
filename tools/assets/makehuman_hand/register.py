"""Register the open hand's 778-vertex topology onto MakeHuman's right hand.

MakeHuman's hand (its ``body`` skin, the vertices its Mixamo weights give mostly to the hand bones) is
moved into MANO's model frame by the rotation that best aligns the wrist -> finger-base vectors. Its
fingers are not flat, so the registration solves for two things at once (Adam, on the CPU, deterministic):
a MANO pose ``theta`` and per-vertex offsets ``D`` of the open hand's template. MANO's own skinning (real
smplx ``lbs``) then poses ``template + D`` by ``theta`` onto MakeHuman's surface. The terms are:

- joints: the open hand's regressed joints and fingertips onto MakeHuman's joint cubes;
- surface: a two-way chamfer between the posed mesh and points sampled on MakeHuman's hand;
- smoothness: the offsets' graph Laplacian, so the tube rings of the template move together.

``template + D`` at ``theta = 0`` is the new flat rest hand.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Dict

import numpy as np
import torch
from smplx.lbs import lbs

from addon.common.hand_model import HandModel
from addon.common.joints import MANO_16, MANO_21, TIP_VERTEX_IDS
from addon.common.retarget import kabsch_rotation
from scenes.characters import mpfb2_data, read_base_mesh

MH_FINGERS = {1: "thumb", 2: "index", 3: "middle", 4: "ring", 5: "pinky"}  # joint-r-finger-K-J
HAND_WEIGHT = 0.05  # MakeHuman vertices whose hand-bone weights sum to at least this are the hand
STEPS = (300, 900)  # pose only, then pose + offsets
REMATCH = 10  # steps between closest-point searches
WEIGHTS = {"joints": 1.0, "tips": 0.3, "chamfer": 1.0, "laplacian": 30.0, "offset": 1e-3}


@dataclass
class MakeHumanHand:
    points: np.ndarray  # (P, 3) surface samples of the hand, MANO model frame (metres)
    vertices: np.ndarray  # (V, 3) the hand's vertices, MANO model frame
    faces: np.ndarray  # (F, 3) triangles over ``vertices``
    ids: np.ndarray  # (V,) their ids in MakeHuman's base mesh
    joints: np.ndarray  # (21, 3) MANO_21 order, MANO model frame
    rotation: np.ndarray  # (3, 3) MakeHuman (Blender metres) -> MANO model frame
    offset: np.ndarray  # (3,) translation after the rotation


def makehuman_right_hand(model: HandModel) -> MakeHumanHand:
    data = mpfb2_data()
    verts, quads, groups = read_base_mesh(data / "3dobjs" / "base.obj")
    cube = {"wrist": "joint-r-hand"}
    cube.update({f"{f}{j}": f"joint-r-finger-{k}-{j}" for k, f in MH_FINGERS.items() for j in (1, 2, 3, 4)})
    by_name = {name: verts[groups[g]].mean(axis=0) for name, g in cube.items()}
    tips = {f"{f}4": by_name[f"{f}4"] for f in MH_FINGERS.values()}
    joints_mh = np.array([by_name[n] if n in by_name else tips[n] for n in MANO_21])

    weights = json.loads((data / "rigs" / "standard" / "weights.mixamo.json").read_text())["weights"]
    hand_weight = np.zeros(len(verts))
    for bone, pairs in weights.items():
        if bone.startswith("mixamorig:RightHand"):
            pairs = np.asarray(pairs)
            hand_weight[pairs[:, 0].astype(int)] += pairs[:, 1]
    body = np.unique(quads.ravel())
    ids = body[hand_weight[body] >= HAND_WEIGHT]
    keep = np.isin(quads, ids).all(axis=1)
    local = np.full(len(verts), -1)
    local[ids] = np.arange(len(ids))
    tris = np.concatenate([quads[keep][:, [0, 1, 2]], quads[keep][:, [0, 2, 3]]])
    faces = local[tris]

    rest = model.rest_joints()
    bases = [MANO_16.index(j) for j in ("index1", "middle1", "ring1", "pinky1")]
    rot = kabsch_rotation(joints_mh[bases] - joints_mh[0], rest[bases] - rest[0])
    offset = rest[0] - rot @ joints_mh[0]
    to_mano = lambda p: p @ rot.T + offset  # noqa: E731
    hand_verts = to_mano(verts[ids])
    tri = hand_verts[faces]
    # Surface samples: vertices and face centres, so the chamfer sees the whole skin.
    points = np.concatenate([hand_verts, tri.mean(axis=1)])
    return MakeHumanHand(points, hand_verts, faces, ids, to_mano(joints_mh), rot, offset)


def _laplacian(faces: np.ndarray, n: int) -> torch.Tensor:
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    i = torch.as_tensor(np.concatenate([edges[:, 0], edges[:, 1]]))
    j = torch.as_tensor(np.concatenate([edges[:, 1], edges[:, 0]]))
    adjacency = torch.zeros(n, n, dtype=torch.float64)
    adjacency[i, j] = 1.0
    return adjacency / adjacency.sum(dim=1, keepdim=True)  # row i: the mean over i's neighbours


def register(model: HandModel, target: MakeHumanHand, steps=STEPS) -> Dict[str, np.ndarray]:
    """theta (16, 3), offsets (778, 3) and the residuals (joints in mm, chamfer in mm)."""
    torch.manual_seed(0)
    f64 = dict(dtype=torch.float64)
    v0 = torch.as_tensor(model.v_template, **f64)
    shapedirs = torch.as_tensor(model.shapedirs, **f64)
    posedirs = torch.as_tensor(model.posedirs.reshape(-1, model.posedirs.shape[-1]).T, **f64)
    jreg = torch.as_tensor(model.J_regressor, **f64)
    parents = torch.as_tensor(model.parents)
    weights = torch.as_tensor(model.weights, **f64)
    tips = torch.as_tensor([TIP_VERTEX_IDS[n] for n in MANO_21[16:]])
    want = torch.as_tensor(target.joints, **f64)
    points = torch.as_tensor(target.points, **f64)
    neighbours = _laplacian(model.f, len(model.v_template))
    theta = torch.zeros(1, 48, **f64, requires_grad=True)
    shift = torch.zeros(3, **f64, requires_grad=True)  # the alignment fixes the frame up to a small shift
    offsets = torch.zeros(778, 3, **f64, requires_grad=True)
    betas = torch.zeros(1, shapedirs.shape[-1], **f64)

    def posed():
        verts, joints = lbs(betas, theta, v0 + offsets, shapedirs, posedirs, jreg, parents, weights)
        return verts[0] + shift, torch.cat([joints[0], verts[0, tips]]) + shift

    pairs = {}

    def loss(with_surface: bool, step: int):
        verts, joints = posed()
        terms = {"joints": ((joints[:16] - want[:16]) ** 2).sum(-1).mean(),
                 "tips": ((joints[16:] - want[16:]) ** 2).sum(-1).mean()}
        if with_surface:
            if step % REMATCH == 0:  # closest points, found again every few steps (as in ICP)
                with torch.no_grad():
                    d = torch.cdist(verts, points)
                    pairs["to_target"], pairs["to_mesh"] = d.argmin(dim=1), d.argmin(dim=0)
            terms["chamfer"] = (((verts - points[pairs["to_target"]]) ** 2).sum(-1).mean()
                                + ((points - verts[pairs["to_mesh"]]) ** 2).sum(-1).mean())
            lap = offsets - neighbours @ offsets
            terms["laplacian"] = (lap ** 2).sum(-1).mean()
            terms["offset"] = (offsets ** 2).sum(-1).mean()
        return sum(WEIGHTS[k] * v for k, v in terms.items()), terms

    stages = ((steps[0], [theta, shift], False, 0.02), (steps[1], [theta, shift, offsets], True, 0.002))
    for n, params, surface, lr in stages:
        opt = torch.optim.Adam(params, lr=lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n, eta_min=lr * 0.05)
        for step in range(n):
            opt.zero_grad()
            total, _ = loss(surface, step)
            total.backward()
            opt.step()
            schedule.step()
    with torch.no_grad():
        verts, joints = posed()
        d = torch.cdist(verts, points)
        joint_err = (joints - want).norm(dim=-1) * 1000
        return {"theta": theta.detach().numpy().reshape(16, 3), "offsets": offsets.detach().numpy(),
                "shift": shift.detach().numpy(), "posed": verts.numpy(), "posed_joints": joints.numpy(),
                "joint_mm": joint_err.numpy(),
                "surface_mm": (d.min(dim=1).values * 1000).numpy(),
                "coverage_mm": (d.min(dim=0).values * 1000).numpy()}


if __name__ == "__main__":  # PYTHONPATH=.:tools python -m makehuman_hand.register: the residuals per part
    from addon.common.hand_model import OPEN_HAND_FILES, load_hand_model

    hand = load_hand_model(OPEN_HAND_FILES["right"])
    out = register(hand, makehuman_right_hand(hand))
    part = np.argmax(hand.weights, axis=1)
    for j, name in enumerate(MANO_16):
        err = out["surface_mm"][part == j]
        print(f"{name:8s} joint {out['joint_mm'][j]:5.2f} mm, skin {err.mean():5.2f} mm mean, {err.max():5.2f} max")
