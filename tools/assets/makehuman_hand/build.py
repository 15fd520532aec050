"""Assemble the MakeHuman hand's MANO-format files (right, and its exact mirror for the left).

The open hand's topology, faces, UVs and skinning weights carry over unchanged (the registration only
moves vertices). What is new:

- ``v_template``: the registered flat hand (``register.py``);
- ``J_regressor``: each joint's weights, starting from the open hand's ring of skin around the joint and
  widened to the ring's neighbours, moved as little as possible so the joint lands exactly where
  MakeHuman's joint cube is (carried back to the flat hand through the fitted pose);
- ``shapedirs``: MakeHuman's own hand targets (their ``incr`` and ``decr`` files: beta +2 is the whole
  ``incr`` target, -2 the whole ``decr``, as betas usually range over +-2) carried onto the registered vertices and back to the flat hand, then five of the open hand's
  anatomical directions; named in ``shape_names``;
- ``posedirs`` and the pose PCA, recomputed on the new geometry the way the open hand's are.
"""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

from addon.common.hand_model import OPEN_HAND_FILES, OPEN_HAND_MARKER, HandModel, load_hand_model, save_hand_model_dict
from addon.common.joints import MANO_PARENTS
from addon.common.retarget import global_rotations
from addon.common.rotations import axis_angle_to_matrix
from scenes.characters import MH_TO_BLENDER, mpfb2_data
from tools.assets.open_hand import rigging
from tools.assets.open_hand.build import SHAPE_NAMES as OPEN_SHAPE_NAMES
from tools.assets.open_hand.build import mirror_to_left

from .register import STEPS, MakeHumanHand, makehuman_right_hand, register
from .texture import write_makehuman_texture

VERSION = "1"
HAND_NAME = "makehuman"
# MakeHuman's right-hand targets (targets/hands/r-hand-NAME-{decr,incr} and measure-wrist-circ-*).
MH_TARGETS = (("hand_scale", "hands/r-hand-scale"), ("fingers_length", "hands/r-hand-fingers-length"),
              ("fingers_diameter", "hands/r-hand-fingers-diameter"),
              ("fingers_distance", "hands/r-hand-fingers-distance"),
              ("wrist_circumference", "hands/measure-wrist-circ"))
OPEN_COLUMNS = ("palm_width", "palm_length", "thumb_length", "pinky_length", "knuckle_arch")
SHAPE_NAMES = [name for name, _ in MH_TARGETS] + list(OPEN_COLUMNS)
REGISTRATION_KEYS = ("registration_pose", "makehuman_rotation", "makehuman_offset")  # right hand only


def read_target(path: Path, n: int) -> np.ndarray:
    """A MakeHuman ``.target.gz`` (lines ``vertex dx dy dz`` in the base mesh's units) -> (n, 3) offsets."""
    out = np.zeros((n, 3))
    with gzip.open(path, "rt") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 4 and not line.startswith("#"):
                out[int(parts[0])] = [float(x) for x in parts[1:]]
    return out


def _blend_rotations(model: HandModel, theta: np.ndarray) -> np.ndarray:
    """(778, 3, 3): each vertex's skinning-weighted blend of the joints' global rotations at ``theta``."""
    g = global_rotations(axis_angle_to_matrix(theta.reshape(1, 16, 3)))[0]
    return np.einsum("vj,jab->vab", model.weights, g)


def transfer_targets(model: HandModel, mh: MakeHumanHand, fit: Dict[str, np.ndarray],
                     n_base: int) -> np.ndarray:
    """(778, 3, 5): MakeHuman's hand targets as shape directions of the flat registered hand."""
    data = mpfb2_data() / "targets"
    posed = fit["posed"] - fit["shift"]
    d = np.linalg.norm(posed[:, None] - mh.vertices[None], axis=-1)  # (778, V)
    near = np.argsort(d, axis=1)[:, :3]
    w = 1.0 / np.maximum(np.take_along_axis(d, near, axis=1), 1e-6)
    w /= w.sum(axis=1, keepdims=True)
    unpose = np.transpose(_blend_rotations(model, fit["theta"]), (0, 2, 1))  # approximately the inverse
    to_mano = mh.rotation @ MH_TO_BLENDER
    columns = []
    for _, stem in MH_TARGETS:
        half = (read_target(data / f"{stem}-incr.target.gz", n_base)
                - read_target(data / f"{stem}-decr.target.gz", n_base)) / 4  # beta +-2: the full target
        offsets = half[mh.ids] @ to_mano.T  # (V, 3) in MANO's (posed) frame
        at_vertices = np.einsum("vk,vkc->vc", w, offsets[near])
        columns.append(np.einsum("vab,vb->va", unpose, at_vertices))
    return np.stack(columns, axis=-1)


