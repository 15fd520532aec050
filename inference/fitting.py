"""The fitting stage: MANO fitted to the detector's 2D keypoints over time, starting from (and held near) the
network's own estimate. Pure torch; runs on the CPU and CUDA.

One *window* of a track is fitted at a time (:func:`fit_window`); :class:`TrackFitter` slides overlapping
windows along a track, so memory stays flat with the clip's length and finished frames stream out.

Unknowns, per footage frame: the global orientation, the 15 finger joints as anatomical angles (flexion,
abduction, twist about the axes of ``addon.common.pose_prior``, kept inside the joint limits by
construction) and the translation; one shape (betas) per track, fitted in its first window. A frame may
hold several samples (BlurHandNet's three hands): its middle one is fitted, and the others keep the
network's motion relative to it (per-joint rotations and the translation offset), so the sub-frame keys
move with the fit.

Energy (each term weighted by :class:`FitWeights`):

- ``keypoints``: Geman-McClure robust reprojection error of the 21 joints (or of where the detector would
  put them, ``keypoint_offsets``: ``inference/keypoint_convention.py``) against the detector's keypoints, in
  units of the hand's size in the image, weighted per keypoint. The robust scale is annealed
  from wide to narrow, and each frame may read its keypoints as labelled or as a detector that took the hand
  for its mirror image labels them (thumb <-> pinky, index <-> ring), at a price;
- ``pose_prior`` / ``orient_prior``: squared distance of finger angles / orientation from the network's;
  where the network gives a per-joint confidence (AMVUR), each finger joint's pull is weighted by the
  confidence of its bone relative to the frame's mean (the prior holds where the network is sure, and the
  keypoints decide where it is not; the frame's total pull stays that of a model without confidences);
- ``coupling``: a finger's DIP flexes two thirds of its PIP (the tendons couple them);
- ``straight``: a finger stays straight unless its keypoints show it bent (a saturating cost on each PIP
  flexion): a bend towards the camera shortens the finger's image only to second order, and keypoint noise
  can only be explained as a bend, so without it noise bends straight fingers (on for the keypoint network's
  points, ``inference/pipeline.py``);
- ``velocity`` / ``acceleration``: finite differences of the 21 camera-space joints between frames,
  skipped across gaps of more than ``max_gap`` frames;
- ``shape``: squared betas (a standard-normal prior on the shape);
- ``world``: the detector's metric 3D joints (root-relative), a weak depth cue;
- ``depth``: the keypoint network's depths of the joints relative to the wrist (``models/keypoints.py``),
  Geman-McClure in units of ``depth_scale_m``, weighted per joint: what tells a finger curled towards the
  camera from one curled away, which its 2D keypoints cannot.

The optimisation starts, per frame, from the best of several candidates (:func:`choose_starts`): the
network's pose, and the two orientations that put the rest palm on the keypoints' palm (for each reading of
the labels) with open to closed fingers, each refined briefly; a dynamic programme then picks one
candidate per frame so that consecutive frames do not jump. Without this, the fit stays in the network's
basin: a fist the network saw as an open hand is fitted as straight fingers pointing at the camera.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
import torch

from addon.common.hand_model import HandModel
from addon.common.joints import bone_confidence
from addon.common.pose_prior import LIMITS, anatomical_axes, joint_kind

from .handmodel.kinematics import HandKinematics
from .keypoint_convention import ON_JOINTS, detector_points
from .models.blocks import axis_angle_to_matrix, matrix_to_axis_angle, rotmul

MIRROR = (1.0, -1.0, -1.0)  # axis-angle of a mirrored (left <-> right) rotation, per component
# A detector that takes a hand for its mirror image labels its keypoints mirrored across the middle finger:
# its "thumb" lies on the true pinky, its "index" on the true ring, and back. MANO-21 indices: the keypoint
# of true joint j, read mirror-labelled, is keypoints[FLIPPED_LABELS[j]].
_SWAPS = {(7, 8, 9, 20): (13, 14, 15, 16), (1, 2, 3, 17): (10, 11, 12, 19)}
FLIPPED_LABELS = list(range(21))
for _a, _b in _SWAPS.items():
    for _i, _j in zip(_a, _b):
        FLIPPED_LABELS[_i], FLIPPED_LABELS[_j] = _j, _i
DIP_PIP_RATIO = 0.67  # tendon coupling: a finger's DIP flexes about two thirds of its PIP
PALM = [0, 1, 4, 7, 10]  # wrist and the four finger MCPs (MANO-21): nearly rigid, nearly planar


# The network's mean shape starts the track's fit held to this many standard deviations of MANO's shape space:
# 2D keypoints cannot tell a hand's size from its distance, so a shape far outside the training range (a
# Deformer window once gave |beta| up to 32) would set the hand's depth wrong by a metre.
SHAPE_START_LIMIT = 3.0


@dataclass
class FitWeights:
    keypoints: float = 1.0
    sigma: float = 0.05  # robust scale, as a fraction of the hand's size in the image
    sigma_start: float = 0.4  # annealed from this to ``sigma`` (graduated non-convexity: far keypoints pull first)
    flip_cost: float = 0.05  # per keypoint: the price of reading a frame's keypoints mirror-labelled (< 0: never)
    pose_prior: float = 0.01
    orient_prior: float = 0.01
    coupling: float = 1.0
    synergy: float = 0.0  # squared Mahalanobis distance of the finger pose under the hand model's pose PCA
    velocity: float = 0.0
    acceleration: float = 0.01
    accel_scale_m: float = 0.004  # an acceleration this large (metres / frame^2) costs 1 per joint
    shape: float = 0.01
    world: float = 0.0
    # A finger stays straight unless its keypoints show it bent: each PIP flexion costs straight * a^2 / (a^2 + c^2)
    # (c = straight_scale, radians), nothing when straight and at most ``straight`` however far bent. A bend towards
    # the camera shortens a finger's image only to second order, so keypoint noise that lands short of the tip is
    # otherwise read as a bend (README: A finger is straight until shown bent). 0: off.
    straight: float = 0.0
    straight_scale: float = 0.25
    depth: float = 1.0  # the keypoint network's relative depths (where a job reads them)
    depth_scale_m: float = 0.01  # a depth off by this much costs half the term's weight per joint
    switch_cost: float = 0.5  # starting points: price per cm^2 of root-relative joint motion between frames
    max_gap: float = 2.0  # frames: samples further apart are not linked by the smoothness terms


@dataclass
class FitSettings:
    weights: FitWeights = field(default_factory=FitWeights)
    iterations: int = 40
    start_iterations: int = 30  # refinement of each starting candidate
    start_closures: tuple = (0.1, 0.8)  # finger closures of the starting candidates (0 open, 1 fist)
    lr: float = 0.05
    lr_end: float = 0.05  # cosine decay from lr to this
    window: int = 128  # footage frames per window (each step costs a few ms whatever its size: fewer are faster)
    overlap: int = 16  # frames shared by consecutive windows (re-fitted, not yet final)
    context: int = 3  # final frames before a window that enter its smoothness terms, held fixed
    # Where the detector's keypoints lie relative to MANO's joints (``keypoint_convention``); zeros: on them.
    keypoint_offsets: tuple = ON_JOINTS

    def scaled(self, strength: float) -> "FitSettings":
        """``strength`` (0..1+, 1 = default) scales the pull of the keypoints against the priors."""
        return dataclasses.replace(self, weights=dataclasses.replace(self.weights,
                                                                     keypoints=self.weights.keypoints * strength))


def limit_arrays(dtype=torch.float32, device=None):
    """(15, 3) lower and upper anatomical limits (flex, abduct, twist) of MANO's finger joints."""
    lo = np.array([[LIMITS[joint_kind(j)][a][0] for a in range(3)] for j in range(1, 16)])
    hi = np.array([[LIMITS[joint_kind(j)][a][1] for a in range(3)] for j in range(1, 16)])
    return torch.as_tensor(lo, dtype=dtype, device=device), torch.as_tensor(hi, dtype=dtype, device=device)


