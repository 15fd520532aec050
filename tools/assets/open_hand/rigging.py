"""Joint regressor, skinning weights, shape directions and pose correctives of the open hand."""
from __future__ import annotations

from typing import Dict

import numpy as np

from addon.common.joints import MANO_16, MANO_PARENTS
from addon.common.lbs import lbs
from addon.common.pose_prior import PosePrior
from addon.common.rotations import axis_angle_to_matrix, matrix_to_quaternion, quaternion_to_matrix

from .geometry import FINGERS4, PALM_RING, PALM_ROWS, THUMB_HOLE_ROWS, HandMesh, HandParams, build

# Ring positions (in HandMesh.ring_index lists, base ring = 0) of the joints inside each digit.
FINGER_JOINT_RINGS = {2: 5, 3: 9}  # PIP at station ("p", 1.0), DIP at ("m", 1.0)
THUMB_JOINT_RINGS = {2: 4, 3: 9}  # thumb MCP, IP

# Standard deviations of the anatomical parameters: beta = +-1 moves a parameter by one of these.
SHAPE_STD = np.array([0.06, 0.06, 0.06, 0.08, 0.05, 0.06, 0.5, 0.07, 0.6, 0.4])


def joint_regressor(mesh: HandMesh) -> np.ndarray:
    """(16, 778): each joint is the centre of the ring of skin around it (a convex vertex average)."""
    reg = np.zeros((16, mesh.vertices.shape[0]))
    reg[0, mesh.adj_ring] = 1.0 / len(mesh.adj_ring)
    for name in FINGERS4:
        rings = mesh.ring_index[name]
        j1 = MANO_16.index(f"{name}1")
        for k, ring in ((1, rings[0]), (2, rings[FINGER_JOINT_RINGS[2]]), (3, rings[FINGER_JOINT_RINGS[3]])):
            reg[j1 + k - 1, ring] = 1.0 / len(ring)
    rings = mesh.ring_index["thumb"]
    t1 = MANO_16.index("thumb1")
    for k in (2, 3):
        reg[t1 + k - 1, rings[THUMB_JOINT_RINGS[k]]] = 1.0 / len(rings[THUMB_JOINT_RINGS[k]])
    # The thumb's CMC lies inside the palm: the weights over the opening and the palm rows around it
    # closest to uniform that put the joint exactly at the CMC.
    rows = mesh.palm_rows[list(THUMB_HOLE_ROWS)]
    support = np.unique(np.concatenate([mesh.thumb_hole, rows[rows >= 0].ravel()]))
    target = mesh.chains["thumb"].joints[0]
    a = np.vstack([mesh.vertices[support].T, np.ones(len(support))])
    u = np.full(len(support), 1.0 / len(support))
    w = u + np.linalg.lstsq(a, np.append(target, 1.0) - a @ u, rcond=None)[0]
    reg[t1, support] = w
    return reg


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * t * (t * (6 * t - 15) + 10)


