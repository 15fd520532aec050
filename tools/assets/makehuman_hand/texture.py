"""The MakeHuman hand's skin texture in MANO's UV layout, with MakeHuman's own fingernails carried over.

MakeHuman ships no skin colour map (its skin is a procedural material), but it does ship a fingernail
mask in its UV atlas (``textures/mpfb_fingernails.jpg``). Each texel of the MANO layout is a point on the
registered hand, posed as it was registered onto MakeHuman's skin. The nearest point of MakeHuman's hand
surface gives that texel's MakeHuman UV, where the mask is read. Under the nails lies the open hand's
painted skin (palms, creases, mottling) without its own parametric nails; both built-in hands share the UV
layout. The nail mask is also written alone, so the synthetic scenes can paint nails a random colour.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import cv2
import numpy as np
from scipy.spatial import cKDTree

from addon.common.hand_model import HandModel
from addon.common.lbs import lbs
from addon.common.png import write_png
from scenes.characters import mpfb2_data, read_base_mesh, read_body_uvs
from tools.assets.open_hand.appearance import TEXTURE_SIZE, paint_nails, skin_texture

NEAR_HAND_M = 0.015  # MakeHuman quads this close to the registered hand are its surface
LATTICE = 6  # samples per triangle edge on MakeHuman's surface (about 1 mm apart on a finger)


def _lattice(n: int) -> np.ndarray:
    """Barycentric coordinates of a triangular lattice, (K, 3)."""
    pts = [(i, j, n - i - j) for i in range(n + 1) for j in range(n + 1 - i)]
    return np.array(pts, dtype=np.float64) / n


def _texels(vt: np.ndarray, ft: np.ndarray, size: int):
    """Every texel centre inside a UV triangle: (texel rows, cols, face ids, barycentrics (K, 3))."""
    rows, cols, faces, bary = [], [], [], []
    for face, corners in enumerate(vt[ft]):
        px = np.stack([corners[:, 0] * size - 0.5, (1.0 - corners[:, 1]) * size - 0.5], -1)  # texel coords
        lo, hi = np.floor(px.min(0)).astype(int), np.ceil(px.max(0)).astype(int)
        xs, ys = np.meshgrid(np.arange(max(lo[0], 0), min(hi[0], size - 1) + 1),
                             np.arange(max(lo[1], 0), min(hi[1], size - 1) + 1))
        p = np.stack([xs.ravel(), ys.ravel()], -1).astype(np.float64)
        m = np.array([px[1] - px[0], px[2] - px[0]]).T
        if abs(np.linalg.det(m)) < 1e-12:
            continue
        ab = np.linalg.solve(m, (p - px[0]).T).T
        b = np.column_stack([1 - ab.sum(1), ab])
        inside = (b >= -1e-3).all(1)
        rows.append(p[inside, 1].astype(int))
        cols.append(p[inside, 0].astype(int))
        faces.append(np.full(inside.sum(), face))
        bary.append(b[inside])
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(faces), np.concatenate(bary)


def _bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``image`` (H, W) at pixel coordinates (x, y), clamped at the border."""
    h, w = image.shape
    x, y = np.clip(x, 0, w - 1.001), np.clip(y, 0, h - 1.001)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def nail_mask(model: HandModel, size: int = TEXTURE_SIZE) -> np.ndarray:
    """(size, size) float mask in [0, 1] of MakeHuman's fingernails in ``model``'s UV layout; ``model`` is the
    right MakeHuman hand with its registration extras."""
    pose = model.extras["registration_pose"].reshape(1, 48)
    posed = lbs(np.zeros((1, 10)), pose, model.v_template, model.shapedirs, model.posedirs, model.J_regressor,
                model.parents, model.weights).vertices[0]
    r, t = model.extras["makehuman_rotation"], model.extras["makehuman_offset"]
    posed = (posed - t) @ r  # into MakeHuman's frame (Blender metres)

    data = mpfb2_data()
    verts, quads, _ = read_base_mesh(data / "3dobjs" / "base.obj")
    uvs, quad_uv = read_body_uvs(data / "3dobjs" / "base.obj")
    near = cKDTree(posed).query(verts[quads].mean(1))[0] < NEAR_HAND_M
    tri = np.concatenate([quads[near][:, [0, 1, 2]], quads[near][:, [0, 2, 3]]])
    tri_uv = np.concatenate([quad_uv[near][:, [0, 1, 2]], quad_uv[near][:, [0, 2, 3]]])
    w = _lattice(LATTICE)
    samples = np.einsum("kc,fcd->fkd", w, verts[tri]).reshape(-1, 3)
    sample_uv = np.einsum("kc,fcd->fkd", w, uvs[tri_uv]).reshape(-1, 2)

    rows, cols, faces, bary = _texels(model.vt, model.ft, size)
    points = np.einsum("kc,kcd->kd", bary, posed[model.f[faces]])
    _, nearest = cKDTree(samples).query(points)
    mask_img = cv2.imread(str(data / "textures" / "mpfb_fingernails.jpg"), cv2.IMREAD_GRAYSCALE).astype(np.float32)
    h, w_ = mask_img.shape
    uv = sample_uv[nearest]
    values = _bilinear(mask_img, uv[:, 0] * w_ - 0.5, (1 - uv[:, 1]) * h - 0.5) / 255.0
    out = np.zeros((size, size), np.float32)
    np.maximum.at(out, (rows, cols), values)
    return np.clip(cv2.GaussianBlur(out, (0, 0), 0.8) * 1.5, 0.0, 1.0)


def makehuman_texture(model: HandModel, size: int = TEXTURE_SIZE) -> Dict[str, np.ndarray]:
    """{"skin": (S, S, 3) uint8 sRGB, "nails": (S, S) uint8 mask}."""
    nails = nail_mask(model, size)
    skin = paint_nails(skin_texture(size=size, nails=False), nails)
    return {"skin": skin, "nails": np.round(nails * 255).astype(np.uint8)}


def write_makehuman_texture(model: HandModel, out_dir: str | Path) -> Dict[str, Path]:
    out = Path(out_dir)
    images = makehuman_texture(model)
    paths = {"skin": out / "makehuman_hand_skin.png", "nails": out / "makehuman_hand_nails.png"}
    write_png(paths["skin"], images["skin"], level=9)
    write_png(paths["nails"], np.repeat(images["nails"][..., None], 3, -1), level=9)
    return paths