class AnatomicalFrame:
    """Right-hand finger axis-angle (N, 45) <-> anatomical angles (N, 15, 3); an orthonormal change of basis
    per joint (flexion, abduction, twist axes of the rest hand)."""

    def __init__(self, right_model: HandModel, dtype=torch.float32, device=None):
        axes = anatomical_axes(right_model.rest_joints())
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)  # noqa: E731
        self.basis = t(np.stack([axes.flex, axes.abduct, axes.twist], 1))  # (15, 3, 3)
        # The model's pose PCA as a Gaussian over finger poses (the synergy prior), where its spread is known:
        # the open hand stores it, official files hold the training coefficients it comes from.
        std = right_model.extras.get("hands_pca_std")
        if std is None and "hands_coeffs" in right_model.extras:
            std = np.asarray(right_model.extras["hands_coeffs"], dtype=np.float64).std(0)
        self.pca_mean, self.pca_components = t(right_model.hands_mean), t(right_model.hands_components)
        self.pca_inv_std = None if std is None else t(1.0 / np.maximum(np.asarray(std, dtype=np.float64), 1e-3))

    def synergy(self, hand_pose: torch.Tensor) -> torch.Tensor:
        """(N, 45) right-hand finger poses -> (N,) squared Mahalanobis distance under the pose PCA."""
        if self.pca_inv_std is None:
            return hand_pose.new_zeros(hand_pose.shape[0])
        coeffs = (hand_pose - self.pca_mean) @ self.pca_components.T
        return ((coeffs * self.pca_inv_std) ** 2).sum(-1)

    def to_angles(self, hand_pose: torch.Tensor) -> torch.Tensor:
        return torch.einsum("jab,njb->nja", self.basis, hand_pose.reshape(-1, 15, 3))

    def to_pose(self, angles: torch.Tensor) -> torch.Tensor:
        return torch.einsum("jab,nja->njb", self.basis, angles).reshape(-1, 45)


