"""The keypoint network (``models/keypoints.py``) over one hand's crops, in frame order: the keypoints the
fitting stage fits, in image pixels, with the network's expected error of each.

Crops are batched like the hand network's; :meth:`KeypointReader.take` runs whatever is still buffered when a
frame's keypoints are wanted, so it works whichever order a runner hands its frames back in, and
:meth:`KeypointReader.finished` hands on whatever has been read (a job's lane, ``hand_lane.py``). Left hands are
read in the mirrored crop (the network, like the hand models, sees right hands) and mapped back. The network
reads a crop ``READ_CROP`` times the hand network's box (docs/models.md: the keypoint network).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from .catalog import KEYPOINT_CHECKPOINT, ModelUnavailable, checkpoint_dir
from .crop import crop_affine, crop_image, crop_to_image, normalise, scale_box
from .models.blocks import fold_batchnorm


@dataclass
class FrameKeypoints:
    keypoints: np.ndarray  # (21, 2) image pixels, MANO-21
    error_px: np.ndarray  # (21,) the network's expected error per axis, image pixels


def load_keypoint_network(checkpoint: str = "", device: torch.device = torch.device("cpu")):
    """The keypoint network from ``checkpoint`` (default: the shipped one), or a :class:`ModelUnavailable` that
    says what to do: it never runs on untrained weights."""
    from pathlib import Path

    from .models.output import load_model

    path = Path(checkpoint) if checkpoint else checkpoint_dir() / KEYPOINT_CHECKPOINT
    if not path.is_file():
        raise ModelUnavailable(f"keypoint network: no trained checkpoint at {path}; use --keypoints mediapipe, "
                               "or train one (make checkpoint-keypoints)")
    return load_model(path, expect="keypoints").to(device)


# The box side the network reads, relative to the job's box (1.3 times the detector's keypoints' extent): on the
# sample clip a crop of 0.9 times the box brought its keypoints from 13.3 to 11.1 px off (0.8: 11.0, 1.1: 16.4;
# tools/evaluation/detector_keypoints.py --read-crop F).
READ_CROP = 0.9


class KeypointReader:
    """One hand's crops through the keypoint network, in batches of ``batch_size``; each crop is the pushed box
    scaled by ``crop`` about its centre."""

    def __init__(self, net, device: torch.device, batch_size: int = 8, crop: float = READ_CROP):
        # a copy with BatchNorm folded into the convolutions, in channels-last, the convolutions' fast layout on the
        # CPU
        self.net = fold_batchnorm(copy.deepcopy(net).eval()).to(memory_format=torch.channels_last)
        self.device, self.batch_size, self.crop = device, batch_size, crop
        self.size = net.config.image_size
        self.pending: List[Tuple[int, np.ndarray, np.ndarray]] = []  # (frame, input, affine)
        self.done: Dict[int, FrameKeypoints] = {}

    def push(self, frame: int, rgb: np.ndarray, box: np.ndarray, mirror: bool) -> None:
        box = scale_box(box, self.crop)
        self.pending.append((frame, normalise(crop_image(rgb, box, self.size, mirror=mirror)),
                             crop_affine(box, self.size, mirror=mirror)))
        if len(self.pending) >= self.batch_size:
            self._run()

    def take(self, frame: int) -> Optional[FrameKeypoints]:
        """The keypoints of ``frame`` (None if it was never pushed); each frame is taken once."""
        if frame not in self.done and any(f == frame for f, *_ in self.pending):
            self._run()
        return self.done.pop(frame, None)

    def finished(self, flush: bool = False) -> Dict[int, FrameKeypoints]:
        """The frames read so far, each given once; ``flush``: the crops still buffered read first."""
        if flush:
            self._run()
        out, self.done = self.done, {}
        return out

    @torch.inference_mode()
    def _run(self) -> None:
        if not self.pending:
            return
        x = torch.from_numpy(np.stack([p[1] for p in self.pending])).to(self.device)
        out = self.net(x.contiguous(memory_format=torch.channels_last))
        p, b = [t.float().cpu().numpy().astype(np.float64) for t in (out.keypoints, out.scale)]
        affine = np.stack([a for _, _, a in self.pending])  # (B, 2, 3): image -> crop pixels, the batch at once
        points = crop_to_image(p, affine)
        scale = affine[:, 0, 0] * affine[:, 1, 1] - affine[:, 0, 1] * affine[:, 1, 0]  # crop pixels^2 per image pixel^2
        error = b / np.sqrt(np.abs(scale))[:, None]
        for i, (frame, _, _) in enumerate(self.pending):
            self.done[frame] = FrameKeypoints(points[i], error[i])
        self.pending = []