def refit_regressor(model: HandModel, v_template: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Weights closest to the open hand's (over each joint's ring and its neighbours) that put every joint
    exactly on ``targets`` (16, 3) of the rest mesh ``v_template``."""
    edges = np.concatenate([model.f[:, [0, 1]], model.f[:, [1, 2]], model.f[:, [2, 0]]])
    neighbours = [set() for _ in range(len(v_template))]
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    reg = np.zeros_like(model.J_regressor)
    for j in range(16):
        ring = np.nonzero(model.J_regressor[j])[0]
        support = np.array(sorted(set(ring) | set().union(*(neighbours[i] for i in ring))))
        w0 = model.J_regressor[j, support]
        a = np.vstack([v_template[support].T, np.ones(len(support))])
        b = np.append(targets[j], 1.0)
        reg[j, support] = w0 + a.T @ np.linalg.solve(a @ a.T, b - a @ w0)
    return reg


def rest_joint_targets(model: HandModel, mh: MakeHumanHand, fit: Dict[str, np.ndarray]) -> np.ndarray:
    """Rest joints that the fitted pose carries exactly onto MakeHuman's joint cubes: forward kinematics puts
    a child at ``posed_parent + G_parent (rest_child - rest_parent)`` and leaves the root where it is, so
    walking the tree from the root inverts it."""
    g = global_rotations(axis_angle_to_matrix(fit["theta"].reshape(1, 16, 3)))[0]
    target = mh.joints[:16] - fit["shift"]  # the fit's frame before its small shift
    out = np.empty((16, 3))
    for j, p in enumerate(MANO_PARENTS):
        out[j] = target[j] if p < 0 else out[p] + g[p].T @ (target[j] - target[p])
    return out


def right_hand(steps: Tuple[int, int] = STEPS) -> Tuple[Dict[str, object], Dict[str, np.ndarray]]:
    """The right hand's arrays, and the registration's residuals."""
    from scenes.characters import read_base_mesh

    open_right = load_hand_model(OPEN_HAND_FILES["right"])
    mh = makehuman_right_hand(open_right)
    fit = register(open_right, mh, steps)
    v_template = open_right.v_template + fit["offsets"]
    jreg = refit_regressor(open_right, v_template, rest_joint_targets(open_right, mh, fit))
    n_base = len(read_base_mesh(mpfb2_data() / "3dobjs" / "base.obj")[0])
    open_cols = [OPEN_SHAPE_NAMES.index(n) for n in OPEN_COLUMNS]
    shapedirs = np.concatenate([transfer_targets(open_right, mh, fit, n_base),
                                open_right.shapedirs[:, :, open_cols]], axis=-1)
    model = {"v_template": v_template, "f": open_right.f, "shapedirs": shapedirs, "J_regressor": jreg,
             "weights": open_right.weights}
    model["posedirs"] = rigging.pose_correctives(model)
    joints = jreg @ v_template
    pca = rigging.hand_pca(joints)
    arrays = {
        **model,
        "kintree_table": open_right.kintree_table,
        "hands_components": pca["hands_components"],
        "hands_mean": pca["hands_mean"],
        "hands_pca_std": pca["pca_std"],
        "J": joints,
        "vt": open_right.vt,
        "ft": open_right.ft,
        "bs_style": "lbs",
        "bs_type": "lrotmin",
        "shape_names": list(SHAPE_NAMES),
        "hand_name": HAND_NAME,
        OPEN_HAND_MARKER: VERSION,
        # How the right hand was registered, so a test can pose it back onto MakeHuman's skin: the pose, and
        # the map MakeHuman (Blender metres) -> model frame, p_model = R p_mh + t.
        "registration_pose": fit["theta"],
        "makehuman_rotation": mh.rotation,
        "makehuman_offset": mh.offset - fit["shift"],
    }
    return arrays, fit


def write_makehuman_hand(out_dir: str | Path, steps: Tuple[int, int] = STEPS) -> Dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    right, fit = right_hand(steps)
    print(f"registration: joints {fit['joint_mm'][:16].mean():.1f} mm mean, {fit['joint_mm'][:16].max():.1f} max "
          f"(before the regressor refit puts them exactly); surface {fit['surface_mm'].mean():.2f} mm mean, "
          f"{fit['surface_mm'].max():.2f} max (open hand vertex -> MakeHuman's skin)")
    paths = {"right": out / "mano_makehuman_RIGHT.pkl", "left": out / "mano_makehuman_LEFT.pkl"}
    save_hand_model_dict(right, paths["right"])
    left = {k: v for k, v in mirror_to_left(right).items() if k not in REGISTRATION_KEYS}
    save_hand_model_dict(left, paths["left"])
    paths.update(write_makehuman_texture(load_hand_model(paths["right"]), out))
    return paths