@dataclass
class Window:
    """One window of one track, as tensors. F frames, S samples (S = F or 3F), 21 keypoints per frame.

    Poses are in the track's own hand convention (a left hand's are left-hand MANO parameters). The
    network's samples are the prior; ``start_pose`` / ``start_transl`` (one per frame) are where the
    optimisation begins (default: the network's anchor samples)."""

    times: torch.Tensor  # (S,) sample times in frames, increasing
    frame_of: torch.Tensor  # (S,) long: the frame each sample belongs to
    anchor: torch.Tensor  # (F,) long: the sample of each frame that the keypoints pin down
    net_pose: torch.Tensor  # (S, 48)
    net_transl: torch.Tensor  # (S, 3)
    keypoints: torch.Tensor  # (F, 21, 2) pixels
    kp_weight: torch.Tensor  # (F, 21) >= 0 (0: no keypoint)
    hand_size: torch.Tensor  # (F,) pixels
    camera: torch.Tensor  # (3, 3) intrinsics
    fixed: torch.Tensor  # (F,) bool: context frames held at their start pose (already published)
    warm: torch.Tensor  # (F,) bool: the start pose is an earlier window's fit (no new candidates)
    world: Optional[torch.Tensor] = None  # (F, 21, 3) the detector's metric 3D joints, NaN where absent
    start_pose: Optional[torch.Tensor] = None  # (F, 48)
    start_transl: Optional[torch.Tensor] = None  # (F, 3)
    prior_weight: Optional[torch.Tensor] = None  # (F, 15) per finger joint, mean 1 per frame (None: all 1)
    depth: Optional[torch.Tensor] = None  # (F, 21) metres, each joint's depth minus the wrist's (keypoint network)
    depth_weight: Optional[torch.Tensor] = None  # (F, 21) >= 0 (0: no depth)

    @property
    def frames(self) -> int:
        return self.keypoints.shape[0]


@dataclass
class FitResult:
    pose: np.ndarray  # (S, 48) in the track's own convention
    transl: np.ndarray  # (S, 3)
    betas: np.ndarray  # (10,)
    energy: Dict[str, float]  # each term's value at the end (weighted)
    frame_energy: np.ndarray  # (F,) the per-frame terms (keypoints, priors, coupling, world) at the end
    keypoint_error_px: np.ndarray  # (F, 21) reprojection error of the fitted joints (as labelled)


