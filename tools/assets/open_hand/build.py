"""Assemble the open hand's MANO-format files (right, and its exact mirror for the left)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np

from addon.common.hand_model import OPEN_HAND_MARKER, save_hand_model_dict
from addon.common.joints import MANO_PARENTS, TIP_VERTEX_IDS
from addon.common.png import write_png

from . import appearance, rigging
from .geometry import HandParams, build

VERSION = "1"
SHAPE_NAMES = ["size", "palm_width", "finger_length", "thickness", "palm_length", "thumb_length",
               "index_vs_ring", "pinky_length", "knuckle_arch", "thenar"]


def tip_permutation(tips: Dict[str, int], n: int = 778) -> np.ndarray:
    """``order[new_id] = old_id`` so each fingertip lands on the vertex id smplx uses for MANO."""
    order = np.full(n, -1)
    for name, new_id in TIP_VERTEX_IDS.items():
        order[new_id] = tips[name[:-1]]
    rest = [i for i in range(n) if i not in set(order[order >= 0])]
    order[order < 0] = rest
    return order


def right_hand() -> Dict[str, object]:
    mesh = build(HandParams())
    jreg = rigging.joint_regressor(mesh)
    joints = jreg @ mesh.vertices
    weights = rigging.skinning_weights(mesh, joints)
    vt, ft = appearance.uv_layout(mesh)
    model = {
        "v_template": mesh.vertices,
        "f": mesh.faces,
        "shapedirs": rigging.shape_directions(),
        "J_regressor": jreg,
        "weights": weights,
    }
    model["posedirs"] = rigging.pose_correctives(model)
    order = tip_permutation(mesh.tips)
    inverse = np.argsort(order)
    pca = rigging.hand_pca(joints)
    return {
        "v_template": model["v_template"][order],
        "f": inverse[model["f"]],
        "shapedirs": model["shapedirs"][order],
        "posedirs": model["posedirs"][order],
        "J_regressor": model["J_regressor"][:, order],
        "weights": model["weights"][order],
        "kintree_table": np.array([[4294967295] + MANO_PARENTS[1:], list(range(16))], dtype=np.int64),
        "hands_components": pca["hands_components"],
        "hands_mean": pca["hands_mean"],
        "hands_pca_std": pca["pca_std"],
        "J": joints,
        "vt": vt,
        "ft": ft,
        "bs_style": "lbs",
        "bs_type": "lrotmin",
        "shape_names": list(SHAPE_NAMES),
        OPEN_HAND_MARKER: VERSION,
    }


def mirror_to_left(right: Dict[str, object]) -> Dict[str, object]:
    """The left hand as MANO's: x -> -x, faces rewound, rotations mirrored in every pose-dependent array."""
    s = np.array([-1.0, 1.0, 1.0])
    left = dict(right)
    left["v_template"] = right["v_template"] * s
    left["J"] = right["J"] * s
    left["f"] = right["f"][:, [0, 2, 1]]
    left["ft"] = right["ft"][:, [0, 2, 1]]
    left["shapedirs"] = right["shapedirs"] * s[None, :, None]
    # (R - I) of a mirrored rotation is S (R - I) S: entry (r, c) changes sign by s_r * s_c.
    feature_sign = np.tile(np.outer(s, s).ravel(), 15)
    left["posedirs"] = right["posedirs"] * s[None, :, None] * feature_sign[None, None, :]
    aa_sign = np.tile(np.array([1.0, -1.0, -1.0]), 15)
    left["hands_components"] = right["hands_components"] * aa_sign[None, :]
    left["hands_mean"] = right["hands_mean"] * aa_sign
    return left


def write_open_hand(out_dir: str | Path) -> Dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    right = right_hand()
    paths = {"right": out / "mano_open_RIGHT.pkl", "left": out / "mano_open_LEFT.pkl",
             "texture": out / "open_hand_skin.png", "nails": out / "open_hand_nails.png"}
    save_hand_model_dict(right, paths["right"])
    save_hand_model_dict(mirror_to_left(right), paths["left"])
    write_png(paths["texture"], appearance.skin_texture(), level=9)
    nails = np.round(appearance.nail_mask() * 255).astype(np.uint8)
    write_png(paths["nails"], np.repeat(nails[..., None], 3, -1), level=9)
    return paths
