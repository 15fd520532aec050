"""A track fitted in overlapping windows as its frames arrive, so memory stays flat with the clip's length and
finished frames stream out; and scattered frames fitted one by one (the side decision)."""
from __future__ import annotations

import dataclasses
from typing import List, Optional

import numpy as np
import torch

from addon.common.hand_model import HandModel
from addon.common.joints import bone_confidence

from ..handmodel.kinematics import HandKinematics
from ..records import FrameHands, Hand
from .anatomy import AnatomicalFrame
from .settings import FitSettings
from .solve import FitResult, Window, fit_window
from .starts import choose_starts

# The network's mean shape starts the track's fit held to this many standard deviations of MANO's shape space:
# 2D keypoints cannot tell a hand's size from its distance, so a shape far outside the training range would set
# the hand's depth wrong by a metre.
SHAPE_START_LIMIT = 3.0


class TrackFitter:
    """Fits one track in overlapping windows.

    ``push(frames)`` takes the track's :class:`FrameHands` in frame order and returns those that are final,
    with ``fitted`` set; ``flush()`` returns the rest. The first window is shorter than the rest, so the first
    keys come soon; every window refines the track's shape from the one before (a short first window alone
    sees too little of the hand to settle it)."""

    def __init__(self, model: HandModel, right_model: HandModel, camera: np.ndarray, settings: FitSettings,
                 device: torch.device | str = "cpu"):
        self.side, self.settings = model.side, settings
        self.device = torch.device(device)
        self.kin = HandKinematics(model).to(self.device)
        self.frame = AnatomicalFrame(right_model, device=self.device)
        self.camera = torch.as_tensor(camera, dtype=torch.float32, device=self.device)
        self.pending: List[FrameHands] = []
        self.context: List[FrameHands] = []  # final frames held fixed at the start of the next window
        self.betas: Optional[torch.Tensor] = None
        self.last_window: Optional[FitResult] = None  # the latest window's result (energies, residuals)

    def push(self, frames: List[FrameHands]) -> List[FrameHands]:
        self.pending.extend(frames)
        out: List[FrameHands] = []
        s = self.settings
        while len(self.pending) >= self._window_length():
            n = self._window_length()
            out += self._fit(self.pending[:n], final=n - s.overlap)
        return out

    @property
    def first_window(self) -> int:
        """Frames of the track's first window: its first keys are final once these are fitted."""
        return min(self.settings.first_window, self.settings.window)

    def _window_length(self) -> int:
        """The first window is short, so the first keys come soon; the rest are long, which is cheaper."""
        return self.first_window if self.betas is None else self.settings.window

    def flush(self) -> List[FrameHands]:
        return self._fit(self.pending, final=len(self.pending)) if self.pending else []

    def _fit(self, frames: List[FrameHands], final: int) -> List[FrameHands]:
        context = self.context[-self.settings.context:]
        window = self.window(context, frames)
        betas = self.betas if self.betas is not None else torch.as_tensor(np.clip(
            np.mean([t.betas for r in frames for t in r.times], 0), -SHAPE_START_LIMIT, SHAPE_START_LIMIT),
            dtype=torch.float32, device=self.device)
        window = choose_starts(window, self.kin, self.frame, self.side, self.settings, betas)
        result = fit_window(window, self.kin, self.frame, self.side, self.settings, betas, fit_shape=True)
        self.last_window = result
        self.betas = torch.as_tensor(result.betas, dtype=torch.float32, device=self.device)
        fitted_betas = self.betas.cpu().numpy().astype(np.float64)
        k = sum(len(r.times) for r in context)
        for r in frames:
            r.fitted = [Hand(result.pose[k + i], fitted_betas, result.transl[k + i]) for i in range(len(r.times))]
            k += len(r.times)
        done = frames[:final]
        self.pending = self.pending[final:]
        self.context = (self.context + done)[-self.settings.context:]
        return done

    def window(self, context: List[FrameHands], frames: List[FrameHands]) -> Window:
        """The tensors of one window: ``context`` frames held fixed at their fit, then ``frames``."""
        rows = [(r, True) for r in context] + [(r, False) for r in frames]
        times, frame_of, anchor, pose, transl = [], [], [], [], []
        start_pose, start_transl, fixed, warm = [], [], [], []
        for f, (r, is_context) in enumerate(rows):
            mid = len(r.times) // 2
            anchor.append(len(times) + mid)
            for i, hand in enumerate(r.times):  # the network's hands: the prior
                times.append(r.frame + 0.25 * (i - mid))
                frame_of.append(f)
                pose.append(hand.pose)
                transl.append(hand.transl)
            fixed.append(is_context)
            warm.append(r.fitted is not None)
            # a published or earlier window's fit, else a caller's own estimate, else the network's
            start = r.fitted[mid] if r.fitted is not None else (r.start or r.middle)
            start_pose.append(start.pose)
            start_transl.append(start.transl)
        keypoints = np.stack([r.keypoints for r, _ in rows])
        confidences = [r.middle.joint_confidence for r, _ in rows]
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=self.device)  # noqa: E731
        return Window(
            times=t(times), frame_of=torch.as_tensor(frame_of, device=self.device),
            anchor=torch.as_tensor(anchor, device=self.device), net_pose=t(pose), net_transl=t(transl),
            keypoints=t(keypoints), kp_weight=t([r.kp_weight for r, _ in rows]),
            hand_size=t(np.ptp(keypoints, axis=1).max(1).clip(min=8.0)), camera=self.camera,
            fixed=torch.as_tensor(fixed, device=self.device), warm=torch.as_tensor(warm, device=self.device),
            start_pose=t(start_pose), start_transl=t(start_transl),
            prior_weight=t(prior_weights(np.stack(confidences))) if all(c is not None for c in confidences) else None,
            mirrored=torch.as_tensor([r.mirrored for r, _ in rows], device=self.device))


def prior_weights(joint_confidence: np.ndarray) -> np.ndarray:
    """Per-joint confidences (F, 21), MANO-21 -> the network prior's weight on each finger joint (F, 15):
    its bone's confidence over the frame's mean, so the frame's total prior pull is unchanged."""
    bones = bone_confidence(joint_confidence)[:, 1:]
    return bones / np.maximum(bones.mean(1, keepdims=True), 1e-6)


def fit_frames(frames: List[FrameHands], model: HandModel, right_model: HandModel, camera: np.ndarray,
               settings: FitSettings, device: torch.device | str = "cpu") -> FitResult:
    """Fit frames one by one (no smoothness between them, the mean shape), in any order."""
    fitter = TrackFitter(model, right_model, camera, settings, device)
    win = fitter.window([], frames)
    win = dataclasses.replace(win, times=torch.arange(win.times.shape[0], dtype=win.times.dtype,
                                                      device=fitter.device) * 100.0)
    betas = fitter.camera.new_zeros(10)
    win = choose_starts(win, fitter.kin, fitter.frame, fitter.side, settings, betas)
    return fit_window(win, fitter.kin, fitter.frame, fitter.side, settings, betas, fit_shape=False)
