"""One hand's frames through the networks and the fit, in order, in parts that can run side by side:

- **read** (``read`` / ``read_rest``): the hand's crops through the network (stage ``model``), as
  :class:`NetworkRead` records, and (``read_keypoints`` / ``keypoints_rest``) through the keypoint network
  (``keypoints``) where the fit follows its points;
- **fit** (``fit`` / ``fit_rest``): each read placed in the footage (``place``), fitted (``fit``) and turned into
  keys (``stream``). Keys come out as soon as they are final.

``hand_lane.py`` runs each on a thread of its own; each has its own stage timer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from addon.common.hand_model import HandModel

from .crop import crop_affine, crop_image, normalise
from .detect import Detection
from .footage_colours import NetworkColours
from .hand_stream import HandStream
from .keypoint_reader import FrameKeypoints, KeypointReader
from .placement import place_hands
from .records import FrameHands, Sample
from .runners import FrameOutput, Runner
from .stage_timer import StageTimer


@dataclass
class NetworkRead:
    """One footage frame as the networks read it, waiting to be placed and fitted."""

    output: FrameOutput
    detection: Detection
    affine: np.ndarray  # image -> crop pixels of the hand network's crop
    keypoints: Optional[FrameKeypoints] = None  # the keypoint network's, where the fit follows them


class HandPass:
    def __init__(self, side: str, crop_size: int, runner: Runner, reader: Optional[KeypointReader],
                 model: HandModel, k: np.ndarray, stream: HandStream, colours: Optional[NetworkColours] = None):
        self.side, self.crop_size = side, crop_size
        self.runner, self.reader, self.model, self.k = runner, reader, model, k
        self.stream, self.colours = stream, colours
        self.read_timer, self.keypoint_timer, self.fit_timer = StageTimer(), StageTimer(), stream.timer
        self.mirrored = side == "left"  # the networks see right hands: a left hand's crops are mirrored
        self.waiting: Dict[int, tuple] = {}  # frame -> (detection, crop affine) inside the runner, not yet out
        self.last_pushed: Optional[int] = None

    # -- reading ----------------------------------------------------------------------------------------
    def read(self, index: int, rgb: np.ndarray, detection: Detection, box: np.ndarray) -> List[NetworkRead]:
        """Footage frame ``index``, where the hand was seen (``detection``), cropped at ``box``; the frames the
        networks have finished reading."""
        with self.read_timer("model"):
            self.waiting[index] = (detection, crop_affine(box, self.crop_size, mirror=self.mirrored))
            outputs = self.runner.push(index, normalise(crop_image(rgb, box, self.crop_size, mirror=self.mirrored)))
        return self._reads(outputs)

    def read_rest(self) -> List[NetworkRead]:
        with self.read_timer("model"):
            outputs = self.runner.flush()
        return self._reads(outputs)

    def _reads(self, outputs: List[FrameOutput]) -> List[NetworkRead]:
        return [NetworkRead(o, *self.waiting.pop(o.frame)) for o in outputs]

    def read_keypoints(self, index: int, rgb: np.ndarray, box: np.ndarray) -> Dict[int, FrameKeypoints]:
        """The keypoint network's reading of frame ``index`` (where the fit follows it): the frames it has
        finished."""
        with self.keypoint_timer("keypoints"):
            self.reader.push(index, rgb, box, self.mirrored)
            return self.reader.finished()

    def keypoints_rest(self) -> Dict[int, FrameKeypoints]:
        with self.keypoint_timer("keypoints"):
            return self.reader.finished(flush=True)

    # -- fitting ----------------------------------------------------------------------------------------
    def fit(self, reads: List[NetworkRead]) -> List[Sample]:
        """Read frames placed and fitted; the keys that became final."""
        out = []
        for r in reads:
            frame = self._place(r)
            with self.fit_timer("stream"):
                out += self._advance_to(r.output.frame) + self.stream.push(frame)
            self.last_pushed = r.output.frame
        return out

    def fit_rest(self, last_frame: int) -> List[Sample]:
        """The rest, up to footage frame ``last_frame``."""
        with self.fit_timer("stream"):
            return self._advance_to(last_frame + 1) + self.stream.flush()

    def _place(self, r: NetworkRead) -> FrameHands:
        """The network's output for one frame, placed, with the keypoints the fit follows."""
        o, det = r.output, r.detection
        placed_on = det.keypoints if det.has_keypoints else None
        keypoints, weight = det.keypoints, np.full(21, 1.0 if det.has_keypoints else 0.0)
        if r.keypoints is not None:  # the keypoint network's points are fitted; MediaPipe's still place the hand
            keypoints, weight = r.keypoints.keypoints, np.ones(21)
        with self.fit_timer("place"):
            hands = place_hands(o.pose, o.betas, o.joints2d, r.affine, self.mirrored, placed_on, self.model, self.k,
                                o.joint_variance)
            if self.colours is not None and o.colours is not None:
                mid = len(o.colours) // 2
                self.colours.add(o.colours[mid], None if o.visible is None else o.visible[mid])
        return FrameHands(o.frame, hands, keypoints, weight, det.score, mirrored=det.side != self.side)

    def _advance_to(self, frame: int) -> List[Sample]:
        """Frames before ``frame`` where this hand was not seen go to the stream as gaps."""
        start = self.last_pushed + 1 if self.last_pushed is not None else frame
        out = []
        for _ in range(start, frame):
            out += self.stream.push(None)
        return out