def skinning_weights(mesh: HandMesh, joints: np.ndarray) -> np.ndarray:
    """(778, 16) smooth weights: each digit segment follows its joint, blended over a few mm at joints."""
    v = mesh.vertices
    w = np.zeros((v.shape[0], 16))
    digit_names = ["palm", *FINGERS4, "thumb"]
    for vid in range(v.shape[0]):
        part = digit_names[mesh.part[vid]]
        if part == "palm":
            continue
        j1 = MANO_16.index(f"{part}1")
        seg = np.linalg.norm(np.diff(np.vstack([joints[j1 : j1 + 3], v[mesh.tips[part]]]), axis=0), axis=1)
        s = mesh.arclength[vid]
        b1, b2 = seg[0], seg[0] + seg[1]
        d = 0.0075 if part != "thumb" else 0.009
        up1 = _smoothstep(s, b1 - d, b1 + d)
        up2 = _smoothstep(s, b2 - d, b2 + d)
        w[vid, j1] = 1.0 - up1
        w[vid, j1 + 1] = up1 - up2
        w[vid, j1 + 2] = up2
        if part != "thumb":  # the first finger rings still share a little with the palm
            base = _smoothstep(s, -0.012, 0.012)
            w[vid] *= base
            w[vid, 0] += 1.0 - base
    # Palm: the knuckle rows blend into the finger above; the thenar follows the thumb's CMC.
    for c in range(PALM_RING):
        finger = FINGERS4[c // 4] if c < 16 else FINGERS4[(PALM_RING - 1 - c) // 4]
        j1 = MANO_16.index(f"{finger}1")
        axis = joints[j1 + 1] - joints[j1]
        axis /= np.linalg.norm(axis)
        for k in range(PALM_ROWS):
            vid = mesh.palm_rows[k, c]
            if vid < 0:
                continue
            s = (v[vid] - joints[j1]) @ axis
            w[vid, j1] = _smoothstep(s, -0.014, 0.012)
    t1 = MANO_16.index("thumb1")
    t_axis = joints[t1 + 1] - joints[t1]
    t_axis /= np.linalg.norm(t_axis)
    palm_ids = np.where(mesh.part == 0)[0]
    rel = v[palm_ids] - joints[t1]
    along = rel @ t_axis
    perp = np.linalg.norm(rel - along[:, None] * t_axis, axis=1)
    thenar = _smoothstep(along, -0.004, 0.022) * (1.0 - _smoothstep(perp, 0.016, 0.032))
    hole = np.isin(palm_ids, mesh.thumb_hole)
    thenar[hole] = np.maximum(thenar[hole], 0.5)
    w[palm_ids, t1] = np.maximum(w[palm_ids, t1], thenar)
    finger_share = w[palm_ids, 1:].sum(axis=1)
    over = finger_share > 1.0
    w[palm_ids[over], 1:] /= finger_share[over, None]
    w[palm_ids, 0] = 1.0 - w[palm_ids, 1:].sum(axis=1)
    assert np.all(w >= -1e-12) and np.allclose(w.sum(axis=1), 1.0)
    return np.clip(w, 0.0, 1.0)


def shape_directions(base: HandParams = HandParams()) -> np.ndarray:
    """(778, 3, 10): central differences of the parametric hand, one anatomical parameter per beta."""
    p0 = base.vector()
    dirs = np.zeros((778, 3, len(p0)))
    for k, std in enumerate(SHAPE_STD):
        dp = np.zeros_like(p0)
        dp[k] = std
        plus = build(HandParams.from_vector(p0 + dp)).vertices
        minus = build(HandParams.from_vector(p0 - dp)).vertices
        dirs[:, :, k] = (plus - minus) / 2.0
    return dirs


# --------------------------------------------------------------------------- pose correctives (posedirs)


def _dual_quaternion_skin(v: np.ndarray, weights: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """Dual-quaternion skinning of rest points v (V, 3) with per-joint rigid transforms (J, 4, 4)."""
    q = matrix_to_quaternion(transforms[:, :3, :3])  # (J, 4) w,x,y,z
    t = transforms[:, :3, 3]
    tq = np.concatenate([np.zeros((len(t), 1)), t], axis=1)
    qd = 0.5 * _qmul(tq, q)
    # keep every joint's quaternion in the hemisphere of the vertex's dominant joint
    dominant = q[np.argmax(weights, axis=1)]
    sign = np.sign(np.einsum("vk,jk->vj", dominant, q))
    sign[sign == 0] = 1.0
    ws = weights * sign
    b0 = ws @ q
    be = ws @ qd
    norm = np.linalg.norm(b0, axis=1, keepdims=True)
    b0, be = b0 / norm, be / norm
    rot = quaternion_to_matrix(b0)
    trans = 2.0 * _qmul(be, _qconj(b0))[:, 1:]
    return np.einsum("vij,vj->vi", rot, v) + trans


def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def _qconj(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def pose_correctives(model: Dict[str, np.ndarray], samples_per_joint: int = 64, ridge: float = 1e-3,
                     seed: int = 0) -> np.ndarray:
    """(778, 3, 135) correctives fitted so LBS + correctives matches dual-quaternion skinning.

    LBS loses volume where weights blend across a bent joint; dual-quaternion skinning does not. For each
    joint alone, poses are drawn from the pose prior, the rest-space offset that would make LBS land on the
    DQS result is computed, and a ridge regression on that joint's nine (R - I) entries gives its
    columns of ``posedirs``. Offsets stay local to the vertices that blend across the joint.
    """
    rng = np.random.default_rng(seed)
    v = model["v_template"]
    w = model["weights"]
    jreg = model["J_regressor"]
    parents = np.array(MANO_PARENTS)
    prior = PosePrior(jreg @ v)
    posedirs = np.zeros((v.shape[0], 3, 135))
    zero_dirs = np.zeros((v.shape[0], 3, 135))
    for j in range(1, 16):
        poses = np.zeros((samples_per_joint, 48))
        full = prior.sample(samples_per_joint, rng)
        poses[:, 3 * j : 3 * j + 3] = full[:, 3 * (j - 1) : 3 * j] * 1.1  # a little past typical
        out = lbs(np.zeros((samples_per_joint, 10)), poses, v, model["shapedirs"], zero_dirs, jreg, parents, w)
        feats, deltas = [], []
        for b in range(samples_per_joint):
            skin = out.transforms[b]
            target = _dual_quaternion_skin(v, w, skin)
            blended = np.einsum("vj,jab->vab", w, skin)
            delta = np.linalg.solve(blended[:, :3, :3], (target - out.vertices[b])[..., None])[..., 0]
            feats.append((axis_angle_to_matrix(poses[b, 3 * j : 3 * j + 3]) - np.eye(3)).ravel())
            deltas.append(delta.reshape(-1))
        f = np.array(feats)  # (S, 9)
        d = np.array(deltas)  # (S, V*3)
        coef = np.linalg.solve(f.T @ f + ridge * np.eye(9), f.T @ d)  # (9, V*3)
        posedirs[:, :, 9 * (j - 1) : 9 * j] = coef.T.reshape(v.shape[0], 3, 9)
    posedirs[np.abs(posedirs) < 1e-7] = 0.0
    return posedirs


def hand_pca(rest_joints: np.ndarray, n: int = 20000, seed: int = 0) -> Dict[str, np.ndarray]:
    """MANO-style pose PCA (45 x 45 components as rows, and the mean) of poses from the pose prior."""
    prior = PosePrior(rest_joints)
    poses = prior.sample(n, np.random.default_rng(seed))
    mean = poses.mean(axis=0)
    _, s, vt = np.linalg.svd(poses - mean, full_matrices=False)
    # Fix each component's sign (SVD's is arbitrary) so regeneration is reproducible.
    vt *= np.where(vt[np.arange(45), np.argmax(np.abs(vt), axis=1)] < 0, -1.0, 1.0)[:, None]
    return {"hands_components": vt, "hands_mean": mean, "pca_std": s / np.sqrt(n - 1)}
