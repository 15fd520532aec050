"""The open hand's surface: a parametric right hand with MANO's exact topology counts.

The surface is a disk (a closed skin with one 16-edge opening at the wrist) made of tubes: a palm tube
whose top row is shared with the base rings of four fingers, webs between the fingers, a thumb tube
bridged onto an opening in the palm's radial-palmar corner, and a pole vertex at each fingertip.
Positions are a smooth function of :class:`HandParams`, so finite differences give shape directions
with anatomical meaning; the faces do not depend on the parameters.

Axes follow MANO's right hand: fingers point to -x, the back of the hand faces +y, the thumb is at +z.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Dict, List, Tuple

import numpy as np

FINGERS4 = ("index", "middle", "ring", "pinky")  # palm columns run radial -> ulnar in this order
RING = 8  # vertices around a finger
FINGER_STATIONS = (
    [("p", f) for f in (0.18, 0.42, 0.66, 0.86)]
    + [("p", 1.0)]
    + [("m", f) for f in (0.2, 0.5, 0.8)]
    + [("m", 1.0)]
    + [("d", f) for f in (0.25, 0.5, 0.72, 0.88)]
)
THUMB_STATIONS = (
    [("p", f) for f in (0.62, 0.76, 0.89)]
    + [("p", 1.0)]
    + [("m", f) for f in (0.2, 0.42, 0.64, 0.84)]
    + [("m", 1.0)]
    + [("d", f) for f in (0.25, 0.5, 0.72)]
)
PALM_ROWS = 7  # row 6 is the finger bases
PALM_RING = 4 * RING  # 16 dorsal + 16 palmar columns
WRIST_RING = 16
# Chosen so the vertex total is MANO's 778 (asserted in build()).
ADJ_RING = 23
THUMB_HOLE_ROWS = (1, 2, 3)
THUMB_HOLE_COLS = (29, 30, 31, 0)  # radial-palmar corner of the palm ring


@dataclass
class HandParams:
    """Anatomical parameters; 1.0 / 0.0 is the average hand. Each one is a shape direction."""

    size: float = 1.0  # uniform scale about the wrist
    palm_width: float = 1.0
    finger_length: float = 1.0  # all four fingers
    thickness: float = 1.0  # finger and palm girth
    palm_length: float = 1.0
    thumb_length: float = 1.0
    index_ring: float = 0.0  # index longer (+) or ring longer (-), the 2D:4D ratio
    pinky_length: float = 1.0
    knuckle_arch: float = 1.0  # how much the knuckle line curves (middle finger forward)
    thenar: float = 1.0  # bulk of the thumb's ball

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, f.name) for f in fields(self)])

    @classmethod
    def from_vector(cls, v: np.ndarray) -> "HandParams":
        return cls(**{f.name: float(x) for f, x in zip(fields(cls), v)})


# Average adult hand, metres. Phalanx lengths: proximal, middle, distal (DIP to tip).
_FINGER_BASE = {
    # name: (MCP x, MCP y, MCP z, splay (rad, + toward radial), lengths, half-width, half-height)
    "index": (0.006, -0.001, 0.025, 0.06, (0.040, 0.024, 0.022), 0.0098, 0.0090),
    "middle": (0.000, 0.002, 0.004, 0.00, (0.045, 0.028, 0.024), 0.0100, 0.0092),
    "ring": (0.006, 0.000, -0.016, -0.06, (0.042, 0.027, 0.023), 0.0094, 0.0087),
    "pinky": (0.018, -0.004, -0.034, -0.14, (0.033, 0.020, 0.020), 0.0082, 0.0078),
}
_WRIST_X = 0.100


@dataclass
class Chain:
    """One digit: joint positions and the frame each ring is built in."""

    joints: np.ndarray  # (4, 3): base joint, two middle joints, tip
    dorsal: np.ndarray  # (3,) unit


@dataclass
class HandMesh:
    vertices: np.ndarray  # (778, 3)
    faces: np.ndarray  # (1538, 3)
    part: np.ndarray  # (778,) int: 0 palm, 1..4 index..pinky, 5 thumb
    arclength: np.ndarray  # (778,) distance along the digit from its base joint (palm: 0)
    chains: Dict[str, Chain]
    ring_index: Dict[str, List[np.ndarray]] = field(default_factory=dict)  # rings of each digit, base first
    wrist_loop: np.ndarray = None
    adj_ring: np.ndarray = None
    palm_rows: np.ndarray = None  # (PALM_ROWS, PALM_RING) vertex ids (-1 where removed)
    thumb_hole: np.ndarray = None
    tips: Dict[str, int] = field(default_factory=dict)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _orthonormal(axis: np.ndarray, up: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    up = _unit(up - axis * np.dot(up, axis))
    return up, np.cross(axis, up)


def finger_chains(p: HandParams) -> Dict[str, Chain]:
    chains = {}
    for name, (x, y, z, splay, lengths, _, _) in _FINGER_BASE.items():
        mcp = np.array([x * p.palm_length, y, z * p.palm_width])
        if name == "middle":
            mcp[0] -= 0.004 * (p.knuckle_arch - 1.0)
        elif name == "pinky":
            mcp[0] += 0.004 * (p.knuckle_arch - 1.0)
        scale = p.finger_length
        if name == "index":
            scale *= 1.0 + 0.06 * p.index_ring
        elif name == "ring":
            scale *= 1.0 - 0.06 * p.index_ring
        elif name == "pinky":
            scale *= p.pinky_length
        axis = _unit(np.array([-np.cos(splay), 0.02, np.sin(splay)]))
        dorsal, _ = _orthonormal(axis, np.array([0.0, 1.0, 0.0]))
        seg = np.cumsum([0.0, *lengths]) * scale
        chains[name] = Chain(joints=mcp[None] + seg[:, None] * axis[None], dorsal=dorsal)
    cmc = np.array([0.070 * p.palm_length, -0.007, 0.021 * p.palm_width])
    axis = _unit(np.array([-0.66, -0.20, 0.72]))
    dorsal, _ = _orthonormal(axis, np.array([0.0, 0.45, 0.9]))
    seg = np.cumsum([0.0, 0.042, 0.032, 0.027]) * p.thumb_length
    chains["thumb"] = Chain(joints=cmc[None] + seg[:, None] * axis[None], dorsal=dorsal)
    return chains


def _ring(center: np.ndarray, axis: np.ndarray, dorsal: np.ndarray, half_w: float, half_h: float,
          n: int = RING, palmar_fullness: float = 0.12) -> np.ndarray:
    """n points around an ellipse perpendicular to ``axis``; order d0 (radial-dorsal) ... p0 (radial-palmar).

    The ring is fuller on the palmar side (finger pads), so the bone axis sits nearer the back.
    """
    up, side = _orthonormal(axis, dorsal)  # side points ulnar
    phi = np.pi - (np.arange(n) + 0.5) * 2 * np.pi / n
    c, s = np.cos(phi), np.sin(phi)
    h = np.where(s < 0, half_h * (1 + palmar_fullness), half_h)
    return center[None] + (half_w * c)[:, None] * side[None] + (h * s)[:, None] * up[None]


def _digit_radius(name: str, t: float, total: float, seg: Tuple[float, float, float], base_w: float,
                  base_h: float, thickness: float) -> Tuple[float, float]:
    """Half width/height of a digit at arclength t (tapered, slightly fuller at joints, rounded tip)."""
    taper = 1.0 - 0.25 * t / total
    joints = [seg[0], seg[0] + seg[1]]
    bulge = 1.0 + sum(0.06 * np.exp(-(((t - j) / 0.006) ** 2)) for j in joints)
    w = base_w * taper * bulge * thickness
    h = base_h * taper * bulge * thickness
    start = seg[0] + seg[1] + 0.45 * seg[2]
    if t > start:
        w *= np.sqrt(max(1.0 - ((t - start) / (total - start)) ** 2, 0.0))
        h *= np.sqrt(max(1.0 - ((t - start) / (total - start)) ** 2, 0.0))
    return w, h


def _stations(stations, seg) -> List[float]:
    offsets = {"p": 0.0, "m": seg[0], "d": seg[0] + seg[1]}
    lengths = {"p": seg[0], "m": seg[1], "d": seg[2]}
    return [offsets[k] + f * lengths[k] for k, f in stations]


def build(p: HandParams = HandParams()) -> HandMesh:
    """Vertices and faces of the open right hand for parameters ``p``."""
    chains = finger_chains(p)
    verts: List[np.ndarray] = []
    part: List[int] = []
    arc: List[float] = []

    def add(points: np.ndarray, part_id: int, s) -> np.ndarray:
        start = sum(len(v) for v in verts)
        verts.append(np.asarray(points, dtype=np.float64))
        part.extend([part_id] * len(points))
        arc.extend(np.broadcast_to(s, (len(points),)).tolist())
        return np.arange(start, start + len(points))

    # ---- palm top row: the four finger base rings, radial -> ulnar
    top_pos = np.zeros((PALM_RING, 3))
    for i, name in enumerate(FINGERS4):
        ch = chains[name]
        _, _, _, _, _, bw, bh = _FINGER_BASE[name]
        axis = _unit(ch.joints[1] - ch.joints[0])
        ring = _ring(ch.joints[0], axis, ch.dorsal, 1.06 * bw * p.thickness, 1.1 * bh * p.thickness)
        top_pos[4 * i : 4 * i + 4] = ring[:4]  # dorsal columns, radial -> ulnar
        top_pos[PALM_RING - 4 * i - 4 : PALM_RING - 4 * i] = ring[4:]  # palmar, ulnar -> radial

    # ---- palm rows 0..5 between a wrist-side section and the top row
    base_x = _WRIST_X - 0.018 * p.palm_length
    # Lower rows use evenly spaced angles; the top row's columns crowd where the fingers are.
    phi = np.pi - (np.arange(PALM_RING) + 0.5) * 2 * np.pi / PALM_RING
    base = np.stack([
        np.full(PALM_RING, base_x),
        0.000 + 0.0165 * p.thickness * np.sign(np.sin(phi)) * np.abs(np.sin(phi)) ** 0.6,
        0.004 * p.palm_width - 0.031 * p.palm_width * np.sign(np.cos(phi)) * np.abs(np.cos(phi)) ** 0.5,
    ], axis=1)
    palm_rows = np.full((PALM_ROWS, PALM_RING), -1)
    outward = np.stack([np.zeros_like(phi), np.sin(phi), -np.cos(phi)], axis=1)
    for k in range(PALM_ROWS - 1):
        t = k / (PALM_ROWS - 1)
        pos = (1 - t) * base + t * top_pos
        pos += (0.006 * np.sin(np.pi * t) * p.thickness) * outward * np.abs(outward[:, 2:3])  # rounded sides
        pos[:, 1] += -0.004 * np.sin(np.pi * t) * (np.sin(phi) < 0) * np.cos(phi) ** 2  # palm pad
        palm_rows[k] = -2  # placeholder, filled below
        keep = np.ones(PALM_RING, dtype=bool)
        if k == THUMB_HOLE_ROWS[1]:
            keep[list(THUMB_HOLE_COLS[1:3])] = False
        ids = add(pos[keep], 0, 0.0)
        palm_rows[k, keep] = ids
        palm_rows[k, ~keep] = -1
    palm_rows[PALM_ROWS - 1] = add(top_pos, 0, 0.0)

    # Thenar bulge: push palm vertices near the thumb base out along the palm's outward direction.
    all_v = np.concatenate(verts)
    cmc = chains["thumb"].joints[0]
    for k in range(PALM_ROWS - 1):
        for c in range(PALM_RING):
            vid = palm_rows[k, c]
            if vid < 0:
                continue
            d = np.linalg.norm(all_v[vid] - cmc)
            all_v[vid] += 0.006 * p.thenar * np.exp(-((d / 0.022) ** 2)) * outward[c] * (outward[c, 1] <= 0.2)
    verts = [all_v]

    # ---- wrist: the 16-edge opening, and a ring between it and the palm
    def ellipse(n, x, w, h, zc):
        a = np.pi - (np.arange(n) + 0.5) * 2 * np.pi / n
        return np.stack([np.full(n, x), h * np.sign(np.sin(a)) * np.abs(np.sin(a)) ** 0.8,
                         zc - w * np.sign(np.cos(a)) * np.abs(np.cos(a)) ** 0.8], axis=1)

    adj_ids = add(ellipse(ADJ_RING, _WRIST_X - 0.008 * p.palm_length, 0.031 * p.palm_width,
                          0.0175 * p.thickness, 0.002), 0, 0.0)
    wrist_ids = add(ellipse(WRIST_RING, _WRIST_X, 0.028 * p.palm_width, 0.0165 * p.thickness, 0.002), 0, 0.0)

    faces: List[Tuple[int, int, int]] = []
    pos_all = lambda: np.concatenate(verts)  # noqa: E731

    # palm grid (with the thumb opening left out)
    hole_quads = {(r, c) for r in THUMB_HOLE_ROWS[:2] for c in THUMB_HOLE_COLS[:3]}
    for k in range(PALM_ROWS - 1):
        for c in range(PALM_RING):
            if (k, c) in hole_quads:
                continue
            c2 = (c + 1) % PALM_RING
            a, b, cc, d = palm_rows[k, c], palm_rows[k, c2], palm_rows[k + 1, c2], palm_rows[k + 1, c]
            faces += _quad(a, b, cc, d, pos_all())

    # webs between neighbouring fingers (rows of the top ring: dorsal d3_i, d0_i+1 / palmar p0_i+1, p3_i)
    top = palm_rows[PALM_ROWS - 1]
    for i in range(3):
        d3, d0n = top[4 * i + 3], top[4 * i + 4]
        p3, p0n = top[PALM_RING - 4 * i - 4], top[PALM_RING - 4 * i - 5]
        faces += _quad(d3, d0n, p0n, p3, pos_all())

    # wrist -> adj -> palm row 0
    faces += _bridge(wrist_ids, adj_ids, pos_all())
    faces += _bridge(adj_ids, palm_rows[0], pos_all())

    # ---- fingers
    ring_index: Dict[str, List[np.ndarray]] = {}
    tips: Dict[str, int] = {}
    for i, name in enumerate(FINGERS4):
        ch = chains[name]
        _, _, _, _, lengths, bw, bh = _FINGER_BASE[name]
        seg = np.diff(ch.joints, axis=0)
        seg_len = np.linalg.norm(seg, axis=1)
        total = seg_len.sum()
        base_ring = np.array([*top[4 * i : 4 * i + 4], *top[PALM_RING - 4 * i - 4 : PALM_RING - 4 * i]])
        rings = [base_ring]
        for t in _stations(FINGER_STATIONS, seg_len):
            center, axis = _along(ch.joints, seg_len, t)
            w, h = _digit_radius(name, t, total, tuple(seg_len), bw, bh, p.thickness)
            rings.append(add(_ring(center, axis, ch.dorsal, w, h), i + 1, t))
        tip = add(ch.joints[3][None] + 0.0 * ch.dorsal, i + 1, total)[0]
        for r0, r1 in zip(rings[:-1], rings[1:]):
            faces += _tube(r0, r1, pos_all())
        faces += _cap(rings[-1], tip)
        ring_index[name] = rings
        tips[name] = int(tip)

    # ---- thumb, bridged onto the palm opening
    ch = chains["thumb"]
    seg_len = np.linalg.norm(np.diff(ch.joints, axis=0), axis=1)
    total = seg_len.sum()
    r0, r1, r2 = THUMB_HOLE_ROWS
    c0, c1, c2, c3 = THUMB_HOLE_COLS
    hole = np.array([
        palm_rows[r0, c0], palm_rows[r0, c1], palm_rows[r0, c2], palm_rows[r0, c3],
        palm_rows[r1, c3], palm_rows[r2, c3], palm_rows[r2, c2], palm_rows[r2, c1], palm_rows[r2, c0],
        palm_rows[r1, c0],
    ])
    rings = [hole]
    thumb_axis = _unit(ch.joints[1] - ch.joints[0])
    for t in _stations(THUMB_STATIONS, seg_len):
        center, axis = _along(ch.joints, seg_len, t)
        w, h = _thumb_radius(t, tuple(seg_len), p)
        ring = _ring(center, axis, ch.dorsal, w, h, palmar_fullness=0.15)
        # The thumb's rings must turn the same way round the thumb axis as the palm opening does.
        if np.sign(_turning(ring) @ thumb_axis) != np.sign(_turning(pos_all()[hole]) @ thumb_axis):
            ring = ring[::-1]
        rings.append(add(ring, 5, t))
    tip = add(ch.joints[3][None], 5, total)[0]
    faces += _bridge(hole, rings[1], pos_all(), axis=_unit(ch.joints[1] - ch.joints[0]))
    for a, b in zip(rings[1:-1], rings[2:]):
        faces += _tube(a, b, pos_all())
    faces += _cap(rings[-1], tip)
    ring_index["thumb"] = rings
    tips["thumb"] = int(tip)

    vertices = np.concatenate(verts)
    # uniform scale about the wrist opening's centre
    wrist_centre = vertices[wrist_ids].mean(axis=0)
    vertices = wrist_centre + (vertices - wrist_centre) * p.size
    for ch in chains.values():
        ch.joints = wrist_centre + (ch.joints - wrist_centre) * p.size
    faces_arr = np.array(faces, dtype=np.int64)
    assert vertices.shape[0] == 778, vertices.shape
    assert faces_arr.shape[0] == 1538, faces_arr.shape
    return HandMesh(vertices=vertices, faces=faces_arr, part=np.array(part), arclength=np.array(arc) * p.size,
                    chains=chains, ring_index=ring_index, wrist_loop=wrist_ids, adj_ring=adj_ids,
                    palm_rows=palm_rows, thumb_hole=hole, tips=tips)


def _thumb_radius(t: float, seg: Tuple[float, float, float], p: HandParams) -> Tuple[float, float]:
    total = sum(seg)
    # broad at the metacarpal (thenar), narrow at the proximal phalanx, fuller pad at the distal one
    w = np.interp(t, [0.0, seg[0] * 0.5, seg[0], seg[0] + seg[1], total], [0.019, 0.018, 0.0112, 0.0100, 0.0096])
    h = np.interp(t, [0.0, seg[0] * 0.5, seg[0], seg[0] + seg[1], total], [0.0150, 0.0140, 0.0100, 0.0088, 0.0084])
    w *= p.thickness * (1 + 0.15 * (p.thenar - 1) * (t < seg[0]))
    h *= p.thickness
    start = seg[0] + seg[1] + 0.4 * seg[2]
    if t > start:
        f = np.sqrt(max(1.0 - ((t - start) / (total - start)) ** 2, 0.0))
        w, h = w * f, h * f
    return w, h


def _along(joints: np.ndarray, seg_len: np.ndarray, t: float) -> Tuple[np.ndarray, np.ndarray]:
    """Point at arclength t along the joint polyline, and a direction blended smoothly across joints."""
    bounds = np.concatenate([[0.0], np.cumsum(seg_len)])
    k = int(np.clip(np.searchsorted(bounds, t, side="right") - 1, 0, len(seg_len) - 1))
    f = (t - bounds[k]) / seg_len[k]
    point = joints[k] + f * (joints[k + 1] - joints[k])
    axis = _unit(joints[k + 1] - joints[k])
    return point, axis


def _turning(loop: np.ndarray) -> np.ndarray:
    """Vector area of a closed loop of points (its normal by the right-hand rule)."""
    c = loop.mean(axis=0)
    return 0.5 * np.cross(loop - c, np.roll(loop, -1, axis=0) - c).sum(axis=0)


def _quad(a, b, c, d, pos) -> List[Tuple[int, int, int]]:
    """Two triangles for quad a-b-c-d, split along the shorter diagonal. Diagonals of equal length (symmetric
    quads) split along b-d: a plain comparison would let the last bit of float round-off, which differs
    between CPUs, choose the faces."""
    if np.linalg.norm(pos[a] - pos[c]) < np.linalg.norm(pos[b] - pos[d]) * (1.0 - 1e-9):
        return [(a, b, c), (a, c, d)]
    return [(a, b, d), (b, c, d)]


def _tube(r0: np.ndarray, r1: np.ndarray, pos) -> List[Tuple[int, int, int]]:
    n = len(r0)
    out = []
    for k in range(n):
        out += _quad(r0[k], r0[(k + 1) % n], r1[(k + 1) % n], r1[k], pos)
    return out


def _cap(ring: np.ndarray, tip: int) -> List[Tuple[int, int, int]]:
    n = len(ring)
    return [(ring[k], ring[(k + 1) % n], tip) for k in range(n)]


def _bridge(a: np.ndarray, b: np.ndarray, pos, axis: np.ndarray = None) -> List[Tuple[int, int, int]]:
    """Triangulate the band between two closed loops of any sizes (n + m triangles).

    Both loops must run the same way round; b is rotated so it starts nearest to a[0], then the band is
    walked choosing, at each step, the shorter new edge.
    """
    a, b = np.asarray(a), np.asarray(b)
    pa, pb = pos[a], pos[b]
    if axis is not None:  # loops at very different places (thumb): compare angles, not distances
        ca, cb = pa.mean(0), pb.mean(0)
        u = _unit(np.cross(axis, [0.0, 1.0, 0.0]))
        v = np.cross(axis, u)
        ang_a = np.arctan2((pa - ca) @ v, (pa - ca) @ u)
        ang_b = np.arctan2((pb - cb) @ v, (pb - cb) @ u)
        start = int(np.argmin(np.abs(np.angle(np.exp(1j * (ang_b - ang_a[0]))))))
    else:
        start = int(np.argmin(np.linalg.norm(pb - pa[0], axis=1)))
    b = np.roll(b, -start)
    pb = pos[b]
    n, m = len(a), len(b)
    i = j = 0
    out = []
    while i < n or j < m:
        ai, ai1 = a[i % n], a[(i + 1) % n]
        bj, bj1 = b[j % m], b[(j + 1) % m]
        if i == n:
            adv_a = False
        elif j == m:
            adv_a = True
        else:
            if axis is not None:
                # advance whichever loop lags behind in angle
                adv_a = (i + 1) / n <= (j + 1) / m
            else:
                adv_a = np.linalg.norm(pos[ai1] - pos[bj]) <= np.linalg.norm(pos[bj1] - pos[ai])
        if adv_a:
            out.append((ai, ai1, bj))
            i += 1
        else:
            out.append((ai, bj1, bj))
            j += 1
    return out