class Adam:
    """Adam (Kingma and Ba) over (tensor, learning rate) pairs. torch.optim's first optimiser costs 0.9 s of
    imports (TorchDynamo, SymPy) in a fresh worker; this is the same update in a few tensor operations."""

    def __init__(self, params: List[tuple], betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, (self.b1, self.b2), self.eps, self.t = params, betas, eps, 0
        self.scale = 1.0  # multiplies every learning rate (a schedule sets it)
        self.m = [torch.zeros_like(p) for p, _ in params]
        self.v = [torch.zeros_like(p) for p, _ in params]

    def zero_grad(self) -> None:
        for p, _ in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for (p, lr), m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            m.mul_(self.b1).add_(p.grad, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(p.grad, p.grad, value=1 - self.b2)
            p.sub_(self.scale * lr * (m / c1) / ((v / c2).sqrt() + self.eps))


def _relative(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per joint, the rotation taking a to b: a^T b, for (..., 16, 3, 3)."""
    return rotmul(a.transpose(-1, -2), b)


def _side_mirror(side: str, like: torch.Tensor) -> torch.Tensor:
    return like.new_tensor(MIRROR) if side == "left" else like.new_ones(3)


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy().astype(np.float64)


def fit_window(win: Window, kin: HandKinematics, frame: AnatomicalFrame, side: str, settings: FitSettings,
               betas: torch.Tensor, fit_shape: bool = True) -> FitResult:
    """Fit one window; ``betas`` (10,) is the starting shape (held fixed unless ``fit_shape``)."""
    w = settings.weights
    ref = win.net_pose
    mirror = _side_mirror(side, ref)
    n_frames, n_samples = win.frames, win.times.shape[0]
    lo, hi = limit_arrays(ref.dtype, ref.device)
    net_anchor = win.net_pose[win.anchor]  # (F, 48)
    start_pose = win.start_pose if win.start_pose is not None else net_anchor
    start_transl = win.start_transl if win.start_transl is not None else win.net_transl[win.anchor]

    def right_angles(pose48: torch.Tensor) -> torch.Tensor:
        return frame.to_angles((pose48[:, 3:].reshape(-1, 15, 3) * mirror).reshape(-1, 45))

    prior_angles, first_angles = right_angles(net_anchor), right_angles(start_pose)
    # Angles live inside the anatomical limits by construction: a = lo + (hi - lo) sigmoid(u).
    inside = ((first_angles - lo) / (hi - lo)).clamp(0.02, 0.98)
    angles = torch.log(inside / (1 - inside)).requires_grad_(True)
    turn = ref.new_zeros(n_frames, 3).requires_grad_(True)
    transl = start_transl.clone().requires_grad_(True)
    shape = betas.clone().reshape(1, 10).requires_grad_(fit_shape)
    free = (~win.fixed).to(ref.dtype)[:, None]
    any_fixed = bool(win.fixed.any())  # else the masks below are skipped: each op costs its backward too
    reach = hi - lo

    # Every sample's rotations relative to its frame's anchor, from the network (kept through the fit).
    rot_net = axis_angle_to_matrix(win.net_pose.reshape(n_samples, 16, 3))
    offset = _relative(rot_net[win.anchor][win.frame_of], rot_net)  # (S, 16, 3, 3)
    transl_offset = win.net_transl - win.net_transl[win.anchor][win.frame_of]
    root_start = axis_angle_to_matrix(start_pose[:, :3])  # (F, 3, 3)
    root_net = rot_net[win.anchor, 0]
    frame_times = win.times[win.anchor]
    dt = frame_times[1:] - frame_times[:-1]
    linked = (dt <= w.max_gap) & (dt > 0)
    smooth = n_frames > 1 and bool(linked.any())  # the starting candidates' frames are never linked
    linked_f = linked.to(ref.dtype)
    linked_twice = (linked[1:] & linked[:-1]).to(ref.dtype)
    has_world = win.world is not None and w.world > 0
    has_depth = win.depth is not None and w.depth > 0
    flipped = win.keypoints[:, FLIPPED_LABELS]
    seen_along = torch.as_tensor(settings.keypoint_offsets, dtype=ref.dtype, device=ref.device)
    on_joints = not bool(seen_along.any())
    opt = Adam([(angles, settings.lr), (turn, settings.lr), (transl, settings.lr * 0.1)] +
               ([(shape, settings.lr * 2)] if fit_shape else []))

    def held(per_frame_cost: torch.Tensor) -> torch.Tensor:  # nothing for frames held fixed
        return per_frame_cost * free[:, 0] if any_fixed else per_frame_cost

    def evaluate(sigma: float):
        a = lo + reach * torch.sigmoid(angles)
        if any_fixed:
            a = torch.where(win.fixed[:, None, None], first_angles, a)
        root = rotmul(axis_angle_to_matrix(turn * free if any_fixed else turn), root_start)
        t = torch.where(win.fixed[:, None], start_transl, transl) if any_fixed else transl
        right_fingers = frame.to_pose(a)
        fingers = right_fingers.reshape(-1, 15, 3)
        if side == "left":
            fingers = fingers * mirror
        anchor_rot = torch.cat([root[:, None], axis_angle_to_matrix(fingers)], 1)  # (F, 16, 3, 3)
        anchor_joints = kin.from_rotations(anchor_rot, shape) + t[:, None]  # (F, 21, 3)
        uvw = (anchor_joints if on_joints else detector_points(anchor_joints, seen_along)) @ win.camera.T
        uv = uvw[..., :2] / uvw[..., 2:].clamp_min(1e-3)
        per_frame = {}
        # Geman-McClure, scaled so that a small residual costs r^2 / sigma_final^2 at every sigma.
        readings = []
        for labels, price in ((win.keypoints, 0.0), (flipped, w.flip_cost * 21))[:1 if w.flip_cost < 0 else 2]:
            r2 = ((uv - labels) ** 2).sum(-1) / win.hand_size[:, None] ** 2
            rho = (sigma / w.sigma) ** 2 * r2 / (r2 + sigma ** 2)
            cost = (win.kp_weight * rho).sum(-1)
            readings.append(cost + price if price else cost)
        per_frame["keypoints"] = w.keypoints * (torch.minimum(*readings) if len(readings) > 1 else readings[0])
        gap = ((a - prior_angles) ** 2).sum(2)  # (F, 15)
        if win.prior_weight is not None:
            gap = gap * win.prior_weight
        per_frame["pose_prior"] = held(w.pose_prior * gap.sum(1))
        # 3 - trace(R_net^T R) = 2 (1 - cos angle), the squared angle for small angles, and cheap
        per_frame["orient_prior"] = held(w.orient_prior * (3 - (root_net * root).sum((-1, -2))))
        flex = a[:, :12, 0].reshape(-1, 4, 3)  # index, middle, pinky, ring: (MCP, PIP, DIP) flexion
        per_frame["coupling"] = w.coupling * ((flex[:, :, 2] - DIP_PIP_RATIO * flex[:, :, 1]) ** 2).sum(-1)
        if w.straight:
            pip = flex[:, :, 1] ** 2
            per_frame["straight"] = held(w.straight * (pip / (pip + w.straight_scale ** 2)).sum(-1))
        if w.synergy:
            per_frame["synergy"] = held(w.synergy * frame.synergy(right_fingers))
        if has_world:
            mine = anchor_joints - anchor_joints[:, :1]
            theirs = win.world - win.world[:, :1]
            ok = torch.isfinite(theirs).all(-1).all(-1)
            diff = ((mine - torch.nan_to_num(theirs)) ** 2).sum(-1) / 0.01 ** 2
            per_frame["world"] = w.world * (diff / (diff + 1.0)).sum(-1) * ok
        if has_depth:
            d2 = ((anchor_joints[..., 2] - anchor_joints[:, :1, 2] - win.depth) / w.depth_scale_m) ** 2
            per_frame["depth"] = w.depth * (win.depth_weight * d2 / (d2 + 1.0)).sum(-1)
        terms = {k: v.sum() for k, v in per_frame.items()}
        if smooth:
            vel = (anchor_joints[1:] - anchor_joints[:-1]) / dt.clamp_min(1e-3)[:, None, None]
            if w.velocity:
                terms["velocity"] = w.velocity * ((vel ** 2).sum((-1, -2)) * linked_f).sum() / w.accel_scale_m ** 2
            if w.acceleration and n_frames > 2:
                span = ((frame_times[2:] - frame_times[:-2]) / 2).clamp_min(1e-3)[:, None, None]
                acc = (vel[1:] - vel[:-1]) / span
                terms["acceleration"] = w.acceleration * ((acc ** 2).sum((-1, -2)) * linked_twice).sum() \
                    / w.accel_scale_m ** 2
        terms["shape"] = w.shape * (shape ** 2).sum()
        return terms, sum(per_frame.values()), anchor_rot, t, uv

    for it in range(settings.iterations):
        opt.zero_grad()
        opt.scale = settings.lr_end / settings.lr + (1 - settings.lr_end / settings.lr) * \
            0.5 * (1 + math.cos(math.pi * it / settings.iterations))  # cosine decay to lr_end
        progress = min(1.0, it / max(1, 0.7 * settings.iterations))
        terms, *_ = evaluate(w.sigma_start * (w.sigma / w.sigma_start) ** progress)
        sum(terms.values()).backward()
        opt.step()
    with torch.no_grad():
        terms, frame_energy, anchor_rot, t, uv = evaluate(w.sigma)
        # every sample: its frame's fitted anchor carrying the network's offsets
        pose = matrix_to_axis_angle(rotmul(anchor_rot[win.frame_of], offset)).reshape(n_samples, 48)
        trans = t[win.frame_of] + transl_offset
    err = torch.linalg.norm(uv - win.keypoints, dim=-1)
    return FitResult(_numpy(pose), _numpy(trans), _numpy(shape).reshape(10), {k: float(v) for k, v in terms.items()},
                     _numpy(frame_energy), _numpy(err))


# ------------------------------------------------------------------------------------------ starting points


def palm_poses(keypoints: np.ndarray, rest_joints: np.ndarray, camera: np.ndarray) -> List[tuple]:
    """Hand orientations and translations that put the rest palm on the keypoints' palm: the two solutions
    of the planar pose problem (IPPE), which differ by the mirror ambiguity of a plane seen in perspective.
    -> [(global_orient (3,), transl (3,))], transl in MANO's convention (rotation about the wrist)."""
    import cv2

    obj = rest_joints[PALM] - rest_joints[0]
    centre = obj.mean(0)
    normal = np.linalg.svd(obj - centre)[2][2]
    planar = obj - np.outer((obj - centre) @ normal, normal)  # IPPE wants exactly planar points
    try:
        n, rvecs, tvecs, _ = cv2.solvePnPGeneric(planar, keypoints[PALM].astype(np.float64), camera, None,
                                                 flags=cv2.SOLVEPNP_IPPE)
    except cv2.error:
        return []
    out = []
    for r, t in zip(rvecs[:n], tvecs[:n]):
        t = t.reshape(3)
        if t[2] > 0:
            out.append((r.reshape(3), t - rest_joints[0]))
    return out


def articulation_candidates(frame: AnatomicalFrame, closures=(0.05, 0.3, 0.6, 0.9)) -> torch.Tensor:
    """(K, 45) right-hand finger poses to start from, each finger flexed to ``closures[k]`` of its range."""
    ref = frame.basis
    _, hi = limit_arrays(ref.dtype, ref.device)
    angles = ref.new_zeros(len(closures), 15, 3)
    angles[:, :, 0] = ref.new_tensor(closures)[:, None] * hi[:, 0]
    return frame.to_pose(angles)


def choose_starts(win: Window, kin: HandKinematics, frame: AnatomicalFrame, side: str, settings: FitSettings,
                  betas: torch.Tensor, proposals: Optional[tuple] = None) -> Window:
    """Per frame, the start of the optimisation: the best of several candidates after a short frame-by-frame
    fit, chosen jointly over the window so that consecutive frames do not jump (see the module's notes).
    ``proposals``: (poses (F, K, 48), translations (F, K, 3)), more candidates per frame (the lifter's).
    Returns the window with ``start_pose`` / ``start_transl`` set."""
    ref = win.net_pose
    mirror = _side_mirror(side, ref)
    camera = _numpy(win.camera)
    rest = _numpy(detector_points(kin.rest_joints(betas.reshape(1, 10))[0], ref.new_tensor(settings.keypoint_offsets)))
    first_pose = win.start_pose if win.start_pose is not None else win.net_pose[win.anchor]
    first_transl = win.start_transl if win.start_transl is not None else win.net_transl[win.anchor]
    fingers = (articulation_candidates(frame, settings.start_closures).reshape(-1, 15, 3) * mirror).reshape(-1, 45)
    poses, transls, owner = [], [], []
    for f in range(win.frames):
        poses.append(first_pose[f])
        transls.append(first_transl[f])
        owner.append(f)
        if bool(win.fixed[f]) or bool(win.warm[f]):
            continue
        if proposals is not None:
            for pose, t in zip(proposals[0][f], proposals[1][f]):
                poses.append(pose)
                transls.append(t)
                owner.append(f)
        kp = _numpy(win.keypoints[f])
        for labels in (kp, kp[FLIPPED_LABELS])[:1 if settings.weights.flip_cost < 0 else 2]:
            for orient, t in palm_poses(labels, rest, camera):
                for hand in fingers:
                    poses.append(torch.cat([ref.new_tensor(orient), hand]))
                    transls.append(ref.new_tensor(t))
                    owner.append(f)
    owner_np = np.asarray(owner)
    rows = torch.as_tensor(owner_np, device=ref.device)
    n = len(owner)
    trial = Window(times=torch.arange(n, dtype=ref.dtype, device=ref.device) * 100.0,
                   frame_of=torch.arange(n, device=ref.device), anchor=torch.arange(n, device=ref.device),
                   net_pose=win.net_pose[win.anchor][rows], net_transl=torch.stack(transls),
                   keypoints=win.keypoints[rows], kp_weight=win.kp_weight[rows], hand_size=win.hand_size[rows],
                   camera=win.camera, fixed=win.fixed[rows], warm=win.warm[rows],
                   world=None if win.world is None else win.world[rows], start_pose=torch.stack(poses),
                   start_transl=torch.stack(transls),
                   prior_weight=None if win.prior_weight is None else win.prior_weight[rows],
                   depth=None if win.depth is None else win.depth[rows],
                   depth_weight=None if win.depth_weight is None else win.depth_weight[rows])
    res = fit_window(trial, kin, frame, side,
                     dataclasses.replace(settings, iterations=settings.start_iterations), betas, fit_shape=False)
    with torch.no_grad():  # root-relative joints of every candidate: consecutive frames should not jump
        joints = _numpy(kin(ref.new_tensor(res.pose), betas.reshape(1, 10)))
    joints = joints - joints[:, :1]
    groups = [np.nonzero(owner_np == f)[0] for f in range(win.frames)]
    best = smooth_choice([res.frame_energy[g] for g in groups], [joints[g].reshape(len(g), -1) for g in groups],
                         _numpy(win.times[win.anchor]), settings.weights.switch_cost, settings.weights.max_gap)
    pick = np.array([g[b] for g, b in zip(groups, best)])
    return dataclasses.replace(win, start_pose=ref.new_tensor(res.pose[pick]),
                               start_transl=ref.new_tensor(res.transl[pick]))


def smooth_choice(costs: List[np.ndarray], features: List[np.ndarray], times: np.ndarray, switch_cost: float,
                  max_gap: float) -> List[int]:
    """One candidate per frame minimising the candidates' own costs plus ``switch_cost`` times the mean
    squared distance (in centimetres) between consecutive frames' features, for frames at most ``max_gap``
    apart (dynamic programming over the frames: the exact minimum)."""
    total, back = np.asarray(costs[0], dtype=np.float64), []
    for f in range(1, len(costs)):
        if times[f] - times[f - 1] <= max_gap:
            step = ((features[f][:, None] - features[f - 1][None]) * 100) ** 2
            cand = total[None, :] + switch_cost * step.mean(-1)  # (now, before)
            arg = cand.argmin(1)
            total = costs[f] + cand[np.arange(len(arg)), arg]
        else:  # not linked: every candidate follows the best so far
            arg = np.full(len(costs[f]), int(total.argmin()))
            total = costs[f] + total.min()
        back.append(arg)
    choice = [int(total.argmin())]
    for arg in reversed(back):
        choice.append(int(arg[choice[-1]]))
    return choice[::-1]


# --------------------------------------------------------------------------------------------- streaming


class TrackFitter:
    """Fits one track in overlapping windows as its frames arrive.

    ``push(records)`` takes the track's per-frame results in frame order and returns those that are final;
    ``flush()`` returns the rest. A record is the pipeline's frame result: ``frame`` (footage frame),
    ``times`` (the network's hands: dicts with ``pose`` (48,), ``betas`` (10,), ``transl`` (3,)),
    ``keypoints`` (21, 2) and ``kp_weight`` (21,), optionally ``world`` (21, 3), ``depth`` / ``depth_weight``
    (21,) (the keypoint network's relative depths) and ``start`` (``pose`` (48,), ``transl`` (3,)): another
    estimate of the middle sample, which replaces the network's as a starting candidate (the network's stays
    the prior). Final records come back with
    the fitted ``pose``, ``transl`` and ``betas`` in their times (the network's are kept as ``net_*``).
    """

    def __init__(self, model: HandModel, right_model: HandModel, camera: np.ndarray, settings: FitSettings,
                 device: torch.device | str = "cpu", lifter=None, lifter_habit: float = 1.0):
        # lifter: a ``lifting.KeypointLifter`` whose proposals join the starting candidates; lifter_habit: 1 when
        # the keypoints are MediaPipe's, 0 when they lie on MANO's joints (``lifting.lift``)
        self.side, self.settings = model.side, settings
        self.lifter, self.lifter_habit = lifter, lifter_habit
        self.device = torch.device(device)
        self.kin = HandKinematics(model).to(self.device)
        self.frame = AnatomicalFrame(right_model, device=self.device)
        self.camera = torch.as_tensor(camera, dtype=torch.float32, device=self.device)
        self.pending: List[dict] = []
        self.context: List[dict] = []
        self.betas: Optional[torch.Tensor] = None
        self.last_window: Optional[FitResult] = None  # the latest window's result (energies, residuals)
        self.seconds = 0.0

    def push(self, records: List[dict]) -> List[dict]:
        self.pending.extend(records)
        out: List[dict] = []
        s = self.settings
        while len(self.pending) >= s.window:
            out += self._fit(self.pending[: s.window], final=s.window - s.overlap)
        return out

    def flush(self) -> List[dict]:
        return self._fit(self.pending, final=len(self.pending)) if self.pending else []

    def _fit(self, records: List[dict], final: int) -> List[dict]:
        tick = time.perf_counter()
        try:
            return self._fit_window(records, final)
        finally:
            self.seconds += time.perf_counter() - tick

    def _fit_window(self, records: List[dict], final: int) -> List[dict]:
        context = self.context[-self.settings.context:]
        window = self._window(context, records)
        first = self.betas is None
        betas = self.betas if self.betas is not None else torch.as_tensor(np.clip(
            np.mean([t["betas"] for r in records for t in r["times"]], 0), -SHAPE_START_LIMIT, SHAPE_START_LIMIT),
            dtype=torch.float32, device=self.device)
        window = choose_starts(window, self.kin, self.frame, self.side, self.settings, betas,
                               self._proposals(window, betas))
        result = fit_window(window, self.kin, self.frame, self.side, self.settings, betas, fit_shape=first)
        self.last_window = result
        if first:
            self.betas = torch.as_tensor(result.betas, dtype=torch.float32, device=self.device)
        k = 0
        for r in context:
            k += len(r["times"])
        for r in records:
            r["fit"] = [(result.pose[k + i], result.transl[k + i]) for i in range(len(r["times"]))]
            k += len(r["times"])
        done = [self._finished(r) for r in records[:final]]
        self.pending = self.pending[final:]
        self.context = (self.context + done)[-self.settings.context:]  # held at their published fit
        return done

    def _proposals(self, window: Window, betas: torch.Tensor) -> Optional[tuple]:
        """The lifter's starting candidates for the window's frames (None without a lifter)."""
        if self.lifter is None:
            return None
        from .lifting import lift

        lo, hi = limit_arrays(device=self.device)
        return lift(self.lifter, window.keypoints, window.kp_weight, self.camera, self.side, self.kin, self.frame,
                    lo, hi, betas, self.lifter_habit)

    def _finished(self, record: dict) -> dict:
        betas = _numpy(self.betas)
        times = [{**t, "net_pose": t["pose"], "net_transl": t["transl"], "pose": pose, "transl": transl, "betas": betas}
                 for t, (pose, transl) in zip(record["times"], record["fit"])]
        return {**record, "times": times}

    def _window(self, context: List[dict], records: List[dict]) -> Window:
        rows = [(r, True) for r in context] + [(r, False) for r in records]
        times, frame_of, anchor, pose, transl = [], [], [], [], []
        start_pose, start_transl, fixed, warm = [], [], [], []
        for f, (r, is_context) in enumerate(rows):
            n = len(r["times"])
            mid = n // 2
            anchor.append(len(times) + mid)
            for i, t in enumerate(r["times"]):
                times.append(r["frame"] + 0.25 * (i - mid))
                frame_of.append(f)
                pose.append(t.get("net_pose", t["pose"]) if is_context else t["pose"])
                transl.append(t.get("net_transl", t["transl"]) if is_context else t["transl"])
            fitted = r.get("fit")
            fixed.append(is_context)
            warm.append(fitted is not None)
            if is_context:  # a published frame: its fitted anchor
                start_pose.append(r["times"][mid]["pose"])
                start_transl.append(r["times"][mid]["transl"])
            elif fitted is not None:
                start_pose.append(fitted[mid][0])
                start_transl.append(fitted[mid][1])
            else:  # a caller's own estimate of the middle sample, else the network's (the prior either way)
                hint = r.get("start", r["times"][mid])
                start_pose.append(hint["pose"])
                start_transl.append(hint["transl"])
        keypoints = np.stack([r["keypoints"] for r, _ in rows])
        world = [r.get("world") for r, _ in rows]
        confidences = [r["times"][len(r["times"]) // 2].get("joint_confidence") for r, _ in rows]
        has_depth = all(r.get("depth") is not None for r, _ in rows)
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=self.device)  # noqa: E731
        return Window(
            times=t(times), frame_of=torch.as_tensor(frame_of, device=self.device),
            anchor=torch.as_tensor(anchor, device=self.device), net_pose=t(pose), net_transl=t(transl),
            keypoints=t(keypoints), kp_weight=t([r["kp_weight"] for r, _ in rows]),
            hand_size=t(np.ptp(keypoints, axis=1).max(1).clip(min=8.0)), camera=self.camera,
            fixed=torch.as_tensor(fixed, device=self.device), warm=torch.as_tensor(warm, device=self.device),
            world=t([w if w is not None else np.full((21, 3), np.nan) for w in world]),
            start_pose=t(start_pose), start_transl=t(start_transl),
            prior_weight=t(prior_weights(np.stack(confidences))) if all(c is not None for c in confidences) else None,
            depth=t([r["depth"] for r, _ in rows]) if has_depth else None,
            depth_weight=t([r["depth_weight"] for r, _ in rows]) if has_depth else None)


def prior_weights(joint_confidence: np.ndarray) -> np.ndarray:
    """Per-joint confidences (F, 21), MANO-21 -> the network prior's weight on each finger joint (F, 15):
    its bone's confidence over the frame's mean, so the frame's total prior pull is unchanged."""
    bones = bone_confidence(joint_confidence)[:, 1:]
    return bones / np.maximum(bones.mean(1, keepdims=True), 1e-6)


def fit_frames(records: List[dict], model: HandModel, right_model: HandModel, camera: np.ndarray,
               settings: FitSettings, device: torch.device | str = "cpu") -> FitResult:
    """Fit frames one by one (no smoothness between them, the mean shape): the records as
    :class:`TrackFitter` takes them, in any order."""
    fitter = TrackFitter(model, right_model, camera, settings, device)
    win = fitter._window([], records)
    win = dataclasses.replace(win, times=torch.arange(win.times.shape[0], dtype=win.times.dtype,
                                                      device=fitter.device) * 100.0)
    betas = fitter.camera.new_zeros(10)
    win = choose_starts(win, fitter.kin, fitter.frame, fitter.side, settings, betas)
    return fit_window(win, fitter.kin, fitter.frame, fitter.side, settings, betas, fit_shape=False)
