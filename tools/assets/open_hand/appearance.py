"""UV layout and the default skin texture of the open hand (pure numpy)."""
from __future__ import annotations

from typing import Tuple

import numpy as np

from .geometry import FINGERS4, HandMesh

DIGITS = ["palm", *FINGERS4, "thumb"]
TEXTURE_SIZE = 512
# Atlas: the palm tube along the bottom, the five digits side by side above it.
PALM_BOX = (0.02, 0.02, 0.98, 0.40)  # u0, v0, u1, v1
DIGIT_V = (0.43, 0.98)
DIGIT_W = 0.192
WRAP = 1.0 + 1.0 / 8.0  # charts hold one extra eighth of a turn for faces that cross the seam


def _digit_box(k: int) -> Tuple[float, float, float, float]:
    u0 = 0.02 + k * (DIGIT_W + 0.004)
    return (u0, DIGIT_V[0], u0 + DIGIT_W, DIGIT_V[1])


def _angle_param(rel: np.ndarray, dorsal: np.ndarray, radial: np.ndarray) -> np.ndarray:
    """0..1 around an axis: 0 radial, 0.25 dorsal centre, 0.5 ulnar, 0.75 palmar centre."""
    theta = np.arctan2(rel @ dorsal, rel @ -radial)
    return np.mod((np.pi - theta) / (2 * np.pi), 1.0)


def uv_layout(mesh: HandMesh) -> Tuple[np.ndarray, np.ndarray]:
    """(vt (N, 2), ft (1538, 3)): per-face-corner UVs with seams along each chart's radial side."""
    v = mesh.vertices
    part = mesh.part
    face_chart = np.where((part[mesh.faces] > 0).any(axis=1), part[mesh.faces].max(axis=1), 0)
    # per-vertex coordinates within each chart (u around, t along)
    coords = {}
    x_top = v[part == 0][:, 0].min()
    x_wrist = v[mesh.wrist_loop][:, 0].mean()
    centre = v[part == 0].mean(axis=0)
    rel = v - centre
    coords[0] = (
        _angle_param(rel * np.array([0.0, 1.0, 1.0]), np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0])),
        np.clip((x_wrist - v[:, 0]) / (x_wrist - x_top), 0.0, 1.0),
    )
    for k, name in enumerate(["index", "middle", "ring", "pinky", "thumb"], start=1):
        part_id = DIGITS.index(name)
        ch = mesh.chains[name]
        axis = ch.joints[1] - ch.joints[0]
        axis /= np.linalg.norm(axis)
        radial = -np.cross(axis, ch.dorsal)
        total = np.linalg.norm(np.diff(ch.joints, axis=0), axis=1).sum()
        rel = v - ch.joints[0]
        along = np.where(part == part_id, mesh.arclength, np.clip(rel @ axis, 0.0, None))
        coords[part_id] = (_angle_param(rel, ch.dorsal, radial), np.clip(along / total, 0.0, 1.0))
    vt, ft, lookup = [], np.zeros_like(mesh.faces), {}
    for fi, (face, chart) in enumerate(zip(mesh.faces, face_chart)):
        u, t = coords[chart][0][face].copy(), coords[chart][1][face]
        tip = mesh.tips.get(DIGITS[chart]) if chart else None
        if tip is not None and tip in face:  # the pole takes the u of its neighbours
            others = [i for i, vid in enumerate(face) if vid != tip]
            u_o = u[others]
            if u_o.max() - u_o.min() > 0.5:
                u_o = np.where(u_o < 0.5, u_o + 1.0, u_o)
            u[[i for i, vid in enumerate(face) if vid == tip]] = u_o.mean()
        if u.max() - u.min() > 0.5:
            u = np.where(u < 0.5, u + 1.0, u)
        box = PALM_BOX if chart == 0 else _digit_box(chart - 1)
        for c in range(3):
            key = (int(face[c]), int(chart), round(float(u[c]), 9))
            if key not in lookup:
                lookup[key] = len(vt)
                vt.append((box[0] + (box[2] - box[0]) * u[c] / WRAP, box[1] + (box[3] - box[1]) * t[c]))
            ft[fi, c] = lookup[key]
    return np.array(vt), ft


NAIL_RGB = np.array([236, 196, 190]) / 255.0


def _texel_uv(size: int):
    return np.meshgrid((np.arange(size) + 0.5) / size, 1.0 - (np.arange(size) + 0.5) / size)


