"""One hand's crops through a network, in frame order, whichever way the network reads time:

- ``frame`` (BlurHandNet): each crop alone, in batches;
- ``causal`` (SeqHAND): frame after frame with the recurrent state carried, reset when the track is lost;
- ``window`` (Deformer): sliding windows of consecutive frames; a frame covered by several windows gets their
  outputs blended with weights that fall towards each window's edges, so keys do not jump where one window
  hands over to the next.

Each runner holds at most one window (or one batch) of crops: memory stays flat with the clip's length.
``push`` returns the frames that are final; ``flush`` the rest.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from addon.common.rotations import axis_angle_to_matrix, matrix_to_axis_angle


@dataclass
class FrameOutput:
    """A network's hands for one footage frame: ``S`` sub-frame times (BlurHandNet 3, the video models 1)."""

    frame: int
    pose: np.ndarray  # (S, 48) right-hand MANO axis-angle
    betas: np.ndarray  # (S, 10)
    joints2d: np.ndarray  # (S, 21, 2) crop pixels
    # What some models add (None where a model has no such output):
    joint_variance: Optional[np.ndarray] = None  # (S, 21) cm^2 (AMVUR)
    colours: Optional[np.ndarray] = None  # (S, 778, 3) the network's vertex colours, the crop's sRGB in [0, 1]
    visible: Optional[np.ndarray] = None  # (S, 778) bool: the vertices the network saw (AMVUR's rasteriser)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.float().cpu().numpy().astype(np.float64)


_OPTIONAL_EXTRAS = {"joint_variance": "joint_variance", "vertex_colours": "colours", "visible": "visible"}


def _arrays(pred) -> Dict[str, np.ndarray]:
    """A prediction's per-time arrays, numpy: pose (.., 48), betas (.., 10), joints2d (.., 21, 2) and the
    optional extras the model gives."""
    out = {"pose": _numpy(torch.cat([pred.global_orient, pred.hand_pose], -1)), "betas": _numpy(pred.betas),
           "joints2d": _numpy(pred.extras["joints2d"])}
    for key, name in _OPTIONAL_EXTRAS.items():
        if key in pred.extras:
            value = pred.extras[key]
            out[name] = value.cpu().numpy() if value.dtype == torch.bool else _numpy(value)
    return out


def split_frames(pred, frames: List[int]) -> List[FrameOutput]:
    """A prediction whose batch axis is ``frames`` ((N, S, ...): S times per frame) -> one output per frame."""
    arrays = _arrays(pred)
    return [FrameOutput(f, **{k: v[i] for k, v in arrays.items()}) for i, f in enumerate(frames)]


def split_clip(pred, frames: List[int]) -> List[FrameOutput]:
    """A prediction over one clip ((1, T, ...)) -> one output per frame, each with one time."""
    arrays = _arrays(pred)
    return [FrameOutput(f, **{k: v[0, i:i + 1] for k, v in arrays.items()}) for i, f in enumerate(frames)]


@torch.no_grad()
def predict_independent(net: nn.Module, crops: np.ndarray, device: torch.device) -> List[FrameOutput]:
    """Each crop on its own (N, 3, S, S) -> N outputs, whatever the network's temporal mode (the side
    decision looks at scattered frames): a video model sees a one-frame clip with a fresh state."""
    x = torch.from_numpy(np.ascontiguousarray(crops)).to(device).contiguous(memory_format=torch.channels_last)
    return split_frames(net(x) if net.temporal_mode == "frame" else net(x[:, None]), list(range(len(crops))))


class Runner:
    """Base: the network on its device, and the seconds spent in it."""

    def __init__(self, net: nn.Module, device: torch.device):
        self.net, self.device = net, device
        self.seconds = 0.0

    def _run(self, crops: List[np.ndarray], clip: bool, **kwargs):
        now = time.perf_counter()
        x = torch.from_numpy(np.stack(crops)).to(self.device).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():  # not inference_mode: AMVUR fits MANO with autograd inside its forward
            pred = self.net(x[None] if clip else x, **kwargs)
        self.seconds += time.perf_counter() - now
        return pred

    def push(self, frame: int, crop: np.ndarray) -> List[FrameOutput]:
        raise NotImplementedError

    def flush(self) -> List[FrameOutput]:
        raise NotImplementedError


class FrameRunner(Runner):
    """Independent crops in batches of ``batch_size``."""

    def __init__(self, net: nn.Module, device: torch.device, batch_size: int = 8):
        super().__init__(net, device)
        self.batch_size = batch_size
        self.pending: List[Tuple[int, np.ndarray]] = []

    def push(self, frame: int, crop: np.ndarray) -> List[FrameOutput]:
        self.pending.append((frame, crop))
        return self.flush() if len(self.pending) >= self.batch_size else []

    def flush(self) -> List[FrameOutput]:
        if not self.pending:
            return []
        frames, crops = zip(*self.pending)
        self.pending = []
        return split_frames(self._run(list(crops), clip=False), list(frames))


