"""One hand's frames through the networks and the fit, in order: its crops through the network (stage
``model``), the keypoint network (``keypoints``), the network's hands placed in the footage (``place``), fitted
(``fit``) and turned into keys (``stream``). Keys come out as soon as they are final."""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from addon.common.hand_model import HandModel

from .crop import crop_affine, crop_image, normalise
from .detect import Detection
from .footage_colours import NetworkColours
from .hand_stream import HandStream
from .keypoint_reader import KeypointReader
from .placement import place_hands
from .records import FrameHands, Sample
from .runners import FrameOutput, Runner
from .stage_timer import StageTimer


class HandPass:
    def __init__(self, side: str, crop_size: int, runner: Runner, reader: Optional[KeypointReader],
                 model: HandModel, k: np.ndarray, stream: HandStream, timer: StageTimer,
                 colours: Optional[NetworkColours] = None):
        self.side, self.crop_size = side, crop_size
        self.runner, self.reader, self.model, self.k = runner, reader, model, k
        self.stream, self.timer, self.colours = stream, timer, colours
        self.mirrored = side == "left"  # the networks see right hands: a left hand's crops are mirrored
        self.waiting: Dict[int, tuple] = {}  # frame -> (detection, crop affine) inside the runner, not yet out
        self.last_pushed: Optional[int] = None

    def push(self, index: int, rgb: np.ndarray, detection: Detection, box: np.ndarray) -> List[Sample]:
        """Footage frame ``index``, where the hand was seen (``detection``), cropped at ``box``; the keys that
        became final."""
        if self.reader is not None:
            with self.timer("keypoints"):
                self.reader.push(index, rgb, box, self.mirrored)
        with self.timer("model"):
            self.waiting[index] = (detection, crop_affine(box, self.crop_size, mirror=self.mirrored))
            outputs = self.runner.push(index, normalise(crop_image(rgb, box, self.crop_size, mirror=self.mirrored)))
        return self._take(outputs)

    def flush(self, last_frame: int) -> List[Sample]:
        """The rest, up to footage frame ``last_frame``."""
        with self.timer("model"):
            outputs = self.runner.flush()
        out = self._take(outputs)
        with self.timer("stream"):
            out += self._advance_to(last_frame + 1) + self.stream.flush()
        return out

    def _take(self, outputs: List[FrameOutput]) -> List[Sample]:
        out = []
        for o in outputs:
            frame = self._frame(o)
            with self.timer("stream"):
                out += self._advance_to(o.frame) + self.stream.push(frame)
            self.last_pushed = o.frame
        return out

    def _frame(self, o: FrameOutput) -> FrameHands:
        """The network's output for one frame, placed, with the keypoints the fit follows."""
        det, affine = self.waiting.pop(o.frame)
        placed_on = det.keypoints if det.has_keypoints else None
        keypoints, weight = det.keypoints, np.full(21, 1.0 if det.has_keypoints else 0.0)
        if self.reader is not None:  # the keypoint network's points are fitted; MediaPipe's still place the hand
            with self.timer("keypoints"):
                keypoints, weight = self.reader.take(o.frame).keypoints, np.ones(21)
        with self.timer("place"):
            hands = place_hands(o.pose, o.betas, o.joints2d, affine, self.mirrored, placed_on, self.model, self.k,
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
