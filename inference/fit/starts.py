"""Where the fit starts. Gradient descent from the network's pose stays in the network's basin: a fist the
network saw as an open hand is fitted as straight fingers pointing at the camera. So each frame first tries
several candidates: the network's pose (or a record's own start), and the two orientations that put the rest
palm onto the keypoints' palm (for each reading of the labels) with open and closed fingers, each refined
briefly; a dynamic programme over the window then picks one candidate per frame so that consecutive frames
do not jump.
"""
from __future__ import annotations

import dataclasses
from typing import List

import cv2
import numpy as np
import torch

from ..handmodel.kinematics import HandKinematics
from .anatomy import FLIPPED_LABELS, PALM, AnatomicalFrame, limit_arrays, side_mirror
from .settings import FitSettings
from .solve import Window, fit_window, to_numpy


def palm_poses(keypoints: np.ndarray, rest_joints: np.ndarray, camera: np.ndarray) -> List[tuple]:
    """Hand orientations and translations that put the rest palm on the keypoints' palm: the two solutions
    of the planar pose problem (IPPE), which differ by the mirror ambiguity of a plane seen in perspective.
    -> [(global_orient (3,), transl (3,))], transl in MANO's convention (rotation about the wrist)."""
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
                  betas: torch.Tensor) -> Window:
    """Per frame, the start of the optimisation: the best of several candidates after a short frame-by-frame
    fit, chosen jointly over the window so that consecutive frames do not jump.
    Returns the window with ``start_pose`` / ``start_transl`` set."""
    ref = win.net_pose
    mirror = side_mirror(side, ref)
    camera = to_numpy(win.camera)
    rest = to_numpy(kin.rest_joints(betas.reshape(1, 10))[0])
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
        kp = to_numpy(win.keypoints[f])
        flips = settings.weights.flip_cost >= 0 and win.mirrored is not None and bool(win.mirrored[f])
        for labels in (kp, kp[FLIPPED_LABELS]) if flips else (kp,):
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
                   camera=win.camera, fixed=win.fixed[rows], warm=win.warm[rows], start_pose=torch.stack(poses),
                   start_transl=torch.stack(transls),
                   prior_weight=None if win.prior_weight is None else win.prior_weight[rows],
                   mirrored=None if win.mirrored is None else win.mirrored[rows])
    res = fit_window(trial, kin, frame, side,
                     dataclasses.replace(settings, iterations=settings.start_iterations), betas, fit_shape=False)
    with torch.no_grad():  # root-relative joints of every candidate: consecutive frames should not jump
        joints = to_numpy(kin(ref.new_tensor(res.pose), betas.reshape(1, 10)))
    joints = joints - joints[:, :1]
    groups = [np.nonzero(owner_np == f)[0] for f in range(win.frames)]
    best = smooth_choice([res.frame_energy[g] for g in groups], [joints[g].reshape(len(g), -1) for g in groups],
                         to_numpy(win.times[win.anchor]), settings.weights.switch_cost, settings.weights.max_gap)
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