class CausalRunner(Runner):
    """A recurrent network fed frame after frame; crops go through in chunks of consecutive frames (the
    backbone batched over the chunk, the state stepped inside), which gives the same numbers as one frame at a
    time. A frame that does not follow the previous one (the track was lost) starts a fresh state."""

    def __init__(self, net: nn.Module, device: torch.device, chunk: int = 8):
        super().__init__(net, device)
        self.chunk = chunk
        self.pending: List[Tuple[int, np.ndarray]] = []
        self.state = None
        self.last: Optional[int] = None
        self.resets = 0

    def push(self, frame: int, crop: np.ndarray) -> List[FrameOutput]:
        out = []
        if self.last is not None and frame != self.last + 1:
            out = self.flush()
            self.state = None
            self.resets += 1
        self.last = frame
        self.pending.append((frame, crop))
        if len(self.pending) >= self.chunk:
            out += self.flush()
        return out

    def flush(self) -> List[FrameOutput]:
        if not self.pending:
            return []
        frames, crops = zip(*self.pending)
        self.pending = []
        pred = self._run(list(crops), clip=True, state=self.state)
        self.state = (pred.extras["state_h"], pred.extras["state_c"]) if "state_h" in pred.extras else None
        return split_clip(pred, list(frames))


def window_weights(length: int) -> np.ndarray:
    """Blending weights across a window: 0.5, 1.5, ... up to its middle and back down. With the stride half
    the window, the next window's share then grows by the same step every frame of an overlap (a linear
    cross-fade), and no weight is 0, so a frame only one window covers keeps that window's output."""
    k = np.arange(length)
    return np.minimum(k + 0.5, length - k - 0.5)


class Blend:
    """Weighted sums of per-frame outputs: rotations averaged as matrices and projected back onto SO(3)."""

    def __init__(self):
        self.acc: dict = {}

    def add(self, out: FrameOutput, weight: float) -> None:
        rot = axis_angle_to_matrix(out.pose[0].reshape(16, 3))
        if out.frame not in self.acc:
            self.acc[out.frame] = [0.0, np.zeros((16, 3, 3)), np.zeros(10), np.zeros((21, 2))]
        a = self.acc[out.frame]
        a[0] += weight
        a[1] += weight * rot
        a[2] += weight * out.betas[0]
        a[3] += weight * out.joints2d[0]

    def pop(self, frame: int) -> FrameOutput:
        w, rot, betas, joints2d = self.acc.pop(frame)
        u, _, vt = np.linalg.svd(rot / w)
        fix = np.ones((16, 3))
        fix[:, -1] = np.sign(np.linalg.det(u @ vt))
        pose = matrix_to_axis_angle(u @ (fix[..., None] * vt)).reshape(1, 48)
        return FrameOutput(frame, pose, (betas / w)[None], (joints2d / w)[None])


class WindowRunner(Runner):
    """Sliding windows of ``window`` consecutive frames, one every ``stride`` frames; the last window of a run
    of consecutive frames is aligned to its end, and a run shorter than a window is one shorter window."""

    def __init__(self, net: nn.Module, device: torch.device, window: int, stride: int):
        super().__init__(net, device)
        if not 1 <= stride <= window:
            raise ValueError(f"the window stride must be between 1 and the window ({window}), not {stride}")
        self.window, self.stride = window, stride
        self.buffer: List[Tuple[int, np.ndarray]] = []  # the last `window` frames of the current run
        self.next_start: Optional[int] = None  # frame where the next window starts
        self.covered_to: Optional[int] = None  # last frame any window of this run covered
        self.blend = Blend()

    def _run_window(self, start: int) -> None:
        frames = [f for f, _ in self.buffer if start <= f < start + self.window]
        crops = [c for f, c in self.buffer if start <= f < start + self.window]
        outputs = split_clip(self._run(crops, clip=True), frames)
        for out, w in zip(outputs, window_weights(len(frames))):
            self.blend.add(out, w)
        self.covered_to = frames[-1]

    def _final(self, before: int) -> List[FrameOutput]:
        return [self.blend.pop(f) for f in sorted(f for f in self.blend.acc if f < before)]

    def push(self, frame: int, crop: np.ndarray) -> List[FrameOutput]:
        out = []
        if self.buffer and frame != self.buffer[-1][0] + 1:
            out = self.flush()
        if not self.buffer:
            self.next_start, self.covered_to = frame, None
        self.buffer = (self.buffer + [(frame, crop)])[-self.window:]
        if frame - self.next_start + 1 == self.window:
            self._run_window(self.next_start)
            self.next_start += self.stride
        # Final: no later regular window starts at or before them, and the run's last window (aligned to an
        # end that is at least this frame) cannot reach back to them.
        return out + self._final(min(self.next_start, frame - self.window + 1))

    def flush(self) -> List[FrameOutput]:
        if not self.buffer:
            return []
        last = self.buffer[-1][0]
        if self.covered_to is None or self.covered_to < last:
            self._run_window(max(self.buffer[0][0], last - self.window + 1))
        self.buffer = []
        return self._final(last + 1)


def make_runner(net: nn.Module, device: torch.device, batch_size: int = 8, window: int = 0,
                stride: int = 0) -> Runner:
    """The runner for ``net``'s temporal mode; ``window`` / ``stride`` 0: the checkpoint's own."""
    mode = net.temporal_mode
    if mode == "frame":
        return FrameRunner(net, device, batch_size)
    if mode == "causal":
        return CausalRunner(net, device, batch_size)
    cfg = net.config
    window = window or cfg.window
    return WindowRunner(net, device, window, min(stride or cfg.stride, window))
