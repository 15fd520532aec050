"""The detector's thread: frames in order with their hands, and a detector that cannot be made neither hangs the
job waiting for it nor is lost."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import ROOT
from inference.detect import DetectorUnavailable, FixedRegion
from inference.frame_source import FrameSource
from inference.video import Footage

CLIP = ROOT / "samples" / "sample_clip.mp4"


def test_frames_come_in_order_with_their_hands_and_the_detector_is_ready_first():
    source = FrameSource(Footage(CLIP), 5, 14, lambda: FixedRegion(np.array([100.0, 50.0, 200.0])))
    try:
        assert source.ready.wait(10)
        got = [(index, rgb.shape, [d.side for d in found]) for index, rgb, found in source]
    finally:
        source.stop()
    assert [g[0] for g in got] == list(range(5, 15))
    assert all(shape == (360, 640, 3) and sides == ["right"] for _, shape, sides in got)
    assert source.finished.is_set() and source.frames_read == 10


def test_a_detector_that_cannot_be_made_sets_ready_and_its_error_reaches_the_job():
    def broken():
        raise DetectorUnavailable("no MediaPipe here")

    source = FrameSource(Footage(CLIP), 0, 9, broken)
    try:
        assert source.ready.wait(10)
        with pytest.raises(DetectorUnavailable, match="no MediaPipe"):
            list(source)
    finally:
        source.stop()
    assert source.frames_read == 0