def _chart_uv(box, uu: np.ndarray, vv: np.ndarray):
    """(around 0..1, along 0..1, inside) of every texel in a chart's box."""
    u = (uu - box[0]) / (box[2] - box[0]) * WRAP
    t = (vv - box[1]) / (box[3] - box[1])
    inside = (u >= -0.02) & (u <= WRAP + 0.02) & (t >= -0.02) & (t <= 1.02)
    return np.mod(u, 1.0), t, inside


def _nail(u: np.ndarray, t: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """The open hand's nail on a digit chart: centred on the back, over the last sixth of the digit."""
    nail_u = np.clip(1.0 - np.abs(u - 0.25) / 0.12, 0.0, 1.0)
    nail_t = np.clip((t - 0.83) / 0.02, 0.0, 1.0) * np.clip((0.985 - t) / 0.02, 0.0, 1.0)
    return inside * (nail_u > 0) * nail_t * np.clip(nail_u * 4, 0, 1)


def nail_mask(size: int = TEXTURE_SIZE) -> np.ndarray:
    """(size, size) float mask of the open hand's nails (the synthetic scenes paint them a random colour)."""
    uu, vv = _texel_uv(size)
    return np.clip(sum(_nail(*_chart_uv(_digit_box(k), uu, vv)) for k in range(5)), 0.0, 1.0)


def paint_nails(skin: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """uint8 sRGB skin with nails painted where ``mask`` (float, 0..1) says."""
    m = np.clip(mask, 0.0, 1.0)[..., None]
    out = skin.astype(np.float64) / 255.0 * (1 - m) + NAIL_RGB * m
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def skin_texture(seed: int = 7, size: int = TEXTURE_SIZE, nails: bool = True) -> np.ndarray:
    """(size, size, 3) uint8 sRGB skin: back of the hand, lighter palms, flexion creases and (``nails``) the
    open hand's parametric nails."""
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size, 3))
    uu, vv = _texel_uv(size)
    back = np.array([214, 160, 132]) / 255.0
    palm = np.array([232, 178, 158]) / 255.0
    img[:] = back

    def chart_uv(box):
        return _chart_uv(box, uu, vv)

    def paint(mask, colour, strength=1.0):
        m = np.clip(mask, 0.0, 1.0)[..., None] * strength
        img[:] = img * (1 - m) + np.asarray(colour) * m

    def around_palmar(u):  # 1 on the palmar half, soft edges
        return np.clip(1.0 - np.abs(u - 0.75) / 0.3, 0.0, 1.0) ** 0.5

    u, t, inside = chart_uv(PALM_BOX)
    paint(inside * around_palmar(u), palm)
    for a, b, c in ((0.55, 0.78, 0.68), (0.35, 0.62, 0.75), (0.7, 0.85, 0.45)):  # three palm creases
        line = np.exp(-(((t - (a + (b - a) * (u - 0.6) / 0.3)) / 0.008) ** 2)) * ((u > 0.6) & (u < 0.9))
        paint(inside * line * c, palm * 0.78)
    for k in range(5):
        u, t, inside = chart_uv(_digit_box(k))
        paint(inside * around_palmar(u), palm)
        joints = (0.45, 0.72) if k < 4 else (0.41, 0.69)
        for j in joints:  # flexion creases on the palmar side, knuckle wrinkles on the back
            paint(inside * np.exp(-(((t - j) / 0.006) ** 2)) * around_palmar(u), palm * 0.75, 0.8)
            paint(inside * np.exp(-(((t - j) / 0.01) ** 2)) * np.clip(1 - np.abs(u - 0.25) / 0.15, 0, 1), back * 0.88, 0.5)
        if not nails:
            continue
        nail = _nail(u, t, inside)
        paint(nail, NAIL_RGB)
        paint(nail * np.clip((t - 0.95) / 0.02, 0.0, 1.0), np.array([246, 236, 228]) / 255.0)
    # Soft mottling so the skin does not look like plastic.
    noise = rng.normal(0.0, 1.0, (size // 16, size // 16))
    noise = np.kron(noise, np.ones((16, 16)))
    kernel = np.exp(-np.linspace(-2, 2, 17) ** 2)
    kernel /= kernel.sum()
    for axis in (0, 1):
        noise = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), axis, noise)
    img *= 1.0 + 0.03 * noise[..., None]
    img += rng.normal(0.0, 0.008, img.shape)
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
